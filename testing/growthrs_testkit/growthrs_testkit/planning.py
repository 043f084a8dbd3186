"""Builders for planner tests: raw Kubernetes-shaped dicts through the real parsers.

Also random packing instances and their exact optimum (a bin-packing MILP solved
with HiGHS, ``pip install highspy``), which the planner's oracle test and the
packing-quality benchmark share.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from growthrs_core.cluster import (
    ClaimInfo,
    DaemonSetInfo,
    GroupView,
    NodeInfo,
    NodeRequestView,
    PodInfo,
    StorageClassInfo,
    VolumeInfo,
    parse_claim,
    parse_daemonset,
    parse_group,
    parse_node,
    parse_node_request,
    parse_pod,
    parse_storage_class,
    parse_volume,
)
from growthrs_core.domain import InstanceType, Offering, Region, Resources, Zone
from growthrs_core.planner import Plan, PlanningInput, plan
from growthrs_core.strategies import (
    CheapestStrategy,
    LeastWasteStrategy,
    PriorityStrategy,
    Strategy,
)

CHEAPEST_CHAIN: list[Strategy] = [PriorityStrategy(), CheapestStrategy()]
LEAST_WASTE_CHAIN: list[Strategy] = [PriorityStrategy(), LeastWasteStrategy()]
DEFAULT_CHAIN: list[Strategy] = CHEAPEST_CHAIN
"""The operator's default (``--strategies priority,cheapest``)."""

# name: (cores, GiB, EUR/h, arch) — Hetzner's lineup.
HETZNER: dict[str, tuple[int, int, float, str]] = {
    "cx22": (2, 4, 0.0060, "amd64"),
    "cx32": (4, 8, 0.0113, "amd64"),
    "cx42": (8, 16, 0.0273, "amd64"),
    "cx52": (16, 32, 0.0540, "amd64"),
    "cpx11": (2, 2, 0.0073, "amd64"),
    "cpx21": (3, 4, 0.0127, "amd64"),
    "cpx31": (4, 8, 0.0232, "amd64"),
    "cax11": (2, 4, 0.0062, "arm64"),
    "cax21": (4, 8, 0.0108, "arm64"),
    "cax31": (8, 16, 0.0206, "arm64"),
    "ccx13": (2, 8, 0.0224, "amd64"),
    "ccx33": (8, 32, 0.0856, "amd64"),
    "ccx63": (48, 192, 0.5096, "amd64"),
}


def offering(
    name: str,
    region: str = "fsn1",
    zone: str | None = None,
    *,
    cpu: int | None = None,
    memory_gib: int | None = None,
    price: float | None = None,
    arch: str | None = None,
    gpu: int = 0,
    gpu_model: str | None = None,
    max_pods: int = 110,
    ephemeral_gib: int | None = None,
    extended: Mapping[str, int] | None = None,
) -> Offering:
    """An offering of Hetzner's lineup by name (or a made-up one); ``extended``: the
    extended resources it declares (counts; bytes for hugepages)."""
    cores, mem, eur, a = HETZNER.get(name, (cpu or 2, memory_gib or 4, price or 0.01, "amd64"))
    return Offering(
        instance_type=InstanceType(name),
        resources=Resources(
            cpu_millis=(cpu if cpu is not None else cores) * 1000,
            memory_mib=(memory_gib if memory_gib is not None else mem) * 1024,
            ephemeral_storage_gib=ephemeral_gib,
            gpu=gpu,
            gpu_model=gpu_model,
            extended=extended or {},
        ),
        cost_per_hour=price if price is not None else eur,
        region=Region(region),
        zone=Zone(zone) if zone else None,
        arch=arch or a,
        max_pods=max_pods,
    )


def lineup(names: Iterable[str], regions: Sequence[str] = ("fsn1",)) -> list[Offering]:
    return [offering(n, r) for r in regions for n in names]


