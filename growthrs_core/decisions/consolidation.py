"""Consolidation, expiry and drift: which nodes to take away now, and what replaces them (pure).

Every move is *simulated with the planner itself*: the node is left out of the
cluster, its pods (not DaemonSet, mirror or finished ones) become pending, and
the same :func:`~growthrs_core.decisions.reconcile.plan_pass` the operator runs
says where they would go: the free room of other nodes, the room of NodeRequests
in flight, or new nodes. A move is

- a **delete** when every pod fits existing nodes or in-flight room;
- a **replace** when the planner wants new nodes for them: those are requested
  first as NodeRequests and must be Ready before the node drains. For
  ``Underutilized`` the new nodes must be cheaper than the nodes they replace,
  and no more of them; an ``Expired`` or ``Drifted`` node is replaced whatever
  the cost.

A move is refused when the planner would undo it: when any new node it plans
is for anything but the moved pods (a group or pool minimum, or pending pods
that a freed ``maxNodes`` slot would let in). Consolidation only starts when the
cluster is at rest: the planner adds nothing and no pending pod is about to be
placed. Expired and drifted nodes go first; then underutilised ones, best
saving per hour per disrupted pod first, each added only while the whole set
still simulates and saves more. Budgets (:mod:`.disruption`) cap the nodes per
group. At the end the whole set is planned once more with its replacements in
flight: nothing new may be planned for the moved pods.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from growthrs_core.cluster import GroupView, NodeInfo, NodeRequestView, PodInfo
from growthrs_core.crd.models import (
    Disruption,
    DisruptionReason,
    NodeRequestSpec,
    NodeRequestStatus,
    PodRef,
)
from growthrs_core.decisions.disruption import (
    RemovalView,
    allowed_disruptions,
    disrupting_by_group,
    drift,
    expiry,
    protected_nodes,
)
from growthrs_core.decisions.drain import DrainPolicy, movable, node_blocker
from growthrs_core.decisions.memory import LoopMemory
from growthrs_core.decisions.scale_down import node_provider
from growthrs_core.decisions.snapshot import Snapshot
from growthrs_core.domain import Offering
from growthrs_core.labels import REGION_LABEL, ZONE_LABEL
from growthrs_core.planner import Plan, PlannedNode
from growthrs_core.planner.existing import place_on_existing
from growthrs_core.planner.selection import classify
from growthrs_core.timeutil import parse_time

PlanFn = Callable[[Snapshot], Plan]
"""The planner as the operator runs it (``reconcile.plan_pass`` with its memory)."""

REQUIRED: tuple[DisruptionReason, ...] = ("Drifted", "Expired")
"""Reasons that replace a node whatever it costs, before any consolidation."""
PATIENCE = 120.0
"""Seconds a pending pod the planner places holds consolidation back at most."""
COMBINE_SIMULATIONS = 8
"""Simulations kept back from single moves for finding how many go together."""


@dataclass(frozen=True)
class ConsolidationConfig:
    enabled: bool = True
    """Off with ``--no-scale-down-enabled``: nothing is consolidated, expired or drifted."""
    max_simulations: int = 32
    """Planner runs per decision at most (each plans the whole cluster)."""
    min_saving: float = 1e-6
    """Per hour: a move that saves less saves nothing."""


@dataclass(frozen=True)
class Move:
    """One node to take away, and why."""

    reason: DisruptionReason
    group: str
    node: NodeInfo
    provider: str
    pods: tuple[PodInfo, ...]
    """The pods that must move (not DaemonSet, mirror, finished or already going)."""
    cost: float | None
    """What the node costs per hour, when its offering is known."""
    why: str


@dataclass(frozen=True)
class Batch:
    """Nodes to take away together, and the new nodes their pods need."""

    moves: list[Move]
    replacements: list[PlannedNode]
    """New nodes to request first; their NodeRequests must be Ready before any drain."""
    waits_for: list[str]
    """NodeRequests already in flight whose room the moved pods take: Ready first, too."""
    saving: float | None
    """Per hour, when every cost is known."""

    def message(self, move: Move) -> str:
        where = (
            f"onto {len(self.replacements)} new node(s)"
            f" ({', '.join(sorted({n.offering.key for n in self.replacements}))})"
            if self.replacements
            else "onto other nodes"
        )
        saving = f"; the batch saves {self.saving:.4f}/h" if self.saving is not None else ""
        return f"{move.why}: {len(move.pods)} pod(s) move {where}{saving}"


@dataclass(frozen=True)
class DisruptionDecision:
    batch: Batch | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    """Node -> why it is not taken away now (only for nodes that were considered)."""
    waiting: str = ""
    """Why nothing was considered now (the cluster is not at rest), or empty."""


# -- simulation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Simulation:
    """The plan of a cluster without ``leaving``, whose pods (``moved``) are pending."""

    plan: Plan
    moved: frozenset[str]

    def replacements(self) -> list[PlannedNode]:
        return [n for n in self.plan.new_nodes if any(p.key in self.moved for p in n.pods)]

    def problem(self, requests: Mapping[str, NodeRequestView]) -> str | None:
        """Why this cluster would not hold the moved pods as planned, or ``None``."""
        for key in sorted(self.moved):
            outcome = self.plan.outcomes.get(key)
            if outcome is None or outcome.kind == "cannot_serve":
                why = outcome.message if outcome is not None else "not planned"
                return f"pod {key} could go nowhere: {why}"
            if outcome.kind == "in_flight":
                nr = requests.get(outcome.node_request)
                if nr is not None and not nr.in_flight:
                    return f"pod {key} would wait for NodeRequest {nr.name}, which is {nr.phase}"
        for planned in self.plan.new_nodes:
            others = [p.key for p in planned.pods if p.key not in self.moved]
            if others or not planned.pods:
                what = f"pods {', '.join(others[:3])}" if others else "an empty node (a minimum)"
                return (
                    f"the planner would then add a {planned.offering.key} node for {what}, "
                    "undoing the move"
                )
        return None

    def waits_for(self, pods: Iterable[str]) -> list[str]:
        """In-flight NodeRequests whose room takes some of ``pods``."""
        outcomes = self.plan.outcomes
        return sorted(
            {
                outcome.node_request
                for key in pods
                if (outcome := outcomes.get(key)) is not None and outcome.kind == "in_flight"
            }
        )


def _pending(pod: PodInfo, node: NodeInfo) -> PodInfo:
    """``pod`` as it would be once evicted: pending, unbound. Pods with volumes stay in
    the node's zone and region (the snapshot does not say where volumes attach)."""
    selector = pod.node_selector
    if pod.claims:
        selector = dict(selector)
        for key in (ZONE_LABEL, REGION_LABEL):
            if key in node.labels:
                selector[key] = node.labels[key]
    return dataclasses.replace(
        pod,
        node_name="",
        phase="Pending",
        unschedulable=True,
        nominated_node="",
        node_selector=selector,
    )


