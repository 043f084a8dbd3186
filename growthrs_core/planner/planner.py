"""One planning pass: from the cluster as watched to the nodes to ask for (SPEC §4 steps 1-4).

1. pending pods that want capacity (:func:`unschedulable_pods`); unreadable ones
   cannot be served (``InvalidPodSpec``);
2. pods an in-flight NodeRequest lists are ``in_flight`` on it; pods whose claims
   the volume controller must bind first wait (``VolumeNotBound``, :mod:`.volumes`);
3. pods that fit free room on existing nodes are left to the scheduler (``fits_existing``);
4. each remaining pod class is matched to one node group, its volumes narrowing the slots;
5. in-flight NodeRequests' leftover room takes what it can (also ``in_flight``);
6. pods with domain-level constraints are pinned to a domain (:mod:`.topology`);
7. the rest is packed per group through the strategy chain (:mod:`.packing`),
   respecting group and pool ``maxNodes``; small batches are re-packed exactly;
8. groups and pools below ``minNodes`` get empty nodes, cheapest offering of the
   highest-priority pool (of the pool itself for a pool minimum).

Every pending pod ends with one :class:`~.outcome.PodOutcome` in ``Plan.outcomes``.
Everything is a pure function of :class:`PlanningInput`: no I/O, no clock, and
the same input gives the same plan.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from growthrs_core.cluster import (
    ClaimInfo,
    DaemonSetInfo,
    GroupView,
    NodeInfo,
    NodeRequestView,
    PodInfo,
    StorageClassInfo,
    VolumeInfo,
)
from growthrs_core.crd.models import Requirements
from growthrs_core.domain import NO_EXTENDED, Offering, Resources, Taint, extended_of
from growthrs_core.labels import (
    HOSTNAME_LABEL,
    NODE_GROUP_LABEL,
    POOL_LABEL,
)
from growthrs_core.planner.cutting import WORK_LIMIT
from growthrs_core.planner.existing import place_on_existing
from growthrs_core.planner.groups import GroupMatch, GroupMatcher
from growthrs_core.planner.inflight import InFlight, collect, take_room
from growthrs_core.planner.outcome import (
    INVALID_POD_SPEC,
    MAX_NODES_REACHED,
    NO_MATCHING_GROUP,
    NO_OFFERING_FITS,
    UNSATISFIABLE,
    VOLUME_NOT_BOUND,
    OutcomeKind,
    PodOutcome,
)
from growthrs_core.planner.packing import (
    EXACT_LIMIT,
    EXACT_PODS,
    EXACT_SOLVES,
    PLAN_SOLVER_WORK,
    REPACK_LIMIT,
    SOLVER_PIECES,
    Item,
    Packing,
    Pattern,
    StepBudget,
    Unit,
    build_items,
    by_price,
    choose_with_preference,
    exact_pack,
    exact_supported,
    fill_node,
    first_fitting,
    fits_pattern,
    order_for,
    pack,
    pack_whole,
    pattern_requests,
    plain,
    preference_score,
    repack_cheapest,
    sized_cost,
    solve_plain,
)
from growthrs_core.planner.selection import PodClass, classify, unschedulable_pods
from growthrs_core.planner.slots import UNLIMITED, GroupContext, Slot, build_group, take_extended
from growthrs_core.planner.topology import (
    MatcherIndex,
    Namespaces,
    PinRequest,
    RunningPods,
    involved_classes,
    pin_domains,
    term_matcher,
    zone_of_region,
)
from growthrs_core.planner.volumes import TOPOLOGY_ALIASES, VolumeIndex, VolumeNeed
from growthrs_core.quantity import format_cpu, format_memory
from growthrs_core.strategies import (
    PriorityStrategy,
    ScaleUpOption,
    Strategy,
    narrow,
    packs_whole_group,
)


@dataclass(frozen=True)
class PlanningInput:
    pods: Sequence[PodInfo]
    """All pods: pending ones ask for capacity, bound ones use it and count for affinity and spread."""
    nodes: Sequence[NodeInfo]
    daemonsets: Sequence[DaemonSetInfo]
    groups: Sequence[GroupView]
    """Groups whose spec is None (invalid) are ignored."""
    node_requests: Sequence[NodeRequestView]
    offerings: Mapping[str, Sequence[Offering]]
    """Provider name → its offerings in every region; a provider missing here is not installed."""
    strategies: Sequence[Strategy]
    unavailable: frozenset[tuple[str, str]] = frozenset()
    """(provider, offering key) backing off after a capacity error: avoided while alternatives exist."""
    namespaces: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Namespace name → its labels, for ``namespaceSelector`` in pod (anti-)affinity terms.
    Empty: namespaces are not watched, and a ``namespaceSelector`` selects every namespace."""
    claims: Sequence[ClaimInfo] = ()
    """PersistentVolumeClaims: a pending pod's claims decide where its node may be
    (:mod:`.volumes`). A claim not listed here constrains nothing."""
    volumes: Sequence[VolumeInfo] = ()
    """PersistentVolumes (their node affinity); one not listed constrains nothing."""
    storage_classes: Sequence[StorageClassInfo] = ()
    """StorageClasses (binding mode, allowed topologies, default)."""
    topology_aliases: Mapping[str, str] = field(default_factory=lambda: dict(TOPOLOGY_ALIASES))
    """Label key → ``region`` or ``zone``: keys a new node will carry with its region or
    zone (set by a CSI driver, say), for volume topology; see :mod:`.volumes`."""
    blocked_pools: Mapping[tuple[str, int], str] = field(default_factory=dict)
    """(group, pool index) → why, in words: pools a provider said cannot work (no node
    class, a bad token, 401/403, a missing Secret). No node is planned in them; a pod
    only such a pool could serve is ``ScaleUpBlocked``."""


@dataclass(frozen=True)
class PlannedNode:
    """One node to ask for: becomes one NodeRequest."""

    group: str
    pool_index: int
    offering: Offering
    pods: tuple[PodInfo, ...]
    requirements: Requirements
    labels: dict[str, str]
    taints: tuple[Taint, ...]


