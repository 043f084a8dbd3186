"""One pass of decisions over a snapshot and the loop's memory.

``growthrs run`` calls :func:`plan_pass` when a batch is due and :func:`tick`
every tick, then executes what they return; ``growthrs plan`` calls
:func:`dry_run`, which is the same two decisions on the same kind of
snapshot, and prints them. Nothing here performs I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from growthrs_core import planner
from growthrs_core.cluster import GroupView, NodeRequestView
from growthrs_core.crd.models import PHASES
from growthrs_core.decisions.backoff import Backoff
from growthrs_core.decisions.candidates import Candidate, candidates
from growthrs_core.decisions.consolidation import (
    ConsolidationConfig,
    DisruptionDecision,
    decide,
    fits_elsewhere,
)
from growthrs_core.decisions.deletes import due_deletes
from growthrs_core.decisions.disruption import (
    RemovalView,
    allowed_disruptions,
    disrupting_by_group,
    protected_nodes,
    template_stamps,
)
from growthrs_core.decisions.dissolve import Dissolution, dissolve
from growthrs_core.decisions.drain import DrainConfig, RemovalPlan, movable, removal_plan
from growthrs_core.decisions.failures import FailurePolicy, cooling, unproven_in_flight
from growthrs_core.decisions.group_status import GroupStatusUpdate, status_updates
from growthrs_core.decisions.memory import DeleteRetry, LoopMemory, OfferingRef
from growthrs_core.decisions.node_request import (
    CreateInstance,
    MachineConfig,
    Observation,
    Transition,
    excluded,
    node_name_for,
    step,
)
from growthrs_core.decisions.scale_down import (
    ScaleDownConfig,
    ScaleDownPlan,
    plan_scale_down,
    waiting_groups,
)
from growthrs_core.decisions.snapshot import Snapshot
from growthrs_core.decisions.usage import PoolKey, pool_usage
from growthrs_core.strategies import Strategy

STATUS_POLL_INTERVAL = 5.0
"""Seconds between two ``status`` calls for the same Provisioning instance."""
STAMPS_PER_TICK = 50
"""Nodes first seen whose template hash is recorded in one tick at most (the rest next)."""


@dataclass(frozen=True)
class DecisionConfig:
    """Everything the decisions read from the settings."""

    machine: MachineConfig = field(default_factory=MachineConfig)
    scale_down: ScaleDownConfig = field(default_factory=ScaleDownConfig)
    failures: FailurePolicy = field(default_factory=FailurePolicy)
    orphan_grace: float = 600.0
    consolidation: ConsolidationConfig = field(default_factory=ConsolidationConfig)
    drain: DrainConfig = field(default_factory=DrainConfig)


def plan_pass(snapshot: Snapshot, memory: LoopMemory, chain: Sequence[Strategy]) -> planner.Plan:
    """What to add for the pending pods: the planner on this snapshot."""
    return planner.plan(
        planner.PlanningInput(
            pods=snapshot.pods,
            nodes=snapshot.nodes,
            daemonsets=snapshot.daemonsets,
            groups=[g for g in snapshot.groups if not g.deleting],
            node_requests=snapshot.node_requests,
            offerings=snapshot.offerings,
            strategies=chain,
            unavailable=memory.unavailable(snapshot.now),
            namespaces=snapshot.namespaces,
            claims=snapshot.claims,
            volumes=snapshot.volumes,
            storage_classes=snapshot.storage_classes,
            blocked_pools={
                pool: f"{block.reason}: {block.message}"
                for pool, block in memory.pool_blocks.items()
            },
        )
    )


@dataclass(frozen=True)
class RequestStep:
    """One NodeRequest's transition, with the group it belongs to."""

    nr: NodeRequestView
    group: GroupView
    transition: Transition


@dataclass(frozen=True)
class StatusPoll:
    provider: str
    node_name: str


@dataclass(frozen=True)
class TickPlan:
    steps: list[RequestStep]
    polls: list[StatusPoll]
    scale_down: ScaleDownPlan
    group_statuses: list[GroupStatusUpdate]
    retry_deletes: list[tuple[str, DeleteRetry]]
    phases: dict[str, int]
    dissolution: Dissolution
    removals: RemovalPlan = field(default_factory=RemovalPlan)
    """Each NodeRemoval's next step (drains), and nodes whose finalizer needs attention."""
    stamps: list[tuple[str, str]] = field(default_factory=list)
    """(node, template hash) to record on nodes first seen, for drift."""