def simulate(
    snapshot: Snapshot,
    leaving: Mapping[str, NodeInfo],
    plan: PlanFn,
    extra_requests: Sequence[NodeRequestView] = (),
) -> Simulation:
    """Plan the cluster as it would be without the nodes in ``leaving``."""
    pods: list[PodInfo] = []
    moved: set[str] = set()
    for pod in snapshot.pods:
        node = leaving.get(pod.node_name) if pod.node_name else None
        if node is None:
            pods.append(pod)
        elif movable(pod) and not pod.deleting:
            pods.append(_pending(pod, node))
            moved.add(pod.key)
    view = dataclasses.replace(
        snapshot,
        pods=pods,
        nodes=[n for n in snapshot.nodes if n.name not in leaving],
        node_requests=[*snapshot.node_requests, *extra_requests],
    )
    return Simulation(plan(view), frozenset(moved))


def fits_elsewhere(snapshot: Snapshot, pods: Sequence[PodInfo], leaving: Iterable[str]) -> bool:
    """Whether ``pods`` would fit the free room of nodes that are not ``leaving``, by the
    planner's rules for existing nodes (conservative: pods with inter-pod constraints
    beyond the hostname never count as fitting)."""
    gone = set(leaving)
    nodes = [n for n in snapshot.nodes if n.name not in gone]
    bound = {
        name: [p for p in on if not p.terminal and p.error is None]
        for name, on in snapshot.pods_by_node.items()
        if name not in gone
    }
    moving = [
        _pending(p, snapshot.nodes_by_name[p.node_name])
        if p.node_name in snapshot.nodes_by_name
        else p
        for p in pods
    ]
    fitted = place_on_existing(classify(moving), nodes, bound)
    return all(p.key in fitted for p in moving)


