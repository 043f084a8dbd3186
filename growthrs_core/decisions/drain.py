"""Safe drains: which pods keep their node, and each NodeRemoval's next step (pure).

A removal goes ``Candidate → Draining → Deleting → Deleted``, or ``Cancelled``:

- **Candidate**: the node is tainted ``growthrs.io/scale-down:NoSchedule`` and
  carries the finalizer ``growthrs.io/termination``; its replacement
  NodeRequests (if the pods need new nodes) must all be Ready first. One that
  goes Unmet or away cancels the removal.
- **Draining**: pods are evicted through the Eviction API, so
  PodDisruptionBudgets hold; an eviction a budget refuses is asked again with
  backoff. Pods being deleted get their ``terminationGracePeriodSeconds``
  (counted from the last eviction). Past the group's ``drainTimeout`` the
  removal is cancelled (node untainted), or with ``onDrainTimeout: Force`` the
  remaining pods are deleted without the Eviction API.
- **Deleting**: the provider instance is deleted, then the finalizer comes
  off and the Node goes (the shell reports the result, :func:`after_terminate`).

A pod annotated ``karpenter.sh/do-not-disrupt: "true"`` or
``cluster-autoscaler.kubernetes.io/safe-to-evict: "false"`` keeps its node, as
do pods with local storage and pods without a controller unless the group
allows them (``disruption.evictLocalStorage`` / ``evictUnreplicated``) or the
pod is annotated ``safe-to-evict: "true"``. DaemonSet and mirror pods are never
evicted. Pods that cannot go elsewhere landing on the node before it drains
cancel the removal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from growthrs_core.cluster import GroupView, NodeInfo, NodeRequestView, PodInfo
from growthrs_core.crd.models import Disruption, NodeRemovalStatus
from growthrs_core.decisions.disruption import RemovalView
from growthrs_core.decisions.dissolve import evictable
from growthrs_core.decisions.memory import LoopMemory
from growthrs_core.decisions.scale_down import node_provider
from growthrs_core.labels import SCALE_DOWN_TAINT_KEY, TERMINATION_FINALIZER
from growthrs_core.timeutil import format_time, parse_time

__all__ = [
    "DrainConfig",
    "DrainPolicy",
    "RemovalPlan",
    "RemovalStep",
    "Termination",
    "after_terminate",
    "blocker",
    "evictable",
    "movable",
    "node_blocker",
    "removal_plan",
]


@dataclass(frozen=True)
class DrainPolicy:
    """What a group allows a drain to do (``spec.disruption``)."""

    timeout: float = 600.0
    force: bool = False
    evict_local_storage: bool = False
    evict_unreplicated: bool = False

    @classmethod
    def of(cls, disruption: Disruption | None) -> DrainPolicy:
        if disruption is None:
            return cls()
        return cls(
            timeout=disruption.drain_timeout_seconds,
            force=disruption.onDrainTimeout == "Force",
            evict_local_storage=disruption.evictLocalStorage,
            evict_unreplicated=disruption.evictUnreplicated,
        )


@dataclass(frozen=True)
class DrainConfig:
    removal_ttl: float = 600.0
    """Seconds a Deleted or Cancelled record is kept (and its node not judged again)."""
    candidate_timeout: float = 1800.0
    """Seconds a Candidate may wait for its replacements before it is cancelled."""
    termination_margin: float = 5.0
    """Seconds beyond a pod's grace period a drain waits for it to terminate."""


def movable(pod: PodInfo) -> bool:
    """A pod a drain must move: not DaemonSet, mirror or finished."""
    return not (pod.is_daemonset or pod.mirror or pod.terminal)


def blocker(pod: PodInfo, policy: DrainPolicy) -> str | None:
    """Why ``pod`` keeps its node, or ``None`` if a drain may evict it."""
    if not movable(pod) or pod.deleting:
        return None
    if pod.do_not_disrupt:
        return f"pod {pod.key} is annotated karpenter.sh/do-not-disrupt"
    if pod.safe_to_evict is False:
        return f"pod {pod.key} is annotated safe-to-evict=false"
    if pod.error is not None:
        return f"pod {pod.key} cannot be read ({pod.error})"
    if pod.safe_to_evict is True:
        return None
    if pod.local_storage and not policy.evict_local_storage:
        return f"pod {pod.key} uses local storage (emptyDir or hostPath)"
    if not pod.owner_kind and not policy.evict_unreplicated:
        return f"pod {pod.key} has no controller to recreate it"
    return None


