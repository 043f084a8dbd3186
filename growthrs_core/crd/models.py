"""Pydantic models of the GrowthRS custom resources (SPEC §3).

The same models validate objects read from the cluster and generate the CRD
schemas in ``crds/``, so what the apiserver accepts and what the operator can
act on never drift apart.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict

GROUP = "growthrs.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

Phase = Literal["Pending", "Provisioning", "Ready", "Unmet"]
PHASES: tuple[Phase, ...] = ("Pending", "Provisioning", "Ready", "Unmet")

_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"


def parse_duration(text: str) -> float:
    """Go-style duration (``90s``, ``10m``, ``1h30m``) in seconds."""
    if not _DURATION.match(text):
        raise ValueError(f"invalid duration {text!r}: use e.g. 30s, 10m, 1h30m")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


Name = Annotated[
    str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$")
]
LabelKey = Annotated[str, Field(min_length=1, max_length=253)]
LabelValue = Annotated[str, Field(max_length=63)]


class TaintSpec(_Model):
    """A taint every node of the group carries; pods must tolerate it."""

    key: LabelKey = Field(description="Taint key, e.g. dedicated.")
    value: LabelValue = Field(default="", description="Taint value; may be empty.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(
        default="NoSchedule",
        description="What happens to pods that do not tolerate it: NoSchedule, "
        "PreferNoSchedule or NoExecute.",
    )


class NodeClassRef(_Model):
    """The provider's node class (e.g. a HetznerNodeClass) that says how to build the
    machines: image, networks, user data."""

    kind: Annotated[str, Field(min_length=1, max_length=63)] = Field(
        description="Kind of the node-class object, e.g. HetznerNodeClass."
    )
    name: Name = Field(description="Name of the node-class object (cluster-scoped).")
    apiVersion: str = Field(
        default=API_VERSION, description="API group and version of the node-class object."
    )


MIN_MAX_CEL: JsonDict = {
    "rule": "!has(self.maxNodes) || !has(self.minNodes) || self.minNodes <= self.maxNodes",
    "message": "minNodes must not exceed maxNodes",
}


class Pool(_Model):
    """One way to get a node. A higher priority is tried first; equal priority means
    interchangeable, and the scoring strategy picks among them."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [MIN_MAX_CEL]})

    provider: Name = Field(description="Name of a registered provider, e.g. hetzner or kwok.")
    serverType: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=63)]],
        Field(min_length=1, max_length=32),
    ] = Field(description="Instance types this pool may create.")
    priority: Annotated[int, Field(ge=0, le=1000)] = Field(
        description="0-1000; higher is tried first."
    )
    locations: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=63)]], Field(max_length=16)]
        | None
    ) = Field(
        default=None, description="Provider locations for this pool; defaults to the group's."
    )
    minNodes: Annotated[int, Field(ge=0, le=10000)] = Field(
        default=0, description="Nodes of this pool scale-down never goes below."
    )
    maxNodes: Annotated[int, Field(ge=0, le=10000)] | None = Field(
        default=None, description="Most nodes this pool may have; no limit when unset."
    )
    nodeClassRef: NodeClassRef | None = Field(
        default=None,
        description="Provider node class for this pool's machines; defaults to the group's.",
    )

    @field_validator("serverType")
    @classmethod
    def _unique_types(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("serverType lists a type twice")
        return value

    @model_validator(mode="after")
    def _min_max(self) -> Pool:
        if self.maxNodes is not None and self.minNodes > self.maxNodes:
            raise ValueError("minNodes must not exceed maxNodes")
        return self

    def identity(self) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        return (self.provider, tuple(sorted(self.serverType)), tuple(sorted(self.locations or ())))


class ScaleDown(_Model):
    """When the group's empty nodes are removed."""

    enabled: bool = Field(
        default=True, description="Remove nodes that run nothing but DaemonSet pods."
    )
    unneededTime: Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32)] = Field(
        default="10m", description="How long a node must stay empty before it is removed."
    )
    consolidation: Literal["WhenEmpty", "WhenUnderutilized"] = Field(
        default="WhenEmpty",
        description=(
            "WhenEmpty removes only nodes that run nothing but DaemonSet, mirror or finished"
            " pods. WhenUnderutilized also drains nodes whose pods all fit elsewhere (other"
            " nodes, or fewer or cheaper new ones), choosing the moves that save the most per"
            " hour per disrupted pod."
        ),
    )
    consolidateAfter: Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32)] = Field(
        default="30s",
        description=(
            "With WhenUnderutilized: how long a node must have had no new pod (and have"
            " existed) before it may be consolidated."
        ),
    )
    utilisationThreshold: Annotated[float, Field(ge=0.01, le=1)] | None = Field(
        default=None,
        description=(
            "With WhenUnderutilized: only nodes whose requested CPU and memory are both below"
            " this share of allocatable (0.01-1, as Cluster Autoscaler's"
            " scale-down-utilization-threshold) are candidates. Unset: any node whose"
            " removal saves money."
        ),
    )

    @property
    def unneeded_seconds(self) -> float:
        return parse_duration(self.unneededTime)

    @property
    def consolidate_after_seconds(self) -> float:
        return parse_duration(self.consolidateAfter)


