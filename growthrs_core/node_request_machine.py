"""The NodeRequest state machine (SPEC §4 steps 5-7), as pure functions.

``Pending → Provisioning → Ready``, or ``→ Unmet`` when no pool can provide the
node. The controller feeds in what it observed (the node, the provider's view
of the instance, the usable pool offerings) and a clock; the machine answers
with the new status, the actions to execute and the events to emit. Nothing
here performs I/O, so every transition has a table-driven test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from growthrs_core.cluster import NodeInfo, NodeRequestView
from growthrs_core.crd.models import Attempt, NodeRequestStatus, Pool
from growthrs_core.domain import Failed, NodeId, NotFound, Offering, ProviderStatus, Resources
from growthrs_core.errors import OfferingUnavailable, ProviderError
from growthrs_core.quantity import cpu_millis, memory_mib
from growthrs_core.strategies import PoolRef, ScaleUpOption, Strategy, choose
from growthrs_core.timeutil import age_seconds, format_time


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
class Candidate:
    """A (pool, offering) pair that meets the NodeRequest's requirements now."""

    pool_index: int
    pool: Pool
    offering: Offering


@dataclass(frozen=True)
class Observation:
    node: NodeInfo | None = None
    provider_status: ProviderStatus | None = None
    candidates: Sequence[Candidate] = ()
    unusable: Sequence[str] = ()
    """Why pools without candidates are out, e.g. "pool 1 (hetzner): provider not installed"."""


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


NOTHING = Transition()


def node_name_for(nr_name: str, status: NodeRequestStatus) -> str:
    """Deterministic per attempt, so a create retried after a crash finds its machine."""
    created = sum(1 for a in status.attempts if a.result == "Created")
    return nr_name if created == 0 else f"{nr_name}-{created}"


def _with(status: NodeRequestStatus, now: datetime, **changes: object) -> NodeRequestStatus:
    if "phase" in changes and changes["phase"] != status.phase:
        changes["lastTransitionTime"] = format_time(now)
    return status.model_copy(update=changes)