def _observe(
    nr: NodeRequestView,
    group: GroupView,
    snapshot: Snapshot,
    memory: LoopMemory,
    usage: Counter[PoolKey],
    probing: frozenset[OfferingRef],
    max_attempts: int,
    unmet_ttl: float = 300.0,
) -> Observation:
    node = snapshot.nodes_by_name.get(nr.status.nodeName or "")
    if nr.phase == "Pending":
        backoff = memory.group_backoffs.get(group.name)
        if backoff is not None and backoff.active(snapshot.now):
            return Observation(node=node, hold=f"group {group.name} is backing off")
        given_up, no_capacity = excluded(nr.status, max_attempts)
        unavailable = memory.unavailable(snapshot.now)

        def usable(out: frozenset[OfferingRef]) -> tuple[list[Candidate], list[str]]:
            return candidates(
                nr,
                group,
                snapshot,
                out,
                usage,
                node_name_for(nr.name, nr.status),
                excluded=no_capacity,
                given_up=given_up,
                blocks=memory.pool_blocks,
            )

        found, unusable = usable(unavailable)
        if not found and unavailable:
            soonest = _soonest_backoff_end(usable(frozenset())[0], memory, snapshot.now)
            if soonest is not None and soonest[1] <= snapshot.now + timedelta(seconds=unmet_ttl):
                # Unmet would hold the pods for unmet_ttl anyway: waiting for an offering
                # that comes back sooner gets them a node sooner, with no extra calls.
                return Observation(
                    node=node, hold=f"waiting for {soonest[0]} to come out of its backoff"
                )
        return Observation(
            node=node,
            candidates=found,
            unusable=unusable,
            probing=probing | cooling(memory, snapshot.now),
        )
    last = memory.provider_status.get(nr.status.nodeName or "")
    workload = sum(1 for p in snapshot.pods_by_node.get(node.name, ()) if movable(p)) if node else 0
    return Observation(
        node=node,
        provider_status=last[1] if last else None,
        workload=workload,
        visible_since=snapshot.nodes_visible_since,
    )


def _soonest_backoff_end(
    found: Sequence[Candidate], memory: LoopMemory, now: datetime
) -> tuple[str, datetime] | None:
    """Of the candidates a request has apart from backoffs, the one whose backoff ends
    first, and when; ``None`` when none is backing off."""
    ends = []
    for c in found:
        backoff = memory.offering_backoffs.get((c.pool.provider, c.offering.key))
        if backoff is not None and backoff.hard and backoff.active(now):
            ends.append((backoff.until, f"{c.pool.provider}/{c.offering.key}"))
    if not ends:
        return None
    until, name = min(ends)
    return name, until


def _poll(nr: NodeRequestView, memory: LoopMemory, now: datetime) -> StatusPoll | None:
    """A fresh ``status`` call for a Provisioning instance, every few seconds."""
    name = nr.status.nodeName
    if nr.phase != "Provisioning" or not name:
        return None
    last = memory.provider_status.get(name)
    if last is not None and now - last[0] <= timedelta(seconds=STATUS_POLL_INTERVAL):
        return None
    provider = nr.status.attempts[-1].provider if nr.status.attempts else ""
    return StatusPoll(provider, name) if provider else None


def scale_down_plan(
    snapshot: Snapshot,
    memory: LoopMemory,
    cfg: DecisionConfig,
    *,
    also_waiting: Iterable[str] = (),
    removals: Sequence[RemovalView] = (),
) -> ScaleDownPlan:
    """Scale-down on ``snapshot``; ``also_waiting`` are groups about to get NodeRequests."""
    waiting = waiting_groups(snapshot.node_requests, snapshot.pods) | set(also_waiting)
    leaving = memory.leaving()
    # Nodes a NodeRemoval drains, and the replacements their pods move to, are not
    # judged here (a replacement is empty until the drain).
    drained = {r.node for r in removals if r.active}
    drained |= protected_nodes(removals, snapshot.node_requests)
    disrupting = disrupting_by_group(snapshot.nodes, removals, memory)
    totals = Counter(n.node_group for n in snapshot.nodes if n.node_group and not n.deleting)
    allowance = {
        g.name: allowed_disruptions(
            g.spec, "Empty", totals[g.name], disrupting[g.name], snapshot.now
        )
        for g in snapshot.groups
        if g.spec is not None
    }
    return plan_scale_down(
        # Nodes being removed, or whose removal failed and waits for its retry, are
        # not judged again: that retry (with backoff) is their removal.
        nodes=[n for n in snapshot.nodes if n.name not in leaving and n.name not in drained],
        pods_by_node=snapshot.pods_by_node,
        groups=snapshot.groups,
        groups_with_waiting_pods=frozenset(waiting),
        now=snapshot.now,
        cfg=cfg.scale_down,
        allowance=allowance,
    )