def pod(
    name: str,
    cpu: str | None = "100m",
    memory: str | None = "128Mi",
    *,
    ns: str = "default",
    labels: Mapping[str, str] | None = None,
    node_selector: Mapping[str, str] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
    affinity: dict[str, Any] | None = None,
    spread: list[dict[str, Any]] | None = None,
    host_port: int | None = None,
    gpu: int = 0,
    ephemeral: str | None = None,
    node: str | None = None,
    pending: bool = True,
    owner: tuple[str, str] | None = ("ReplicaSet", "rs"),
    init_containers: list[dict[str, Any]] | None = None,
    overhead: dict[str, str] | None = None,
    priority: int | None = None,
    uid: str | None = None,
    claims: Sequence[str] = (),
    raw: dict[str, Any] | None = None,
    extended: Mapping[str, str] | None = None,
) -> PodInfo:
    """A pod through the real parser; ``extended``: other resources it requests, as
    quantities (``{"example.com/widget": "2", "hugepages-2Mi": "1Gi"}``)."""
    requests: dict[str, str] = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    if gpu:
        requests["nvidia.com/gpu"] = str(gpu)
    if ephemeral:
        requests["ephemeral-storage"] = ephemeral
    requests.update(extended or {})
    container: dict[str, Any] = {"name": "c", "resources": {"requests": requests}}
    if host_port:
        container["ports"] = [{"containerPort": host_port, "hostPort": host_port}]
    spec: dict[str, Any] = {"containers": [container]}
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if tolerations:
        spec["tolerations"] = tolerations
    if affinity:
        spec["affinity"] = affinity
    if spread:
        spec["topologySpreadConstraints"] = spread
    if init_containers:
        spec["initContainers"] = init_containers
    if overhead:
        spec["overhead"] = overhead
    if priority is not None:
        spec["priority"] = priority
    if node:
        spec["nodeName"] = node
    if claims:
        spec["volumes"] = [
            {"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}}
            for i, c in enumerate(claims)
        ]
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "uid": uid or f"uid-{ns}-{name}",
        "labels": dict(labels or {}),
    }
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    status: dict[str, Any] = {"phase": "Running" if node else "Pending"}
    if pending and not node:
        status["conditions"] = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
        ]
    obj = {"metadata": meta, "spec": spec, "status": status}
    if raw:
        _merge(obj, raw)
    return parse_pod(obj)


def _merge(into: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def pods(prefix: str, n: int, cpu: str = "100m", memory: str = "128Mi", **kw: Any) -> list[PodInfo]:
    return [pod(f"{prefix}-{i}", cpu, memory, **kw) for i in range(n)]


def node(
    name: str,
    cpu: str = "4",
    memory: str = "8Gi",
    *,
    labels: Mapping[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    ready: bool = True,
    unschedulable: bool = False,
    max_pods: str = "110",
    deleting: bool = False,
    extended: Mapping[str, str] | None = None,
) -> NodeInfo:
    """A node through the real parser; ``extended``: other allocatable resources."""
    meta: dict[str, Any] = {
        "name": name,
        "labels": {"kubernetes.io/hostname": name, **(labels or {})},
    }
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return parse_node(
        {
            "metadata": meta,
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {
                "allocatable": {
                    "cpu": cpu,
                    "memory": memory,
                    "pods": max_pods,
                    **(extended or {}),
                },
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            },
        }
    )


def group(
    name: str = "default", pools: list[dict[str, Any]] | None = None, **spec: Any
) -> GroupView:
    body = {"pools": pools or [{"provider": "hetzner", "serverType": ["cx22"], "priority": 50}]}
    body.update(spec)
    view = parse_group({"metadata": {"name": name, "uid": f"uid-{name}"}, "spec": body})
    assert view.error is None, view.error
    return view


def pool(
    types: Sequence[str], priority: int = 50, provider: str = "hetzner", **kw: Any
) -> dict[str, Any]:
    return {"provider": provider, "serverType": list(types), "priority": priority, **kw}


def daemonset(
    name: str,
    cpu: str = "100m",
    memory: str = "128Mi",
    *,
    node_selector: Mapping[str, str] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
    host_port: int | None = None,
    extended: Mapping[str, str] | None = None,
) -> DaemonSetInfo:
    container: dict[str, Any] = {
        "name": "c",
        "resources": {"requests": {"cpu": cpu, "memory": memory, **(extended or {})}},
    }
    if host_port:
        container["ports"] = [{"containerPort": host_port, "hostPort": host_port}]
    spec: dict[str, Any] = {"containers": [container]}
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if tolerations:
        spec["tolerations"] = tolerations
    return parse_daemonset(
        {
            "metadata": {"name": name, "namespace": "kube-system"},
            "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": spec}},
        }
    )