DisruptionReason = Literal["Empty", "Underutilized", "Expired", "Drifted"]
DISRUPTION_REASONS: tuple[DisruptionReason, ...] = ("Empty", "Underutilized", "Expired", "Drifted")

CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
    r"|[0-9A-Za-z*/,?-]+( [0-9A-Za-z*/,?-]+){4})$"
)
BUDGET_NODES_PATTERN = r"^((100|[1-9]?[0-9])%|[0-9]+)$"


class DisruptionBudget(_Model):
    """At most this many nodes of the group disrupted at once, while the budget is active.

    Modelled on Karpenter's NodePool budgets. Active always, or for its duration
    after each time its schedule fires. Several active budgets: the smallest wins.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.schedule) == has(self.duration)",
                    "message": "schedule and duration go together",
                }
            ]
        }
    )

    nodes: Annotated[str, Field(pattern=BUDGET_NODES_PATTERN, max_length=8)] = Field(
        default="10%",
        description=(
            'Nodes that may be disrupted at once: a count ("0" blocks) or a percentage of'
            " the group's nodes, rounded up."
        ),
    )
    schedule: Annotated[str, Field(pattern=CRON_PATTERN, max_length=128)] | None = Field(
        default=None,
        description=(
            "Cron schedule in UTC (minute hour day-of-month month day-of-week, names such as"
            " mon-fri allowed, or @daily and the like) at which the budget becomes active for"
            " duration. Unset: always active."
        ),
    )
    duration: Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32)] | None = Field(
        default=None, description="How long the budget stays active after each schedule time."
    )
    reasons: Annotated[list[DisruptionReason], Field(min_length=1, max_length=4)] | None = Field(
        default=None,
        description="The disruptions it limits (Empty, Underutilized, Expired, Drifted); unset: all.",
    )

    @model_validator(mode="after")
    def _together(self) -> DisruptionBudget:
        if (self.schedule is None) != (self.duration is None):
            raise ValueError("schedule and duration go together")
        return self


class Disruption(_Model):
    """How the group's nodes may be disrupted: budgets and how drains go."""

    budgets: Annotated[list[DisruptionBudget], Field(max_length=50)] = Field(
        default_factory=list,
        description=(
            "Limits on nodes disrupted at once. Unset: empty nodes without limit, and at most"
            " 10% (at least one) for Underutilized, Expired and Drifted. When set, a reason"
            " no active budget names is not limited."
        ),
    )
    drainTimeout: Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32)] = Field(
        default="10m",
        description=(
            "How long a drain may wait for evictions that PodDisruptionBudgets refuse (they"
            " are retried with backoff) before onDrainTimeout applies."
        ),
    )
    onDrainTimeout: Literal["Cancel", "Force"] = Field(
        default="Cancel",
        description=(
            "Cancel gives up: the node is untainted and kept. Force deletes the remaining pods"
            " without the Eviction API (PodDisruptionBudgets are not honoured)."
        ),
    )
    evictLocalStorage: bool = Field(
        default=False,
        description=(
            "Drain nodes whose pods use emptyDir or hostPath volumes (their data is lost)."
            " False: such a pod keeps its node, unless annotated safe-to-evict or"
            " safe-to-evict-local-volumes, as in Cluster Autoscaler."
        ),
    )
    evictUnreplicated: bool = Field(
        default=False,
        description=(
            "Drain nodes that run pods no controller would recreate. False: such a pod keeps"
            " its node unless annotated cluster-autoscaler.kubernetes.io/safe-to-evict=true."
        ),
    )
    drift: bool = Field(
        default=True,
        description=(
            "Replace nodes the group no longer admits (server type or location removed from"
            " its pool, labels, taints or node class changed), gracefully and within budgets."
        ),
    )

    @property
    def drain_timeout_seconds(self) -> float:
        return parse_duration(self.drainTimeout)


