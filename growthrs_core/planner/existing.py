"""Pending pods that fit free room on existing nodes need no new node.

The scheduler marks a pod unschedulable and retries later; meanwhile room may
have appeared (a pod finished, a node became Ready). Such pods are left to the
scheduler. Placement is simulated so that two pods never claim the same room.

Only Ready, schedulable nodes that are not being deleted count, and their
taints apply like any other (so a node marked for scale-down, which carries the
``growthrs.io/scale-down`` NoSchedule taint, offers no room), as does where the
pod's volumes can attach. Pods with
required pod affinity, zone-level anti-affinity or a ``DoNotSchedule`` spread
constraint are never counted as fitting: if in doubt, the planner would rather
plan a node than leave a pod pending for good.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from growthrs_core.cluster import NodeInfo, PodInfo
from growthrs_core.labels import HOSTNAME_LABEL
from growthrs_core.planner.matching import pod_accepts, tolerates
from growthrs_core.planner.selection import PodClass
from growthrs_core.planner.slots import UNLIMITED, extended_room, take_extended
from growthrs_core.planner.topology import (
    NO_NAMESPACES,
    MatcherIndex,
    Namespaces,
    PodMatcher,
    hard_spread,
    term_matcher,
)
from growthrs_core.planner.volumes import accepts_node


@dataclass(eq=False)
class _Room:
    node: NodeInfo
    cpu: int
    memory: int
    ephemeral: int
    gpu: int
    pods: int
    bound_cpu: int
    """Free CPU before simulation: rooms are scanned in this order, so a scan can stop early."""
    extended: dict[str, int] = field(default_factory=dict)
    """Free room in each extended resource the node offers."""
    ports: set[tuple[int, str]] = field(default_factory=set)
    residents: list[PodInfo] = field(default_factory=list)
    anti: list[PodMatcher] = field(default_factory=list)


def _rooms(
    nodes: Sequence[NodeInfo],
    pods_by_node: Mapping[str, Sequence[PodInfo]],
    namespaces: Namespaces,
) -> list[_Room]:
    rooms = []
    for node in nodes:
        if not node.ready or node.unschedulable or node.deleting or node.error is not None:
            continue
        alloc = node.allocatable
        room = _Room(
            node=node,
            cpu=alloc.cpu_millis,
            memory=alloc.memory_mib,
            ephemeral=UNLIMITED
            if alloc.ephemeral_storage_gib is None
            else alloc.ephemeral_storage_gib,
            gpu=alloc.gpu,
            pods=node.max_pods,
            bound_cpu=0,
            extended=dict(alloc.extended),
        )
        for pod in pods_by_node.get(node.name, ()):
            req = pod.requests
            room.cpu -= req.cpu_millis
            room.memory -= req.memory_mib
            if req.ephemeral_storage_gib:
                room.ephemeral -= req.ephemeral_storage_gib
            room.gpu -= req.gpu
            room.pods -= 1
            if req.extended:
                take_extended(room.extended, req.extended, 1)
            if pod.host_ports:
                room.ports.update((p, proto) for p, proto, _ in pod.host_ports)
            if pod.anti_affinity:
                room.anti.extend(
                    term_matcher(t, pod.namespace, namespaces)
                    for t in pod.anti_affinity
                    if t.topology_key == HOSTNAME_LABEL
                )
            room.residents.append(pod)
        room.bound_cpu = room.cpu
        if room.cpu > 0 and room.memory > 0 and room.pods > 0:
            rooms.append(room)
    rooms.sort(key=lambda r: (-r.bound_cpu, r.node.name))
    return rooms


def _eligible(pod: PodInfo) -> bool:
    if pod.affinity or hard_spread(pod):
        return False
    return all(t.topology_key == HOSTNAME_LABEL for t in pod.anti_affinity)


def place_on_existing(
    classes: Sequence[PodClass],
    nodes: Sequence[NodeInfo],
    pods_by_node: Mapping[str, Sequence[PodInfo]],
    held_back: MatcherIndex | None = None,
    namespaces: Namespaces = NO_NAMESPACES,
) -> dict[str, str]:
    """Remove from ``classes`` the pods that fit existing nodes; return pod key → the
    node whose room the simulation gave it.

    ``held_back`` selects pods that are not placed here either: those a running
    pod's zone-level anti-affinity keeps away from its zone, and those pending pods
    must run next to (required hostname affinity), which go to a new node with them.
    """
    rooms = _rooms(nodes, pods_by_node, namespaces)
    fitted: dict[str, str] = {}
    if not rooms:
        return fitted
    max_cpu = max(r.cpu for r in rooms)
    max_mem = max(r.memory for r in rooms)
    # (cpu, memory) of unrestricted pods that fit nowhere: anything at least as big
    # that tolerates nothing extra fits nowhere either (rooms only shrink).
    misfits: list[tuple[int, int]] = []
    for cls in sorted(classes, key=lambda c: (-c.proto.priority, c.id)):
        pod = cls.proto
        req = pod.requests
        if not _eligible(pod) or req.cpu_millis > max_cpu or req.memory_mib > max_mem:
            continue
        if held_back and held_back.any(pod):
            continue
        if not pod.tolerations and any(
            req.cpu_millis >= c and req.memory_mib >= m for c, m in misfits
        ):
            continue
        taken = _place_class(cls, rooms, fitted, namespaces)
        if taken == 0 and cls.volume is None and _unrestricted(pod):
            misfits.append((req.cpu_millis, req.memory_mib))
        if taken:
            rooms = [r for r in rooms if r.cpu > 0 and r.memory > 0 and r.pods > 0]
            if not rooms:
                break
            max_cpu = max(r.cpu for r in rooms)
            max_mem = max(r.memory for r in rooms)
    return fitted


def _unrestricted(pod: PodInfo) -> bool:
    return not (
        pod.node_selector
        or pod.required_terms
        or pod.tolerations
        or pod.host_ports
        or pod.anti_affinity
        or pod.requests.gpu
        or pod.requests.ephemeral_storage_gib
        or pod.requests.extended
    )


def _place_class(
    cls: PodClass, rooms: list[_Room], fitted: dict[str, str], namespaces: Namespaces
) -> int:
    """Put as many pods of ``cls`` as fit into ``rooms``; returns how many."""
    pod = cls.proto
    req = pod.requests
    own_anti = [
        term_matcher(t, pod.namespace, namespaces)
        for t in pod.anti_affinity
        if t.topology_key == HOSTNAME_LABEL
    ]
    self_anti = any(m.matches_pod(pod) for m in own_anti)
    ports = {(p, proto) for p, proto, _ in pod.host_ports}
    taken = 0
    for room in rooms:
        if room.bound_cpu < req.cpu_millis:
            break
        if (
            req.cpu_millis > room.cpu
            or req.memory_mib > room.memory
            or (req.ephemeral_storage_gib or 0) > room.ephemeral
            or req.gpu > room.gpu
            or room.pods < 1
            or (req.extended and extended_room(room.extended, req.extended) < 1)
        ):
            continue
        if ports and not ports.isdisjoint(room.ports):
            continue
        if not pod_accepts(pod, room.node.labels) or not tolerates(
            pod.tolerations, room.node.taints
        ):
            continue
        if cls.volume is not None and not accepts_node(cls.volume, room.node.labels):
            continue
        if own_anti and any(m.matches_pod(r) for m in own_anti for r in room.residents):
            continue
        if room.anti and any(m.matches_pod(pod) for m in room.anti):
            continue
        k = min(len(cls.pods) - taken, room.pods)
        if req.cpu_millis:
            k = min(k, room.cpu // req.cpu_millis)
        if req.memory_mib:
            k = min(k, room.memory // req.memory_mib)
        if req.ephemeral_storage_gib:
            k = min(k, room.ephemeral // req.ephemeral_storage_gib)
        if req.gpu:
            k = min(k, room.gpu // req.gpu)
        if req.extended:
            k = min(k, extended_room(room.extended, req.extended))
        if ports or self_anti:
            k = min(k, 1)
        if k <= 0:
            continue
        room.cpu -= k * req.cpu_millis
        room.memory -= k * req.memory_mib
        room.ephemeral -= k * (req.ephemeral_storage_gib or 0)
        room.gpu -= k * req.gpu
        room.pods -= k
        take_extended(room.extended, req.extended, k)
        room.ports |= ports
        placed = cls.pods[taken : taken + k]
        room.residents.extend(placed)
        room.anti.extend(own_anti)
        fitted.update((p.key, room.node.name) for p in placed)
        taken += k
        if taken == len(cls.pods):
            break
    if taken:
        del cls.pods[:taken]
    return taken