def node_blocker(pods: Iterable[PodInfo], policy: DrainPolicy) -> str | None:
    """The first pod (by name) that keeps the node, in words, or ``None``."""
    for pod in sorted(pods, key=lambda p: p.key):
        why = blocker(pod, policy)
        if why is not None:
            return why
    return None


# -- one removal's next step --------------------------------------------------------------


@dataclass(frozen=True)
class RemovalEvent:
    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class RemovalStep:
    """What to do for one NodeRemoval now; the shell executes it in this order:
    taint, evictions, deletions, status, untaint, instance delete, record."""

    removal: RemovalView
    status: NodeRemovalStatus | None = None
    """The status to write (``None``: unchanged)."""
    taint: bool = False
    """Make sure the node carries the NoSchedule taint and the termination finalizer."""
    untaint: bool = False
    """Take both off the node again (the removal was cancelled)."""
    evict: tuple[PodInfo, ...] = ()
    force_delete: tuple[PodInfo, ...] = ()
    terminate: str | None = None
    """Delete the instance through this provider, then the finalizer, then the Node."""
    release: bool = False
    """Take the record's own finalizer off."""
    delete_record: bool = False
    events: tuple[RemovalEvent, ...] = ()


@dataclass(frozen=True)
class Termination:
    """A node whose instance must go before its finalizer is taken off."""

    node: str
    provider: str
    reason: str


@dataclass(frozen=True)
class RemovalPlan:
    steps: list[RemovalStep] = field(default_factory=list)
    terminations: list[Termination] = field(default_factory=list)
    """Nodes being deleted (by anyone) that still carry the termination finalizer."""
    stale: list[str] = field(default_factory=list)
    """Nodes with the termination finalizer and no removal in progress: untaint them."""


def _transition(status: NodeRemovalStatus, now: datetime, **changes: object) -> NodeRemovalStatus:
    if "phase" in changes and changes["phase"] != status.phase:
        changes["lastTransitionTime"] = format_time(now)
    return status.model_copy(update=changes)


def _changed(old: NodeRemovalStatus, new: NodeRemovalStatus) -> NodeRemovalStatus | None:
    return None if new == old else new


def _cancel(r: RemovalView, node: NodeInfo | None, now: datetime, why: str) -> RemovalStep:
    status = _transition(
        r.status, now, phase="Cancelled", message=why, evictionsPending=0, blockedByPDB=[]
    )
    touch = node is not None and not node.deleting
    return RemovalStep(
        r,
        status=status,
        untaint=touch,
        events=(RemovalEvent("Normal", "RemovalCancelled", why),),
    )


def _deleting(r: RemovalView, now: datetime, why: str) -> RemovalStep:
    status = _transition(r.status, now, phase="Deleting", message=why, evictionsPending=0)
    return RemovalStep(r, status=status, events=(RemovalEvent("Normal", "Deleting", why),))


def after_terminate(r: RemovalView, now: datetime) -> NodeRemovalStatus:
    """The status once the instance (and Node) are deleted."""
    return _transition(r.status, now, phase="Deleted", message="instance and node deleted")


def _tainted(node: NodeInfo) -> bool:
    return TERMINATION_FINALIZER in node.finalizers and any(
        t.key == SCALE_DOWN_TAINT_KEY for t in node.taints
    )


