"""Which (pool, offering) a Pending NodeRequest may ask for, and what a failed create changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from decision_builders import NOW, group, node, offering, request, snapshot

from growthrs_core.decisions.backoff import Backoff, BackoffPolicy
from growthrs_core.decisions.candidates import after_create_error, candidates, choose_candidate
from growthrs_core.decisions.usage import pool_usage
from growthrs_core.errors import CreationFailed, OfferingUnavailable, ProviderError
from growthrs_core.strategies import CheapestStrategy, PriorityStrategy

A = {"provider": "kwok", "serverType": ["cx32"], "priority": 90}
B = {"provider": "kwok", "serverType": ["cpx31"], "priority": 50}
C = {"provider": "hetzner", "serverType": ["cx32"], "priority": 40}


def keys(found: list) -> list[tuple[int, str]]:  # type: ignore[type-arg]
    return [(c.pool_index, c.offering.key) for c in found]


def test_every_pool_offering_in_its_locations_that_meets_the_requirements() -> None:
    g = group(pools=[A, B], locations=["fsn1"])
    found, unusable = candidates(request(), g, snapshot(groups=[g]), frozenset(), {}, "g-abc")
    assert keys(found) == [(0, "cx32@fsn1"), (1, "cpx31@fsn1")] and unusable == []


@pytest.mark.parametrize(
    ("pools", "spec", "snap", "unavailable", "why"),
    [
        (
            [{**A, "maxNodes": 1}],
            {},
            {"nodes": [node("n1")]},
            (),
            "pool 0 (kwok cx32): has maxNodes 1 nodes",
        ),
        ([C], {}, {"installed": ["kwok"]}, (), "pool 0 (hetzner cx32): provider not installed"),
        (
            [C],
            {},
            {"installed": ["kwok", "hetzner"], "offering_errors": {"hetzner": "401 Unauthorized"}},
            (),
            "pool 0 (hetzner cx32): 401 Unauthorized",
        ),
        (
            [C],
            {},
            {"installed": ["kwok", "hetzner"]},
            (),
            "pool 0 (hetzner cx32): offerings not loaded yet",
        ),
        (
            [{**A, "serverType": ["ccx99"]}],
            {},
            {},
            (),
            "pool 0 (kwok ccx99): no offering meets the requirements",
        ),
        (
            [A],
            {"locations": ["fsn1"]},
            {},
            (("kwok", "cx32@fsn1"),),
            "pool 0 (kwok cx32): every offering is backing off after a capacity error",
        ),
    ],
)
def test_pools_without_candidates_say_why(
    pools: list,
    spec: dict,
    snap: dict,
    unavailable: tuple,
    why: str,  # type: ignore[type-arg]
) -> None:
    g = group(pools=pools, **spec)
    snap_ = snapshot(groups=[g], **snap)
    usage = pool_usage(snap_, {})
    found, unusable = candidates(request(), g, snap_, frozenset(unavailable), usage, "g-abc")
    assert found == [] and unusable == [why]


def test_a_full_group_has_no_candidates() -> None:
    g = group(pools=[A, B], maxNodes=1)
    snap = snapshot(groups=[g], nodes=[node("n1")])
    found, unusable = candidates(request(), g, snap, frozenset(), pool_usage(snap, {}), "g-abc")
    assert found == [] and unusable == ["node group g has maxNodes 1 nodes"]
    # ...unless the node there is the request's own (a create that went through before a crash).
    found, _ = candidates(request(), g, snap, frozenset(), pool_usage(snap, {}), "n1")
    assert keys(found)[:1] == [(0, "cx32@fsn1")]


def test_choice_is_by_priority_then_the_chain() -> None:
    g = group(pools=[A, {**B, "priority": 90}])
    found, _ = candidates(request(), g, snapshot(groups=[g]), frozenset(), {}, "g-abc")
    chosen = choose_candidate(request(), found, [PriorityStrategy(), CheapestStrategy()])
    assert chosen is not None and chosen.offering.key.startswith("cx32@")
    assert choose_candidate(request(), [], [PriorityStrategy()]) is None


POLICY = BackoffPolicy(base=60.0, cap=600.0)


@pytest.mark.parametrize(
    ("error", "waits", "backs_off"),
    [
        (OfferingUnavailable("sold out"), False, True),
        (CreationFailed("quota", retryable=False), False, True),
        (CreationFailed("rate limited", retry_after=4), True, False),
        (CreationFailed("5xx"), False, False),
    ],
)
def test_after_a_failed_create(error: ProviderError, waits: bool, backs_off: bool) -> None:
    verdict = after_create_error(error, ("kwok", "cx32@fsn1"), None, POLICY, NOW)
    assert (verdict.retry_at is not None) is waits
    if waits:
        assert verdict.retry_at == NOW + timedelta(seconds=4)
    assert (verdict.offering_backoff is not None) is backs_off
    if backs_off:
        assert verdict.offering_backoff is not None
        assert verdict.offering_backoff.failures == 1
        assert verdict.offering_backoff.reason == error.message


def test_an_offering_that_keeps_failing_backs_off_longer() -> None:
    previous = Backoff(until=NOW - timedelta(seconds=1), failures=2)
    verdict = after_create_error(OfferingUnavailable("no"), ("kwok", "x"), previous, POLICY, NOW)
    assert verdict.offering_backoff is not None and verdict.offering_backoff.failures == 3
    assert verdict.offering_backoff.until - NOW >= timedelta(seconds=240)


def test_offering_key_helper() -> None:
    assert offering("cx32", zone="fsn1-dc14").key == "cx32@fsn1/fsn1-dc14"
