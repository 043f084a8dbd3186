"""The words of the NodeRequest lifecycle: what it observes, does and says.

``Pending → Provisioning → Ready``, or ``→ Unmet`` when no pool can provide the
node. The shell feeds in what it observed (the node, the provider's view of
the instance, the usable candidates) and a clock; each phase's module answers
with a :class:`Transition`: the new status, the actions to execute and the
events to emit. Nothing in this package performs I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from growthrs_core.cluster import NodeInfo
from growthrs_core.crd.models import Attempt, AttemptResult, Condition, NodeRequestStatus
from growthrs_core.decisions.candidates import Candidate
from growthrs_core.domain import NodeId, Offering, ProviderStatus
from growthrs_core.timeutil import format_time


@dataclass(frozen=True)
class MachineConfig:
    readiness_wait: float = 600.0
    max_attempts: int = 2
    ready_ttl: float = 600.0
    unmet_ttl: float = 300.0
    node_gone_grace: float = 30.0
    """A Ready request whose node has been gone this long is deleted before its TTL."""
    instance_gone_grace: float = 60.0
    """A Provisioning instance the provider no longer knows, with no node, is failed after this."""


@dataclass(frozen=True)
class Observation:
    node: NodeInfo | None = None
    provider_status: ProviderStatus | None = None
    candidates: Sequence[Candidate] = ()
    unusable: Sequence[str] = ()
    """Why pools without candidates are out, e.g. "pool 1 (hetzner): provider not installed"."""
    probing: frozenset[tuple[str, str]] = frozenset()
    """(provider, offering) another request is probing: wait for its answer rather than
    make a second call that will likely fail the same way."""
    hold: str = ""
    """Why the request must not create now (its group is backing off), or empty."""
    visible_since: datetime | None = None
    """When the operator regained sight of Nodes after an outage (``None``: never lost):
    a node cannot be blamed for not turning Ready while nobody could see it."""
    workload: int = 0
    """Pods bound to the node that removing it would kill (not DaemonSet, mirror or
    finished): a node the scheduler already uses has joined, whatever else is said."""


@dataclass(frozen=True)
class OfferingFailure:
    provider: str
    offering: str
    message: str


@dataclass(frozen=True)
class CreateInstance:
    pool_index: int
    provider: str
    offering: Offering
    node_name: str


@dataclass(frozen=True)
class DeleteInstance:
    provider: str
    node_id: NodeId
    node_name: str
    reason: str


@dataclass(frozen=True)
class LabelNode:
    node_name: str
    pool_index: int
    offering_key: str


@dataclass(frozen=True)
class DeleteNodeRequest:
    reason: str


Action = CreateInstance | DeleteInstance | LabelNode | DeleteNodeRequest


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Transition:
    status: NodeRequestStatus | None = None
    """The new status, or ``None`` when it stays as it is."""
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = field(default_factory=tuple)
    failed_offering: OfferingFailure | None = None
    """An instance of this offering was created but never became a usable node: the
    offering backs off for every request, as after a failed create."""


NOTHING = Transition()


def node_name_for(nr_name: str, status: NodeRequestStatus) -> str:
    """Deterministic per attempt, so a create retried after a crash finds its machine."""
    created = sum(1 for a in status.attempts if a.result == "Created")
    return nr_name if created == 0 else f"{nr_name}-{created}"


def with_changes(status: NodeRequestStatus, now: datetime, **changes: object) -> NodeRequestStatus:
    """``status`` with ``changes``; a phase change stamps ``lastTransitionTime``."""
    if "phase" in changes and changes["phase"] != status.phase:
        changes["lastTransitionTime"] = format_time(now)
    return status.model_copy(update=changes)


def with_conditions(
    status: NodeRequestStatus, now: datetime, **conditions: tuple[bool, str, str]
) -> NodeRequestStatus:
    """``status`` with conditions set (type -> (true?, reason, message)); a condition
    keeps its lastTransitionTime while its status stays the same.

    The lifecycle keeps three, so ``kubectl wait --for=condition=Ready`` works:
    ``Launched`` (the provider accepted the create), ``Registered`` (the node
    exists) and ``Ready`` (the node accepts pods).
    """
    current = {c.type: c for c in status.conditions}
    for type_, (ok, reason, message) in conditions.items():
        value = "True" if ok else "False"
        prior = current.get(type_)
        stamp = (
            prior.lastTransitionTime
            if prior is not None and prior.status == value and prior.lastTransitionTime
            else format_time(now)
        )
        current[type_] = Condition(
            type=type_, status=value, reason=reason, message=message[:500], lastTransitionTime=stamp
        )
    order = {t: i for i, t in enumerate(CONDITION_TYPES)}
    ordered = sorted(current.values(), key=lambda c: order.get(c.type, len(order)))
    return status.model_copy(update={"conditions": ordered})


CONDITION_TYPES = ("Launched", "Registered", "Ready")


def add_attempt(
    status: NodeRequestStatus,
    now: datetime,
    *,
    pool: int,
    provider: str,
    offering: str,
    result: AttemptResult,
    message: str,
    retryable: bool = True,
    node_name: str = "",
) -> list[Attempt]:
    return [
        *status.attempts,
        Attempt(
            pool=pool,
            provider=provider,
            offering=offering,
            result=result,
            retryable=retryable,
            nodeName=node_name,
            message=message[:500],
            timestamp=format_time(now),
        ),
    ]


def last_created(status: NodeRequestStatus) -> Attempt | None:
    for a in reversed(status.attempts):
        if a.result == "Created":
            return a
    return None
