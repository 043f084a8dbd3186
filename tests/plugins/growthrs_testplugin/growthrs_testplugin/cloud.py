"""An in-memory cloud implementing the Provider protocol: machines are dict entries."""

from __future__ import annotations

import threading

from growthrs_core import (
    CreateRequest,
    Creating,
    InstanceType,
    NodeId,
    NotFound,
    Offering,
    OfferingUnavailable,
    ProviderStatus,
    Region,
    Resources,
    Running,
)

CATALOGUE = (
    Offering(
        instance_type=InstanceType("small"),
        resources=Resources(cpu_millis=2000, memory_mib=4096),
        cost_per_hour=0.01,
        region=Region("lab-1"),
    ),
    Offering(
        instance_type=InstanceType("large"),
        resources=Resources(cpu_millis=8000, memory_mib=16384),
        cost_per_hour=0.04,
        region=Region("lab-1"),
    ),
    Offering(
        instance_type=InstanceType("small"),
        resources=Resources(cpu_millis=2000, memory_mib=4096),
        cost_per_hour=0.012,
        region=Region("lab-2"),
    ),
)


class InMemoryCloud:
    """Machines are created ``Creating`` and turn ``Running`` on the next ``status()``.

    ``settings["unavailable"]`` (comma separated instance types) answer "no capacity".
    """

    def __init__(self, cluster_name: str = "growthrs", settings: dict[str, str] | None = None):
        self.cluster_name = cluster_name
        settings = settings or {}
        self.unavailable = {t for t in settings.get("unavailable", "").split(",") if t}
        self.machines: dict[str, str] = {}
        self.requests: dict[str, CreateRequest] = {}
        self._lock = threading.Lock()

    def offerings(self, region: str | None) -> list[Offering]:
        return [o for o in CATALOGUE if region is None or o.region == region]

    def create(self, request: CreateRequest) -> NodeId:
        if str(request.offering.instance_type) in self.unavailable:
            raise OfferingUnavailable(f"test-cloud: no {request.offering.instance_type} left")
        with self._lock:
            self.machines.setdefault(request.node_name, "creating")
            self.requests.setdefault(request.node_name, request)
        return NodeId(request.node_name)

    def delete(self, node_id: NodeId) -> None:
        with self._lock:
            self.machines.pop(node_id, None)
            self.requests.pop(node_id, None)

    def status(self, node_id: NodeId) -> ProviderStatus:
        with self._lock:
            state = self.machines.get(node_id)
            if state is None:
                return NotFound()
            if state == "creating":
                self.machines[node_id] = "running"
                return Creating()
            return Running()

    def list_nodes(self) -> list[NodeId]:
        with self._lock:
            return sorted(NodeId(n) for n in self.machines)