def run(
    pending: Sequence[PodInfo],
    groups: Sequence[GroupView] | None = None,
    offerings: Mapping[str, Sequence[Offering]] | None = None,
    *,
    nodes: Sequence[NodeInfo] = (),
    daemonsets: Sequence[DaemonSetInfo] = (),
    node_requests: Sequence[NodeRequestView] = (),
    strategies: Sequence[Strategy] | None = None,
    unavailable: frozenset[tuple[str, str]] = frozenset(),
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
    claims: Sequence[ClaimInfo] = (),
    volumes: Sequence[VolumeInfo] = (),
    storage_classes: Sequence[StorageClassInfo] = (),
    topology_aliases: Mapping[str, str] | None = None,
    blocked_pools: Mapping[tuple[str, int], str] | None = None,
) -> Plan:
    extra: dict[str, Any] = {}
    if topology_aliases is not None:
        extra["topology_aliases"] = topology_aliases
    return plan(
        PlanningInput(
            pods=list(pending),
            nodes=list(nodes),
            daemonsets=list(daemonsets),
            groups=list(groups if groups is not None else [group()]),
            node_requests=list(node_requests),
            offerings=offerings if offerings is not None else {"hetzner": lineup(["cx22"])},
            strategies=list(strategies if strategies is not None else DEFAULT_CHAIN),
            unavailable=unavailable,
            namespaces=dict(namespaces or {}),
            claims=list(claims),
            volumes=list(volumes),
            storage_classes=list(storage_classes),
            blocked_pools=dict(blocked_pools or {}),
            **extra,
        )
    )


def claim(
    name: str,
    storage_class: str | None = None,
    volume: str = "",
    *,
    ns: str = "default",
) -> ClaimInfo:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"]}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    if volume:
        spec["volumeName"] = volume
    return parse_claim(
        {
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
            "status": {"phase": "Bound" if volume else "Pending"},
        }
    )


def volume(name: str, *requirements: tuple[str, str, Sequence[str]]) -> VolumeInfo:
    """A PersistentVolume whose node affinity is one term of (key, operator, values)."""
    spec: dict[str, Any] = {"capacity": {"storage": "10Gi"}}
    if requirements:
        spec["nodeAffinity"] = {
            "required": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": k, "operator": op, "values": list(v)}
                            for k, op, v in requirements
                        ]
                    }
                ]
            }
        }
    return parse_volume({"metadata": {"name": name}, "spec": spec})