def _attempt(
    status: NodeRequestStatus,
    now: datetime,
    *,
    pool: int,
    provider: str,
    offering: str,
    result: str,
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


def excluded(status: NodeRequestStatus, max_attempts: int) -> tuple[set[int], set[tuple[int, str]]]:
    """Pools this request has given up on, and offerings that had no capacity for it."""
    failures: dict[int, int] = {}
    pools: set[int] = set()
    offerings: set[tuple[int, str]] = set()
    for a in status.attempts:
        if a.result == "Unavailable":
            offerings.add((a.pool, a.offering))
        elif a.result in ("Failed", "JoinTimeout"):
            failures[a.pool] = failures.get(a.pool, 0) + 1
            if not a.retryable or failures[a.pool] >= max_attempts:
                pools.add(a.pool)
    return pools, offerings


def _requested(nr: NodeRequestView) -> Resources:
    req = nr.spec.requirements if nr.spec else None
    if req is None:
        return Resources(cpu_millis=0, memory_mib=0)
    return Resources(cpu_millis=cpu_millis(req.cpu), memory_mib=memory_mib(req.memory), gpu=req.gpu)


def choose_candidate(
    nr: NodeRequestView, candidates: Sequence[Candidate], chain: Sequence[Strategy]
) -> Candidate | None:
    """The highest-priority level wins; the strategy chain picks within it."""
    if not candidates:
        return None
    top = max(c.pool.priority for c in candidates)
    level = [c for c in candidates if c.pool.priority == top]
    pods = tuple(f"{p.namespace}/{p.name}" for p in (nr.spec.pods if nr.spec else ()))
    requested = _requested(nr)
    by_option = {
        ScaleUpOption(
            pool=PoolRef(nr.group, c.pool_index, c.pool.provider, c.pool.priority),
            offering=c.offering,
            node_count=1,
            pods=pods,
            requested=requested,
        ): c
        for c in level
    }
    best = choose(list(by_option), chain)
    return None if best is None else by_option[best]


def step(
    nr: NodeRequestView,
    obs: Observation,
    now: datetime,
    cfg: MachineConfig,
    chain: Sequence[Strategy],
) -> Transition:
    """Advance one NodeRequest by what was observed. Idempotent: stepping twice on
    the same observation gives the same answer."""
    status = nr.status
    if nr.deleting or nr.spec is None:
        return NOTHING
    if status.phase == "Pending":
        return _step_pending(nr, obs, now, cfg, chain)
    if status.phase == "Provisioning":
        return _step_provisioning(nr, obs, now, cfg)
    ttl = cfg.ready_ttl if status.phase == "Ready" else cfg.unmet_ttl
    age = age_seconds(status.lastTransitionTime or nr.creation, now)
    if (
        status.phase == "Ready"
        and obs.node is None
        and age is not None
        and age >= cfg.node_gone_grace
    ):
        # The node was scaled away (or deleted by hand): the record has served its purpose.
        return Transition(actions=(DeleteNodeRequest(f"node {status.nodeName} is gone"),))
    if age is not None and age >= ttl:
        return Transition(actions=(DeleteNodeRequest(f"{status.phase} for {int(age)}s"),))
    return NOTHING


def _step_pending(
    nr: NodeRequestView,
    obs: Observation,
    now: datetime,
    cfg: MachineConfig,
    chain: Sequence[Strategy],
) -> Transition:
    status = nr.status
    bad_pools, bad_offerings = excluded(status, cfg.max_attempts)
    usable = [
        c
        for c in obs.candidates
        if c.pool_index not in bad_pools and (c.pool_index, c.offering.key) not in bad_offerings
    ]
    chosen = choose_candidate(nr, usable, chain)
    if chosen is None:
        message = _unmet_message(status, obs, bad_pools, bad_offerings)
        new = _with(status, now, phase="Unmet", message=message, currentPool=None)
        return Transition(status=new, events=(Event("Warning", "Unmet", message),))
    return Transition(
        actions=(
            CreateInstance(
                pool_index=chosen.pool_index,
                provider=chosen.pool.provider,
                offering=chosen.offering,
                node_name=node_name_for(nr.name, status),
            ),
        )
    )


def _unmet_message(
    status: NodeRequestStatus,
    obs: Observation,
    bad_pools: set[int],
    bad_offerings: set[tuple[int, str]],
) -> str:
    reasons = list(obs.unusable)
    for pool in sorted(bad_pools):
        last = [a for a in status.attempts if a.pool == pool and a.result != "Created"]
        why = last[-1].message if last else "failed"
        reasons.append(f"pool {pool}: gave up ({why})")
    by_pool: dict[int, list[str]] = {}
    for pool, offering in sorted(bad_offerings):
        if pool not in bad_pools:
            by_pool.setdefault(pool, []).append(offering)
    for pool, offerings in by_pool.items():
        reasons.append(f"pool {pool}: no capacity for {', '.join(offerings)}")
    if not reasons:
        reasons.append("no pool has an offering that meets the requirements")
    return "no pool could provide the node: " + "; ".join(reasons)


def on_create_result(
    nr: NodeRequestView,
    action: CreateInstance,
    result: NodeId | ProviderError,
    now: datetime,
) -> Transition:
    """Record what the provider answered to a :class:`CreateInstance`."""
    status = nr.status
    offering = action.offering.key
    common = {"pool": action.pool_index, "provider": action.provider, "offering": offering}
    if isinstance(result, OfferingUnavailable):
        attempts = _attempt(status, now, result="Unavailable", message=result.message, **common)  # type: ignore[arg-type]
        msg = f"{action.provider} has no capacity for {offering}: {result.message}"
        return Transition(
            status=_with(status, now, attempts=attempts),
            events=(Event("Warning", "OfferingUnavailable", msg),),
        )
    if isinstance(result, ProviderError):
        attempts = _attempt(
            status,
            now,
            result="Failed",
            message=result.message,
            retryable=result.retryable,
            **common,  # type: ignore[arg-type]
        )
        msg = f"creating {offering} with {action.provider} failed: {result.message}"
        return Transition(
            status=_with(status, now, attempts=attempts),
            events=(Event("Warning", "CreationFailed", msg),),
        )
    attempts = _attempt(
        status,
        now,
        result="Created",
        message=f"instance {result}",
        node_name=action.node_name,
        **common,  # type: ignore[arg-type]
    )
    new = _with(
        status,
        now,
        phase="Provisioning",
        currentPool=action.pool_index,
        offering=offering,
        nodeName=action.node_name,
        attempts=attempts,
        message=f"creating {offering} with {action.provider}",
    )
    return Transition(
        status=new,
        events=(
            Event(
                "Normal",
                "Provisioning",
                f"creating node {action.node_name} ({offering}) with {action.provider}, pool {action.pool_index}",
            ),
        ),
    )


def _last_created(status: NodeRequestStatus) -> Attempt | None:
    for a in reversed(status.attempts):
        if a.result == "Created":
            return a
    return None


def _join_timeout_message(node_name: str, node: NodeInfo | None, since: float) -> str:
    if node is not None and node.ready:
        return (
            f"node {node_name} is Ready but still tainted {', '.join(node.startup_taints)}"
            f" after {int(since)}s"
        )
    return f"node {node_name} not Ready after {int(since)}s"


def _step_provisioning(
    nr: NodeRequestView, obs: Observation, now: datetime, cfg: MachineConfig
) -> Transition:
    status = nr.status
    created = _last_created(status)
    node_name = status.nodeName or ""
    pool = status.currentPool if status.currentPool is not None else -1
    provider = created.provider if created else ""
    node = obs.node
    if node is not None and node.accepts_pods and not node.deleting:
        new = _with(
            status,
            now,
            phase="Ready",
            providerID=node.provider_id or status.providerID,
            message=f"node {node_name} is Ready",
        )
        return Transition(
            status=new,
            actions=(LabelNode(node_name, pool, status.offering or ""),),
            events=(Event("Normal", "Ready", f"node {node_name} joined and is Ready"),),
        )
    since = age_seconds(created.timestamp if created else status.lastTransitionTime, now) or 0.0
    failure: tuple[str, str] | None = None
    if isinstance(obs.provider_status, Failed):
        failure = ("Failed", f"instance failed: {obs.provider_status.reason}")
    elif since >= cfg.readiness_wait:
        failure = ("JoinTimeout", _join_timeout_message(node_name, node, since))
    elif (
        isinstance(obs.provider_status, NotFound)
        and node is None
        and since >= cfg.instance_gone_grace
    ):
        failure = ("Failed", f"instance {node_name} disappeared before it joined")
    if failure is None:
        return NOTHING
    result, message = failure
    attempts = _attempt(
        status,
        now,
        pool=pool,
        provider=provider,
        offering=status.offering or "",
        result=result,
        message=message,
        node_name=node_name,
    )
    new = _with(
        status,
        now,
        phase="Pending",
        attempts=attempts,
        nodeName=None,
        providerID=None,
        message=message,
    )
    return Transition(
        status=new,
        actions=(DeleteInstance(provider, NodeId(node_name), node_name, message),),
        events=(
            Event("Warning", result, message + "; the instance is removed and another is tried"),
        ),
    )
