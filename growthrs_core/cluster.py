"""Slim, typed views of the Kubernetes objects the planner reasons about.

The controller's watch caches keep these records instead of the official
client's model objects: they are parsed once from the raw JSON, hold only what
planning and scale-down need, and cost a fraction of the memory. A pod spec
that cannot be understood (say, a malformed quantity) yields a record with
``error`` set, so that one pod is skipped with an event and nothing else is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from growthrs_core import quantity
from growthrs_core.crd.models import (
    NodeGroupWithPrioritySpec,
    NodeGroupWithPriorityStatus,
    NodeRequestSpec,
    NodeRequestStatus,
)
from growthrs_core.domain import (
    NAMED_RESOURCES,
    NO_EXTENDED,
    ZERO,
    ExtendedResources,
    Resources,
    Taint,
    extended_of,
)
from growthrs_core.errors import QuantityError
from growthrs_core.labels import (
    DO_NOT_DISRUPT_ANNOTATION,
    GPU_MODEL_LABEL,
    GPU_RESOURCE,
    INSTANCE_TYPE_LABEL,
    MIRROR_ANNOTATION,
    NODE_GROUP_LABEL,
    NODE_REQUEST_LABEL,
    POOL_LABEL,
    PROVIDER_LABEL,
    REGION_LABEL,
    SAFE_TO_EVICT_ANNOTATION,
    SAFE_TO_EVICT_LOCAL_VOLUMES_ANNOTATION,
    SCALE_DOWN_AT_ANNOTATION,
    SCALE_DOWN_DISABLED_ANNOTATION,
    STARTUP_TAINT_KEYS,
    TEMPLATE_HASH_ANNOTATION,
    ZONE_LABEL,
)


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``matchExpressions`` entry: ``In``, ``NotIn``, ``Exists``, ``DoesNotExist``,
    ``Gt`` or ``Lt`` (the last two only in node selectors)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        op = self.operator
        if op == "In":
            return present and labels[self.key] in self.values
        if op == "NotIn":
            return not present or labels[self.key] not in self.values
        if op == "Exists":
            return present
        if op == "DoesNotExist":
            return not present
        if op in ("Gt", "Lt"):
            if not present or len(self.values) != 1:
                return False
            try:
                have, want = int(labels[self.key]), int(self.values[0])
            except ValueError:
                return False
            return have > want if op == "Gt" else have < want
        return False


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    """Requirements that must all hold; terms of one affinity are ORed."""

    expressions: tuple[Requirement, ...] = ()
    has_field_selectors: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.has_field_selectors:
            return False  # matchFields pins an existing node by name; a new node never matches
        return all(r.matches(labels) for r in self.expressions)


@dataclass(frozen=True, slots=True)
class LabelSelector:
    match_labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[Requirement, ...] = ()
    nothing: bool = False
    """An absent ``labelSelector`` in an affinity term or spread constraint selects no
    pod (an empty one, ``{}``, selects every pod)."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.nothing:
            return False
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            r.matches(labels) for r in self.expressions
        )


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if self.operator == "Exists":
            return not self.key or self.key == taint.key
        return self.key == taint.key and self.value == taint.value


@dataclass(frozen=True, slots=True)
class PodAffinityTerm:
    selector: LabelSelector
    topology_key: str
    namespaces: tuple[str, ...] = ()
    namespace_selector: LabelSelector | None = None


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    max_skew: int
    topology_key: str
    when_unsatisfiable: str
    selector: LabelSelector
    min_domains: int | None = None
    node_affinity_policy: str = "Honor"
    """``Honor``: only nodes the pod's nodeSelector and required node affinity accept
    are domains (and their pods count); ``Ignore``: every node is."""
    node_taints_policy: str = "Ignore"
    """``Honor``: nodes with NoSchedule/NoExecute taints the pod does not tolerate are
    not domains (nor do their pods count); ``Ignore``: they are."""