def tick(
    snapshot: Snapshot,
    memory: LoopMemory,
    cfg: DecisionConfig,
    installed_names: str = "",
    removals: Sequence[RemovalView] = (),
) -> TickPlan:
    """Step every NodeRequest and NodeRemoval, decide scale-down and the groups' status."""
    now = snapshot.now
    usage = pool_usage(snapshot, memory.creating)
    busy = {c.name for c in memory.calls if c.kind == "create"}
    probing = set(unproven_in_flight(memory))
    phases: dict[str, int] = dict.fromkeys(PHASES, 0)
    steps: list[RequestStep] = []
    polls: list[StatusPoll] = []
    for nr in snapshot.node_requests:
        phases[nr.phase] = phases.get(nr.phase, 0) + 1
        if nr.name in busy or nr.deleting or nr.spec is None:
            continue
        if nr.phase == "Pending" and nr.name in memory.retry_at and memory.retry_at[nr.name] > now:
            continue  # the provider asked to wait before the next create
        group = snapshot.groups_by_name.get(nr.group)
        if group is None or group.spec is None or group.deleting:
            continue  # a deleting group's requests are dissolved, not stepped
        poll = _poll(nr, memory, now)
        if poll is not None:
            polls.append(poll)
        observed = _observe(
            nr,
            group,
            snapshot,
            memory,
            usage,
            frozenset(probing),
            cfg.machine.max_attempts,
            cfg.machine.unmet_ttl,
        )
        transition = step(nr, observed, now, cfg.machine)
        for action in transition.actions:
            if isinstance(action, CreateInstance):
                usage[(group.name, action.pool_index)] += 1
                offering = (action.provider, action.offering.key)
                if offering not in memory.proven:
                    probing.add(offering)  # one create at a time until one succeeds
        steps.append(RequestStep(nr, group, transition))
    return TickPlan(
        steps=steps,
        polls=polls,
        scale_down=scale_down_plan(snapshot, memory, cfg, removals=removals),
        group_statuses=status_updates(snapshot, memory, installed_names),
        retry_deletes=due_deletes(memory.delete_retries, now),
        phases=phases,
        dissolution=dissolve(snapshot, memory, cfg.orphan_grace),
        removals=drain_steps(snapshot, memory, cfg, removals),
        stamps=template_stamps(snapshot.nodes, snapshot.groups_by_name)[:STAMPS_PER_TICK],
    )


def drain_steps(
    snapshot: Snapshot, memory: LoopMemory, cfg: DecisionConfig, removals: Sequence[RemovalView]
) -> RemovalPlan:
    """Each NodeRemoval's next step; pods landing on a drained node must fit elsewhere."""
    leaving = {r.node for r in removals if r.active}
    return removal_plan(
        removals=removals,
        nodes=snapshot.nodes,
        pods_by_node=snapshot.pods_by_node,
        groups=snapshot.groups_by_name,
        node_requests=snapshot.node_requests,
        memory=memory,
        now=snapshot.now,
        cfg=cfg.drain,
        fits_elsewhere=lambda pods, _node: fits_elsewhere(snapshot, pods, leaving),
    )


def disruption(
    snapshot: Snapshot,
    memory: LoopMemory,
    cfg: DecisionConfig,
    chain: Sequence[Strategy],
    removals: Sequence[RemovalView],
) -> DisruptionDecision:
    """Which nodes to consolidate, or replace for expiry or drift, now: each move is
    simulated with :func:`plan_pass` (the planner runs once per move considered)."""
    return decide(
        snapshot,
        removals,
        memory,
        lambda view: plan_pass(view, memory, chain),
        cfg.consolidation,
    )


@dataclass(frozen=True)
class DryRun:
    plan: planner.Plan
    scale_down: ScaleDownPlan
    backing_off: dict[OfferingRef, Backoff]
    """Offerings the plan avoided, and until when."""
    disruption: DisruptionDecision
    """The nodes consolidation, expiry or drift would take away next, and why not others."""


def dry_run(
    snapshot: Snapshot,
    memory: LoopMemory,
    cfg: DecisionConfig,
    chain: Sequence[Strategy],
    removals: Sequence[RemovalView] = (),
) -> DryRun:
    """What one pass of the operator would do: the plan, then scale-down with the
    planned NodeRequests in flight (as they are once the operator created them),
    and the disruption pass (consolidation, expiry, drift) on the same snapshot."""
    plan = plan_pass(snapshot, memory, chain)
    planned = {n.group for n in plan.new_nodes}
    backing_off = {
        k: b
        for k, b in sorted(memory.offering_backoffs.items())
        if b.hard and b.active(snapshot.now)
    }
    down = scale_down_plan(snapshot, memory, cfg, also_waiting=planned, removals=removals)
    return DryRun(plan, down, backing_off, disruption(snapshot, memory, cfg, chain, removals))