POOLS_UNIQUE_CEL = (
    "self.all(p, self.exists_one(q, q.provider == p.provider && q.serverType == p.serverType"
    " && (has(q.locations) ? q.locations : []) == (has(p.locations) ? p.locations : [])))"
)


class NodeGroupWithPrioritySpec(_Model):
    """Priority-ordered pools plus the labels, taints and limits of the group's nodes."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [MIN_MAX_CEL]})

    pools: Annotated[list[Pool], Field(min_length=1, max_length=16)] = Field(
        description="Ways to get a node, tried from the highest priority down (1 to 16).",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": POOLS_UNIQUE_CEL,
                    "message": "duplicate pools: two pools have the same provider, serverType and locations",
                }
            ]
        },
    )
    minNodes: Annotated[int, Field(ge=0, le=10000)] = Field(
        default=0,
        description="Nodes the group always has: scale-down never goes below, and the "
        "operator adds nodes up to it.",
    )
    maxNodes: Annotated[int, Field(ge=0, le=10000)] | None = Field(
        default=None, description="Most nodes the group may have; no limit when unset."
    )
    locations: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=63)]], Field(max_length=16)]
        | None
    ) = Field(
        default=None,
        description="Provider locations (e.g. fsn1, nbg1) for pools that name none; any when unset.",
    )
    labels: Annotated[dict[LabelKey, LabelValue], Field(max_length=64)] = Field(
        default_factory=dict,
        description="Labels on every node of the group; pods select the group with them.",
    )
    taints: Annotated[list[TaintSpec], Field(max_length=32)] = Field(
        default_factory=list,
        description="Taints on every node of the group; only pods that tolerate them land there.",
    )
    nodeClassRef: NodeClassRef | None = Field(
        default=None, description="Provider node class for pools that name none."
    )
    scaleDown: ScaleDown = Field(
        default_factory=ScaleDown, description="When empty nodes are removed."
    )
    nodesOnDeletion: Literal["Remove", "Release"] = Field(
        default="Remove",
        description=(
            "What happens to the group's nodes when the group is deleted: Remove drains them"
            " (evictions honour PodDisruptionBudgets) and deletes them and their instances"
            " before the group goes; Release leaves them running, no longer managed, marked"
            " with the annotation growthrs.io/released."
        ),
    )
    disruption: Disruption = Field(
        default_factory=Disruption,
        description="Disruption budgets and how nodes are drained (consolidation, expiry, drift).",
    )
    expireAfter: Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32)] | None = Field(
        default=None,
        description=(
            "Nodes older than this are replaced gracefully (drained within budgets, a new node"
            " first when their pods need one). Unset: nodes never expire."
        ),
    )

    @model_validator(mode="after")
    def _check(self) -> NodeGroupWithPrioritySpec:
        if self.maxNodes is not None and self.minNodes > self.maxNodes:
            raise ValueError("minNodes must not exceed maxNodes")
        seen: set[tuple[str, tuple[str, ...], tuple[str, ...]]] = set()
        for pool in self.pools:
            if pool.identity() in seen:
                raise ValueError(
                    f"duplicate pools: provider {pool.provider} with serverType {pool.serverType}"
                )
            seen.add(pool.identity())
        return self

    def pool_locations(self, pool: Pool) -> list[str] | None:
        return pool.locations if pool.locations is not None else self.locations


class Condition(_Model):
    """One aspect of the object's state, as in every Kubernetes status."""

    type: str = Field(description="What the condition is about, e.g. Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(default="", description="Why, as one CamelCase word.")
    message: str = Field(default="", description="Why, in words.")
    lastTransitionTime: str = Field(
        default="", description="When the status last changed (RFC 3339)."
    )
    observedGeneration: int | None = Field(
        default=None, description="The object's generation the condition was set for."
    )


class PoolBlockStatus(_Model):
    """Why a pool creates nothing now, and what must change before it may again."""

    reason: str = Field(description="ConfigurationError or InvalidPool.")
    message: str = Field(default="", description="What is wrong, in words.")
    since: str = Field(default="", description="When the pool was blocked (RFC 3339).")
    generation: int = Field(
        default=0, description="The group's generation then; an edit of the group lifts the block."
    )
    fingerprint: list[str] = Field(
        default_factory=list,
        description="Versions of the node class and Secrets the provider read ('what=version'); a change lifts the block.",
    )


class PoolStatus(_Model):
    """The nodes of one pool."""

    index: int = Field(description="Position of the pool in spec.pools, from 0.")
    provider: str = Field(description="The pool's provider.")
    nodes: int = Field(default=0, description="Nodes of this pool.")
    ready: int = Field(default=0, description="Nodes of this pool that are Ready.")
    block: PoolBlockStatus | None = Field(
        default=None, description="Set while the pool creates nothing, with why."
    )


class Backoff(_Model):
    """Something the operator avoids for a while after failures, and until when.

    Kept in the group's status so that growthrs plan sees what the running
    operator avoids, and a restarted operator keeps avoiding it.
    """

    provider: str = Field(default="", description="Provider of the offering; empty for the group.")
    offering: str = Field(
        default="", description="Offering key, e.g. cx22@fsn1; empty for the group."
    )
    until: str = Field(description="RFC 3339 time after which it is tried again.")
    failures: Annotated[int, Field(ge=0)] = Field(
        default=1, description="Failures in a row; each doubles the wait, up to a cap."
    )
    reason: str = Field(default="", description="The last failure, in words.")


class NodeGroupWithPriorityStatus(_Model):
    """What the operator last saw of the group, written by the operator."""

    observedGeneration: int | None = Field(
        default=None, description="The generation of the spec this status is for."
    )
    nodes: int = Field(default=0, description="Nodes of the group, in all pools.")
    pools: list[PoolStatus] = Field(
        default_factory=list, description="Nodes per pool, in the order of spec.pools."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready (some pool has an installed provider, so the group can scale) and "
        "ProviderUnknown (a pool names a provider that is not installed).",
    )
    backoffs: list[Backoff] = Field(
        default_factory=list,
        description="Offerings of this group's pools that are skipped until the time given.",
    )


class Requirements(_Model):
    """What the node must offer: the planned pods' demand plus DaemonSet overhead,
    and the placement constraints any pool that serves it must meet."""

    cpu: str = Field(description="Kubernetes quantity, e.g. 3500m")
    memory: str = Field(description="Kubernetes quantity, e.g. 6Gi")
    ephemeralStorage: str | None = Field(
        default=None, description="Kubernetes quantity of local disk, e.g. 20Gi; any when unset."
    )
    gpu: Annotated[int, Field(ge=0)] = Field(default=0, description="GPUs the node must have.")
    gpuModel: str | None = Field(
        default=None, description="GPU model the node must have; any when unset."
    )
    pods: Annotated[int, Field(ge=0)] = Field(
        default=0, description="Pods the node must be able to run."
    )
    arch: list[str] | None = Field(
        default=None, description="Allowed architectures; any when unset."
    )
    locations: list[str] | None = Field(
        default=None, description="Allowed locations (regions); any when unset."
    )
    zones: list[str] | None = Field(
        default=None, description="Allowed zones within those locations; any when unset."
    )
    instanceTypes: list[str] | None = Field(
        default=None, description="Allowed instance types; any when unset."
    )
    offerings: list[str] | None = Field(
        default=None,
        description=(
            "Allowed offerings (type@location, e.g. cx22@fsn1), when the lists above "
            "would also allow one that cannot hold the pods (say, where a DaemonSet "
            "takes more room); any allowed by the lists when unset."
        ),
    )


class PodRef(_Model):
    """A pod the node was planned for."""

    namespace: str = Field(description="The pod's namespace.")
    name: str = Field(description="The pod's name.")
    uid: str = Field(default="", description="The pod's UID.")


class NodeRequestSpec(_Model):
    """The node the planner asked for, written once when the request is created."""

    nodeGroup: Name = Field(description="The NodeGroupWithPriority the node is for.")
    requirements: Requirements = Field(description="What the node must offer and where it may be.")
    pods: list[PodRef] = Field(
        default_factory=list, description="The pods this node was planned for."
    )
    plannedPool: int | None = Field(
        default=None, description="Index of the pool the planner chose."
    )
    plannedOffering: str | None = Field(
        default=None,
        description="The offering the planner chose (type@location, e.g. cx22@fsn1); asked first.",
    )


AttemptResult = Literal["Created", "Unavailable", "Failed", "JoinTimeout"]


class Attempt(_Model):
    """One try to get the node from a provider, and how it went."""

    pool: int = Field(description="Position of the pool in the group's spec.pools, from 0.")
    provider: str = Field(default="", description="The provider asked.")
    offering: str = Field(
        default="", description="The offering asked for (type@location, e.g. cx22@fsn1)."
    )
    result: AttemptResult = Field(
        description="Created, Unavailable (no capacity), Failed, or JoinTimeout (the machine "
        "never became a Ready node)."
    )
    retryable: bool = Field(default=True, description="Whether trying again may help.")
    nodeName: str = Field(default="", description="Name of the node (and machine) asked for.")
    message: str = Field(default="", description="What the provider or the operator said.")
    timestamp: str = Field(default="", description="When (RFC 3339).")


class NodeRequestStatus(_Model):
    """How getting the node goes, written by the operator."""

    phase: Phase = Field(
        default="Pending",
        description="Pending (choosing an offering), Provisioning (the machine is being "
        "made), Ready (its node accepts pods) or Unmet (no pool could give one).",
    )
    currentPool: int | None = Field(
        default=None, description="Position of the pool being tried in the group's spec.pools."
    )
    offering: str | None = Field(
        default=None, description="The offering being made or made (type@location)."
    )
    nodeName: str | None = Field(default=None, description="Name of the node being made.")
    providerID: str | None = Field(
        default=None, description="The node's provider ID once it has registered."
    )
    attempts: list[Attempt] = Field(
        default_factory=list, description="Every try so far, oldest first."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Conditions of the request, e.g. Ready."
    )
    lastTransitionTime: str | None = Field(
        default=None, description="When the phase last changed (RFC 3339)."
    )
    message: str | None = Field(
        default=None,
        description="The last step in words; for an Unmet request, why no pool could give a node.",
    )


RemovalPhase = Literal["Candidate", "Draining", "Deleting", "Deleted", "Cancelled"]
REMOVAL_PHASES: tuple[RemovalPhase, ...] = (
    "Candidate",
    "Draining",
    "Deleting",
    "Deleted",
    "Cancelled",
)


class NodeRemovalSpec(_Model):
    """One node GrowthRS decided to remove while pods still run on it, and why."""

    nodeName: Annotated[str, Field(min_length=1, max_length=253)] = Field(
        description="The node to remove."
    )
    nodeGroup: Name = Field(description="The group the node belongs to.")
    provider: str = Field(default="", description="The provider that deletes its instance.")
    reason: DisruptionReason = Field(description="Underutilized, Expired, Drifted or Empty.")
    message: str = Field(default="", description="Why, in words: where the pods go, what it saves.")
    savingPerHour: float | None = Field(
        default=None, description="What the move saves per hour, when known (Underutilized)."
    )
    pods: list[PodRef] = Field(
        default_factory=list, description="The pods to move when the removal was decided."
    )
    replacements: list[str] = Field(
        default_factory=list,
        description="NodeRequests for the new nodes the pods move to; all must be Ready first.",
    )


class NodeRemovalStatus(_Model):
    """Where the removal is: Candidate -> Draining -> Deleting -> Deleted, or Cancelled."""

    phase: RemovalPhase = Field(
        default="Candidate",
        description=(
            "Candidate: tainted, waiting for its replacements; Draining: pods being evicted;"
            " Deleting: the instance, then the Node, being deleted; Deleted; Cancelled: kept."
        ),
    )
    message: str = Field(default="", description="The last transition or what it waits for.")
    lastTransitionTime: str = Field(default="", description="When the phase last changed.")
    drainStarted: str = Field(default="", description="When draining began (RFC 3339).")
    lastEviction: str = Field(
        default="",
        description="When the last eviction was granted (terminating pods wait from then).",
    )
    evictionsPending: Annotated[int, Field(ge=0)] = Field(
        default=0, description="Pods still to evict or still terminating."
    )
    blockedByPDB: list[str] = Field(
        default_factory=list,
        description="Pods (namespace/name) whose eviction a PodDisruptionBudget refused last time.",
    )


def _printer(
    name: str, json_path: str, type_: str = "string", priority: int = 0, description: str = ""
) -> dict[str, Any]:
    col: dict[str, Any] = {"name": name, "type": type_, "jsonPath": json_path}
    if priority:
        col["priority"] = priority
    if description:
        col["description"] = description
    return col


POOLS_COLUMN = ".spec.pools"
"""The whole list, printed as JSON: the apiserver's table printer shows only the first
match of a JSONPath, so ``.spec.pools[*].provider`` would show the first pool alone."""


def core_crds() -> list[dict[str, Any]]:
    """The core's CRD manifests: NodeGroupWithPriority and NodeRequest."""
    from growthrs_core.crd.schema import crd_manifest

    ngp = crd_manifest(
        kind="NodeGroupWithPriority",
        plural="nodegroupwithpriorities",
        short_names=["ngp"],
        categories=["growthrs"],
        spec_model=NodeGroupWithPrioritySpec,
        status_model=NodeGroupWithPriorityStatus,
        description="Priority-ordered node pools that GrowthRS scales for unschedulable pods.",
        printer_columns=[
            _printer("Nodes", ".status.nodes", "integer", description="Nodes of the group."),
            _printer("Min", ".spec.minNodes", "integer", description="The group's minNodes."),
            _printer("Max", ".spec.maxNodes", "integer", description="The group's maxNodes."),
            _printer(
                "Ready",
                '.status.conditions[?(@.type=="Ready")].status',
                description="Whether some pool has an installed provider.",
            ),
            _printer("Age", ".metadata.creationTimestamp", "date"),
            _printer(
                "Pools",
                POOLS_COLUMN,
                description="Every pool: provider, serverType, priority (JSON).",
            ),
        ],
    )
    nr = crd_manifest(
        kind="NodeRequest",
        plural="noderequests",
        short_names=["nr"],
        categories=["growthrs"],
        spec_model=NodeRequestSpec,
        status_model=NodeRequestStatus,
        description="One node GrowthRS decided to add, and how getting it goes.",
        printer_columns=[
            _printer("Group", ".spec.nodeGroup", description="The NodeGroupWithPriority."),
            _printer(
                "Phase", ".status.phase", description="Pending, Provisioning, Ready or Unmet."
            ),
            _printer("Offering", ".status.offering", description="type@location being made."),
            _printer("Node", ".status.nodeName", description="The node's name."),
            _printer(
                "Ready",
                '.status.conditions[?(@.type=="Ready")].status',
                description="Status of the Ready condition.",
            ),
            _printer("CPU", ".spec.requirements.cpu", priority=1),
            _printer("Memory", ".spec.requirements.memory", priority=1),
            _printer("Age", ".metadata.creationTimestamp", "date"),
            _printer(
                "Message",
                ".status.message",
                description="The last step in words; why, for an Unmet request.",
            ),
        ],
    )
    return [ngp, nr, _removal_crd()]


def _removal_crd() -> dict[str, Any]:
    from growthrs_core.crd.schema import crd_manifest

    return crd_manifest(
        kind="NodeRemoval",
        plural="noderemovals",
        short_names=["nrm"],
        categories=["growthrs"],
        spec_model=NodeRemovalSpec,
        status_model=NodeRemovalStatus,
        description="One node GrowthRS is draining and removing, and how that goes.",
        printer_columns=[
            _printer("Node", ".spec.nodeName"),
            _printer("Group", ".spec.nodeGroup"),
            _printer("Reason", ".spec.reason"),
            _printer("Phase", ".status.phase"),
            _printer("Pending", ".status.evictionsPending", "integer"),
            _printer("PDB", ".status.blockedByPDB", priority=1),
            _printer("Age", ".metadata.creationTimestamp", "date"),
        ],
    )
