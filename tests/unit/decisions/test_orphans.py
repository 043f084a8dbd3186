"""Which provider instances are orphans."""

from __future__ import annotations

from datetime import timedelta

from decision_builders import NOW, created, group, node, request, snapshot

from growthrs_core.decisions.memory import CallKey, CreateCall, LoopMemory
from growthrs_core.decisions.orphans import accounted_instances, find_orphans


def test_what_accounts_for_an_instance() -> None:
    memory = LoopMemory(
        removing={"being-removed"},
        calls={CallKey("status", "polled"), CallKey("orphans", "kwok")},
        creating={"g-creating": CreateCall("g", 0, "kwok", "cx32@fsn1")},
    )
    snap = snapshot(
        groups=[group()],
        nodes=[node("n1")],
        node_requests=[
            request("g-new"),  # will create g-new
            request("g-again", attempts=[created(node_name="g-again")]),  # next: g-again-1
            request("g-prov", "Provisioning", nodeName="g-prov-2"),
        ],
    )
    known = accounted_instances(snap, memory)
    assert {
        "n1",
        "being-removed",
        "polled",
        "g-creating",
        "g-new",
        "g-again-1",
        "g-prov-2",
    } <= known
    assert "kwok" not in known and "stranger" not in known


def test_an_unaccounted_instance_goes_after_the_grace_only() -> None:
    seen: dict = {}  # type: ignore[type-arg]
    first = find_orphans("kwok", ["n1", "x"], frozenset({"n1"}), seen, NOW, grace=600)
    assert first.delete == [] and first.seen == {("kwok", "x"): NOW}
    later = find_orphans(
        "kwok", ["n1", "x"], frozenset({"n1"}), first.seen, NOW + timedelta(seconds=599), 600
    )
    assert later.delete == []
    due = find_orphans("kwok", ["x"], frozenset(), later.seen, NOW + timedelta(seconds=600), 600)
    assert due.delete == ["x"] and due.seen == {}


def test_an_instance_accounted_for_again_or_gone_is_forgotten() -> None:
    seen = {("kwok", "x"): NOW, ("kwok", "y"): NOW, ("hetzner", "z"): NOW}
    verdict = find_orphans("kwok", ["x"], frozenset({"x"}), seen, NOW + timedelta(hours=1), 600)
    # x is accounted for, y is no longer listed; another provider's sightings stay.
    assert verdict.delete == [] and verdict.seen == {("hetzner", "z"): NOW}