def in_flight_requests(replacements: Iterable[PlannedNode]) -> list[NodeRequestView]:
    """The replacements as the NodeRequests they become (Pending, listing the pods)."""
    return [
        NodeRequestView(
            name=f"replacement-{i}",
            spec=NodeRequestSpec(
                nodeGroup=planned.group,
                requirements=planned.requirements,
                pods=[PodRef(namespace=p.namespace, name=p.name, uid=p.uid) for p in planned.pods],
                plannedPool=planned.pool_index,
                plannedOffering=planned.offering.key,
            ),
            status=NodeRequestStatus(phase="Pending"),
        )
        for i, planned in enumerate(replacements)
    ]


# -- candidates ---------------------------------------------------------------------------


def node_cost(node: NodeInfo, offerings: Mapping[str, Sequence[Offering]]) -> float | None:
    """What the node costs per hour: its provider's offering of its type and place."""
    identity = node.identity
    for offering in offerings.get(identity.provider, ()):
        if (
            offering.instance_type == identity.instance_type
            and offering.region == identity.region
            and (not identity.zone or offering.zone in (None, identity.zone))
        ):
            return offering.cost_per_hour
    return None


def utilisation(node: NodeInfo, pods: Iterable[PodInfo]) -> float:
    """Requested share of allocatable, the larger of CPU and memory (as Cluster Autoscaler)."""
    alloc = node.allocatable
    cpu = mem = 0
    for pod in pods:
        if not pod.terminal:
            cpu += pod.requests.cpu_millis
            mem += pod.requests.memory_mib
    if alloc.cpu_millis <= 0 or alloc.memory_mib <= 0:
        return 1.0
    return max(cpu / alloc.cpu_millis, mem / alloc.memory_mib)


def _last_change(node: NodeInfo, pods: Iterable[PodInfo]) -> datetime | None:
    times = [parse_time(node.creation)] + [parse_time(p.creation) for p in pods]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def candidates(
    snapshot: Snapshot,
    removals: Sequence[RemovalView],
    memory: LoopMemory,
    cfg: ConsolidationConfig,
) -> tuple[list[Move], dict[str, str]]:
    """Nodes that may be taken away now, each with its reason, and why others may not."""
    now = snapshot.now
    recorded = {r.node for r in removals}
    keep = protected_nodes(removals, snapshot.node_requests)
    joining = {nr.name for nr in snapshot.node_requests if nr.in_flight}
    moves: list[Move] = []
    skipped: dict[str, str] = {}
    for node in sorted(snapshot.nodes, key=lambda n: n.name):
        group = snapshot.groups_by_name.get(node.node_group)
        if group is None or group.spec is None or group.deleting or not node.identity.provider:
            continue  # not ours, or its group's dissolution takes care of it
        if node.name in recorded or node.name in keep or node.deleting:
            continue  # being removed, just removed or cancelled, or a replacement
        if node.name in memory.removing or node.name in memory.delete_retries:
            continue
        if node.identity.node_request in joining or not node.accepts_pods:
            continue  # not joined yet: it may still be getting its labels
        spec = group.spec
        pods = snapshot.pods_by_node.get(node.name, ())
        to_move = tuple(p for p in pods if movable(p) and not p.deleting)
        reason, why = _reason(node, group, to_move, now)
        if reason is None:
            if why:
                skipped[node.name] = why
            continue
        if not cfg.enabled:
            skipped[node.name] = "scale-down is disabled"
            continue
        refusal = _refusal(node, pods, spec.disruption)
        if refusal is not None:
            skipped[node.name] = refusal
            continue
        cost = node_cost(node, snapshot.offerings)
        if reason == "Underutilized" and cost is None:
            skipped[node.name] = "its price is unknown (offerings not loaded)"
            continue
        moves.append(Move(reason, group.name, node, node_provider(node, group), to_move, cost, why))
    return moves, skipped


def _reason(
    node: NodeInfo, group: GroupView, pods: tuple[PodInfo, ...], now: datetime
) -> tuple[DisruptionReason | None, str]:
    spec = group.spec
    assert spec is not None
    drifted = drift(node, group)
    if drifted is not None:
        return "Drifted", f"drifted: {drifted}"
    expired = expiry(node, spec, now)
    if expired is not None:
        return "Expired", f"expired: {expired}"
    scale_down = spec.scaleDown
    if scale_down.consolidation != "WhenUnderutilized" or not scale_down.enabled:
        return None, ""
    if not pods or node.scale_down_at:
        return None, ""  # empty nodes are scale-down's (decisions.scale_down)
    changed = _last_change(node, pods)
    wait = scale_down.consolidate_after_seconds
    if changed is not None and (now - changed).total_seconds() < wait:
        return None, f"changed less than consolidateAfter {scale_down.consolidateAfter} ago"
    used = utilisation(node, pods)
    threshold = scale_down.utilisationThreshold
    if threshold is not None and used >= threshold:
        return None, f"utilisation {used:.0%} is not below {threshold:.0%}"
    return "Underutilized", f"underutilised ({used:.0%} requested)"