@dataclass(frozen=True)
class Plan:
    new_nodes: list[PlannedNode] = field(default_factory=list)
    outcomes: dict[str, PodOutcome] = field(default_factory=dict)
    """Pod key ("namespace/name") → what this plan does for it: one outcome for every
    pending pod the planner considered (see :mod:`.outcome`)."""

    def of_kind(self, kind: OutcomeKind) -> dict[str, PodOutcome]:
        """The outcomes of one kind, by pod key."""
        return {k: o for k, o in self.outcomes.items() if o.kind == kind}

    def stuck(self) -> frozenset[str]:
        """Pods no plan can serve now (``cannot_serve``): they wait for a change that
        may unstick them (a group edited, a node or NodeRequest gone)."""
        return frozenset(k for k, o in self.outcomes.items() if o.kind == "cannot_serve")

    def planned_pods(self) -> dict[str, PlannedNode]:
        """Pod key → the planned node that is for it."""
        return {p.key: n for n in self.new_nodes for p in n.pods}


def plan(inp: PlanningInput) -> Plan:
    """Decide which nodes to add for the pending pods of ``inp`` (pure)."""
    return _Planner(inp).run()


# -- limits -------------------------------------------------------------------------


class _Limits:
    """Node counts of one group and its pools, for maxNodes and minNodes."""

    def __init__(self, ctx: GroupContext, nodes: Sequence[NodeInfo], flights: Sequence[InFlight]):
        self.ctx = ctx
        self.total = 0
        self.live = 0
        self.pool_total: dict[int, int] = {}
        self.pool_live: dict[int, int] = {}
        for node in nodes:
            if node.labels.get(NODE_GROUP_LABEL) != ctx.name:
                continue
            pool = _int(node.labels.get(POOL_LABEL))
            self._count(pool, live=not node.deleting)
        for flight in flights:
            if flight.group == ctx.name and not flight.node_exists and not flight.unmet:
                self._count(flight.pool_index, live=True)

    def _count(self, pool: int | None, live: bool, n: int = 1) -> None:
        self.total += n
        self.live += n if live else 0
        if pool is not None:
            self.pool_total[pool] = self.pool_total.get(pool, 0) + n
            self.pool_live[pool] = self.pool_live.get(pool, 0) + (n if live else 0)

    def add(self, pool: int, n: int) -> None:
        self._count(pool, live=True, n=n)

    def headroom(self, pool: int) -> int:
        room = UNLIMITED
        if self.ctx.spec.maxNodes is not None:
            room = self.ctx.spec.maxNodes - self.total
        pool_max = self.ctx.spec.pools[pool].maxNodes
        if pool_max is not None:
            room = min(room, pool_max - self.pool_total.get(pool, 0))
        return max(room, 0)

    def why_full(self, pools: set[int]) -> str:
        spec = self.ctx.spec
        if spec.maxNodes is not None and self.total >= spec.maxNodes:
            return (
                f"node group {self.ctx.name} reached maxNodes {spec.maxNodes} "
                "(nodes and NodeRequests in flight count); raise maxNodes or free nodes"
            )
        parts = [
            f"pool {i} has {self.pool_total.get(i, 0)}/{spec.pools[i].maxNodes}"
            for i in sorted(pools)
        ]
        return (
            f"every pool of node group {self.ctx.name} that fits the pod is at maxNodes "
            f"({', '.join(parts)}); raise a pool's maxNodes or free nodes"
        )


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# -- the pass -----------------------------------------------------------------------


@dataclass(eq=False)
class _Block:
    """``count`` identical new nodes of ``slot``, each holding ``pattern``."""

    ctx: GroupContext
    slot: Slot
    pattern: Pattern
    count: int
    final: bool = False
    """Chosen by the exact packer: keep its slot."""

    @property
    def pods_per_node(self) -> int:
        return sum(k for _, k in self.pattern)


def _merge(base: Pattern, extra: Pattern) -> Pattern:
    counts: dict[int, tuple[Item, int]] = {it.id: (it, k) for it, k in base}
    for it, k in extra:
        counts[it.id] = (it, counts[it.id][1] + k) if it.id in counts else (it, k)
    return tuple(counts.values())


