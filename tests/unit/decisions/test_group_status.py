"""A group's status: counts per pool, conditions, backoffs; written only when it changes."""

from __future__ import annotations

from datetime import timedelta

from decision_builders import NOW, group, node, snapshot

from growthrs_core.cluster import GroupView
from growthrs_core.decisions.backoff import Backoff
from growthrs_core.decisions.group_status import compute_status, status_updates

A = {"provider": "kwok", "serverType": ["cx32"], "priority": 90}
B = {"provider": "kwok", "serverType": ["cpx31"], "priority": 50}
H = {"provider": "hetzner", "serverType": ["cx22"], "priority": 10}


def conditions(status) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_counts_nodes_per_current_pool() -> None:
    g = group(pools=[B, A])  # reordered since the nodes were made
    nodes = [node("a1"), node("a2", ready=False), node("b1", pool=1, instance_type="cpx31")]
    status = compute_status(g, snapshot(groups=[g], nodes=nodes), {}, "kwok")
    assert status.nodes == 3
    assert [(p.index, p.nodes, p.ready) for p in status.pools] == [(0, 1, 1), (1, 2, 1)]
    assert conditions(status) == {
        "ProviderUnknown": ("False", "AllInstalled"),
        "Ready": ("True", "Ready"),
    }


def test_a_missing_provider_is_reported_and_announced_once() -> None:
    g = group(pools=[A, H])
    snap = snapshot(groups=[g])
    [update] = status_updates(snap, {}, "kwok")
    assert conditions(update.status)["ProviderUnknown"] == ("True", "UnknownProvider")
    assert conditions(update.status)["Ready"] == ("True", "Ready")  # the kwok pool still works
    assert [e.reason for e in update.events] == ["ProviderUnknown"]
    # Once written, the same status is neither written nor announced again.
    written = GroupView(
        name=g.name, uid=g.uid, generation=g.generation, spec=g.spec, status=update.status
    )
    later = snapshot(groups=[written], now=NOW + timedelta(minutes=5))
    assert status_updates(later, {}, "kwok") == []


def test_no_usable_pool_is_not_ready() -> None:
    g = group(pools=[H])
    status = compute_status(g, snapshot(groups=[g]), {}, "kwok")
    assert conditions(status)["Ready"] == ("False", "NoUsablePool")


def test_an_invalid_spec_is_reported() -> None:
    g = GroupView(name="bad", error="pools: field required")
    [update] = status_updates(snapshot(groups=[g]), {}, "kwok")
    assert conditions(update.status)["Ready"] == ("False", "InvalidSpec")
    assert update.status.conditions[0].message == "pools: field required"
    assert [e.reason for e in update.events] == ["InvalidSpec"]


def test_transition_times_stay_while_the_status_does() -> None:
    g = group(pools=[A])
    [first] = status_updates(snapshot(groups=[g]), {}, "kwok")
    stamp = first.status.conditions[0].lastTransitionTime
    assert stamp == "2026-11-30T12:00:00Z"
    g2 = GroupView(name=g.name, spec=group(pools=[A, H]).spec, generation=2, status=first.status)
    [second] = status_updates(snapshot(groups=[g2], now=NOW + timedelta(minutes=1)), {}, "kwok")
    times = {c.type: c.lastTransitionTime for c in second.status.conditions}
    assert times == {"ProviderUnknown": "2026-11-30T12:01:00Z", "Ready": stamp}


def test_backoffs_of_the_groups_offerings_are_listed_while_active() -> None:
    g = group(pools=[A])
    backoffs = {
        ("kwok", "cx32@fsn1"): Backoff(NOW + timedelta(seconds=90), 2, "no capacity"),
        ("kwok", "cpx31@fsn1"): Backoff(NOW + timedelta(seconds=90), 1, "not this group's"),
        ("kwok", "cx32@nbg1"): Backoff(NOW - timedelta(seconds=1), 1, "expired"),
    }
    status = compute_status(g, snapshot(groups=[g]), backoffs, "kwok")
    assert [(b.offering, b.failures, b.until) for b in status.backoffs] == [
        ("cx32@fsn1", 2, "2026-11-30T12:01:30Z")
    ]
