"""Whether a pod may run on a node: labels, taints, and the labels a new node gets.

A new node's labels are known before it exists (the group's labels plus what
the offering decides: type, region, zone, architecture, GPU model), so a pod's
nodeSelector and required node affinity are evaluated against each offering a
group can create. A selector on instance type or zone therefore narrows the
offerings rather than rejecting the whole group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from growthrs_core import quantity
from growthrs_core.cluster import (
    DaemonSetInfo,
    GroupView,
    NodeSelectorTerm,
    PodInfo,
    Toleration,
)
from growthrs_core.crd.models import Requirements
from growthrs_core.domain import NO_EXTENDED, Offering, Resources, Taint
from growthrs_core.errors import QuantityError
from growthrs_core.labels import (
    ARCH_LABEL,
    GPU_MODEL_LABEL,
    HOSTNAME_LABEL,
    INSTANCE_TYPE_LABEL,
    NODE_GROUP_LABEL,
    OS_LABEL,
    POOL_LABEL,
    REGION_LABEL,
    ZONE_LABEL,
)

BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
"""Taint effects the scheduler enforces; ``PreferNoSchedule`` only steers."""

PLANNED_HOSTNAME = "<planned node>"
"""Stands in for a new node's hostname when matching: present, but equal to nothing."""


def new_node_labels(group: GroupView, pool_index: int, offering: Offering) -> dict[str, str]:
    """The labels a node of ``group`` created from ``offering`` in pool ``pool_index`` carries.

    The group's own labels come first so that the well-known labels, which the
    planner relies on, cannot be overridden by a group.
    """
    labels: dict[str, str] = dict(group.spec.labels) if group.spec is not None else {}
    labels[NODE_GROUP_LABEL] = group.name
    labels[POOL_LABEL] = str(pool_index)
    labels[INSTANCE_TYPE_LABEL] = str(offering.instance_type)
    labels[REGION_LABEL] = str(offering.region)
    if offering.zone:
        labels[ZONE_LABEL] = str(offering.zone)
    labels[ARCH_LABEL] = offering.arch
    labels[OS_LABEL] = "linux"
    if offering.resources.gpu_model:
        labels[GPU_MODEL_LABEL] = offering.resources.gpu_model
    return labels


def term_matches(term: NodeSelectorTerm, labels: Mapping[str, str]) -> bool:
    """A node selector term; an empty term matches nothing, as in Kubernetes."""
    if not term.expressions and not term.has_field_selectors:
        return False
    return term.matches(labels)


def accepts_labels(
    node_selector: Mapping[str, str],
    required_terms: Sequence[NodeSelectorTerm],
    labels: Mapping[str, str],
) -> bool:
    """nodeSelector (all pairs) and required node affinity (any term) accept ``labels``."""
    for key, value in node_selector.items():
        if labels.get(key) != value:
            return False
    if required_terms:
        return any(term_matches(t, labels) for t in required_terms)
    return True


def pod_accepts(pod: PodInfo, labels: Mapping[str, str]) -> bool:
    return accepts_labels(pod.node_selector, pod.required_terms, labels)


def preference_weight(pod: PodInfo, labels: Mapping[str, str]) -> int:
    """Sum of the weights of the pod's preferred node-affinity terms ``labels`` meet."""
    return sum(w for w, t in pod.preferred_terms if term_matches(t, labels))


def untolerated(tolerations: Iterable[Toleration], taints: Iterable[Taint]) -> list[Taint]:
    """The NoSchedule/NoExecute taints none of ``tolerations`` tolerates."""
    tols = tuple(tolerations)
    return [
        t
        for t in taints
        if t.effect in BLOCKING_EFFECTS and not any(tol.tolerates(t) for tol in tols)
    ]


def tolerates(tolerations: Iterable[Toleration], taints: Iterable[Taint]) -> bool:
    return not untolerated(tolerations, taints)


def soft_untolerated(tolerations: Iterable[Toleration], taints: Iterable[Taint]) -> int:
    """How many PreferNoSchedule taints are not tolerated (a tie-breaker only)."""
    tols = tuple(tolerations)
    return sum(
        1
        for t in taints
        if t.effect == "PreferNoSchedule" and not any(tol.tolerates(t) for tol in tols)
    )


def daemonset_overhead(
    daemonsets: Sequence[DaemonSetInfo], labels: Mapping[str, str], taints: Sequence[Taint]
) -> tuple[Resources, int, frozenset[tuple[int, str]]]:
    """Requests, pod count and host ports of the DaemonSet pods a new node would run."""
    cpu = mem = gpu = 0
    eph: int | None = None
    extended = NO_EXTENDED
    count = 0
    ports: set[tuple[int, str]] = set()
    for ds in daemonsets:
        pod = ds.pod
        if pod.error is not None:
            continue
        if not pod_accepts(pod, labels) or not tolerates(pod.tolerations, taints):
            continue
        cpu += pod.requests.cpu_millis
        mem += pod.requests.memory_mib
        gpu += pod.requests.gpu
        if pod.requests.ephemeral_storage_gib is not None:
            eph = (eph or 0) + pod.requests.ephemeral_storage_gib
        extended = extended.plus(pod.requests.extended)
        count += 1
        ports.update((port, proto) for port, proto, _ in pod.host_ports)
    return (
        Resources(
            cpu_millis=cpu, memory_mib=mem, ephemeral_storage_gib=eph, gpu=gpu, extended=extended
        ),
        count,
        frozenset(ports),
    )


def offering_satisfies(offering: Offering, req: Requirements) -> bool:
    """Whether a node of ``offering`` meets a NodeRequest's requirements.

    Used for the planned pool and for every fallback pool: resources (what pods
    can use), pod slots, and the placement the planned pods accept (architecture,
    locations, zones, instance types, offerings). Unreadable quantities satisfy nothing.
    """
    try:
        cpu = quantity.cpu_millis(req.cpu)
        mem = quantity.memory_mib(req.memory)
        eph = quantity.storage_gib(req.ephemeralStorage) if req.ephemeralStorage else None
    except QuantityError:
        return False
    have = offering.resources
    if cpu > have.cpu_millis or mem > have.memory_mib or req.gpu > have.gpu:
        return False
    if req.gpuModel and have.gpu_model != req.gpuModel:
        return False
    if (
        eph is not None
        and have.ephemeral_storage_gib is not None
        and eph > have.ephemeral_storage_gib
    ):
        return False
    if req.pods > offering.max_pods:
        return False
    if req.arch is not None and offering.arch not in req.arch:
        return False
    if req.locations is not None and offering.region not in req.locations:
        return False
    if req.zones is not None and (offering.zone or "") not in req.zones:
        return False
    if req.instanceTypes is not None and offering.instance_type not in req.instanceTypes:
        return False
    if req.offerings is not None and offering.key not in req.offerings:
        return False
    return True


def matching_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """A new node's labels plus a hostname that is present but matches no value."""
    out = dict(labels)
    out.setdefault(HOSTNAME_LABEL, PLANNED_HOSTNAME)
    return out
