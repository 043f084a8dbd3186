"""NodeRequests in flight are capacity that is already on its way (SPEC §4 step 3).

A Pending or Provisioning NodeRequest is a virtual node of its offering
(``status.offering`` once created, else ``spec.plannedOffering``): the node it
becomes has that offering's room, not just the ``spec.requirements`` floor.
The pods it lists that are still pending are *covered* by it; room it has left
(pods that got scheduled elsewhere, or space beyond its pods) may take other
pending pods of its group. Only then is the rest a shortfall. The room counts
until the node accepts pods (Ready and past its start-up taints); then the
node's own free room takes over. This is what keeps the operator from
provisioning the same demand twice, also across restarts: the NodeRequests are
in the cluster.

An Unmet NodeRequest (no pool could provide its node) still covers the pods it
lists that are still pending, until the operator deletes it after ``unmet_ttl``;
only then are they planned afresh. Without that, every pass would plan a new
request for them at once, and when every pool fails that is a churn of
requests. It offers no room, is no node for their affinity or spread, and does
not count against ``maxNodes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from growthrs_core.cluster import NodeInfo, NodeRequestView, PodInfo
from growthrs_core.labels import HOSTNAME_LABEL
from growthrs_core.planner.slots import GroupContext, Slot, extended_room, take_extended


@dataclass(eq=False)
class InFlight:
    nr: NodeRequestView
    group: str
    pool_index: int | None
    slot: Slot | None
    cpu: int = 0
    memory: int = 0
    ephemeral: int = 0
    gpu: int = 0
    pods: int = 0
    extended: dict[str, int] = field(default_factory=dict)
    listed: list[PodInfo] = field(default_factory=list)
    node_exists: bool = False
    unmet: bool = False
    """An Unmet request: it holds its pods until deleted, but is no capacity."""

    def cover_message(self) -> str:
        """What the outcome of a pod this request lists says."""
        if not self.unmet:
            return f"waiting for NodeRequest {self.nr.name}, already on its way"
        why = self.nr.status.message or "no pool could provide a node"
        return (
            f"NodeRequest {self.nr.name} is Unmet ({why}); its pods are planned again "
            "once it is deleted after unmet_ttl"
        )

    def topology_labels(self) -> dict[str, str]:
        labels = dict(self.slot.topology) if self.slot is not None else {}
        labels[HOSTNAME_LABEL] = self.nr.status.nodeName or self.nr.name
        return labels


def collect(
    node_requests: Sequence[NodeRequestView],
    groups: Mapping[str, GroupContext],
    pending: Mapping[str, PodInfo],
    nodes: Mapping[str, NodeInfo],
) -> tuple[list[InFlight], dict[str, str]]:
    """In-flight requests with their leftover room (and Unmet ones, with none), and pod
    key → NodeRequest covering it. A pod listed by several is covered by the first
    in-flight one, by name, before any Unmet one."""
    flights: list[InFlight] = []
    covered: dict[str, str] = {}
    holding = [nr for nr in node_requests if nr.in_flight or nr.unmet]
    for nr in sorted(holding, key=lambda n: (n.unmet, n.name)):
        assert nr.spec is not None
        spec = nr.spec
        pool_index = (
            nr.status.currentPool if nr.status.currentPool is not None else spec.plannedPool
        )
        offering_key = nr.status.offering or spec.plannedOffering
        ctx = groups.get(spec.nodeGroup)
        slot = None
        if ctx is not None and offering_key and not nr.unmet:
            for s in ctx.slots:
                if s.offering.key == offering_key and (
                    pool_index is None or s.pool_index == pool_index
                ):
                    slot = s
                    break
        node_name = nr.status.nodeName
        flight = InFlight(
            nr=nr,
            group=spec.nodeGroup,
            pool_index=pool_index
            if pool_index is not None
            else (slot.pool_index if slot else None),
            slot=slot,
            node_exists=bool(node_name) and node_name in nodes,
            unmet=nr.unmet,
        )
        for ref in spec.pods:
            pod = pending.get(f"{ref.namespace}/{ref.name}")
            if pod is None or (ref.uid and pod.uid and ref.uid != pod.uid):
                continue
            if pod.key in covered:
                continue
            covered[pod.key] = nr.name
            flight.listed.append(pod)
        usable_room = slot is not None and not (
            flight.node_exists and nodes[node_name or ""].accepts_pods
        )
        if usable_room:
            assert slot is not None
            flight.cpu = slot.cpu
            flight.memory = slot.memory
            flight.ephemeral = slot.ephemeral
            flight.gpu = slot.gpu
            flight.pods = slot.pods
            flight.extended = dict(slot.extended)
            for pod in flight.listed:
                flight.cpu -= pod.requests.cpu_millis
                flight.memory -= pod.requests.memory_mib
                flight.ephemeral -= pod.requests.ephemeral_storage_gib or 0
                flight.gpu -= pod.requests.gpu
                flight.pods -= 1
                take_extended(flight.extended, pod.requests.extended, 1)
        flights.append(flight)
    return flights, covered


def take_room(flight: InFlight, pod: PodInfo, count: int) -> int:
    """How many of ``count`` pods like ``pod`` the leftover room of ``flight`` takes."""
    req = pod.requests
    if flight.pods <= 0 or flight.cpu < req.cpu_millis or flight.memory < req.memory_mib:
        return 0
    k = min(count, flight.pods)
    if req.cpu_millis:
        k = min(k, flight.cpu // req.cpu_millis)
    if req.memory_mib:
        k = min(k, flight.memory // req.memory_mib)
    if req.ephemeral_storage_gib:
        k = min(k, flight.ephemeral // req.ephemeral_storage_gib)
    if req.gpu:
        k = min(k, flight.gpu // req.gpu) if flight.gpu > 0 else 0
    if req.extended:
        k = min(k, extended_room(flight.extended, req.extended))
    k = max(k, 0)
    flight.cpu -= k * req.cpu_millis
    flight.memory -= k * req.memory_mib
    flight.ephemeral -= k * (req.ephemeral_storage_gib or 0)
    flight.gpu -= k * req.gpu
    flight.pods -= k
    take_extended(flight.extended, req.extended, k)
    return k