class _Planner:
    def __init__(self, inp: PlanningInput) -> None:
        self.inp = inp
        self.chain = list(inp.strategies)
        self.out = Plan()
        self.blocks: list[_Block] = []
        self.exact_budget = StepBudget()
        whole = next((i for i, st in enumerate(self.chain) if packs_whole_group(st)), None)
        self.whole = whole is not None
        """Pack whole rounds for the cheapest total (a ``packs_whole_group`` strategy)."""
        self.prefix = self.chain[:whole] if whole is not None else []
        """The strategies that narrow the slots before a whole packing."""
        self.solves = EXACT_SOLVES
        """Exact cutting-stock solves left for this plan (each may take a while)."""
        self.price_order: dict[str, list[Slot]] = {}
        self.work = [PLAN_SOLVER_WORK]
        """Knapsack search nodes the plan's cutting-stock solves may still take."""

    def run(self) -> Plan:
        inp, out = self.inp, self.out
        nodes_by_name = {n.name: n for n in inp.nodes}
        pods_by_node: dict[str, list[PodInfo]] = {}
        for pod in inp.pods:
            if pod.node_name and not pod.terminal and pod.error is None:
                pods_by_node.setdefault(pod.node_name, []).append(pod)
        zmap = zone_of_region(inp.nodes)
        blocked: dict[str, dict[int, str]] = {}
        for (g, pool_index), why in inp.blocked_pools.items():
            blocked.setdefault(g, {})[pool_index] = why
        groups: dict[str, GroupContext] = {}
        invalid: dict[str, str] = {}
        for view in sorted(inp.groups, key=lambda g: g.name):
            if view.spec is None:
                invalid[view.name] = view.error or "invalid spec"
            else:
                groups[view.name] = build_group(
                    view,
                    inp.offerings,
                    inp.daemonsets,
                    inp.unavailable,
                    zmap,
                    blocked.get(view.name),
                )

        # Outcomes are recorded in an order that does not depend on the order of
        # the input (sorted where the input order would show through).
        outcomes = out.outcomes
        candidates = unschedulable_pods(inp.pods)
        pending: dict[str, PodInfo] = {}
        broken: list[PodInfo] = []
        for pod in candidates:
            if pod.error is not None:
                broken.append(pod)
            else:
                pending[pod.key] = pod
        for pod in sorted(broken, key=lambda p: (p.namespace, p.name)):
            outcomes[pod.key] = PodOutcome.cannot_serve(
                INVALID_POD_SPEC, f"skipped by the autoscaler: {pod.error}"
            )

        flights, covered = collect(inp.node_requests, groups, pending, nodes_by_name)
        flight_of = {f.nr.name: f for f in flights}
        for key, nr_name in covered.items():
            outcomes[key] = PodOutcome.in_flight(nr_name, flight_of[nr_name].cover_message())
        virtual = [
            (pod, f.topology_labels(), groups[f.group].taints)
            for f in flights
            if f.slot is not None
            for pod in f.listed
        ]
        namespaces = Namespaces(inp.namespaces)
        running = RunningPods(inp.pods, nodes_by_name, virtual, namespaces)

        needs: dict[str, VolumeNeed] = {}
        if inp.claims:
            index = VolumeIndex(inp.claims, inp.volumes, inp.storage_classes)
            for key in sorted(k for k, p in pending.items() if p.claims):
                pod = pending[key]
                if key in covered:
                    continue
                need = index.need(pod)
                if need is None:
                    continue
                if need.waiting:
                    outcomes[key] = PodOutcome.cannot_serve(VOLUME_NOT_BOUND, need.waiting)
                else:
                    needs[key] = need
        classes = classify((p for k, p in pending.items() if k not in outcomes), needs)
        held_back = MatcherIndex(
            [
                *(m for m, key, _ in running.anti_owners if key != HOSTNAME_LABEL),
                *(
                    term_matcher(t, cls.proto.namespace, namespaces)
                    for cls in classes
                    for t in cls.proto.affinity
                    if t.topology_key == HOSTNAME_LABEL
                ),
            ]
        )
        fitted = place_on_existing(classes, inp.nodes, pods_by_node, held_back, namespaces)
        for key, node_name in fitted.items():
            outcomes[key] = PodOutcome.fits(node_name)
        # Where the scheduler will put them, they count for other pods' affinity and spread.
        running.add(
            (pending[key], nodes_by_name[name].labels, nodes_by_name[name].taints)
            for key, name in fitted.items()
        )
        classes = [c for c in classes if c.pods]

        matcher = GroupMatcher(groups, invalid, inp.topology_aliases)
        per_group: dict[str, list[tuple[PodClass, GroupMatch]]] = {g: [] for g in groups}
        for cls in classes:
            m = matcher.match(cls)
            if m.reason is not None or m.group is None:
                stuck = PodOutcome.cannot_serve(
                    m.code or NO_MATCHING_GROUP, m.reason or "no node group"
                )
                outcomes.update((p.key, stuck) for p in cls.pods)
            else:
                per_group[m.group].append((cls, m))

        limits = {g: _Limits(ctx, inp.nodes, flights) for g, ctx in groups.items()}
        matched = [cls for entries in per_group.values() for cls, _ in entries]
        involved = involved_classes(matched, running)

        # Leftover room of in-flight NodeRequests.
        for g, entries in per_group.items():
            rooms = [f for f in flights if f.group == g and f.slot is not None]
            if not rooms:
                continue
            # The pods a request lists keep their constraints: none joins a pod whose
            # required anti-affinity (on the hostname) selects it.
            keep_out = {
                f.nr.name: [
                    term_matcher(t, p.namespace, namespaces)
                    for p in f.listed
                    for t in p.anti_affinity
                    if t.topology_key == HOSTNAME_LABEL
                ]
                for f in rooms
            }
            for cls, m in entries:
                if cls.id in involved or _relational(cls.proto) or held_back.any(cls.proto):
                    continue
                for flight in rooms:
                    assert flight.slot is not None
                    if not cls.pods or flight.slot.index not in m.slots:
                        continue
                    if any(t.matches_pod(cls.proto) for t in keep_out[flight.nr.name]):
                        continue
                    k = take_room(flight, cls.proto, len(cls.pods))
                    if k:
                        room = PodOutcome.in_flight(
                            flight.nr.name,
                            f"fits the room left on NodeRequest {flight.nr.name}, "
                            "already on its way",
                        )
                        outcomes.update((pod.key, room) for pod in cls.pods[:k])
                    del cls.pods[:k]

        pin_requests = [
            PinRequest(
                cls, [groups[g].slots[i] for i in sorted(m.slots)], m.preference, groups[g].taints
            )
            for g, entries in per_group.items()
            for cls, m in entries
            if cls.id in involved and cls.pods
        ]
        pins = pin_domains(pin_requests, running, inp.nodes)
        for key, why in pins.failed.items():
            outcomes[key] = PodOutcome.cannot_serve(UNSATISFIABLE, why)

        for g, entries in per_group.items():
            ctx = groups[g]
            units: list[Unit] = []
            domain_slots: dict[tuple[tuple[str, str], ...], frozenset[int]] = {}
            for cls, m in entries:
                if not cls.pods:
                    continue
                if cls.id not in involved:
                    units.append(
                        Unit(cls, list(cls.pods), m.slots, m.label_slots, (), m.preference)
                    )
                    continue
                for dom, pods in pins.pinned.get(cls.id, []):
                    in_dom = domain_slots.get(dom)
                    if in_dom is None:
                        in_dom = domain_slots[dom] = frozenset(
                            s.index
                            for s in ctx.slots
                            if all(s.topology.get(k, "") == v for k, v in dom)
                        )
                    units.append(
                        Unit(cls, pods, m.slots & in_dom, m.label_slots & in_dom, dom, m.preference)
                    )
            if units:
                self._pack_group(ctx, build_items(units, running), limits[g])

        for g, ctx in groups.items():
            self._top_up(ctx, limits[g])
        self._emit()
        return out

    # -- packing ------------------------------------------------------------------------

    def _pack_group(self, ctx: GroupContext, items: list[Item], limits: _Limits) -> None:
        """Pack ``items`` onto new nodes of ``ctx``, most constrained pods first.

        Pods with the same priority whose selectors and pinned domain accept the
        same slots form a *focus set* (sizes mix freely within a set). Sets that
        accept fewer slots go first; each set first fills the
        room left on nodes already planned (a pinned or big pod's node takes
        small flexible pods), and only then asks the strategy chain for new
        nodes, round after round, until the set is placed or nothing can take it.
        """
        started: set[int] = set()
        blocks: list[_Block] = []
        focus: dict[tuple[int, frozenset[int]], list[Item]] = {}
        for it in items:
            if it.remaining > 0 and it.slots:
                focus.setdefault((it.priority, it.place_slots), []).append(it)
        order = sorted(focus, key=lambda k: (-k[0], len(k[1]), min(it.id for it in focus[k])))
        # The exact re-pack may free nodes under a limit; pods left over get another go.
        for _ in range(3):
            for key in order:
                active = [it for it in focus[key] if it.remaining > 0]
                if not active:
                    continue
                self._fill_gaps(ctx, blocks, active, started, limits)
                active = [it for it in active if it.remaining > 0]
                while active:
                    if self.whole:
                        block_list = self._cheapest(ctx, active, limits, started)
                    else:
                        block_list = self._round(ctx, active, limits, started)
                    if not block_list:
                        break
                    blocks.extend(block_list)
                    active = [it for it in active if it.remaining > 0]
            # Pods that must run next to others (hostname affinity) whose targets were
            # packed in a later set: another go at the nodes now planned, until none moves.
            followers = [it for it in items if it.remaining > 0 and it.needs]
            while followers:
                before = sum(it.remaining for it in followers)
                self._fill_gaps(ctx, blocks, followers, started, limits)
                followers = [it for it in followers if it.remaining > 0]
                if sum(it.remaining for it in followers) == before:
                    break
            blocks, freed = self._consolidate(ctx, blocks, limits)
            if not freed or not any(it.remaining > 0 for it in items):
                break
        for block in blocks:
            if not block.final:
                block.slot = self._right_size(ctx, block.slot, block.pattern)
        self.blocks.extend(blocks)
        for it in items:
            if it.remaining <= 0:
                continue
            code, reason = self._why_left(ctx, it, limits)
            stuck = PodOutcome.cannot_serve(code, reason)
            for pod in it.pods[it.cursor :]:
                self.out.outcomes[pod.key] = stuck

    def _fill_gaps(
        self,
        ctx: GroupContext,
        blocks: list[_Block],
        active: list[Item],
        started: set[int],
        limits: _Limits,
    ) -> None:
        """Put pods of ``active`` into the room left on already planned nodes.

        A node none of them may use where it is planned moves to a slot that its
        own pods and some of ``active`` all accept (pods whose node selectors
        overlap share nodes), when that costs no more than the node those pods
        would need on their own.
        """
        i = 0
        while i < len(blocks):
            block = blocks[i]
            i += 1
            live = [it for it in active if it.remaining > 0]
            if not live:
                break
            remaining = {it.id: it.remaining for it in live}
            slot = block.slot
            feasible = [it for it in live if slot.index in it.slots]
            extra: Pattern = ()
            exception = False
            if feasible:
                extra, exception = fill_node(
                    order_for(feasible, slot), remaining, slot, started, block.pattern
                )
            if not feasible and block.pattern:
                # (A node they may use but that is full stays where it is.)
                moved = self._move_to_share(ctx, block, live, remaining, started, limits)
                if moved is not None:
                    slot, extra, exception = moved
            if not extra:
                continue
            repeat = 1 if exception else min(remaining[it.id] // k for it, k in extra)
            repeat = max(1, min(repeat, block.count))
            if slot.pool_index != block.slot.pool_index:
                repeat = min(repeat, limits.headroom(slot.pool_index))
                limits.add(slot.pool_index, repeat)
                limits.add(block.slot.pool_index, -repeat)
            if repeat < block.count:
                blocks.insert(i, _Block(block.ctx, block.slot, block.pattern, block.count - repeat))
                block.count = repeat
            block.slot = slot
            block.pattern = _merge(block.pattern, extra)
            for it, k in extra:
                it.cursor += k * repeat
                started.update(it.counts_into)
            i -= 1  # the same block may take more from other items

    def _by_price(self, ctx: GroupContext) -> list[Slot]:
        """The group's slots cheapest first (computed once per group)."""
        found = self.price_order.get(ctx.name)
        if found is None:
            found = self.price_order[ctx.name] = by_price(ctx.slots)
        return found

    def _move_to_share(
        self,
        ctx: GroupContext,
        block: _Block,
        live: list[Item],
        remaining: Mapping[int, int],
        started: set[int],
        limits: _Limits,
    ) -> tuple[Slot, Pattern, bool] | None:
        """The slot (same pool priority) that both ``block``'s pods and some of
        ``live`` accept and that holds them together, with the pods it adds: the one
        adding the most pods, then the cheapest. None unless moving costs no more
        than a node of their own for the added pods."""
        common: frozenset[int] | None = None
        for it, _ in block.pattern:
            common = it.slots if common is None else common & it.slots
        if not common:
            return None
        wanted: set[int] = set()
        for it in live:
            wanted.update(it.slots & common)
        if not wanted:
            return None
        here = block.slot
        used_cpu = sum(it.cpu * k for it, k in block.pattern)
        used_mem = sum(it.memory * k for it, k in block.pattern)
        used_pods = sum(k for _, k in block.pattern)
        best: tuple[tuple[int, float, int], Slot, Pattern, bool] | None = None
        for index in sorted(wanted):
            slot = ctx.slots[index]
            left_cpu, left_mem = slot.cpu - used_cpu, slot.memory - used_mem
            if (
                slot.pool.priority != here.pool.priority
                or not slot.usable
                or left_cpu < 0
                or left_mem < 0
                or slot.pods - used_pods < 1
                or (slot.unavailable and not here.unavailable)
                or (slot.pool_index != here.pool_index and limits.headroom(slot.pool_index) < 1)
                or not fits_pattern(block.pattern, slot)
            ):
                continue
            feasible = [
                it
                for it in live
                if index in it.slots and it.cpu <= left_cpu and it.memory <= left_mem
            ]
            if not feasible:
                continue
            extra, exception = fill_node(
                order_for(feasible, slot), remaining, slot, started, block.pattern
            )
            if not extra:
                continue
            delta = slot.offering.cost_per_hour - here.offering.cost_per_hour
            alone = first_fitting(extra, self._by_price(ctx))
            if alone is None or delta > alone.offering.cost_per_hour + 1e-12:
                continue
            key = (-sum(k for _, k in extra), delta, index)
            if best is None or key < best[0]:
                best = (key, slot, extra, exception)
        return None if best is None else (best[1], best[2], best[3])

    def _cheapest(
        self, ctx: GroupContext, active: list[Item], limits: _Limits, started: set[int]
    ) -> list[_Block]:
        """One whole round: the pods of ``active`` that the best pool level (what the
        strategies before ``cheapest`` leave) can take, packed at once for the lowest
        hourly cost, then the fewest nodes. Pods without node-level relations go to
        the cutting-stock solver (:func:`~.packing.solve_plain`); a set with relations
        (or without HiGHS) gets the cheapest of the first-fit-decreasing packings
        (:func:`~.packing.pack_whole`), and the nodes of it that hold only plain pods
        are solved again."""
        slots = self._level(ctx, active, limits, started)
        if not slots:
            return []
        indices = frozenset(s.index for s in slots)
        items = [it for it in active if it.remaining > 0 and not it.slots.isdisjoint(indices)]
        if not items:
            return []
        rooms = {s.pool_index: limits.headroom(s.pool_index) for s in slots}
        total_room = UNLIMITED
        if ctx.spec.maxNodes is not None:
            total_room = max(ctx.spec.maxNodes - limits.total, 0)
        sized: list[tuple[Slot, Pattern, int]] | None = None
        if (
            all(plain(it) for it in items)
            and len(items) <= SOLVER_PIECES
            and sum(it.remaining for it in items) > EXACT_LIMIT
        ):
            # (Up to EXACT_LIMIT pods, the exact re-pack of small batches is as good.)
            sized = self._solve(items, slots, rooms, total_room)
        if sized is None:
            sized = pack_whole(items, slots, rooms, started)
            if sized is not None:
                sized = self._resolve_plain(sized, slots, rooms, total_room)
        if not sized:
            return []
        # Either way each node is on the cheapest slot that holds it already: final.
        out = []
        for slot, pattern, n in sized:
            out.append(_Block(ctx, slot, pattern, n, final=True))
            limits.add(slot.pool_index, n)
            for it, k in pattern:
                it.cursor += k * n
                started.update(it.counts_into)
        return out

    def _solve(
        self,
        items: list[Item],
        slots: list[Slot],
        rooms: Mapping[int, int],
        total_room: int,
    ) -> list[tuple[Slot, Pattern, int]] | None:
        """The cutting-stock packing of plain ``items``: exact while this plan's budget
        of exact solves lasts and the batch is not huge, else rounded (dive)."""
        exact = self.solves > 0 and sum(it.remaining for it in items) <= EXACT_PODS
        if exact:
            self.solves -= 1
        # Each solve may spend up to its own limit, within what the plan has left.
        work = [min(WORK_LIMIT, max(self.work[0], 0))]
        found = solve_plain(items, slots, rooms, total_room, exact=exact, work=work)
        self.work[0] -= min(WORK_LIMIT, max(self.work[0], 0)) - work[0]
        return found

    def _resolve_plain(
        self,
        sized: list[tuple[Slot, Pattern, int]],
        slots: list[Slot],
        rooms: Mapping[int, int],
        total_room: int,
    ) -> list[tuple[Slot, Pattern, int]]:
        """Pack the pods of the nodes of ``sized`` that hold only plain pods again with
        the cutting-stock solver, when that is cheaper (nodes with relations stay)."""
        mixed = [b for b in sized if not all(plain(it) for it, _ in b[1])]
        alone = [b for b in sized if all(plain(it) for it, _ in b[1])]
        if not alone or sum(n for _, _, n in alone) < 2:
            return sized
        counts: dict[int, int] = {}
        by_id: dict[int, Item] = {}
        for _, pattern, n in alone:
            for it, k in pattern:
                counts[it.id] = counts.get(it.id, 0) + k * n
                by_id[it.id] = it
        # The solver packs an item's pods from its cursor: hand it copies with just
        # these pods left.
        copies = [
            dataclasses.replace(by_id[i], cursor=len(by_id[i].pods) - counts[i])
            for i in sorted(counts)
        ]
        # The limits are not charged for ``sized`` yet: the re-pack may use what the
        # nodes with relations leave.
        taken: dict[int, int] = {}
        for slot, _, n in mixed:
            taken[slot.pool_index] = taken.get(slot.pool_index, 0) + n
        room = {p: max(r - taken.get(p, 0), 0) for p, r in rooms.items()}
        total = total_room
        if total_room < UNLIMITED:
            total = max(total_room - sum(taken.values()), 0)
        if len(copies) > SOLVER_PIECES:
            return sized
        again = self._solve(copies, slots, room, total)
        if again is None or any(
            sum(k * n for _, pattern, n in again for it, k in pattern if it.id == i) != c
            for i, c in counts.items()
        ):
            return sized
        if sized_cost(again) >= sized_cost(alone):
            return sized
        original = {it.id: it for it in by_id.values()}
        return mixed + [
            (slot, tuple((original[it.id], k) for it, k in pattern), n)
            for slot, pattern, n in again
        ]

    def _level(
        self, ctx: GroupContext, active: list[Item], limits: _Limits, started: set[int]
    ) -> list[Slot]:
        """The slots a whole round may use: those with room that some pod of ``active``
        fits, not backing off while others are not, narrowed by the strategies before
        the whole-packing one (``priority``: the highest pool priority left)."""
        wanted: set[int] = set()
        for it in active:
            if it.remaining > 0:
                wanted.update(it.slots)
        candidates = [
            ctx.slots[i]
            for i in sorted(wanted)
            if ctx.slots[i].usable and limits.headroom(ctx.slots[i].pool_index) > 0
        ]
        available = [s for s in candidates if not s.unavailable]
        candidates = available or candidates
        if not candidates:
            return []
        if all(isinstance(st, PriorityStrategy) for st in self.prefix):
            if not self.prefix:
                return candidates
            top = max(s.pool.priority for s in candidates)
            return [s for s in candidates if s.pool.priority == top]
        # Another strategy narrows first: it sees one option per slot, as in a round.
        by_id = {it.id: it for it in active}
        options: list[ScaleUpOption] = []
        slot_of: dict[int, Slot] = {}
        for slot in candidates:
            feasible = [it for it in active if it.remaining > 0 and slot.index in it.slots]
            packing = pack(feasible, slot, limits.headroom(slot.pool_index), started)
            if packing.node_count:
                option = self._option(slot, packing, by_id)
                options.append(option)
                slot_of[id(option)] = slot
        kept = narrow(options, self.prefix)
        chosen = {id(slot_of[id(o)]) for o in kept}
        return [s for s in candidates if id(s) in chosen]

    def _round(
        self, ctx: GroupContext, active: list[Item], limits: _Limits, started: set[int]
    ) -> list[_Block]:
        """One expander round: an option per slot, the chain picks, its nodes are planned."""
        by_id = {it.id: it for it in active}
        options: list[ScaleUpOption] = []
        info: dict[int, tuple[Slot, Packing]] = {}
        scores: dict[int, int] = {}
        cache: dict[object, Packing] = {}
        for slot in ctx.slots:
            if not slot.usable:
                continue
            room = limits.headroom(slot.pool_index)
            if room <= 0:
                continue
            feasible = [it for it in active if slot.index in it.slots]
            if not feasible:
                continue
            key = (
                slot.cpu,
                slot.memory,
                slot.ephemeral,
                slot.gpu,
                slot.pods,
                slot.ds_ports,
                slot.extended,
                tuple(it.id for it in feasible),
                room,
            )
            packing = cache.get(key)
            if packing is None:
                packing = pack(feasible, slot, room, started)
                cache[key] = packing
            if not packing.node_count:
                continue
            option = self._option(slot, packing, by_id)
            options.append(option)
            info[id(option)] = (slot, packing)
            if any(it.preference for it in feasible):
                scores[id(option)] = preference_score(packing.placed, by_id, slot)
        if not options:
            return []
        available = [o for o in options if not info[id(o)][0].unavailable]
        candidates = _most_within_limits(available or options, limits)
        chosen = choose_with_preference(candidates, self.chain, scores)
        assert chosen is not None
        slot, packing = info[id(chosen)]
        out = []
        for pattern, repeat in packing.blocks:
            out.append(_Block(ctx, slot, pattern, repeat))
            limits.add(slot.pool_index, repeat)
            for it, k in pattern:
                it.cursor += k * repeat
                started.update(it.counts_into)
        return out

    def _why_left(self, ctx: GroupContext, it: Item, limits: _Limits) -> tuple[str, str]:
        if not it.slots:
            return (
                NO_OFFERING_FITS,
                f"no offering of node group {ctx.name} fits it in the zone its constraints need",
            )
        pools = {ctx.slots[i].pool_index for i in it.slots}
        if all(limits.headroom(p) <= 0 for p in pools):
            return MAX_NODES_REACHED, limits.why_full(pools)
        if it.needs:
            return (
                UNSATISFIABLE,
                "required pod affinity on kubernetes.io/hostname: no new node can hold it "
                "next to the pods it must run with",
            )
        rules = []
        if it.conflicts or it.max_per_node == 1:
            rules.append("required pod anti-affinity on kubernetes.io/hostname")
        if it.caps:
            rules.append("topology spread on kubernetes.io/hostname")
        if it.ports:
            rules.append(f"host ports {', '.join(str(p) for p, _ in sorted(it.ports))}")
        return (
            UNSATISFIABLE,
            "no new node can take it within its constraints ("
            + (", ".join(rules) or "node-level pod constraints")
            + ")",
        )

    def _option(self, slot: Slot, packing: Packing, items: Mapping[int, Item]) -> ScaleUpOption:
        cpu = mem = gpu = eph = 0
        has_eph = False
        for pattern, n in packing.blocks:
            req = pattern_requests(pattern, slot, overhead=False)
            cpu += req.cpu_millis * n
            mem += req.memory_mib * n
            gpu += req.gpu * n
            if req.ephemeral_storage_gib is not None:
                has_eph = True
                eph += req.ephemeral_storage_gib * n
        keys = tuple(
            itertools.chain.from_iterable(
                items[i].keys[items[i].cursor : items[i].cursor + n]
                for i, n in sorted(packing.placed.items())
            )
        )
        return ScaleUpOption(
            pool=slot.ref,
            offering=slot.offering,
            node_count=packing.node_count,
            pods=keys,
            requested=Resources(
                cpu_millis=cpu,
                memory_mib=mem,
                ephemeral_storage_gib=eph if has_eph else None,
                gpu=gpu,
            ),
        )

    def _right_size(self, ctx: GroupContext, slot: Slot, pattern: Pattern) -> Slot:
        """The slot of the same pool and location the chain prefers for one such node."""
        if not pattern:
            return slot
        fitting = [
            s
            for s in ctx.slots
            if s.pool_index == slot.pool_index
            and s.location == slot.location
            and s.usable
            and (s is slot or not s.unavailable)
            and fits_pattern(pattern, s)
        ]
        if len(fitting) <= 1:
            return slot
        keys = tuple(itertools.chain.from_iterable(it.keys[:k] for it, k in pattern))
        options = []
        by_option: dict[int, Slot] = {}
        scores: dict[int, int] = {}
        for s in fitting:
            o = ScaleUpOption(
                pool=s.ref,
                offering=s.offering,
                node_count=1,
                pods=keys,
                requested=pattern_requests(pattern, s, overhead=False),
            )
            options.append(o)
            by_option[id(o)] = s
            scores[id(o)] = sum(it.preference.get(s.index, 0) * k for it, k in pattern)
        chosen = choose_with_preference(options, self.chain, scores)
        return by_option[id(chosen)] if chosen is not None else slot

    def _consolidate(
        self, ctx: GroupContext, blocks: list[_Block], limits: _Limits
    ) -> tuple[list[_Block], bool]:
        """Re-pack small batches for cost, per pool and location: cheapest, then fewest nodes.

        Up to :data:`EXACT_LIMIT` pods are re-packed exactly; up to
        :data:`REPACK_LIMIT` pods are re-packed first-fit-decreasing on every
        offering of the pool there, each node right-sized to the cheapest offering
        that holds it. In a bigger batch the irregular tail (nodes that are not
        repeated) gets the same treatment when it is that small; the many identical
        full nodes are kept. Says whether nodes were freed (so pods a limit left out
        can try again).
        """
        by_place: dict[tuple[int, tuple[str, str]], list[_Block]] = {}
        for block in blocks:
            if self.whole and block.final:
                continue  # a whole round's packing is compared and right-sized already
            by_place.setdefault((block.slot.pool_index, block.slot.location), []).append(block)
        replaced: dict[int, list[_Block]] = {}
        freed = False
        for (pool, location), group in by_place.items():
            pods_total = sum(b.pods_per_node * b.count for b in group)
            if pods_total > REPACK_LIMIT:
                group = [b for b in group if b.count == 1 and not b.final]
                pods_total = sum(b.pods_per_node for b in group)
                if len(group) < 2 or pods_total > REPACK_LIMIT:
                    continue
            if pods_total == 0:
                continue
            counts: dict[int, int] = {}
            item_of: dict[int, Item] = {}
            for b in group:
                for it, k in b.pattern:
                    counts[it.id] = counts.get(it.id, 0) + k * b.count
                    item_of[it.id] = it
            if any(it.needs for it in item_of.values()):
                continue
            in_use = {id(b.slot) for b in group}
            candidates = [
                s
                for s in ctx.slots
                if s.pool_index == pool
                and s.location == location
                and s.usable
                and (not s.unavailable or id(s) in in_use)
            ]
            # Compare with what right-sizing would make of the heuristic packing.
            sized = [self._right_size(ctx, b.slot, b.pattern) for b in group]
            incumbent = (
                sum(s.offering.cost_per_hour * b.count for s, b in zip(sized, group, strict=True)),
                sum(b.count for b in group),
            )
            members = [(item_of[i], n) for i, n in sorted(counts.items())]
            better: list[tuple[Slot, Pattern, int]] | None = repack_cheapest(
                members, candidates, incumbent
            )
            if better is not None:
                incumbent = sized_cost(better)
            if pods_total <= EXACT_LIMIT and exact_supported(list(item_of.values())):
                exact = exact_pack(members, candidates, incumbent, self.exact_budget)
                if exact is not None:
                    better = [(s, pattern, 1) for s, pattern in exact]
            if better is None:
                continue
            extra = sum(n for _, _, n in better) - sum(b.count for b in group)
            if extra > 0 and limits.headroom(pool) < extra:
                continue
            limits.add(pool, extra)
            freed = freed or extra < 0
            replaced[id(group[0])] = [
                _Block(ctx, s, pattern, n, final=True) for s, pattern, n in better
            ]
            for b in group[1:]:
                replaced[id(b)] = []
        if not replaced:
            return blocks, False
        out: list[_Block] = []
        for block in blocks:
            out.extend(replaced.get(id(block), [block]))
        return out, freed

    # -- minimums -----------------------------------------------------------------------

    def _top_up(self, ctx: GroupContext, limits: _Limits) -> None:
        spec = ctx.spec
        for index, pool in enumerate(spec.pools):
            while pool.minNodes and limits.pool_live.get(index, 0) < pool.minNodes:
                if not self._add_empty(ctx, limits, [index]):
                    break
        if spec.minNodes:
            by_priority = sorted({p.priority for p in spec.pools}, reverse=True)
            while limits.live < spec.minNodes:
                added = False
                for prio in by_priority:
                    pools = [i for i, p in enumerate(spec.pools) if p.priority == prio]
                    if self._add_empty(ctx, limits, pools):
                        added = True
                        break
                if not added:
                    break

    def _add_empty(self, ctx: GroupContext, limits: _Limits, pools: list[int]) -> bool:
        slots = [
            s
            for s in ctx.slots
            if s.pool_index in pools and s.usable and limits.headroom(s.pool_index) > 0
        ]
        if not slots:
            return False
        slots.sort(
            key=lambda s: (s.unavailable, s.offering.cost_per_hour, s.pool_index, s.offering.key)
        )
        slot = slots[0]
        self.blocks.append(_Block(ctx, slot, (), 1))
        limits.add(slot.pool_index, 1)
        return True

    # -- output -------------------------------------------------------------------------

    def _emit(self) -> None:
        assigned: dict[tuple[str, int], int] = {}
        facts: dict[str, _GroupFacts] = {}
        for block in self.blocks:
            slot = block.slot
            found = facts.get(block.ctx.name)
            if found is None:
                found = facts[block.ctx.name] = _GroupFacts.of(block.ctx)
            requirements = _requirements(block.ctx, slot, block.pattern, found)
            text = (
                f"planned a {slot.offering.key} node in node group {block.ctx.name} "
                f"(pool {slot.pool_index}, {slot.pool.provider}) for {block.pods_per_node} pod(s)"
            )
            for _ in range(block.count):
                pods: list[PodInfo] = []
                for it, k in block.pattern:
                    start = assigned.get((block.ctx.name, it.id), 0)
                    pods.extend(it.pods[start : start + k])
                    assigned[block.ctx.name, it.id] = start + k
                planned = PodOutcome.planned(len(self.out.new_nodes), text)
                self.out.new_nodes.append(
                    PlannedNode(
                        group=block.ctx.name,
                        pool_index=slot.pool_index,
                        offering=slot.offering,
                        pods=tuple(pods),
                        requirements=requirements,
                        labels=dict(slot.labels),
                        taints=block.ctx.taints,
                    )
                )
                for pod in pods:
                    self.out.outcomes[pod.key] = planned


def _most_within_limits(options: list[ScaleUpOption], limits: _Limits) -> list[ScaleUpOption]:
    """Where a pool's node limit binds, keep only its options that place the most pods.

    Without a limit every option places all the pods its offering can take and the
    rest go round again; under a limit the pods an option leaves out may find no
    node at all, so the strategy chain chooses among the offerings that fit the
    most pods into the nodes still allowed. Pools are not compared with each other.
    """
    best: dict[int, int] = {}
    capped: set[int] = set()
    for o in options:
        best[o.pool.index] = max(best.get(o.pool.index, 0), len(o.pods))
        if o.node_count >= limits.headroom(o.pool.index):
            capped.add(o.pool.index)
    if not capped:
        return options
    return [o for o in options if o.pool.index not in capped or len(o.pods) == best[o.pool.index]]


def _relational(pod: PodInfo) -> bool:
    return bool(pod.anti_affinity or pod.affinity or pod.spread or pod.host_ports)


def _holding(pattern: Pattern, slots: Sequence[Slot]) -> list[Slot]:
    """The usable ``slots`` one node of which holds ``pattern`` next to its DaemonSet
    pods (:func:`~.packing.fits_pattern`, with the pattern's sums taken once)."""
    if not pattern:
        return [s for s in slots if s.usable]
    allowed: frozenset[int] | None = None
    cpu = mem = eph = gpu = count = 0
    ports: set[tuple[int, str]] = set()
    extended: dict[str, int] = {}
    for it, k in pattern:
        allowed = it.slots if allowed is None else allowed & it.slots
        cpu += it.cpu * k
        mem += it.memory * k
        eph += it.ephemeral * k
        gpu += it.gpu * k
        count += k
        ports |= it.ports
        take_extended(extended, it.extended, -k)
    assert allowed is not None
    return [
        s
        for s in slots
        if s.index in allowed
        and s.usable
        and cpu <= s.cpu
        and mem <= s.memory
        and eph <= s.ephemeral
        and gpu <= s.gpu
        and count <= s.pods
        and s.ds_ports.isdisjoint(ports)
        and (not extended or s.extended.covers(extended))
    ]


@dataclass(frozen=True)
class _GroupFacts:
    """What every NodeRequest requirement of a group compares with: the values its
    slots have, and their offering keys (computed once per plan, not per node)."""

    archs: set[str]
    regions: set[str]
    zones: set[str]
    types: set[str]
    keys: dict[int, str]

    @classmethod
    def of(cls, ctx: GroupContext) -> _GroupFacts:
        slots = ctx.slots
        return cls(
            archs={s.offering.arch for s in slots},
            regions={str(s.offering.region) for s in slots},
            zones={str(s.offering.zone) for s in slots},
            types={str(s.offering.instance_type) for s in slots},
            keys={s.index: s.offering.key for s in slots},
        )


def _requirements(
    ctx: GroupContext, slot: Slot, pattern: Pattern, facts: _GroupFacts | None = None
) -> Requirements:
    """Demand of the node's pods plus DaemonSet overhead, and every placement
    constraint that shaped the plan, so a fallback offering can be checked
    (:func:`~growthrs_core.planner.matching.offering_satisfies`).

    The placement is the slots whose labels and domain every pod accepts
    (selectors, pinned topology domain, volume topology) *and* that hold the
    pods next to their own DaemonSet pods: a zone whose DaemonSets leave too
    little room is excluded too. Arch, locations, zones and instance types
    are the values of those slots (unset when that is every value the group
    has); when these lists would still let through an offering that cannot
    hold the pods, ``offerings`` names the ones that can.
    """
    all_slots = ctx.slots
    facts = facts or _GroupFacts.of(ctx)
    req = pattern_requests(pattern, slot)
    count = sum(k for _, k in pattern)
    place: frozenset[int] | None = None
    for it, _ in pattern:
        place = it.place_slots if place is None else place & it.place_slots
    chosen = [all_slots[i] for i in sorted(place)] if place is not None else list(all_slots)
    fitting = [s for s in _holding(pattern, chosen) if s is not slot]
    fitting.append(slot)

    def narrow(values: set[str], full: set[str]) -> list[str] | None:
        return None if values == full else sorted(values)

    arch = narrow({s.offering.arch for s in fitting}, facts.archs)
    regions = narrow({str(s.offering.region) for s in fitting}, facts.regions)
    zones_chosen = {s.offering.zone for s in fitting}
    zones: list[str] | None = None
    if None not in zones_chosen:
        zones = narrow({str(z) for z in zones_chosen}, facts.zones)
    types = narrow({str(s.offering.instance_type) for s in fitting}, facts.types)
    gpu_model = None
    if req.gpu:
        models = {s.offering.resources.gpu_model for s in fitting if s.offering.resources.gpu}
        if len(models) == 1:
            gpu_model = next(iter(models))
    pods = count + slot.ds_pods
    fit_keys = {facts.keys[s.index] for s in fitting}
    extended = NO_EXTENDED.plus(slot.ds_overhead.extended)
    for it, k in pattern:
        extended = extended.plus(it.extended, k)

    # Sets for the membership tests (the lists may name hundreds of types).
    arch_in = None if arch is None else set(arch)
    regions_in = None if regions is None else set(regions)
    zones_in = None if zones is None else set(zones)
    types_in = None if types is None else set(types)

    def admitted(s: Slot) -> bool:
        """Whether the floor and the lists let ``s``'s offering through."""
        o = s.offering
        have = o.resources
        return (
            have.cpu_millis >= req.cpu_millis
            and have.memory_mib >= req.memory_mib
            and have.gpu >= req.gpu
            and (
                req.ephemeral_storage_gib is None
                or have.ephemeral_storage_gib is None
                or have.ephemeral_storage_gib >= req.ephemeral_storage_gib
            )
            and o.max_pods >= pods
            and (gpu_model is None or have.gpu_model == gpu_model)
            and (arch_in is None or o.arch in arch_in)
            and (regions_in is None or o.region in regions_in)
            and (zones_in is None or (o.zone or "") in zones_in)
            and (types_in is None or o.instance_type in types_in)
            and (not extended or extended_of(have).covers(extended))
        )

    # Requirements carry no extended resources: a node whose pods request one names
    # its offerings, so no fallback (nor a later edit of the group) picks one without.
    keys = facts.keys
    loose = bool(extended) or any(keys[s.index] not in fit_keys and admitted(s) for s in all_slots)
    return Requirements(
        cpu=format_cpu(req.cpu_millis),
        memory=format_memory(req.memory_mib),
        ephemeralStorage=(
            f"{req.ephemeral_storage_gib}Gi" if req.ephemeral_storage_gib is not None else None
        ),
        gpu=req.gpu,
        gpuModel=gpu_model,
        pods=pods,
        arch=arch,
        locations=regions,
        zones=zones,
        instanceTypes=types,
        offerings=sorted(fit_keys) if loose else None,
    )