def _refusal(node: NodeInfo, pods: Sequence[PodInfo], disruption: Disruption) -> str | None:
    """Why the node must stay whatever the reason: an opt-out, or a pod that keeps it."""
    if node.scale_down_disabled:
        return "node is annotated growthrs.io/scale-down-disabled"
    return node_blocker(pods, DrainPolicy.of(disruption))


# -- choosing -----------------------------------------------------------------------------


def _recently_unschedulable(pod: PodInfo | None, now: datetime) -> bool:
    """A pending pod about to be placed holds consolidation back, for a while: one the
    planner has said fits for longer than :data:`PATIENCE` is not being placed after all
    (the scheduler knows something the planner does not) and must not hold it forever."""
    since = parse_time(pod.unschedulable_since) if pod is not None else None
    return since is None or (now - since).total_seconds() < PATIENCE


@dataclass
class _Chosen:
    moves: list[Move]
    sim: Simulation
    used: Counter[str]

    def replacement_cost(self) -> float:
        return sum(n.offering.cost_per_hour for n in self.sim.replacements())


def decide(
    snapshot: Snapshot,
    removals: Sequence[RemovalView],
    memory: LoopMemory,
    plan: PlanFn,
    cfg: ConsolidationConfig,
) -> DisruptionDecision:
    """The nodes to take away now (one batch), or why none."""
    requests = {nr.name: nr for nr in snapshot.node_requests}
    leaving = {
        r.node: snapshot.nodes_by_name[r.node]
        for r in removals
        if r.active and r.node in snapshot.nodes_by_name
    }
    baseline = simulate(snapshot, leaving, plan)
    if baseline.plan.new_nodes:
        return DisruptionDecision(waiting="the planner is adding nodes")
    busy = [
        k
        for k, o in baseline.plan.outcomes.items()
        if k not in baseline.moved
        and o.kind in ("fits_existing", "in_flight")
        and _recently_unschedulable(snapshot.pods_by_key.get(k), snapshot.now)
    ]
    if busy:
        return DisruptionDecision(waiting=f"{len(busy)} pending pod(s) are about to be placed")
    problem = baseline.problem(requests)
    if problem is not None:
        return DisruptionDecision(waiting=f"removals in progress: {problem}")
    moves, skipped = candidates(snapshot, removals, memory, cfg)
    if not moves:
        return DisruptionDecision(skipped=skipped)

    disrupting = disrupting_by_group(snapshot.nodes, removals, memory)
    totals = Counter(n.node_group for n in snapshot.nodes if n.node_group and not n.deleting)
    chosen = _Chosen([], baseline, Counter())
    sims = cfg.max_simulations

    def allowance(move: Move) -> int:
        group = snapshot.groups_by_name[move.group]
        assert group.spec is not None
        return allowed_disruptions(
            group.spec,
            move.reason,
            totals[move.group],
            disrupting[move.group] + chosen.used[move.group],
            snapshot.now,
        )

    def without(extra: Sequence[Move]) -> Simulation:
        """The cluster without the nodes chosen so far and ``extra``."""
        nonlocal sims
        sims -= 1
        nodes = dict(leaving)
        nodes.update((m.node.name, m.node) for m in [*chosen.moves, *extra])
        return simulate(snapshot, nodes, plan)

    def take(moves: Sequence[Move], sim: Simulation) -> None:
        chosen.moves.extend(moves)
        chosen.sim = sim
        for move in moves:
            chosen.used[move.group] += 1

    def saving_of(moves: Sequence[Move], sim: Simulation) -> tuple[float | None, str | None]:
        """What adding ``moves`` saves per hour, or why they must not be added."""
        problem = sim.problem(requests)
        if problem is not None:
            return None, problem
        if all(m.reason in REQUIRED for m in moves):
            return 0.0, None
        added = sim.replacements()
        extra_nodes = len(added) - len(chosen.sim.replacements())
        if extra_nodes > len(moves):
            return None, f"its pods would need {extra_nodes} new nodes"
        saving = sum(m.cost or 0.0 for m in moves) - (
            sum(n.offering.cost_per_hour for n in added) - chosen.replacement_cost()
        )
        if saving <= cfg.min_saving:
            return None, f"moving its pods would not save anything ({saving:+.4f}/h)"
        return saving, None

    # Expired and drifted nodes first, oldest first, one simulation each.
    required = [m for m in moves if m.reason in REQUIRED]
    required.sort(key=lambda m: (REQUIRED.index(m.reason), m.node.creation, m.node.name))
    for move in required:
        if allowance(move) <= 0:
            skipped[move.node.name] = f"{move.why}; waiting for the disruption budget"
            continue
        if sims <= 1:
            skipped[move.node.name] = f"{move.why}; not simulated yet (next time)"
            continue
        sim = without([move])
        _, why = saving_of([move], sim)
        if why is None:
            take([move], sim)
        else:
            skipped[move.node.name] = f"{move.why}; {why}"

    # Then underutilised nodes: each alone (those that look emptiest first), ranked by
    # saving per disrupted pod; then the longest run of the best that still holds
    # together, found by halving (a few simulations, however many nodes).
    under = [m for m in moves if m.reason == "Underutilized"]
    under.sort(
        key=lambda m: (
            len(m.pods),
            utilisation(m.node, snapshot.pods_by_node.get(m.node.name, ())),
            -(m.cost or 0.0),
            m.node.name,
        )
    )
    reserve = COMBINE_SIMULATIONS
    singles: list[tuple[float, float, Move, Simulation]] = []
    for move in under:
        if allowance(move) <= 0:
            skipped[move.node.name] = f"{move.why}; waiting for the disruption budget"
            continue
        if sims <= reserve:
            skipped[move.node.name] = f"{move.why}; not simulated yet (next time)"
            continue
        sim = without([move])
        saving, why = saving_of([move], sim)
        if saving is None:
            skipped[move.node.name] = f"{move.why}; {why}"
            continue
        singles.append((saving / max(1, len(move.pods)), saving, move, sim))
    singles.sort(key=lambda s: (-s[0], -s[1], s[2].node.name))
    run: list[Move] = []
    within = Counter(chosen.used)
    for _, _, move, _ in singles:
        group = snapshot.groups_by_name[move.group]
        assert group.spec is not None
        room = allowed_disruptions(
            group.spec,
            move.reason,
            totals[move.group],
            disrupting[move.group] + within[move.group],
            snapshot.now,
        )
        if room <= 0:
            skipped[move.node.name] = f"{move.why}; waiting for the disruption budget"
            continue
        within[move.group] += 1
        run.append(move)
    if run:
        best, best_sim, best_saving = 1, singles[0][3], singles[0][1]
        low, high = 1, len(run)
        while low < high and sims > 1:
            mid = (low + high + 1) // 2
            sim = without(run[:mid])
            saving = saving_of(run[:mid], sim)[0]
            if saving is None:
                high = mid - 1
            else:
                low = best = mid
                best_sim, best_saving = sim, saving
        # Fewer disruptions for the same saving: drop moves at the end that add nothing
        # (say, four nodes for one new one where three would just go).
        while best > 1 and sims > 1:
            sim = without(run[: best - 1])
            saving = saving_of(run[: best - 1], sim)[0]
            if saving is None or saving < best_saving - cfg.min_saving:
                break
            best, best_sim, best_saving = best - 1, sim, saving
        take(run[:best], best_sim)
        for move in run[best:]:
            skipped[move.node.name] = f"{move.why}; not together with the others this time"

    if not chosen.moves:
        return DisruptionDecision(skipped=skipped)
    # The whole batch once more, its replacements in flight: nothing new may be planned.
    replacements = chosen.sim.replacements()
    nodes = dict(leaving)
    nodes.update((m.node.name, m.node) for m in chosen.moves)
    check = simulate(snapshot, nodes, plan, in_flight_requests(replacements))
    undo = check.problem(requests) or (
        f"the planner would still add {len(check.plan.new_nodes)} node(s)"
        if check.plan.new_nodes
        else None
    )
    if undo is not None:
        for move in chosen.moves:
            skipped[move.node.name] = f"{move.why}; the batch would be undone: {undo}"
        return DisruptionDecision(skipped=skipped)
    costs = [m.cost for m in chosen.moves]
    saving = (
        None
        if any(c is None for c in costs)
        else sum(c for c in costs if c is not None)
        - sum(n.offering.cost_per_hour for n in replacements)
    )
    waits = chosen.sim.waits_for(p.key for m in chosen.moves for p in m.pods)
    batch = Batch(chosen.moves, replacements, waits, saving)
    return DisruptionDecision(batch=batch, skipped=skipped)