def storage_class(
    name: str,
    mode: str = "WaitForFirstConsumer",
    topologies: Mapping[str, Sequence[str]] | None = None,
    *,
    default: bool = False,
) -> StorageClassInfo:
    obj: dict[str, Any] = {"metadata": {"name": name}, "volumeBindingMode": mode}
    if default:
        obj["metadata"]["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    if topologies:
        obj["allowedTopologies"] = [
            {
                "matchLabelExpressions": [
                    {"key": k, "values": list(v)} for k, v in topologies.items()
                ]
            }
        ]
    return parse_storage_class(obj)


def node_requests_from(result: Plan, phase: str = "Pending") -> list[NodeRequestView]:
    """The NodeRequests the controller would create for ``result`` (pods listed)."""
    out = []
    for i, planned in enumerate(result.new_nodes):
        out.append(
            parse_node_request(
                {
                    "metadata": {"name": f"{planned.group}-nr{i}", "uid": f"nr-{i}"},
                    "spec": {
                        "nodeGroup": planned.group,
                        "requirements": planned.requirements.model_dump(exclude_none=True),
                        "pods": [
                            {"namespace": p.namespace, "name": p.name, "uid": p.uid}
                            for p in planned.pods
                        ],
                        "plannedPool": planned.pool_index,
                        "plannedOffering": planned.offering.key,
                    },
                    "status": {"phase": phase},
                }
            )
        )
    return out


def stuck(result: Plan) -> dict[str, str]:
    """Pod key → message of every ``cannot_serve`` outcome."""
    return {k: o.message for k, o in result.outcomes.items() if o.kind == "cannot_serve"}


def reasons(result: Plan) -> dict[str, str]:
    """Pod key → reason code of every ``cannot_serve`` outcome."""
    return {k: o.reason for k, o in result.outcomes.items() if o.kind == "cannot_serve"}


def covered(result: Plan) -> dict[str, str]:
    """Pod key → the NodeRequest of every ``in_flight`` outcome."""
    return {k: o.node_request for k, o in result.outcomes.items() if o.kind == "in_flight"}


def fits(result: Plan) -> dict[str, str]:
    """Pod key → the existing node of every ``fits_existing`` outcome."""
    return {k: o.node for k, o in result.outcomes.items() if o.kind == "fits_existing"}


def planned(result: Plan) -> set[str]:
    """Keys of the pods with a ``planned`` outcome."""
    return {k for k, o in result.outcomes.items() if o.kind == "planned"}


def summary(result: Plan) -> list[tuple[str, int]]:
    """Sorted (offering key, pods) per planned node."""
    return sorted((n.offering.key, len(n.pods)) for n in result.new_nodes)


# -- random packing instances and their optimum -------------------------------------------


@dataclass
class Instance:
    """Pods and the offerings of one pool in one location: a bin-packing problem."""

    pods: list[PodInfo]
    offerings: list[Offering]


def random_instance(rng: random.Random, min_pods: int = 1, max_pods: int = 12) -> Instance:
    """One pool's worth of offerings (1-4, prices off linear by up to 30 %) and
    ``min_pods``..``max_pods`` pods that each fit at least one of them."""
    offers = []
    for t in range(rng.randint(1, 4)):
        cpu = rng.choice([1, 2, 4, 8])
        mem = cpu * rng.choice([1, 2, 4])
        price = round((cpu * 0.004 + mem * 0.001) * rng.uniform(0.7, 1.3), 5)
        offers.append(offering(f"t{t}", cpu=cpu, memory_gib=mem, price=price))
    big_cpu = max(o.resources.cpu_millis for o in offers)
    big_mem = max(o.resources.memory_mib for o in offers)
    pods = []
    for i in range(rng.randint(min_pods, max_pods)):
        share = rng.choice([4, 4, 3, 2, 1])  # mostly small pods, some big ones
        cpu = rng.randint(1, max(1, big_cpu // 100 // share)) * 100
        mem = rng.randint(1, max(1, big_mem // 128 // share)) * 128
        # Keep every pod placeable on at least one offering.
        while not any(
            cpu <= o.resources.cpu_millis and mem <= o.resources.memory_mib for o in offers
        ):
            cpu, mem = max(100, cpu // 2), max(128, mem // 2)
        pods.append(pod(f"p{i}", f"{cpu}m", f"{mem}Mi"))
    return Instance(pods, offers)


def optimum(inst: Instance, time_limit: float | None = None) -> tuple[float, int]:
    """Cheapest packing, then fewest nodes among the cheapest: (cost, nodes).

    Pods sorted by size; pod i may only use bins 0..i (a standard symmetry break:
    any packing can be renumbered so each bin is named after its first pod).
    With ``time_limit`` (seconds) HiGHS stops early with the best packing found.
    """
    import highspy

    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.silent()
    if time_limit is not None:
        h.setOptionValue("time_limit", time_limit)
    pods = sorted(inst.pods, key=lambda p: (-p.requests.cpu_millis, -p.requests.memory_mib))
    n, types = len(pods), inst.offerings
    y = [[h.addBinary() for _ in types] for _ in range(n)]
    x = [[h.addBinary() for _ in range(i + 1)] for i in range(n)]
    for i in range(n):
        h.addConstr(sum(x[i]) == 1)
    for b in range(n):
        h.addConstr(sum(y[b]) <= 1)
        members = [(i, x[i][b]) for i in range(b, n)]
        for _, var in members:
            h.addConstr(var <= sum(y[b]))
        h.addConstr(
            sum(pods[i].requests.cpu_millis * var for i, var in members)
            <= sum(o.resources.cpu_millis * y[b][t] for t, o in enumerate(types))
        )
        h.addConstr(
            sum(pods[i].requests.memory_mib * var for i, var in members)
            <= sum(o.resources.memory_mib * y[b][t] for t, o in enumerate(types))
        )
    epsilon = min(o.cost_per_hour for o in types) * 1e-4
    h.minimize(
        sum((o.cost_per_hour + epsilon) * y[b][t] for b in range(n) for t, o in enumerate(types))
    )
    values = h.vals([v for row in y for v in row])
    nodes = round(sum(values))
    cost = sum(
        o.cost_per_hour * round(values[b * len(types) + t])
        for b in range(n)
        for t, o in enumerate(types)
    )
    return cost, nodes


def planned_cost(inst: Instance, chain: list[Strategy]) -> tuple[float, int]:
    """The planner's packing of ``inst`` with strategy ``chain``: (cost, nodes)."""
    names = [str(o.instance_type) for o in inst.offerings]
    result = run(
        inst.pods, [group(pools=[pool(names)])], {"hetzner": inst.offerings}, strategies=chain
    )
    assert not result.stuck()
    assert sum(len(n.pods) for n in result.new_nodes) == len(inst.pods)
    return sum(n.offering.cost_per_hour for n in result.new_nodes), len(result.new_nodes)


# -- whole workloads against a catalogue, and their exact optimum --------------------------


@dataclass(frozen=True)
class Shape:
    """``count`` identical pods of one size."""

    name: str
    count: int
    cpu_millis: int
    memory_mib: int


@dataclass(frozen=True)
class Workload:
    """Pods of a few shapes, created at once, for one pool of ``offerings`` (one location)."""

    name: str
    shapes: tuple[Shape, ...]
    offerings: tuple[Offering, ...]

    def pods(self) -> list[PodInfo]:
        out = []
        for s in self.shapes:
            for i in range(s.count):
                out.append(
                    PodInfo(
                        namespace="default",
                        name=f"{s.name}-{i}",
                        uid=f"{s.name}-{i}",
                        labels={"app": s.name},
                        requests=Resources(cpu_millis=s.cpu_millis, memory_mib=s.memory_mib),
                        unschedulable=True,
                        owner_kind="ReplicaSet",
                        owner_name=s.name,
                    )
                )
        return out


DEDICATED_PREFIX = "ccx"
"""Hetzner's dedicated-vCPU line (CCX): the third workload leaves it out."""


def cost_workloads(catalogue: Sequence[Offering], scale: float = 1.0) -> list[Workload]:
    """The three workloads of the packing-cost benchmark, ``scale`` times 1,000 pods:

    - ``uniform``: 250m/256Mi pods only (Karpenter's KWOK comparison);
    - ``mixed``: web pods of 250m/256Mi, API pods of 500m/1Gi and memory-heavy
      cache pods of 500m/4Gi;
    - ``mixed-no-ccx``: the same without the dedicated CCX types.

    ``catalogue`` is the offerings of one location (say
    ``growthrs_kwok.offerings.catalogue("fsn1")``); GPU types are left out.
    """
    cpu_types = tuple(o for o in catalogue if not o.resources.gpu)
    shared = tuple(o for o in cpu_types if not o.instance_type.startswith(DEDICATED_PREFIX))

    def n(count: int) -> int:
        return max(1, round(count * scale))

    mixed = (
        Shape("web", n(500), 250, 256),
        Shape("api", n(300), 500, 1024),
        Shape("cache", n(200), 500, 4096),
    )
    return [
        Workload("uniform", (Shape("web", n(1000), 250, 256),), cpu_types),
        Workload("mixed", mixed, cpu_types),
        Workload("mixed-no-ccx", mixed, shared),
    ]


@dataclass(frozen=True)
class Optimum:
    """What HiGHS found for a workload: the best packing's cost and nodes, the best
    bound on the objective and the relative gap between them (0: proven optimal)."""

    cost: float
    nodes: int
    bound: float
    gap: float
    optimal: bool


def _patterns(shapes: Sequence[Shape], o: Offering) -> list[tuple[int, ...]]:
    """Every maximal pattern (pods per shape on one node of ``o``) within the demand:
    with the demand a lower bound, an optimal packing needs no other (fill up any)."""
    cap = (o.resources.cpu_millis, o.resources.memory_mib, o.max_pods)
    out: list[tuple[int, ...]] = []
    acc = [0] * len(shapes)

    def rec(i: int, cpu: int, mem: int, pods: int) -> None:
        if i == len(shapes):
            if any(acc) and all(
                acc[j] >= s.count or s.cpu_millis > cpu or s.memory_mib > mem or pods < 1
                for j, s in enumerate(shapes)
            ):
                out.append(tuple(acc))
            return
        s = shapes[i]
        k = min(s.count, cpu // max(s.cpu_millis, 1), mem // max(s.memory_mib, 1), pods)
        for take in range(k, -1, -1):
            acc[i] = take
            rec(i + 1, cpu - take * s.cpu_millis, mem - take * s.memory_mib, pods - take)
        acc[i] = 0

    rec(0, *cap)
    return out


def pattern_optimum(
    workload: Workload, time_limit: float = 60.0, max_cost: float | None = None
) -> Optimum:
    """Solve the workload exactly: an integer program over every maximal pattern of
    every offering (HiGHS, ``time_limit`` seconds). Minimises the hourly cost, or with
    ``max_cost`` the node count among packings that cost at most that."""
    import highspy

    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.silent()
    h.setOptionValue("time_limit", time_limit)
    h.setOptionValue("mip_rel_gap", 0.0)
    shapes = workload.shapes
    columns: list[tuple[Offering, tuple[int, ...]]] = [
        (o, p) for o in workload.offerings for p in _patterns(shapes, o)
    ]
    x = [h.addIntegral(lb=0) for _ in columns]
    for i, s in enumerate(shapes):
        h.addConstr(sum(p[i] * v for (_, p), v in zip(columns, x, strict=True) if p[i]) >= s.count)
    cost_expr = sum(o.cost_per_hour * v for (o, _), v in zip(columns, x, strict=True))
    if max_cost is None:
        h.minimize(cost_expr)
    else:
        h.addConstr(cost_expr <= max_cost + 1e-9)
        h.minimize(sum(x))
    values = h.vals(x)
    info = h.getInfo()
    cost = sum(o.cost_per_hour * round(v) for (o, _), v in zip(columns, values, strict=True))
    nodes = sum(round(v) for v in values)
    status = h.getModelStatus()
    return Optimum(
        cost=cost,
        nodes=nodes,
        bound=float(info.mip_dual_bound),
        gap=float(info.mip_gap),
        optimal=status == highspy.HighsModelStatus.kOptimal,
    )


def planned_workload(workload: Workload, chain: Sequence[Strategy]) -> tuple[float, int]:
    """Plan ``workload`` with ``chain`` (one group, one pool of its offerings): (cost, nodes)."""
    names = sorted({str(o.instance_type) for o in workload.offerings})
    result = run(
        workload.pods(),
        [group(pools=[pool(names)])],
        {"hetzner": list(workload.offerings)},
        strategies=list(chain),
    )
    assert not result.stuck(), result.stuck()
    assert sum(len(n.pods) for n in result.new_nodes) == sum(s.count for s in workload.shapes)
    return sum(n.offering.cost_per_hour for n in result.new_nodes), len(result.new_nodes)
