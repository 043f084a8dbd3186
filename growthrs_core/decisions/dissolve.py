"""What happens to a group's nodes when the group goes: nothing is leaked.

Every group carries the finalizer ``growthrs.io/nodes``. When a group is
deleted, its NodeRequests are deleted (their instances, if created, with them),
and its nodes are drained (cordoned, then their pods evicted through the
Eviction API, so PodDisruptionBudgets hold) and removed, instance first — or,
with ``nodesOnDeletion: Release``, left running without GrowthRS's labels and
marked ``growthrs.io/released``. Once nothing is left, the finalizer goes and
the group with it.

Nodes GrowthRS created whose group is gone altogether (deleted without the
finalizer) are treated the same way after ``grace`` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from growthrs_core.cluster import GroupView, NodeInfo, NodeRequestView, PodInfo
from growthrs_core.decisions.memory import LoopMemory
from growthrs_core.decisions.scale_down import node_provider
from growthrs_core.decisions.snapshot import Snapshot
from growthrs_core.labels import GROUP_FINALIZER


@dataclass(frozen=True)
class NodeExit:
    node: str
    provider: str
    reason: str
    evict: tuple[PodInfo, ...] = ()
    """Pods still to evict before the node may go (empty: remove it now)."""


@dataclass(frozen=True)
class Dissolution:
    add_finalizer: list[str] = field(default_factory=list)
    remove_finalizer: list[str] = field(default_factory=list)
    delete_requests: list[tuple[NodeRequestView, str, str]] = field(default_factory=list)
    """(request, provider, instance) to delete: the instance (if any) goes first."""
    drain: list[NodeExit] = field(default_factory=list)
    release: list[tuple[NodeInfo, str]] = field(default_factory=list)
    """Nodes to hand back (labels off, annotation on), with why."""
    unowned_seen: dict[str, datetime] = field(default_factory=dict)
    """The new first-seen record of nodes whose group does not exist."""


def evictable(pods: Sequence[PodInfo]) -> tuple[PodInfo, ...]:
    """Pods a drain must evict: not DaemonSet, mirror, finished or already going."""
    return tuple(p for p in pods if not (p.is_daemonset or p.mirror or p.terminal or p.deleting))


def _exit(
    node: NodeInfo, group: GroupView | None, pods: Mapping[str, Sequence[PodInfo]], why: str
) -> NodeExit:
    return NodeExit(node.name, node_provider(node, group), why, evictable(pods.get(node.name, ())))


def dissolve(snapshot: Snapshot, memory: LoopMemory, grace: float) -> Dissolution:
    out = Dissolution()
    groups = snapshot.groups_by_name
    for group in snapshot.groups:
        if not group.deleting and GROUP_FINALIZER not in group.finalizers:
            out.add_finalizer.append(group.name)
    deleting = {g.name: g for g in snapshot.groups if g.deleting}
    busy_nodes = memory.leaving()
    for name, group in deleting.items():
        requests = [nr for nr in snapshot.node_requests if nr.group == name and not nr.deleting]
        for nr in requests:
            instance = nr.status.nodeName or ""
            created = next((a for a in reversed(nr.status.attempts) if a.result == "Created"), None)
            provider = created.provider if created is not None and instance else ""
            registered = instance in snapshot.nodes_by_name
            out.delete_requests.append(
                (nr, "" if registered else provider, "" if registered else instance)
            )
        members = [n for n in snapshot.nodes if n.node_group == name]
        release = group.spec is not None and group.spec.nodesOnDeletion == "Release"
        for node in members:
            if node.name in busy_nodes or node.deleting:
                continue
            if release:
                out.release.append((node, f"node group {name} was deleted"))
            else:
                out.drain.append(
                    _exit(node, group, snapshot.pods_by_node, f"node group {name} was deleted")
                )
        creating = any(c.group == name for c in memory.creating.values())
        left = [n for n in members if not release] + [
            n for n in snapshot.nodes if n.name in busy_nodes and n.node_group == name
        ]
        if GROUP_FINALIZER in group.finalizers and not requests and not left and not creating:
            out.remove_finalizer.append(name)
    # Nodes GrowthRS made for a group that does not exist any more.
    for node in snapshot.nodes:
        identity = node.identity
        if not identity.managed or identity.group in groups or not identity.node_request:
            continue
        if not identity.provider or node.name in busy_nodes or node.deleting:
            continue
        first = memory.unowned_nodes.get(node.name, snapshot.now)
        out.unowned_seen[node.name] = first
        if (snapshot.now - first).total_seconds() >= grace:
            out.drain.append(
                _exit(
                    node,
                    None,
                    snapshot.pods_by_node,
                    f"its node group {identity.group} does not exist",
                )
            )
    return out
