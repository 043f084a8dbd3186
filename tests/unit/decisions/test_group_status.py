"""A group's status: counts per pool, conditions that say what is wrong, backoffs and
blocks; written only when it changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from decision_builders import NOW, group, node, snapshot

from growthrs_core.cluster import GroupView
from growthrs_core.decisions.backoff import Backoff
from growthrs_core.decisions.group_status import compute_status, status_updates
from growthrs_core.decisions.memory import LoopMemory, PoolBlock, blocks_from_groups

A = {"provider": "kwok", "serverType": ["cx32"], "priority": 90}
B = {"provider": "kwok", "serverType": ["cpx31"], "priority": 50}
H = {"provider": "hetzner", "serverType": ["cx22"], "priority": 10}


def conditions(status: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_counts_nodes_per_current_pool() -> None:
    g = group(pools=[B, A])  # reordered since the nodes were made
    nodes = [node("a1"), node("a2", ready=False), node("b1", pool=1, instance_type="cpx31")]
    status = compute_status(g, snapshot(groups=[g], nodes=nodes), LoopMemory(), "kwok")
    assert status.nodes == 3
    assert [(p.index, p.nodes, p.ready) for p in status.pools] == [(0, 1, 1), (1, 2, 1)]
    assert conditions(status) == {
        "ProviderUnknown": ("False", "AllInstalled"),
        "ScaleUpBlocked": ("False", "ScaleUpPossible"),
        "Ready": ("True", "Ready"),
    }


def test_a_missing_provider_is_reported_and_announced_once() -> None:
    g = group(pools=[A, H])
    snap = snapshot(groups=[g])
    [update] = status_updates(snap, LoopMemory(), "kwok")
    assert conditions(update.status)["ProviderUnknown"] == ("True", "UnknownProvider")
    assert conditions(update.status)["ScaleUpBlocked"] == ("True", "UnknownProvider")
    assert conditions(update.status)["Ready"] == ("True", "Ready")  # the kwok pool still works
    assert [e.reason for e in update.events] == ["ProviderUnknown", "ScaleUpBlocked"]
    assert update.events[1].message.startswith("UnknownProvider: ")
    # Once written, the same status is neither written nor announced again.
    written = GroupView(
        name=g.name, uid=g.uid, generation=g.generation, spec=g.spec, status=update.status
    )
    later = snapshot(groups=[written], now=NOW + timedelta(minutes=5))
    assert status_updates(later, LoopMemory(), "kwok") == []


def backing_off(*offerings: str) -> LoopMemory:
    return LoopMemory(
        offering_backoffs={
            ("kwok", o): Backoff(NOW + timedelta(seconds=60), 3, "quota exceeded")
            for o in offerings
        }
    )


@pytest.mark.parametrize(
    ("pools", "spec", "memory", "snap", "reason", "ready"),
    [
        # 401 / a missing Secret: the pool is blocked until its configuration changes.
        (
            [A],
            {},
            LoopMemory(
                pool_blocks={("g", 0): PoolBlock("ConfigurationError", "401 Unauthorized", NOW)}
            ),
            {},
            "ConfigurationError",
            False,
        ),
        # A provider check found the pool unusable.
        (
            [A, B],
            {},
            LoopMemory(pool_blocks={("g", 0): PoolBlock("InvalidPool", "no node class", NOW)}),
            {},
            "InvalidPool",
            True,
        ),
        # Quota or create errors: every offering backs off.
        ([A], {"locations": ["fsn1"]}, backing_off("cx32@fsn1"), {}, "BackingOff", False),
        # A request went Unmet: the group backs off.
        (
            [A],
            {},
            LoopMemory(group_backoffs={"g": Backoff(NOW + timedelta(seconds=30), 1, "quota")}),
            {},
            "BackingOff",
            False,
        ),
        ([{**A, "serverType": ["cx99"]}], {}, LoopMemory(), {}, "UnknownServerType", False),
        ([A], {"locations": ["mars1"]}, LoopMemory(), {}, "UnknownLocation", False),
        ([A], {"maxNodes": 0}, LoopMemory(), {}, "MaxNodesZero", False),
        ([{**A, "maxNodes": 0}, B], {}, LoopMemory(), {}, "MaxNodesZero", True),
        (
            [H],
            {},
            LoopMemory(),
            {"installed": ["kwok", "hetzner"], "offering_errors": {"hetzner": "401 Unauthorized"}},
            "OfferingsUnavailable",
            False,
        ),
    ],
)
def test_conditions_say_what_is_wrong(
    pools: list[dict[str, Any]],
    spec: dict[str, Any],
    memory: LoopMemory,
    snap: dict[str, Any],
    reason: str,
    ready: bool,
) -> None:
    g = group(pools=pools, **spec)
    status = compute_status(g, snapshot(groups=[g], **snap), memory, "kwok")
    assert conditions(status)["ScaleUpBlocked"] == ("True", reason)
    assert conditions(status)["Ready"][0] == ("True" if ready else "False")
    blocked = next(c for c in status.conditions if c.type == "ScaleUpBlocked")
    assert blocked.message


def test_conditions_clear_when_it_is_fixed() -> None:
    g = group(pools=[A], locations=["fsn1"])
    bad = compute_status(g, snapshot(groups=[g]), backing_off("cx32@fsn1"), "kwok")
    assert conditions(bad)["ScaleUpBlocked"][0] == "True"
    good = compute_status(
        g, snapshot(groups=[g], now=NOW + timedelta(minutes=2)), backing_off("cx32@fsn1"), "kwok"
    )
    assert conditions(good)["ScaleUpBlocked"] == ("False", "ScaleUpPossible")
    assert conditions(good)["Ready"] == ("True", "Ready")


def test_an_invalid_spec_is_reported() -> None:
    g = GroupView(name="bad", error="pools: field required")
    [update] = status_updates(snapshot(groups=[g]), LoopMemory(), "kwok")
    assert conditions(update.status)["Ready"] == ("False", "InvalidSpec")
    assert update.status.conditions[0].message == "pools: field required"
    assert [e.reason for e in update.events] == ["InvalidSpec"]


def test_transition_times_stay_while_the_status_does() -> None:
    g = group(pools=[A])
    [first] = status_updates(snapshot(groups=[g]), LoopMemory(), "kwok")
    stamp = first.status.conditions[0].lastTransitionTime
    assert stamp == "2026-11-30T12:00:00Z"
    g2 = GroupView(name=g.name, spec=group(pools=[A, H]).spec, generation=2, status=first.status)
    [second] = status_updates(
        snapshot(groups=[g2], now=NOW + timedelta(minutes=1)), LoopMemory(), "kwok"
    )
    times = {c.type: c.lastTransitionTime for c in second.status.conditions}
    assert times == {
        "ProviderUnknown": "2026-11-30T12:01:00Z",
        "ScaleUpBlocked": "2026-11-30T12:01:00Z",
        "Ready": stamp,
    }


def test_backoffs_of_the_groups_offerings_are_listed_while_active() -> None:
    g = group(pools=[A])
    memory = LoopMemory(
        offering_backoffs={
            ("kwok", "cx32@fsn1"): Backoff(NOW + timedelta(seconds=90), 2, "no capacity"),
            ("kwok", "cpx31@fsn1"): Backoff(NOW + timedelta(seconds=90), 1, "not this group's"),
            ("kwok", "cx32@nbg1"): Backoff(NOW - timedelta(seconds=1), 1, "expired"),
        }
    )
    status = compute_status(g, snapshot(groups=[g]), memory, "kwok")
    assert [(b.offering, b.failures, b.until) for b in status.backoffs] == [
        ("cx32@fsn1", 2, "2026-11-30T12:01:30Z")
    ]


def test_blocks_survive_in_the_status_for_a_restart_or_a_dry_run() -> None:
    g = group(pools=[A, B])
    block = PoolBlock(
        "ConfigurationError",
        "Secret kube-system/hz missing",
        NOW,
        1,
        (("Secret kube-system/hz", "absent"),),
    )
    status = compute_status(
        g, snapshot(groups=[g]), LoopMemory(pool_blocks={("g", 1): block}), "kwok"
    )
    assert status.pools[1].block is not None and status.pools[0].block is None
    written = GroupView(name="g", spec=g.spec, generation=1, status=status)
    assert blocks_from_groups([written]) == {("g", 1): block}