def _step(
    r: RemovalView,
    *,
    node: NodeInfo | None,
    pods: Sequence[PodInfo],
    group: GroupView | None,
    requests: Mapping[str, NodeRequestView],
    nodes: Mapping[str, NodeInfo],
    memory: LoopMemory,
    now: datetime,
    cfg: DrainConfig,
    fits_elsewhere: Callable[[Sequence[PodInfo], str], bool],
) -> RemovalStep | None:
    spec = r.spec
    assert spec is not None
    phase = r.phase
    if phase in ("Deleted", "Cancelled"):
        since = parse_time(r.status.lastTransitionTime) or parse_time(r.creation) or now
        expired = (now - since).total_seconds() >= cfg.removal_ttl
        if r.deleting or expired:
            return RemovalStep(r, release=bool(r.finalizers), delete_record=not r.deleting)
        return None
    busy = spec.nodeName in memory.removing or spec.nodeName in memory.delete_retries
    if phase == "Deleting":
        if busy:
            return None
        return RemovalStep(r, terminate=spec.provider)
    # Candidate or Draining.
    if node is None or node.deleting:
        return _deleting(r, now, "the node is being deleted; its instance goes first")
    if r.deleting:
        return _cancel(r, node, now, "the NodeRemoval was deleted")
    if group is None or group.spec is None or group.deleting:
        return _cancel(r, node, now, f"group {spec.nodeGroup} is gone or being deleted")
    if node.scale_down_disabled:
        return _cancel(r, node, now, "node is annotated growthrs.io/scale-down-disabled")
    policy = DrainPolicy.of(group.spec.disruption)
    why = node_blocker(pods, policy)
    if why is not None:
        return _cancel(r, node, now, f"{why} landed on the node")
    planned = {f"{p.namespace}/{p.name}" for p in spec.pods}
    newcomers = [p for p in pods if movable(p) and not p.deleting and p.key not in planned]
    if newcomers and not fits_elsewhere(newcomers, node.name):
        keys = ", ".join(p.key for p in newcomers[:3])
        return _cancel(r, node, now, f"pods that fit nowhere else landed on the node: {keys}")
    taint = not _tainted(node)
    if phase == "Candidate":
        return _candidate(r, node, taint, requests, nodes, now, cfg)
    return _draining(r, node, pods, taint, policy, memory, now, cfg)


def _candidate(
    r: RemovalView,
    node: NodeInfo,
    taint: bool,
    requests: Mapping[str, NodeRequestView],
    nodes: Mapping[str, NodeInfo],
    now: datetime,
    cfg: DrainConfig,
) -> RemovalStep:
    assert r.spec is not None
    waiting: list[str] = []
    for name in r.spec.replacements:
        nr = requests.get(name)
        if nr is None or nr.deleting:
            return _cancel(r, node, now, f"replacement NodeRequest {name} is gone")
        if nr.phase == "Unmet":
            return _cancel(r, node, now, f"replacement NodeRequest {name} is Unmet")
        joined = nodes.get(nr.status.nodeName or "")
        if nr.phase != "Ready" or joined is None or not joined.accepts_pods:
            waiting.append(f"{name} ({nr.phase})")
    created = parse_time(r.creation) or now
    if waiting and (now - created).total_seconds() >= cfg.candidate_timeout:
        return _cancel(r, node, now, f"replacements not Ready in time: {', '.join(waiting)}")
    if waiting:
        status = _transition(
            r.status, now, message=f"waiting for replacements: {', '.join(waiting)}"
        )
        return RemovalStep(r, status=_changed(r.status, status), taint=taint)
    why = (
        f"replacements Ready: {', '.join(r.spec.replacements)}"
        if r.spec.replacements
        else "its pods fit on other nodes"
    )
    status = _transition(
        r.status, now, phase="Draining", message=f"draining: {why}", drainStarted=format_time(now)
    )
    return RemovalStep(
        r, status=status, taint=taint, events=(RemovalEvent("Normal", "Draining", why),)
    )


