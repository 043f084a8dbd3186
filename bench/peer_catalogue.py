"""The pure parts of the side-by-side benchmark (``bench.peer``): no cluster, no processes.

- :func:`karpenter_instance_types`: our KWOK catalogue as the instance-types JSON
  Karpenter's KWOK provider reads (``INSTANCE_TYPES_FILE_PATH``), with the same
  names, sizes, zones and prices, and the memory capacity lowered so that the
  allocatable Karpenter computes equals ours.
- :func:`hourly_cost`, :func:`utilisation`: what a set of nodes costs and how full it is.
- :data:`WORKLOADS`: the pod shapes each workload creates.
- :func:`parse_go_bench`: ``go test -bench`` output lines as records, for
  Karpenter's scheduling benchmark.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from growthrs_core.quantity import cpu_millis, memory_mib
from growthrs_kwok import offerings as kwok

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"

KARPENTER_KWOK_KUBE_RESERVED = kwok.Reserve(cpu_millis=100, memory_mib=10, storage_percent=0)
"""What Karpenter's KWOK provider always subtracts from capacity (``kwok/cloudprovider/
helpers.go``: ``KubeReserved`` 100m CPU and 10Mi memory, nothing else). It has no
setting for it, so :func:`karpenter_instance_types` declares the capacity that
leaves our allocatable after this reserve."""

HETZNER_FAMILIES = ("cx", "cpx", "cax", "ccx")
PEER_TYPES: tuple[kwok.ServerType, ...] = tuple(
    t for t in kwok.SERVER_TYPES if t.name.startswith(HETZNER_FAMILIES) and not t.gpu
)
"""The 19 Hetzner-like types (CX, CPX, CAX, CCX); the fictional GPU and widget types
are left out."""
DEDICATED_FAMILY = "ccx"


def dedicated(server: kwok.ServerType) -> bool:
    """A CCX type (dedicated vCPU)."""
    return server.name.startswith(DEDICATED_FAMILY)


def peer_types(exclude_dedicated: bool = False) -> tuple[kwok.ServerType, ...]:
    return tuple(t for t in PEER_TYPES if not (exclude_dedicated and dedicated(t)))


def _locations(server: kwok.ServerType) -> list[kwok.Location]:
    return [
        loc for loc in kwok.LOCATIONS if server.locations is None or loc.name in server.locations
    ]


def karpenter_instance_types(
    types: Sequence[kwok.ServerType] = PEER_TYPES,
    reserve: kwok.Reserve = kwok.KUBELET_RESERVE,
    karpenter_reserve: kwok.Reserve = KARPENTER_KWOK_KUBE_RESERVED,
) -> list[dict[str, Any]]:
    """Karpenter KWOK ``InstanceTypeOptions`` for ``types``: one on-demand offering per location.

    Each offering carries the location's zone (its datacenter, as our KWOK nodes are
    labelled) and region, so Karpenter's nodes get the same topology labels as
    ours. Karpenter computes allocatable as capacity minus ``karpenter_reserve``;
    the capacity declared here is our allocatable plus that reserve, so both
    autoscalers see, and their nodes report, the same allocatable.
    """
    out = []
    for server in types:
        ours = kwok.allocatable(server, reserve)
        resources = {
            "cpu": f"{ours.cpu_millis + karpenter_reserve.cpu_millis}m",
            "memory": f"{ours.memory_mib + karpenter_reserve.memory_mib}Mi",
            "ephemeral-storage": f"{ours.ephemeral_storage_gib}Gi",
            "pods": str(kwok.MAX_PODS),
        }
        offerings = [
            {
                "Price": server.eur_per_hour,
                "Available": True,
                "Requirements": [
                    {"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": ["on-demand"]},
                    {"key": ZONE_LABEL, "operator": "In", "values": [loc.datacenter]},
                    {"key": REGION_LABEL, "operator": "In", "values": [loc.name]},
                ],
            }
            for loc in _locations(server)
        ]
        out.append(
            {
                "name": server.name,
                "architecture": server.arch,
                "operatingSystems": ["linux"],
                "resources": resources,
                "offerings": offerings,
            }
        )
    return out


def karpenter_allocatable(entry: Mapping[str, Any]) -> tuple[int, int]:
    """(CPU millis, memory MiB) Karpenter's KWOK provider gives a node of ``entry``."""
    res = entry["resources"]
    reserve = KARPENTER_KWOK_KUBE_RESERVED
    return cpu_millis(res["cpu"]) - reserve.cpu_millis, memory_mib(
        res["memory"]
    ) - reserve.memory_mib