@dataclass(slots=True)
class PodInfo:
    """A pod as the planner sees it. ``requests`` already folds in init containers,
    sidecars and pod overhead."""

    namespace: str
    name: str
    uid: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    requests: Resources = ZERO
    node_selector: dict[str, str] = field(default_factory=dict)
    required_terms: tuple[NodeSelectorTerm, ...] = ()
    preferred_terms: tuple[tuple[int, NodeSelectorTerm], ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    affinity: tuple[PodAffinityTerm, ...] = ()
    anti_affinity: tuple[PodAffinityTerm, ...] = ()
    preferred_anti_affinity: tuple[tuple[int, PodAffinityTerm], ...] = ()
    spread: tuple[SpreadConstraint, ...] = ()
    host_ports: tuple[tuple[int, str, str], ...] = ()
    node_name: str = ""
    phase: str = "Pending"
    unschedulable: bool = False
    unschedulable_since: str = ""
    nominated_node: str = ""
    deleting: bool = False
    owner_kind: str = ""
    owner_name: str = ""
    mirror: bool = False
    safe_to_evict: bool | None = None
    priority: int = 0
    creation: str = ""
    claims: tuple[str, ...] = ()
    """Names of the PersistentVolumeClaims (in its namespace) the pod mounts, including
    those its generic ephemeral volumes create (``<pod>-<volume>``)."""
    do_not_disrupt: bool = False
    """Annotated ``karpenter.sh/do-not-disrupt: "true"``: its node is never consolidated,
    expired or drifted away."""
    local_storage: bool = False
    """Mounts an emptyDir or hostPath volume not named in
    ``safe-to-evict-local-volumes``: its data would be lost by an eviction."""
    termination_grace: int = 30
    """``terminationGracePeriodSeconds``: how long a drain waits for it to terminate."""
    error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def is_daemonset(self) -> bool:
        return self.owner_kind == "DaemonSet"

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


@dataclass(slots=True)
class NodeInfo:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    allocatable: Resources = ZERO
    max_pods: int = 110
    ready: bool = False
    unschedulable: bool = False
    provider_id: str = ""
    scale_down_at: str = ""
    scale_down_disabled: bool = False
    creation: str = ""
    deleting: bool = False
    finalizers: tuple[str, ...] = ()
    template_hash: str = ""
    """The group template the node was first seen with (``growthrs.io/template-hash``)."""
    error: str | None = None

    @property
    def node_group(self) -> str:
        return self.labels.get(NODE_GROUP_LABEL, "")

    @property
    def identity(self) -> NodeIdentity:
        """What the node was created as, from the labels GrowthRS put on it."""
        return node_identity(self.labels)

    @property
    def startup_taints(self) -> list[str]:
        """Keys of the start-up taints still keeping pods off this node."""
        return sorted(
            {
                t.key
                for t in self.taints
                if t.key in STARTUP_TAINT_KEYS and t.effect in ("NoSchedule", "NoExecute")
            }
        )

    @property
    def accepts_pods(self) -> bool:
        """Ready and past its start-up taints: the scheduler can bind pods here now."""
        return self.ready and not self.startup_taints


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """A managed node's identity as created: group, pool, provider and offering.

    Labels are written once, when the node is created, and never follow later
    edits of the group: a node keeps the provider that made it (and is deleted
    through it) even when its pool is reordered, changed or removed. The pool
    index is where the pool *was*; :func:`growthrs_core.decisions.identity.current_pool`
    finds where it is now.
    """

    group: str = ""
    pool_index: int | None = None
    provider: str = ""
    instance_type: str = ""
    region: str = ""
    zone: str = ""
    node_request: str = ""

    @property
    def managed(self) -> bool:
        return bool(self.group)


def node_identity(labels: Mapping[str, str]) -> NodeIdentity:
    pool = labels.get(POOL_LABEL, "")
    return NodeIdentity(
        group=labels.get(NODE_GROUP_LABEL, ""),
        pool_index=int(pool) if pool.isdigit() else None,
        provider=labels.get(PROVIDER_LABEL, ""),
        instance_type=labels.get(INSTANCE_TYPE_LABEL, ""),
        region=labels.get(REGION_LABEL, ""),
        zone=labels.get(ZONE_LABEL, ""),
        node_request=labels.get(NODE_REQUEST_LABEL, ""),
    )


@dataclass(frozen=True, slots=True)
class ClaimInfo:
    """A PersistentVolumeClaim: which volume it is bound to, or how it will get one."""

    namespace: str
    name: str
    storage_class: str | None = None
    """``spec.storageClassName``: None when unset (the default class applies), ``""``
    for "no class" (only a pre-provisioned volume without a class binds)."""
    volume_name: str = ""
    """``spec.volumeName``: the volume it is bound (or pre-bound) to."""
    phase: str = "Pending"
    deleting: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    """A PersistentVolume: where it can attach."""

    name: str
    terms: tuple[NodeSelectorTerm, ...] = ()
    """Required node affinity (ORed terms; the legacy zone/region labels of the volume
    are joined to each); empty: it attaches anywhere."""


@dataclass(frozen=True, slots=True)
class StorageClassInfo:
    name: str
    binding_mode: str = "Immediate"
    """``Immediate`` or ``WaitForFirstConsumer``."""
    allowed_topologies: tuple[NodeSelectorTerm, ...] = ()
    """Where its provisioner can create volumes (ORed terms); empty: anywhere."""
    default: bool = False
    """Marked ``storageclass.kubernetes.io/is-default-class``."""
    creation: str = ""


@dataclass(slots=True)
class DaemonSetInfo:
    """The pod a DaemonSet would run on a new node, for overhead accounting."""

    namespace: str
    name: str
    pod: PodInfo


# -- parsing -------------------------------------------------------------------


def _requirement(raw: Mapping[str, Any]) -> Requirement:
    return Requirement(
        key=str(raw.get("key", "")),
        operator=str(raw.get("operator", "")),
        values=tuple(str(v) for v in raw.get("values") or ()),
    )


def _term(raw: Mapping[str, Any]) -> NodeSelectorTerm:
    return NodeSelectorTerm(
        expressions=tuple(_requirement(r) for r in raw.get("matchExpressions") or ()),
        has_field_selectors=bool(raw.get("matchFields")),
    )


def parse_label_selector(raw: Mapping[str, Any] | None) -> LabelSelector:
    if raw is None:
        return LabelSelector(nothing=True)
    if not raw:
        return LabelSelector()
    return LabelSelector(
        match_labels=tuple(
            sorted((str(k), str(v)) for k, v in (raw.get("matchLabels") or {}).items())
        ),
        expressions=tuple(_requirement(r) for r in raw.get("matchExpressions") or ()),
    )


def with_label_keys(
    selector: LabelSelector,
    labels: Mapping[str, str],
    match_keys: Any,
    mismatch_keys: Any = (),
) -> LabelSelector:
    """``matchLabelKeys`` / ``mismatchLabelKeys``: the owner pod's values of those
    keys joined to the selector (``In`` / ``NotIn``), keys it lacks ignored.

    Recent apiservers merge them into ``labelSelector`` at admission already; a
    requirement that is there twice changes nothing.
    """
    extra = [Requirement(str(k), "In", (labels[k],)) for k in match_keys or () if k in labels]
    extra += [
        Requirement(str(k), "NotIn", (labels[k],)) for k in mismatch_keys or () if k in labels
    ]
    extra = [r for r in extra if r not in selector.expressions]
    if not extra or selector.nothing:
        return selector
    return LabelSelector(selector.match_labels, selector.expressions + tuple(extra))


def _pod_term(raw: Mapping[str, Any], labels: Mapping[str, str]) -> PodAffinityTerm:
    ns_sel = raw.get("namespaceSelector")
    return PodAffinityTerm(
        selector=with_label_keys(
            parse_label_selector(raw.get("labelSelector")),
            labels,
            raw.get("matchLabelKeys"),
            raw.get("mismatchLabelKeys"),
        ),
        topology_key=str(raw.get("topologyKey", "")),
        namespaces=tuple(raw.get("namespaces") or ()),
        namespace_selector=parse_label_selector(ns_sel) if ns_sel is not None else None,
    )


def parse_taint(raw: Mapping[str, Any]) -> Taint:
    return Taint(
        key=str(raw.get("key", "")),
        value=str(raw.get("value") or ""),
        effect=raw.get("effect", "NoSchedule"),
    )


def parse_toleration(raw: Mapping[str, Any]) -> Toleration:
    return _toleration(
        str(raw.get("key") or ""),
        str(raw.get("operator") or "Equal"),
        str(raw.get("value") or ""),
        str(raw.get("effect") or ""),
    )


@functools.lru_cache(maxsize=1024)
def _toleration(key: str, operator: str, value: str, effect: str) -> Toleration:
    """One shared (immutable) record per distinct toleration: every pod repeats
    the two that admission adds, and a workload's pods repeat their own."""
    return Toleration(key=key, operator=operator, value=value, effect=effect)


def _shared(value: Any) -> str:
    """``str(value)``, interned: for strings that many records repeat (namespaces,
    node names, phases, owners, timestamps to the second), kept once in memory."""
    return sys.intern(str(value))


def _label_map(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """Labels or a node selector, keys and values interned: pods of one workload
    repeat them all, and 30,000 private copies cost tens of MB."""
    return {_shared(k): _shared(v) for k, v in (raw or {}).items()}


def _container_requests(container: Mapping[str, Any]) -> Resources:
    resources = container.get("resources") or {}
    req = dict(resources.get("limits") or {})
    req.update(resources.get("requests") or {})
    return _resources(req)


def _resources(req: Mapping[str, Any]) -> Resources:
    """``req`` as :class:`Resources`; the same quantities parse once per process.

    Exact quantity arithmetic costs tens of microseconds, and tens of thousands
    of pods repeat a handful of request sets; the records then share one
    (immutable) ``Resources`` too.
    """
    try:
        key = tuple(sorted(req.items()))
        hash(key)
    except TypeError:  # an unhashable value: let parsing say what is wrong with it
        return _parse_resources(req)
    return _resources_of(key)


@functools.lru_cache(maxsize=4096)
def _resources_of(items: tuple[tuple[str, Any], ...]) -> Resources:
    return _parse_resources(dict(items))


def _parse_resources(req: Mapping[str, Any]) -> Resources:
    """Every resource of ``req``: the named ones in their fields, all others (extended
    resources, hugepages) in ``extended`` as the quantity's value rounded up (a count,
    or bytes for hugepages). ``pods`` is read separately (a node's pod limit)."""
    eph = req.get("ephemeral-storage")
    extended = ExtendedResources(
        (str(name), quantity.count(value))
        for name, value in req.items()
        if name not in NAMED_RESOURCES
    )
    return Resources(
        cpu_millis=quantity.cpu_millis(req["cpu"]) if "cpu" in req else 0,
        memory_mib=quantity.memory_mib(req["memory"]) if "memory" in req else 0,
        ephemeral_storage_gib=quantity.storage_gib(eph) if eph is not None else None,
        gpu=quantity.count(req[GPU_RESOURCE]) if GPU_RESOURCE in req else 0,
        extended=extended if extended else NO_EXTENDED,
    )


def _max(a: Resources, b: Resources) -> Resources:
    return Resources(
        cpu_millis=max(a.cpu_millis, b.cpu_millis),
        memory_mib=max(a.memory_mib, b.memory_mib),
        ephemeral_storage_gib=(
            None
            if a.ephemeral_storage_gib is None and b.ephemeral_storage_gib is None
            else max(a.ephemeral_storage_gib or 0, b.ephemeral_storage_gib or 0)
        ),
        gpu=max(a.gpu, b.gpu),
        extended=extended_of(a).maximum(b.extended),
    )


def pod_requests(spec: Mapping[str, Any]) -> Resources:
    """Effective requests: max(init phase, running phase) plus overhead.

    Native sidecars (init containers with ``restartPolicy: Always``) keep
    running, so they add to every later init container and to the main phase.
    """
    running: Resources | None = None
    for c in spec.get("containers") or ():
        req = _container_requests(c)
        running = req if running is None else running + req
    if running is None:
        running = Resources(cpu_millis=0, memory_mib=0)
    init_containers = spec.get("initContainers")
    overhead = spec.get("overhead")
    if not init_containers and not overhead:
        return running  # the common pod: no init phase, nothing to add
    sidecars = Resources(cpu_millis=0, memory_mib=0)
    init_peak = Resources(cpu_millis=0, memory_mib=0)
    for c in init_containers or ():
        req = _container_requests(c)
        if c.get("restartPolicy") == "Always":
            sidecars = sidecars + req
            init_peak = _max(init_peak, sidecars)
        else:
            init_peak = _max(init_peak, sidecars + req)
    total = _max(init_peak, running + sidecars)
    if overhead:
        total = total + _resources(overhead)
    return total


def _host_ports(spec: Mapping[str, Any]) -> tuple[tuple[int, str, str], ...]:
    ports = []
    for c in list(spec.get("containers") or ()) + list(spec.get("initContainers") or ()):
        for p in c.get("ports") or ():
            if p.get("hostPort"):
                ports.append(
                    (
                        int(p["hostPort"]),
                        str(p.get("protocol") or "TCP"),
                        str(p.get("hostIP") or ""),
                    )
                )
    return tuple(ports)


def parse_pod(obj: Mapping[str, Any]) -> PodInfo:
    """Build a :class:`PodInfo` from a pod as the API returns it (a JSON dict)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    pod = PodInfo(namespace=_shared(meta.get("namespace", "")), name=str(meta.get("name", "")))
    pod.uid = str(meta.get("uid", ""))
    pod.creation = _shared(meta.get("creationTimestamp") or "")
    try:
        pod.labels = _label_map(meta.get("labels"))
        annotations = meta.get("annotations") or {}
        pod.mirror = MIRROR_ANNOTATION in annotations
        safe = annotations.get(SAFE_TO_EVICT_ANNOTATION)
        pod.safe_to_evict = None if safe is None else str(safe).lower() == "true"
        pod.deleting = meta.get("deletionTimestamp") is not None
        for ref in meta.get("ownerReferences") or ():
            if ref.get("controller"):
                pod.owner_kind = _shared(ref.get("kind", ""))
                pod.owner_name = _shared(ref.get("name", ""))
        pod.node_name = _shared(spec.get("nodeName") or "")
        pod.phase = _shared(status.get("phase") or "Pending")
        pod.nominated_node = _shared(status.get("nominatedNodeName") or "")
        pod.priority = int(spec.get("priority") or 0)
        for cond in status.get("conditions") or ():
            if (
                cond.get("type") == "PodScheduled"
                and cond.get("status") == "False"
                and cond.get("reason") == "Unschedulable"
            ):
                pod.unschedulable = True
                pod.unschedulable_since = _shared(cond.get("lastTransitionTime") or "")
        pod.node_selector = _label_map(spec.get("nodeSelector"))
        pod.tolerations = tuple(parse_toleration(t) for t in spec.get("tolerations") or ())
        affinity = spec.get("affinity") or {}
        node_aff = affinity.get("nodeAffinity") or {}
        required = node_aff.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
        pod.required_terms = tuple(_term(t) for t in required.get("nodeSelectorTerms") or ())
        pod.preferred_terms = tuple(
            (int(p.get("weight", 1)), _term(p.get("preference") or {}))
            for p in node_aff.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
        )
        pod_aff = affinity.get("podAffinity") or {}
        pod.affinity = tuple(
            _pod_term(t, pod.labels)
            for t in pod_aff.get("requiredDuringSchedulingIgnoredDuringExecution") or ()
        )
        anti = affinity.get("podAntiAffinity") or {}
        pod.anti_affinity = tuple(
            _pod_term(t, pod.labels)
            for t in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or ()
        )
        pod.preferred_anti_affinity = tuple(
            (int(p.get("weight", 1)), _pod_term(p.get("podAffinityTerm") or {}, pod.labels))
            for p in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
        )
        pod.spread = tuple(
            SpreadConstraint(
                max_skew=int(c.get("maxSkew", 1)),
                topology_key=str(c.get("topologyKey", "")),
                when_unsatisfiable=str(c.get("whenUnsatisfiable", "DoNotSchedule")),
                selector=with_label_keys(
                    parse_label_selector(c.get("labelSelector")),
                    pod.labels,
                    c.get("matchLabelKeys"),
                ),
                min_domains=c.get("minDomains"),
                node_affinity_policy=str(c.get("nodeAffinityPolicy") or "Honor"),
                node_taints_policy=str(c.get("nodeTaintsPolicy") or "Ignore"),
            )
            for c in spec.get("topologySpreadConstraints") or ()
        )
        pod.host_ports = _host_ports(spec)
        pod.claims = _claims(pod.name, spec)
        pod.do_not_disrupt = str(annotations.get(DO_NOT_DISRUPT_ANNOTATION, "")).lower() == "true"
        pod.local_storage = _local_storage(spec, annotations)
        grace = spec.get("terminationGracePeriodSeconds")
        pod.termination_grace = 30 if grace is None else int(grace)
        pod.requests = pod_requests(spec)
    except (QuantityError, ValueError, TypeError, AttributeError, KeyError) as exc:
        pod.error = f"cannot read pod spec: {exc}"
    return pod


def _ready(status: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )


def parse_node(obj: Mapping[str, Any]) -> NodeInfo:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    node = NodeInfo(name=_shared(meta.get("name", "")))
    node.creation = str(meta.get("creationTimestamp") or "")
    try:
        node.labels = _label_map(meta.get("labels"))
        annotations = meta.get("annotations") or {}
        node.scale_down_at = str(annotations.get(SCALE_DOWN_AT_ANNOTATION) or "")
        node.scale_down_disabled = (
            str(annotations.get(SCALE_DOWN_DISABLED_ANNOTATION, "")).lower() == "true"
        )
        node.deleting = meta.get("deletionTimestamp") is not None
        node.finalizers = tuple(str(f) for f in meta.get("finalizers") or ())
        node.template_hash = str(annotations.get(TEMPLATE_HASH_ANNOTATION) or "")
        node.taints = tuple(parse_taint(t) for t in spec.get("taints") or ())
        node.unschedulable = bool(spec.get("unschedulable"))
        node.provider_id = str(spec.get("providerID") or "")
        alloc = status.get("allocatable") or status.get("capacity") or {}
        node.allocatable = _resources(alloc)
        if node.allocatable.gpu:
            node.allocatable = dataclasses.replace(
                node.allocatable, gpu_model=node.labels.get(GPU_MODEL_LABEL)
            )
        node.max_pods = quantity.count(alloc["pods"]) if "pods" in alloc else 110
        node.ready = _ready(status)
    except (QuantityError, ValueError, TypeError, AttributeError, KeyError) as exc:
        node.error = f"cannot read node: {exc}"
    return node


def _claims(pod_name: str, spec: Mapping[str, Any]) -> tuple[str, ...]:
    out: list[str] = []
    for volume in spec.get("volumes") or ():
        claim = volume.get("persistentVolumeClaim")
        if claim is not None:
            out.append(str(claim["claimName"]))
        elif volume.get("ephemeral") is not None:
            out.append(f"{pod_name}-{volume['name']}")
    return tuple(out)


def _local_storage(spec: Mapping[str, Any], annotations: Mapping[str, Any]) -> bool:
    """Whether the pod mounts emptyDir or hostPath volumes whose loss nobody accepted
    (Cluster Autoscaler's rule and its ``safe-to-evict-local-volumes`` annotation)."""
    accepted = {
        v.strip()
        for v in str(annotations.get(SAFE_TO_EVICT_LOCAL_VOLUMES_ANNOTATION, "")).split(",")
    }
    return any(
        (v.get("emptyDir") is not None or v.get("hostPath") is not None)
        and str(v.get("name", "")) not in accepted
        for v in spec.get("volumes") or ()
    )


DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
_LEGACY_VOLUME_TOPOLOGY = (
    ZONE_LABEL,
    REGION_LABEL,
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
)


def parse_claim(obj: Mapping[str, Any]) -> ClaimInfo:
    """A PersistentVolumeClaim as the API returns it."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    cls = spec.get("storageClassName")
    return ClaimInfo(
        namespace=_shared(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        storage_class=None if cls is None else str(cls),
        volume_name=str(spec.get("volumeName") or ""),
        phase=str((obj.get("status") or {}).get("phase") or "Pending"),
        deleting=meta.get("deletionTimestamp") is not None,
    )


def parse_volume(obj: Mapping[str, Any]) -> VolumeInfo:
    """A PersistentVolume: its required node affinity, with the zone and region labels
    of in-tree volumes (``a__b`` lists several zones) joined to every term."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    required = (spec.get("nodeAffinity") or {}).get("required") or {}
    terms = [_term(t) for t in required.get("nodeSelectorTerms") or ()]
    labels = meta.get("labels") or {}
    legacy = tuple(
        Requirement(key, "In", tuple(str(labels[key]).split("__")))
        for key in _LEGACY_VOLUME_TOPOLOGY
        if labels.get(key)
    )
    if legacy:
        terms = [
            NodeSelectorTerm(t.expressions + legacy, t.has_field_selectors)
            for t in terms or [NodeSelectorTerm()]
        ]
    return VolumeInfo(name=str(meta.get("name", "")), terms=tuple(terms))


def parse_storage_class(obj: Mapping[str, Any]) -> StorageClassInfo:
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return StorageClassInfo(
        name=str(meta.get("name", "")),
        binding_mode=str(obj.get("volumeBindingMode") or "Immediate"),
        allowed_topologies=tuple(
            NodeSelectorTerm(
                tuple(
                    Requirement(
                        str(e.get("key", "")), "In", tuple(str(v) for v in e.get("values") or ())
                    )
                    for e in t.get("matchLabelExpressions") or ()
                )
            )
            for t in obj.get("allowedTopologies") or ()
        ),
        default=str(annotations.get(DEFAULT_CLASS_ANNOTATION, "")).lower() == "true",
        creation=str(meta.get("creationTimestamp") or ""),
    )


def parse_daemonset(obj: Mapping[str, Any]) -> DaemonSetInfo:
    meta = obj.get("metadata") or {}
    template = (obj.get("spec") or {}).get("template") or {}
    tmeta = dict(template.get("metadata") or {})
    tmeta.setdefault("namespace", meta.get("namespace", ""))
    tmeta.setdefault("name", meta.get("name", ""))
    pod = parse_pod({"metadata": tmeta, "spec": template.get("spec") or {}})
    pod.owner_kind, pod.owner_name = "DaemonSet", str(meta.get("name", ""))
    return DaemonSetInfo(
        namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")), pod=pod
    )


IN_FLIGHT_PHASES = frozenset({"Pending", "Provisioning"})


@dataclass(slots=True)
class GroupView:
    """A NodeGroupWithPriority read from the cluster. ``spec`` is ``None`` when the
    object failed validation; ``error`` then says why (reported in its status)."""

    name: str
    uid: str = ""
    generation: int = 0
    spec: NodeGroupWithPrioritySpec | None = None
    error: str | None = None
    status: NodeGroupWithPriorityStatus = field(default_factory=NodeGroupWithPriorityStatus)
    """The status as last written (an unreadable one reads as empty)."""
    deleting: bool = False
    finalizers: tuple[str, ...] = ()


@dataclass(slots=True)
class NodeRequestView:
    """A NodeRequest read from the cluster, with its spec and status validated."""

    name: str
    uid: str = ""
    spec: NodeRequestSpec | None = None
    status: NodeRequestStatus = field(default_factory=NodeRequestStatus)
    creation: str = ""
    resource_version: str = ""
    deleting: bool = False
    error: str | None = None

    @property
    def group(self) -> str:
        return self.spec.nodeGroup if self.spec else ""

    @property
    def phase(self) -> str:
        return self.status.phase

    @property
    def in_flight(self) -> bool:
        """Pending or Provisioning, readable and not being deleted: a node on its way.

        The one definition: the planner counts such a request's room as capacity,
        and scale-down leaves its group's empty nodes alone.
        """
        return (
            self.status.phase in IN_FLIGHT_PHASES
            and not self.deleting
            and self.spec is not None
            and self.error is None
        )

    @property
    def unmet(self) -> bool:
        """Unmet, readable and not being deleted: no pool could provide its node, and
        it waits for its TTL (``unmet_ttl``) before the operator deletes it."""
        return (
            self.status.phase == "Unmet"
            and not self.deleting
            and self.spec is not None
            and self.error is None
        )


def parse_group(obj: Mapping[str, Any]) -> GroupView:
    meta = obj.get("metadata") or {}
    view = GroupView(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation") or 0),
    )
    view.deleting = meta.get("deletionTimestamp") is not None
    view.finalizers = tuple(str(f) for f in meta.get("finalizers") or ())
    try:
        view.spec = NodeGroupWithPrioritySpec.model_validate(obj.get("spec") or {})
    except ValidationError as exc:
        view.error = _validation_message(exc)
    with contextlib.suppress(ValidationError):
        view.status = NodeGroupWithPriorityStatus.model_validate(obj.get("status") or {})
    return view


def parse_node_request(obj: Mapping[str, Any]) -> NodeRequestView:
    meta = obj.get("metadata") or {}
    view = NodeRequestView(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        creation=str(meta.get("creationTimestamp") or ""),
        resource_version=str(meta.get("resourceVersion") or ""),
        deleting=meta.get("deletionTimestamp") is not None,
    )
    try:
        view.spec = NodeRequestSpec.model_validate(obj.get("spec") or {})
        view.status = NodeRequestStatus.model_validate(obj.get("status") or {})
    except ValidationError as exc:
        view.error = _validation_message(exc)
    return view


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "spec"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    """A namespace's labels, which ``namespaceSelector`` in pod (anti-)affinity reads."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


def parse_namespace(obj: Mapping[str, Any]) -> NamespaceInfo:
    meta = obj.get("metadata") or {}
    return NamespaceInfo(name=str(meta.get("name", "")), labels=_label_map(meta.get("labels")))
