"""Deleting a group leaks nothing: its requests, nodes and instances go (or are released)."""

from __future__ import annotations

from datetime import timedelta

from decision_builders import NOW, created, group, node, request, snapshot

from growthrs_core.cluster import GroupView, PodInfo
from growthrs_core.decisions.dissolve import dissolve
from growthrs_core.decisions.memory import CreateCall, LoopMemory

FINALIZER = "growthrs.io/nodes"


def deleting(name: str = "g", **spec: object) -> GroupView:
    g = group(name, **spec)
    g.deleting, g.finalizers = True, (FINALIZER,)
    return g


def test_every_group_gets_the_finalizer_once() -> None:
    fresh, kept = group("a"), group("b")
    kept.finalizers = (FINALIZER,)
    assert dissolve(snapshot(groups=[fresh, kept]), LoopMemory(), 600).add_finalizer == ["a"]


def test_a_deleted_groups_requests_and_instances_go() -> None:
    provisioning = request(
        "g-p", "Provisioning", attempts=[created(node_name="g-p")], nodeName="g-p"
    )
    joined = request("g-j", "Ready", attempts=[created(node_name="n1")], nodeName="n1")
    snap = snapshot(
        groups=[deleting()],
        nodes=[node("n1")],
        node_requests=[request("g-a"), provisioning, joined],
    )
    out = dissolve(snap, LoopMemory(), 600)
    assert [(nr.name, provider, instance) for nr, provider, instance in out.delete_requests] == [
        ("g-a", "", ""),
        ("g-p", "kwok", "g-p"),  # created, not registered: its instance goes too
        ("g-j", "", ""),  # its node is drained and removed as a node
    ]
    assert out.remove_finalizer == []


def test_a_deleted_groups_nodes_are_drained_then_removed() -> None:
    pods = [
        PodInfo(namespace="ns", name="web", node_name="n1", phase="Running"),
        PodInfo(
            namespace="kube-system",
            name="ds",
            node_name="n1",
            phase="Running",
            owner_kind="DaemonSet",
        ),
        PodInfo(namespace="ns", name="done", node_name="n1", phase="Succeeded"),
    ]
    snap = snapshot(groups=[deleting()], nodes=[node("n1"), node("n2")], pods=pods)
    out = dissolve(snap, LoopMemory(), 600)
    exits = {e.node: (e.provider, [p.key for p in e.evict]) for e in out.drain}
    assert exits == {"n1": ("kwok", ["ns/web"]), "n2": ("kwok", [])}
    assert out.remove_finalizer == []


def test_the_finalizer_goes_once_nothing_is_left() -> None:
    snap = snapshot(groups=[deleting()])
    assert dissolve(snap, LoopMemory(), 600).remove_finalizer == ["g"]
    creating = LoopMemory(creating={"g-a": CreateCall("g", 0, "kwok", "cx32@fsn1")})
    assert dissolve(snap, creating, 600).remove_finalizer == []  # a create may still land
    removing = snapshot(groups=[deleting()], nodes=[node("n1")])
    assert dissolve(removing, LoopMemory(removing={"n1"}), 600).remove_finalizer == []


def test_release_leaves_the_nodes_running() -> None:
    snap = snapshot(groups=[deleting(nodesOnDeletion="Release")], nodes=[node("n1")])
    out = dissolve(snap, LoopMemory(), 600)
    assert [n.name for n, _ in out.release] == ["n1"] and out.drain == []
    assert out.remove_finalizer == ["g"]


def test_nodes_of_a_group_that_no_longer_exists_go_after_the_grace() -> None:
    orphan = node("n9", "gone")
    orphan.labels["growthrs.io/node-request"] = "gone-abc"
    handmade = node("n8", "gone", provider=None)  # not made by GrowthRS: left alone
    snap = snapshot(groups=[group()], nodes=[orphan, handmade])
    first = dissolve(snap, LoopMemory(), 600)
    assert first.drain == [] and set(first.unowned_seen) == {"n9"}
    later = snapshot(groups=[group()], nodes=[orphan, handmade], now=NOW + timedelta(seconds=600))
    out = dissolve(later, LoopMemory(unowned_nodes=first.unowned_seen), 600)
    assert [(e.node, e.provider) for e in out.drain] == [("n9", "kwok")]
