"""Scale-down decisions (SPEC §4 step 8), as a pure function.

A managed node that runs nothing but DaemonSet, mirror or finished pods is
marked: annotation ``growthrs.io/scale-down-at`` (now + the group's unneeded
time) and taint ``growthrs.io/scale-down:NoSchedule``. If real pods arrive, or
pods start waiting for the group, the mark is lifted. When the time is up, the
provider instance is deleted, then the Node. Group and pool minimums, the
``growthrs.io/scale-down-disabled`` annotation and pods annotated
``cluster-autoscaler.kubernetes.io/safe-to-evict: "false"`` or
``karpenter.sh/do-not-disrupt: "true"`` always win. Removals wait for the
group's disruption budget for ``Empty`` (:mod:`.disruption`; unlimited unless
the group sets budgets). Nodes that still run pods are consolidation's
(:mod:`.consolidation`), with ``scaleDown.consolidation: WhenUnderutilized``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from growthrs_core.cluster import GroupView, NodeInfo, NodeRequestView, PodInfo
from growthrs_core.decisions.identity import current_pool
from growthrs_core.timeutil import format_time, parse_time


@dataclass(frozen=True)
class Mark:
    node: str
    at: str
    """When the node will be removed (RFC 3339), written to the annotation."""


@dataclass(frozen=True)
class Unmark:
    node: str
    reason: str


@dataclass(frozen=True)
class Remove:
    node: str
    provider: str
    group: str
    reason: str


@dataclass(frozen=True)
class ScaleDownPlan:
    marks: list[Mark]
    unmarks: list[Unmark]
    removals: list[Remove]


@dataclass(frozen=True)
class ScaleDownConfig:
    enabled: bool = True
    new_node_grace: float = 60.0
    """Nodes younger than this are never marked: their pods may still be on the way."""


def blocking_pods(pods: Iterable[PodInfo]) -> tuple[list[PodInfo], list[PodInfo]]:
    """Split a node's pods into (workload pods that keep it needed, pods that forbid eviction)."""
    workload: list[PodInfo] = []
    pinned: list[PodInfo] = []
    for pod in pods:
        if pod.terminal:
            continue
        if pod.safe_to_evict is False or pod.do_not_disrupt:
            pinned.append(pod)
        if not (pod.is_daemonset or pod.mirror):
            workload.append(pod)
    return workload, pinned


def node_provider(node: NodeInfo, group: GroupView | None) -> str:
    """The provider that deletes a managed node: the one recorded on it.

    Only a node without the label (made by an older GrowthRS) falls back to
    the provider of the pool it belongs to now.
    """
    identity = node.identity
    if identity.provider:
        return identity.provider
    spec = group.spec if group is not None else None
    index = current_pool(identity, spec)
    return spec.pools[index].provider if spec is not None and index is not None else ""


def waiting_groups(node_requests: Sequence[NodeRequestView], pods: Sequence[PodInfo]) -> set[str]:
    """Groups whose planned pods have not landed yet: their empty nodes are about to be used.

    A node that just became Ready is empty until the scheduler binds its pods;
    marking it then would taint away the very capacity that was bought.
    """
    unbound = {p.key for p in pods if not p.node_name and not p.deleting and not p.terminal}
    groups: set[str] = set()
    for nr in node_requests:
        if nr.deleting or nr.spec is None or nr.phase == "Unmet":
            continue
        if nr.in_flight or any(f"{r.namespace}/{r.name}" in unbound for r in nr.spec.pods):
            groups.add(nr.group)
    return groups


def plan_scale_down(
    *,
    nodes: Sequence[NodeInfo],
    pods_by_node: Mapping[str, Sequence[PodInfo]],
    groups: Sequence[GroupView],
    groups_with_waiting_pods: frozenset[str],
    now: datetime,
    cfg: ScaleDownConfig,
    allowance: Mapping[str, int] | None = None,
) -> ScaleDownPlan:
    """Decide which managed nodes to mark, unmark and remove now.

    ``allowance``: group -> how many empty nodes its disruption budget lets go now
    (missing: no limit). A marked node past its time waits, still marked, for room.
    """
    room = dict(allowance or {})
    # A group being deleted is dissolved (decisions.dissolve), not scaled down.
    by_name = {g.name: g for g in groups if g.spec is not None and not g.deleting}
    marks: list[Mark] = []
    unmarks: list[Unmark] = []
    removals: list[Remove] = []
    members: dict[str, list[NodeInfo]] = {}
    for node in nodes:
        if node.node_group in by_name and not node.deleting:
            members.setdefault(node.node_group, []).append(node)
    for group_name, group_nodes in sorted(members.items()):
        group = by_name[group_name]
        spec = group.spec
        assert spec is not None
        enabled = cfg.enabled and spec.scaleDown.enabled
        waiting = group_name in groups_with_waiting_pods
        # Nodes that may go, checked against group and pool minimums in name order.
        remaining = len(group_nodes)
        pool_of = {n.name: current_pool(n.identity, spec) for n in group_nodes}
        per_pool: dict[int | None, int] = {}
        for node in group_nodes:
            key = pool_of[node.name]
            per_pool[key] = per_pool.get(key, 0) + 1
        for node in sorted(group_nodes, key=lambda n: n.name):
            workload, pinned = blocking_pods(pods_by_node.get(node.name, ()))
            marked = bool(node.scale_down_at)
            pool_key = pool_of[node.name]
            pool_min = spec.pools[pool_key].minNodes if pool_key is not None else 0
            reason = _keep_reason(node, workload, pinned, enabled, waiting)
            if reason is None and remaining - 1 < spec.minNodes:
                reason = f"group {group_name} is at its minimum of {spec.minNodes} nodes"
            if reason is None and per_pool.get(pool_key, 0) - 1 < pool_min:
                reason = f"pool {pool_key} is at its minimum of {pool_min} nodes"
            if reason is None and not marked and _younger_than(node, now, cfg.new_node_grace):
                continue
            if reason is not None:
                if marked:
                    unmarks.append(Unmark(node.name, reason))
                continue
            remaining -= 1
            per_pool[pool_key] = per_pool.get(pool_key, 0) - 1
            if not marked:
                at = now + timedelta(seconds=spec.scaleDown.unneeded_seconds)
                marks.append(Mark(node.name, format_time(at)))
                continue
            due = parse_time(node.scale_down_at)
            if (due is None or due <= now) and room.get(group_name, 1) > 0:
                if group_name in room:
                    room[group_name] -= 1
                removals.append(
                    Remove(
                        node=node.name,
                        provider=node_provider(node, group),
                        group=group_name,
                        reason=f"empty since before {node.scale_down_at or 'now'}",
                    )
                )
    return ScaleDownPlan(marks, unmarks, removals)


def _keep_reason(
    node: NodeInfo,
    workload: list[PodInfo],
    pinned: list[PodInfo],
    enabled: bool,
    waiting: bool,
) -> str | None:
    if not enabled:
        return "scale-down is disabled"
    if node.scale_down_disabled:
        return "node is annotated growthrs.io/scale-down-disabled"
    if pinned:
        what = "karpenter.sh/do-not-disrupt" if pinned[0].do_not_disrupt else "safe-to-evict=false"
        return f"pod {pinned[0].key} is annotated {what}"
    if workload:
        return f"node runs {len(workload)} pod(s), e.g. {workload[0].key}"
    if waiting:
        return "pods are waiting for this group"
    return None


def _younger_than(node: NodeInfo, now: datetime, seconds: float) -> bool:
    created = parse_time(node.creation)
    return created is not None and (now - created).total_seconds() < seconds