# -- what nodes cost and how full they are ---------------------------------------------------


def price_per_hour(instance_type: str) -> float:
    """EUR per hour of one node of ``instance_type`` (the same in every location)."""
    server = kwok.server_type(instance_type)
    if server is None:
        raise KeyError(f"unknown instance type {instance_type!r}")
    return server.eur_per_hour


def node_type(node: Mapping[str, Any]) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return str(labels.get(INSTANCE_TYPE_LABEL) or "")


def hourly_cost(nodes: Iterable[Mapping[str, Any]]) -> float:
    """EUR per hour of ``nodes`` (Node objects), priced by their instance-type label."""
    return sum(price_per_hour(node_type(n)) for n in nodes)


def type_counts(nodes: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in nodes:
        counts[node_type(n)] = counts.get(node_type(n), 0) + 1
    return dict(sorted(counts.items()))


def utilisation(
    requested: tuple[int, int], nodes: Iterable[Mapping[str, Any]]
) -> tuple[float, float]:
    """(CPU, memory) requested by pods ÷ allocatable of ``nodes``; NaN without nodes."""
    cpu = mem = 0
    for n in nodes:
        alloc = (n.get("status") or {}).get("allocatable") or {}
        cpu += cpu_millis(alloc.get("cpu", "0"))
        mem += memory_mib(alloc.get("memory", "0"))
    return (
        requested[0] / cpu if cpu else math.nan,
        requested[1] / mem if mem else math.nan,
    )


# -- workloads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """``replicas`` pods of one Deployment, each requesting ``cpu`` and ``memory``."""

    name: str
    replicas: int
    cpu: str
    memory: str


@dataclass(frozen=True)
class Workload:
    name: str
    shapes: tuple[Shape, ...]
    exclude_dedicated: bool = False
    """Leave the CCX types out of both autoscalers' choice."""
    scale_to: int | None = None
    """Scale-in: after all pods run, scale the (single) Deployment to this many."""

    @property
    def pods(self) -> int:
        return sum(s.replicas for s in self.shapes)

    @property
    def requested(self) -> tuple[int, int]:
        """Total (CPU millis, memory MiB) the workload's pods request."""
        return (
            sum(s.replicas * cpu_millis(s.cpu) for s in self.shapes),
            sum(s.replicas * memory_mib(s.memory) for s in self.shapes),
        )

    def scaled(self, factor: float) -> Workload:
        """The same shapes with ``factor`` times the replicas (at least one each)."""
        shapes = tuple(
            Shape(s.name, max(1, round(s.replicas * factor)), s.cpu, s.memory) for s in self.shapes
        )
        scale_to = None if self.scale_to is None else max(1, round(self.scale_to * factor))
        return Workload(self.name, shapes, self.exclude_dedicated, scale_to)


UNIFORM = (Shape("small", 1000, "250m", "256Mi"),)
MIXED = (
    Shape("web", 500, "250m", "256Mi"),
    Shape("api", 250, "500m", "1Gi"),
    Shape("cache", 150, "250m", "4Gi"),  # memory-heavy: 16 GiB per requested core
    Shape("batch", 100, "1", "1Gi"),  # CPU-heavy
)
WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("uniform", UNIFORM),
        Workload("mixed", MIXED),
        Workload("mixed-no-ccx", MIXED, exclude_dedicated=True),
        Workload("scale-in", UNIFORM, scale_to=300),
    )
}


# -- go test -bench output -------------------------------------------------------------------

_BENCH_LINE = re.compile(r"^(Benchmark\S+?)(?:-(\d+))?\s+(\d+)\s+(.*)$")


def parse_go_bench(text: str) -> list[dict[str, Any]]:
    """Each ``BenchmarkX-2   1   123 ns/op   456 pods/sec ...`` line as
    ``{"name": "BenchmarkX", "procs": 2, "n": 1, "metrics": {"ns/op": 123.0, ...}}``."""
    out = []
    for line in text.splitlines():
        match = _BENCH_LINE.match(line.strip())
        if not match:
            continue
        name, procs, n, rest = match.groups()
        fields = rest.split()
        metrics = {}
        for value, unit in zip(fields[::2], fields[1::2], strict=False):
            try:
                metrics[unit] = float(value)
            except ValueError:
                break
        if metrics:
            out.append({"name": name, "procs": int(procs or 1), "n": int(n), "metrics": metrics})
    return out
