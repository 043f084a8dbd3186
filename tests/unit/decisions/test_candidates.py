"""Which (pool, offering) a Pending NodeRequest may ask for, and what a failed create changes."""

from __future__ import annotations

import pytest
from decision_builders import NOW, group, node, offering, request, snapshot

from growthrs_core.cluster import PodInfo
from growthrs_core.decisions.candidates import candidates, choose_candidate
from growthrs_core.decisions.memory import PoolBlock
from growthrs_core.decisions.usage import pool_usage
from growthrs_core.domain import Resources

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
            "pool 0 (kwok cx32): every offering is backing off after failures",
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


def test_candidates_come_as_the_planner_ranks_them_and_the_planned_one_is_asked_first() -> None:
    offers = {
        "kwok": [
            offering("cx32", cost=0.02),
            offering("cpx31", cost=0.03),
            offering("cx42", cost=0.01),
        ]
    }
    g = group(
        pools=[
            {**B, "serverType": ["cpx31", "cx32"]},
            {**A, "serverType": ["cx42"], "priority": 10},
        ]
    )
    snap = snapshot(groups=[g], offerings=offers)
    found, _ = candidates(request(), g, snap, frozenset(), {}, "g-abc")
    # Highest priority first, cheapest within it; the cheaper pool of lower priority last.
    assert keys(found) == [(0, "cx32@fsn1"), (0, "cpx31@fsn1"), (1, "cx42@fsn1")]
    assert choose_candidate(request(), found) is found[0]
    planned = request(plannedPool=0, plannedOffering="cpx31@fsn1")
    chosen = choose_candidate(planned, found)
    assert chosen is not None and chosen.offering.key == "cpx31@fsn1"
    # A planned offering no longer a candidate (no capacity, full, blocked) falls back.
    assert choose_candidate(planned, found[:1]) is found[0]
    assert choose_candidate(request(), []) is None


def test_fallback_skips_offerings_that_cannot_hold_the_requests_pods() -> None:
    big = [
        PodInfo(
            namespace="ns",
            name=f"p{i}",
            unschedulable=True,
            requests=Resources(cpu_millis=1500, memory_mib=512),
        )
        for i in range(3)
    ]
    offers = {
        "kwok": [
            offering("cx22", cpu=2000, cost=0.005),
            offering("cx32", cpu=4000, cost=0.01),
            offering("cx42", cpu=8000, cost=0.02),
        ]
    }
    g = group(pools=[{"provider": "kwok", "serverType": ["cx22", "cx32", "cx42"], "priority": 10}])
    nr = request(pods=["ns/p0", "ns/p1", "ns/p2"])
    snap = snapshot(groups=[g], offerings=offers, pods=big)
    found, _ = candidates(nr, g, snap, frozenset(), {}, "g-abc")
    assert keys(found) == [(0, "cx42@fsn1")]  # 4.5 CPU of pods: only the biggest holds them


def test_blocked_pools_and_given_up_pools_offer_nothing() -> None:
    g = group(pools=[A, B], locations=["fsn1"])
    block = PoolBlock("ConfigurationError", "401 Unauthorized", NOW)
    found, unusable = candidates(
        request(), g, snapshot(groups=[g]), frozenset(), {}, "g-abc", blocks={("g", 0): block}
    )
    assert keys(found) == [(1, "cpx31@fsn1")]
    assert unusable == ["pool 0 (kwok cx32): blocked (ConfigurationError): 401 Unauthorized"]
    found, _ = candidates(
        request(), g, snapshot(groups=[g]), frozenset(), {}, "g-abc", given_up={1}
    )
    assert keys(found) == [(0, "cx32@fsn1")]
    found, unusable = candidates(
        request(), g, snapshot(groups=[g]), frozenset(), {}, "g-abc", excluded={(0, "cx32@fsn1")}
    )
    assert keys(found) == [(1, "cpx31@fsn1")] and unusable == []  # the attempt says why


def test_offering_key_helper() -> None:
    assert offering("cx32", zone="fsn1-dc14").key == "cx32@fsn1/fsn1-dc14"