def _draining(
    r: RemovalView,
    node: NodeInfo,
    pods: Sequence[PodInfo],
    taint: bool,
    policy: DrainPolicy,
    memory: LoopMemory,
    now: datetime,
    cfg: DrainConfig,
) -> RemovalStep:
    pending = list(evictable(pods))
    terminating = [p for p in pods if movable(p) and p.deleting]
    refused = sorted(p.key for p in pending if p.key in memory.evictions_due)
    started = parse_time(r.status.drainStarted) or now
    if pending and (now - started).total_seconds() >= policy.timeout:
        if not policy.force:
            blocked = f"; PodDisruptionBudgets refused {', '.join(refused[:5])}" if refused else ""
            return _cancel(
                r,
                node,
                now,
                f"drain timed out after {policy.timeout:g}s with {len(pending)} pod(s) left"
                f"{blocked}",
            )
        status = _transition(
            r.status,
            now,
            message=f"drain timed out: deleting {len(pending)} pod(s) without eviction",
            evictionsPending=len(pending) + len(terminating),
            blockedByPDB=refused[:20],
            lastEviction=format_time(now),
        )
        return RemovalStep(
            r,
            status=status,
            taint=taint,
            force_delete=tuple(pending),
            events=(
                RemovalEvent(
                    "Warning",
                    "DrainForced",
                    f"drain timed out after {policy.timeout:g}s; deleting {len(pending)} pod(s)"
                    " without the Eviction API",
                ),
            ),
        )
    if pending:
        due = [
            p
            for p in pending
            if p.key not in memory.evictions_due or memory.evictions_due[p.key] <= now
        ]
        status = _transition(
            r.status,
            now,
            message=f"evicting {len(pending)} pod(s)"
            + (f"; {len(refused)} refused by a PodDisruptionBudget" if refused else ""),
            evictionsPending=len(pending) + len(terminating),
            blockedByPDB=refused[:20],
            lastEviction=format_time(now) if due else r.status.lastEviction,
        )
        return RemovalStep(r, status=_changed(r.status, status), taint=taint, evict=tuple(due))
    if terminating:
        last = parse_time(r.status.lastEviction) or started
        grace = max(p.termination_grace for p in terminating) + cfg.termination_margin
        if (now - last).total_seconds() < grace:
            status = _transition(
                r.status,
                now,
                message=f"waiting up to {grace:g}s for {len(terminating)} pod(s) to terminate",
                evictionsPending=len(terminating),
                blockedByPDB=[],
            )
            return RemovalStep(r, status=_changed(r.status, status), taint=taint)
        return _deleting(
            r, now, f"{len(terminating)} pod(s) did not terminate within their grace period"
        )
    return _deleting(r, now, "drained")


def removal_plan(
    *,
    removals: Sequence[RemovalView],
    nodes: Sequence[NodeInfo],
    pods_by_node: Mapping[str, Sequence[PodInfo]],
    groups: Mapping[str, GroupView],
    node_requests: Sequence[NodeRequestView],
    memory: LoopMemory,
    now: datetime,
    cfg: DrainConfig,
    fits_elsewhere: Callable[[Sequence[PodInfo], str], bool],
) -> RemovalPlan:
    """Every removal's next step, and nodes whose termination finalizer needs attention.

    ``fits_elsewhere(pods, node)`` says whether pods that landed on ``node`` would fit
    on other nodes (the planner's rules).
    """
    by_name = {n.name: n for n in nodes}
    requests = {nr.name: nr for nr in node_requests}
    out = RemovalPlan()
    handled: set[str] = set()
    for r in sorted(removals, key=lambda r: r.name):
        if r.spec is None:
            if r.deleting or r.error:
                out.steps.append(
                    RemovalStep(r, release=bool(r.finalizers), delete_record=not r.deleting)
                )
            continue
        node = by_name.get(r.spec.nodeName)
        if r.active:
            handled.add(r.spec.nodeName)
        step = _step(
            r,
            node=node,
            pods=pods_by_node.get(r.spec.nodeName, ()),
            group=groups.get(r.spec.nodeGroup),
            requests=requests,
            nodes=by_name,
            memory=memory,
            now=now,
            cfg=cfg,
            fits_elsewhere=fits_elsewhere,
        )
        if step is not None:
            out.steps.append(step)
    for node in sorted(nodes, key=lambda n: n.name):
        if TERMINATION_FINALIZER not in node.finalizers or node.name in handled:
            continue
        if node.name in memory.removing or node.name in memory.delete_retries:
            continue
        if node.deleting:
            group = groups.get(node.node_group)
            out.terminations.append(
                Termination(
                    node.name,
                    node_provider(node, group),
                    "the node is being deleted; its instance goes first",
                )
            )
        else:
            out.stale.append(node.name)
    return out
