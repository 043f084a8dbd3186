"""Which offering a NodeRequest falls back to when the one planned for it fails.

The planner chose a (pool, offering) for each node; when the provider has no
capacity there, or the pool is given up on, the request needs another. The
choice is the planner's own rule for a single node: the highest-priority pool
first, within it the cheapest offering that still holds every pod the request
was planned for next to the DaemonSet pods of *that* offering's labels (a
zone-scoped DaemonSet can take more room in one zone than another), and never
a dearer offering while a cheaper one at the same priority holds them.
Offerings backing off after a capacity error come after all others, as in
planning.

The request's ``spec.requirements`` stay a floor: an offering must also
satisfy them (:func:`~growthrs_core.planner.matching.offering_satisfies`),
which carries the placement that shaped the plan (selectors, topology
domain, volume topology, DaemonSet room).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from growthrs_core.cluster import DaemonSetInfo, GroupView, PodInfo
from growthrs_core.crd.models import Requirements
from growthrs_core.domain import NO_EXTENDED, Offering, Taint
from growthrs_core.planner.matching import offering_satisfies, pod_accepts, tolerates
from growthrs_core.planner.slots import Slot, build_group


def holds(slot: Slot, taints: Sequence[Taint], pods: Sequence[PodInfo]) -> bool:
    """Whether one node of ``slot`` (its group's ``taints``) runs all of ``pods`` next to
    its DaemonSet pods: their selectors and tolerations accept it, and their requests
    (extended resources too), pod count and host ports fit the room the DaemonSet pods
    leave."""
    if not slot.usable or len(pods) > slot.pods:
        return False
    cpu = mem = gpu = eph = 0
    ports: set[tuple[int, str]] = set(slot.ds_ports)
    extended = NO_EXTENDED
    for pod in pods:
        if not pod_accepts(pod, slot.match_labels) or not tolerates(pod.tolerations, taints):
            return False
        req = pod.requests
        cpu += req.cpu_millis
        mem += req.memory_mib
        gpu += req.gpu
        eph += req.ephemeral_storage_gib or 0
        extended = extended.plus(req.extended)
        for port, proto, _ in pod.host_ports:
            if (port, proto) in ports:
                return False
            ports.add((port, proto))
    return (
        cpu <= slot.cpu
        and mem <= slot.memory
        and gpu <= slot.gpu
        and eph <= slot.ephemeral
        and slot.extended.covers(extended)
    )


def fallback_offerings(
    group: GroupView,
    offerings: Mapping[str, Sequence[Offering]],
    daemonsets: Sequence[DaemonSetInfo],
    node_request_pods: Sequence[PodInfo],
    requirements: Requirements,
    excluded: Collection[tuple[int, str]] = frozenset(),
    unavailable: frozenset[tuple[str, str]] = frozenset(),
    *,
    excluded_pools: Collection[int] = frozenset(),
    blocked_pools: Mapping[tuple[str, int], str] | None = None,
) -> list[tuple[int, Offering]]:
    """The (pool index, offering) pairs a NodeRequest of ``group`` may fall back to,
    best first.

    ``offerings``: provider → its offerings (as for planning); ``daemonsets``: the
    cluster's DaemonSets; ``node_request_pods``: the pods the request lists that
    are still pending (none: only the requirements' floor is checked);
    ``excluded``: (pool, offering key) pairs this request must not ask again (no
    capacity); ``excluded_pools``: pools given up on; ``blocked_pools``: (group, pool
    index) → why, as in ``PlanningInput.blocked_pools`` (pools a provider said cannot
    work: never offered); ``unavailable``: (provider, offering key) backing off for
    everyone.

    Order: offerings not backing off first; then the highest pool priority; then
    the cheapest; then pool index and offering key, so the answer is stable.
    """
    if group.spec is None:
        return []
    blocked = {i: why for (g, i), why in (blocked_pools or {}).items() if g == group.name}
    ctx = build_group(group, offerings, daemonsets, unavailable, {}, blocked)
    taints = ctx.taints
    found: list[tuple[tuple[bool, int, float, int, str], Slot]] = []
    for slot in ctx.slots:
        key = slot.offering.key
        if slot.pool_index in excluded_pools or (slot.pool_index, key) in excluded:
            continue
        if slot.blocked:
            continue
        if not offering_satisfies(slot.offering, requirements):
            continue
        if node_request_pods and not holds(slot, taints, node_request_pods):
            continue
        rank = (
            slot.unavailable,
            -slot.pool.priority,
            slot.offering.cost_per_hour,
            slot.pool_index,
            key,
        )
        found.append((rank, slot))
    found.sort(key=lambda x: x[0])
    return [(slot.pool_index, slot.offering) for _, slot in found]
