"""Packing pending pods onto new nodes, Cluster-Autoscaler-expander style.

The unit of packing is an :class:`Item`: a number of identical pods (one pod
class, or several classes that pack the same way). For every slot (pool,
offering) the packer fills nodes first-fit-decreasing and turns the result
into a :class:`~growthrs_core.strategies.ScaleUpOption`; the strategy chain
picks one, its nodes are created, and the pods that offering could not take
go round again.

Filling one node greedily in decreasing size order *is* first-fit-decreasing
(an item lands in the first node with room), and once a node's content is
known, identical nodes follow for as long as every item on it has enough pods
left, so a node *pattern* is computed once and repeated: packing costs grow
with the number of items, not pods.

Node-level constraints are checked while filling: pod slots, host ports
(also against DaemonSet pods), required pod anti-affinity on the hostname
(pairs of items that may not share a node), hostname topology spread (at most
``maxSkew`` matching pods per new node) and required hostname pod affinity (an
item only joins a node that already holds a pod it must be next to).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from growthrs_core.cluster import PodInfo
from growthrs_core.domain import Resources
from growthrs_core.labels import HOSTNAME_LABEL
from growthrs_core.planner import cutting
from growthrs_core.planner.selection import PodClass
from growthrs_core.planner.slots import (
    UNLIMITED,
    Slot,
    extended_fits,
    extended_room,
    take_extended,
)
from growthrs_core.planner.topology import (
    MatcherIndex,
    PodMatcher,
    RunningPods,
    hard_spread,
    spread_matcher,
    term_matcher,
)
from growthrs_core.strategies import ScaleUpOption, Strategy, choose

EXACT_LIMIT = 12
"""Batches of at most this many pods in one pool and location are packed exactly."""
REPACK_LIMIT = 100
"""Batches of at most this many pods in one pool and location are re-packed on every
offering of the pool (then right-sized) and the cheapest packing is kept."""
EXACT_BUDGET = 10_000
"""Search steps one exact packing may take before the heuristic packing is kept."""
EXACT_PODS = 5_000
"""Plain pods of one whole round that the cutting-stock solver packs exactly (integer
program over the patterns within the gap); a bigger round gets its LP rounded."""
EXACT_SOLVES = 4
"""Exact cutting-stock solves one plan may make (each up to a few hundred ms); the
rest get their LP rounded."""
PLAN_SOLVER_WORK = 60_000
"""Knapsack search nodes all cutting-stock solves of one plan may take together (about
0.5 s); then they price greedily (see :data:`~.cutting.WORK_LIMIT`)."""
PLAN_EXACT_BUDGET = 40_000
"""Search steps all exact packings of one plan may take together (0.1-0.4 s)."""


@dataclass
class StepBudget:
    left: int = PLAN_EXACT_BUDGET


@dataclass(eq=False)
class Item:
    """Identical pods that pack the same way; ``cursor`` pods are already placed."""

    id: int
    pods: list[PodInfo]
    keys: list[str]
    classes: list[PodClass]
    cpu: int
    memory: int
    ephemeral: int
    has_ephemeral: bool
    gpu: int
    priority: int
    slots: frozenset[int]
    """Slots a pod of this item fits on (labels, taints, resources, pinned domain)."""
    place_slots: frozenset[int]
    """Slots whose labels and domain the pods accept, ignoring size (for NodeRequest requirements)."""
    pin: tuple[tuple[str, str], ...] = ()
    preference: Mapping[int, int] = field(default_factory=dict)
    conflicts: frozenset[int] = frozenset()
    max_per_node: int = UNLIMITED
    ports: frozenset[tuple[int, str]] = frozenset()
    caps: tuple[tuple[int, int, bool], ...] = ()
    """(hostname tracker, maxSkew, whether this item's own pods count)."""
    counts_into: tuple[int, ...] = ()
    needs: tuple[tuple[int, bool], ...] = ()
    """(hostname tracker that must be on the node, whether the first pod may start it)."""
    cursor: int = 0
    extended: Mapping[str, int] = field(default_factory=dict)
    """Extended resources each pod requests; checked against ``Slot.extended``."""

    @property
    def remaining(self) -> int:
        return len(self.pods) - self.cursor

    def take(self, n: int) -> list[PodInfo]:
        out = self.pods[self.cursor : self.cursor + n]
        self.cursor += n
        return out


@dataclass(frozen=True)
class Unit:
    """Pods of one class bound for one group, maybe pinned to a topology domain."""

    cls: PodClass
    pods: list[PodInfo]
    slots: frozenset[int]
    place_slots: frozenset[int]
    pin: tuple[tuple[str, str], ...] = ()
    preference: Mapping[int, int] = field(default_factory=dict)


def build_items(units: Sequence[Unit], running: RunningPods) -> list[Item]:
    """Turn units into items, merging units without node-level relations that pack alike."""
    anti: dict[int, list[PodMatcher]] = {}
    spread: dict[int, list[tuple[PodMatcher, int]]] = {}
    aff: dict[int, list[PodMatcher]] = {}
    all_matchers: list[PodMatcher] = []
    for i, u in enumerate(units):
        p = u.cls.proto
        anti[i] = [
            term_matcher(t, p.namespace, running.namespaces)
            for t in p.anti_affinity
            if t.topology_key == HOSTNAME_LABEL
        ]
        spread[i] = [
            (spread_matcher(c, p.namespace), c.max_skew)
            for c in hard_spread(p)
            if c.topology_key == HOSTNAME_LABEL
        ]
        aff[i] = [
            term_matcher(t, p.namespace, running.namespaces)
            for t in p.affinity
            if t.topology_key == HOSTNAME_LABEL
        ]
        all_matchers.extend(anti[i])
        all_matchers.extend(m for m, _ in spread[i])
        all_matchers.extend(aff[i])
    index = MatcherIndex(all_matchers)
    relational = [
        bool(anti[i] or spread[i] or aff[i] or u.cls.proto.host_ports)
        or (bool(index) and index.any(u.cls.proto))
        for i, u in enumerate(units)
    ]
    items: list[Item] = []
    merged: dict[object, Item] = {}
    item_of_unit: dict[int, Item] = {}
    for i, u in enumerate(units):
        req = u.cls.proto.requests
        if not relational[i]:
            sig = (
                req.cpu_millis,
                req.memory_mib,
                req.ephemeral_storage_gib,
                req.gpu,
                req.extended,
                u.cls.proto.priority,
                u.slots,
                u.place_slots,
                u.pin,
                tuple(sorted(u.preference.items())),
            )
            found = merged.get(sig)
            if found is not None:
                found.pods.extend(u.pods)
                found.keys.extend(p.key for p in u.pods)
                found.classes.append(u.cls)
                item_of_unit[i] = found
                continue
        item = Item(
            id=len(items),
            pods=list(u.pods),
            keys=[p.key for p in u.pods],
            classes=[u.cls],
            cpu=req.cpu_millis,
            memory=req.memory_mib,
            ephemeral=req.ephemeral_storage_gib or 0,
            has_ephemeral=req.ephemeral_storage_gib is not None,
            gpu=req.gpu,
            priority=u.cls.proto.priority,
            slots=u.slots,
            place_slots=u.place_slots,
            pin=u.pin,
            preference=u.preference,
            extended=req.extended,
        )
        items.append(item)
        item_of_unit[i] = item
        if not relational[i]:
            merged[sig] = item
    # Relations between relational items (each is exactly one unit).
    rel = [i for i in range(len(units)) if relational[i]]
    trackers: dict[PodMatcher, int] = {}
    for i in rel:
        for m, _ in spread[i]:
            trackers.setdefault(m, len(trackers))
        for m in aff[i]:
            trackers.setdefault(m, len(trackers))
    # Who selects whom: each matcher is tried only on the units that carry one of
    # its labels (all pairs would be quadratic in the units).
    by_pair: dict[tuple[str, str], list[int]] = {}
    for j in rel:
        for pair in units[j].cls.proto.labels.items():
            by_pair.setdefault(pair, []).append(j)

    def selected(m: PodMatcher) -> list[int]:
        pool = by_pair.get(m.selector.match_labels[0], []) if m.selector.match_labels else rel
        return [j for j in pool if m.matches_pod(units[j].cls.proto)]

    clashes: dict[int, set[int]] = {i: set() for i in rel}
    for i in rel:
        for m in anti[i]:
            for j in selected(m):
                clashes[i].add(j)
                clashes[j].add(i)
    by_port: dict[tuple[int, str], list[int]] = {}
    for i in rel:
        for port, proto_, _ in units[i].cls.proto.host_ports:
            by_port.setdefault((port, proto_), []).append(i)
    for sharing in by_port.values():
        for i in sharing:
            clashes[i].update(sharing)
    for i in rel:
        item = item_of_unit[i]
        proto = units[i].cls.proto
        ports = frozenset((port, proto_) for port, proto_, _ in proto.host_ports)
        self_conflict = bool(ports) or i in clashes[i]
        conflicts = {item_of_unit[j].id for j in clashes[i] if j != i}
        counts_into = tuple(t for m, t in trackers.items() if m.matches_pod(proto))
        caps = tuple((trackers[m], skew, trackers[m] in counts_into) for m, skew in spread[i])
        needs = []
        for m in aff[i]:
            others = any(j != i for j in selected(m))
            first_ok = m.matches_pod(proto) and not others and not running.any(m)
            needs.append((trackers[m], first_ok))
        item.conflicts = frozenset(conflicts)
        item.max_per_node = 1 if self_conflict else UNLIMITED
        item.ports = ports
        item.caps = caps
        item.counts_into = counts_into
        item.needs = tuple(needs)
    return items


# -- filling nodes ------------------------------------------------------------------

Pattern = tuple[tuple[Item, int], ...]


@dataclass
class Packing:
    """Nodes of one slot: (pattern, how many identical nodes)."""

    blocks: list[tuple[Pattern, int]]
    placed: dict[int, int]

    @property
    def node_count(self) -> int:
        return sum(n for _, n in self.blocks)


def _size_key(item: Item, slot: Slot) -> float:
    share = max(
        item.cpu / slot.cpu if slot.cpu > 0 else 0.0,
        item.memory / slot.memory if slot.memory > 0 else 0.0,
        item.gpu / slot.gpu if slot.gpu > 0 else 0.0,
        1.0 / slot.pods if slot.pods > 0 else 0.0,
    )
    return share


def fill_node(
    order: Sequence[Item],
    remaining: Mapping[int, int],
    slot: Slot,
    started: set[int],
    base: Pattern = (),
    least: tuple[list[int], list[int]] | None = None,
) -> tuple[Pattern, bool]:
    """Greedy fill of one node of ``slot`` that already holds ``base``; returns what to
    add and whether an affinity "first pod" exception was used (such a node is not
    repeated). ``least``: :func:`least_from` of ``order``, when the caller keeps it."""
    cpu, mem, eph, gpu, slots_left = slot.cpu, slot.memory, slot.ephemeral, slot.gpu, slot.pods
    ports: set[tuple[int, str]] = set(slot.ds_ports)
    ext = dict(slot.extended)
    on_node: dict[int, int] = {}
    tc: dict[int, int] = {}
    for it, k in base:
        if it.extended:
            take_extended(ext, it.extended, k)
        cpu -= k * it.cpu
        mem -= k * it.memory
        eph -= k * it.ephemeral
        gpu -= k * it.gpu
        slots_left -= k
        on_node[it.id] = on_node.get(it.id, 0) + k
        ports |= it.ports
        for t in it.counts_into:
            tc[t] = tc.get(t, 0) + k
    pattern: list[tuple[Item, int]] = []
    used_exception = False
    todo = order if isinstance(order, list) else list(order)
    # Pods that must join others (required hostname affinity) wait until a pass has
    # put what they follow on the node: a chain A -> B -> C fills in as many passes.
    while todo:
        waiting: list[Item] = []
        added = False
        # The least CPU and memory any item from here on asks for: once the node has
        # less left, nothing further fits (a full node stops early).
        if least is not None and todo is order:
            least_cpu, least_mem = least
        else:
            least_cpu, least_mem = least_from(todo)
        for idx, it in enumerate(todo):
            if slots_left <= 0 or cpu < least_cpu[idx] or mem < least_mem[idx]:
                break
            n = remaining[it.id]
            if n <= 0:
                continue
            if it.cpu > cpu or it.memory > mem or it.ephemeral > eph or it.gpu > gpu:
                continue
            k = min(n, slots_left, it.max_per_node - on_node.get(it.id, 0))
            if it.cpu:
                k = min(k, cpu // it.cpu)
            if it.memory:
                k = min(k, mem // it.memory)
            if it.ephemeral:
                k = min(k, eph // it.ephemeral)
            if it.gpu:
                k = min(k, gpu // it.gpu)
            if it.extended:
                k = min(k, extended_room(ext, it.extended))
            if k <= 0:
                continue
            if it.conflicts and not it.conflicts.isdisjoint(on_node):
                continue
            if it.ports and (it.id in on_node or not ports.isdisjoint(it.ports)):
                continue
            for t, skew, own in it.caps:
                have = tc.get(t, 0)
                k = min(k, skew - have) if own else (k if have <= skew else 0)
            if k <= 0:
                continue
            exception = False
            blocked = False
            for t, first_ok in it.needs:
                if tc.get(t, 0) == 0:
                    if first_ok and t not in started:
                        exception = True
                    else:
                        blocked = True
                        break
            if blocked:
                waiting.append(it)
                continue
            used_exception = used_exception or exception
            added = True
            pattern.append((it, k))
            cpu -= k * it.cpu
            mem -= k * it.memory
            eph -= k * it.ephemeral
            gpu -= k * it.gpu
            slots_left -= k
            if it.extended:
                take_extended(ext, it.extended, k)
            on_node[it.id] = on_node.get(it.id, 0) + k
            ports |= it.ports
            for t in it.counts_into:
                tc[t] = tc.get(t, 0) + k
        todo = waiting if added else []
    return tuple(pattern), used_exception


def least_from(order: Sequence[Item]) -> tuple[list[int], list[int]]:
    """The least CPU and memory of the items from each position of ``order`` on."""
    n = len(order)
    least_cpu = [UNLIMITED] * (n + 1)
    least_mem = [UNLIMITED] * (n + 1)
    cpu = mem = UNLIMITED
    for idx in range(n - 1, -1, -1):
        it = order[idx]
        if it.cpu < cpu:
            cpu = it.cpu
        if it.memory < mem:
            mem = it.memory
        least_cpu[idx] = cpu
        least_mem[idx] = mem
    return least_cpu, least_mem


def order_for(items: Sequence[Item], slot: Slot) -> list[Item]:
    """Priority first, pods that must join others last, then decreasing size."""
    return sorted(items, key=lambda it: (-it.priority, bool(it.needs), -_size_key(it, slot), it.id))


def pack(
    items: Sequence[Item],
    slot: Slot,
    max_nodes: int,
    started: set[int],
    counts: Mapping[int, int] | None = None,
) -> Packing:
    """First-fit-decreasing of ``items`` (all of which fit ``slot``) onto nodes of ``slot``;
    ``counts`` overrides how many pods of each item to pack (default: those left)."""
    order = order_for(items, slot)
    start = {it.id: (counts[it.id] if counts is not None else it.remaining) for it in items}
    remaining = dict(start)
    local_started = set(started)
    blocks: list[tuple[Pattern, int]] = []
    nodes = 0
    least = least_from(order)
    while order and nodes < max_nodes:
        pattern, exception = fill_node(order, remaining, slot, local_started, (), least)
        if not pattern:
            break
        repeat = 1 if exception else min(remaining[it.id] // k for it, k in pattern)
        repeat = max(1, min(repeat, max_nodes - nodes))
        for it, k in pattern:
            remaining[it.id] -= k * repeat
            local_started.update(it.counts_into)
        blocks.append((pattern, repeat))
        nodes += repeat
        kept = [it for it in order if remaining[it.id] > 0]
        if len(kept) < len(order):
            order, least = kept, least_from(kept)
    placed = {it.id: start[it.id] - remaining[it.id] for it in items}
    return Packing(blocks=blocks, placed={k: v for k, v in placed.items() if v})


def pattern_requests(pattern: Pattern, slot: Slot, *, overhead: bool = True) -> Resources:
    """What one node of ``pattern`` requests, with or without its DaemonSet pods."""
    ds = slot.ds_overhead if overhead else Resources(cpu_millis=0, memory_mib=0)
    cpu = ds.cpu_millis + sum(it.cpu * k for it, k in pattern)
    mem = ds.memory_mib + sum(it.memory * k for it, k in pattern)
    gpu = ds.gpu + sum(it.gpu * k for it, k in pattern)
    has_eph = ds.ephemeral_storage_gib is not None or any(it.has_ephemeral for it, _ in pattern)
    eph = (ds.ephemeral_storage_gib or 0) + sum(it.ephemeral * k for it, k in pattern)
    return Resources(
        cpu_millis=cpu, memory_mib=mem, ephemeral_storage_gib=eph if has_eph else None, gpu=gpu
    )


def fits_pattern(pattern: Pattern, slot: Slot) -> bool:
    """Whether one node of ``slot`` can hold ``pattern`` (all constraints but order)."""
    index = slot.index
    cpu = mem = eph = gpu = count = 0
    for it, k in pattern:
        if index not in it.slots:
            return False
        cpu += it.cpu * k
        mem += it.memory * k
        eph += it.ephemeral * k
        gpu += it.gpu * k
        count += k
    if cpu > slot.cpu or mem > slot.memory or eph > slot.ephemeral or gpu > slot.gpu:
        return False
    if count > slot.pods or not extended_fits(pattern, slot):
        return False
    return not slot.ds_ports or all(slot.ds_ports.isdisjoint(it.ports) for it, _ in pattern)


class PreferenceStrategy:
    """Last link of the chain: preferred node affinity breaks the remaining ties."""

    def __init__(self, scores: Mapping[int, int]) -> None:
        self.scores = scores

    def best_options(self, options: Sequence[ScaleUpOption]) -> list[ScaleUpOption]:
        best = max(self.scores.get(id(o), 0) for o in options)
        return [o for o in options if self.scores.get(id(o), 0) == best]


def preference_score(
    pattern_or_placed: Mapping[int, int], items: Mapping[int, Item], slot: Slot
) -> int:
    return sum(items[i].preference.get(slot.index, 0) * n for i, n in pattern_or_placed.items())


def choose_with_preference(
    options: Sequence[ScaleUpOption], chain: Sequence[Strategy], scores: Mapping[int, int]
) -> ScaleUpOption | None:
    if any(scores.values()):
        return choose(options, [*chain, PreferenceStrategy(scores)])
    return choose(options, chain)


# -- exact packing for small batches -----------------------------------------------------


class _Budget(Exception):
    pass


@dataclass
class _Bin:
    counts: dict[int, int]
    cpu: int = 0
    memory: int = 0
    ephemeral: int = 0
    gpu: int = 0
    pods: int = 0
    fitting: list[Slot] = field(default_factory=list)
    cost: float = 0.0


def exact_pack(
    items: Sequence[tuple[Item, int]],
    slots: Sequence[Slot],
    incumbent: tuple[float, int],
    budget: StepBudget | None = None,
) -> list[tuple[Slot, Pattern]] | None:
    """Cheapest (then fewest nodes) packing of ``items`` onto ``slots``, by branch and
    bound over pods in decreasing size. Returns None when it cannot beat ``incumbent``
    (cost, nodes) within ``budget`` steps. Items with hostname spread or affinity are
    not handled here."""
    budget = budget if budget is not None else StepBudget()
    limit = min(EXACT_BUDGET, budget.left)
    if not slots or limit <= 0:
        return None
    pods: list[Item] = []
    for it, n in sorted(items, key=lambda x: (-max(x[0].cpu, 1) * max(x[0].memory, 1), x[0].id)):
        pods.extend([it] * n)
    total = len(pods)
    max_cpu = max(s.cpu for s in slots)
    max_mem = max(s.memory for s in slots)
    price_cpu = min((s.offering.cost_per_hour / s.cpu for s in slots if s.cpu > 0), default=0.0)
    price_mem = min(
        (s.offering.cost_per_hour / s.memory for s in slots if s.memory > 0), default=0.0
    )
    rest_cpu = [0] * (total + 1)
    rest_mem = [0] * (total + 1)
    for i in range(total - 1, -1, -1):
        rest_cpu[i] = rest_cpu[i + 1] + pods[i].cpu
        rest_mem[i] = rest_mem[i + 1] + pods[i].memory
    best_cost, best_nodes = incumbent
    best: list[tuple[Slot, dict[int, int]]] | None = None
    bins: list[_Bin] = []
    steps = 0
    by_id = {it.id: it for it, _ in items}
    eps = 1e-9

    def fits(slot: Slot, b: _Bin, it: Item) -> bool:
        return (
            slot.index in it.slots
            and b.cpu + it.cpu <= slot.cpu
            and b.memory + it.memory <= slot.memory
            and b.ephemeral + it.ephemeral <= slot.ephemeral
            and b.gpu + it.gpu <= slot.gpu
            and b.pods + 1 <= slot.pods
            and slot.ds_ports.isdisjoint(it.ports)
        )

    def compatible(b: _Bin, it: Item) -> bool:
        if b.counts.get(it.id, 0) + 1 > it.max_per_node:
            return False
        if it.conflicts and any(o in it.conflicts for o in b.counts):
            return False
        if it.ports:
            for o in b.counts:
                if o != it.id and not by_id[o].ports.isdisjoint(it.ports):
                    return False
        return True

    def rec(i: int, cost: float, last_bin: int) -> None:
        nonlocal steps, best, best_cost, best_nodes
        steps += 1
        if steps > limit:
            raise _Budget
        if i == total:
            if cost < best_cost - eps or (abs(cost - best_cost) <= eps and len(bins) < best_nodes):
                best_cost, best_nodes = cost, len(bins)
                best = [(min(b.fitting, key=_slot_order), dict(b.counts)) for b in bins]
            return
        slack_cpu = sum(max_cpu - b.cpu for b in bins)
        slack_mem = sum(max_mem - b.memory for b in bins)
        bound = cost + max(
            max(0, rest_cpu[i] - slack_cpu) * price_cpu,
            max(0, rest_mem[i] - slack_mem) * price_mem,
        )
        if bound > best_cost + eps or (bound >= best_cost - eps and len(bins) >= best_nodes):
            return
        it = pods[i]
        same_as_prev = i > 0 and pods[i - 1] is it
        start = last_bin if same_as_prev else 0
        for bi in range(start, len(bins)):
            b = bins[bi]
            if not compatible(b, it):
                continue
            fitting = [s for s in b.fitting if fits(s, b, it)]
            if not fitting:
                continue
            old_fit, old_cost = b.fitting, b.cost
            new_cost = min(s.offering.cost_per_hour for s in fitting)
            b.fitting, b.cost = fitting, new_cost
            b.counts[it.id] = b.counts.get(it.id, 0) + 1
            b.cpu += it.cpu
            b.memory += it.memory
            b.ephemeral += it.ephemeral
            b.gpu += it.gpu
            b.pods += 1
            rec(i + 1, cost - old_cost + new_cost, bi)
            b.counts[it.id] -= 1
            if not b.counts[it.id]:
                del b.counts[it.id]
            b.cpu -= it.cpu
            b.memory -= it.memory
            b.ephemeral -= it.ephemeral
            b.gpu -= it.gpu
            b.pods -= 1
            b.fitting, b.cost = old_fit, old_cost
        empty = _Bin(counts={})
        fitting = [s for s in slots if fits(s, empty, it)]
        if fitting:
            nb = _Bin(
                counts={it.id: 1},
                cpu=it.cpu,
                memory=it.memory,
                ephemeral=it.ephemeral,
                gpu=it.gpu,
                pods=1,
                fitting=fitting,
                cost=min(s.offering.cost_per_hour for s in fitting),
            )
            bins.append(nb)
            rec(i + 1, cost + nb.cost, len(bins) - 1)
            bins.pop()

    with contextlib.suppress(_Budget):
        rec(0, 0.0, 0)
    budget.left -= steps
    if best is None:
        return None
    return [
        (slot, tuple((by_id[i], n) for i, n in sorted(counts.items()))) for slot, counts in best
    ]


def _slot_order(slot: Slot) -> tuple[float, int, int, int]:
    # Cheapest first; on a tie the bigger node (more headroom), then a stable order.
    return (slot.offering.cost_per_hour, -slot.cpu, -slot.memory, slot.index)


def exact_supported(items: Sequence[Item]) -> bool:
    return not any(it.caps or it.needs or it.extended for it in items)


def cheapest_slot(pattern: Pattern, slots: Sequence[Slot]) -> Slot | None:
    fitting = [s for s in slots if fits_pattern(pattern, s)]
    return min(fitting, key=_slot_order) if fitting else None


def by_price(slots: Sequence[Slot]) -> list[Slot]:
    """``slots`` cheapest first, as :func:`first_fitting` wants them."""
    return sorted(slots, key=_slot_order)


def first_fitting(pattern: Pattern, ordered: Sequence[Slot]) -> Slot | None:
    """:func:`cheapest_slot` over slots already in :func:`by_price` order: stops at the
    first that holds the pattern instead of trying them all."""
    return next((s for s in ordered if fits_pattern(pattern, s)), None)


def sized_cost(blocks: Sequence[tuple[Slot, Pattern, int]]) -> tuple[float, int]:
    """(hourly cost, node count) of a packing: what re-packing minimises, in that order."""
    return (
        sum(s.offering.cost_per_hour * n for s, _, n in blocks),
        sum(n for _, _, n in blocks),
    )


def pack_by_value(
    items: Sequence[tuple[Item, int]], slots: Sequence[Slot], *, anchored: bool = True
) -> list[tuple[Slot, Pattern, int]] | None:
    """Greedy over offerings of different sizes and prices: each next node is the
    fill, on whichever slot, that buys the most pod value per euro.

    A pod's value is the cheapest fractional price any slot asks for its share
    of a node. ``anchored``: every node is opened for the most valuable pod left
    (as first-fit-decreasing does), so big pods do not end up alone on big nodes
    after the small ones took the cheap offerings. First-fit on one offering
    cannot mix offerings; when prices are not proportional to size, mixing them
    is where the savings are.
    """
    counts = {it.id: n for it, n in items}
    members = [it for it, _ in items]
    usable = [s for s in slots if s.usable and s.offering.cost_per_hour > 0]
    fair: dict[int, float] = {}
    for it in members:
        shares = [(s, _size_key(it, s)) for s in usable if s.index in it.slots]
        prices = [s.offering.cost_per_hour * share for s, share in shares if share > 0]
        if not prices:
            return None
        fair[it.id] = min(prices)
    by_value = sorted(members, key=lambda it: (-fair[it.id], it.id))
    orders = {s.index: [it for it in order_for(members, s) if s.index in it.slots] for s in usable}
    remaining = dict(counts)
    started: set[int] = set()
    out: list[tuple[Slot, Pattern, int]] = []
    while any(remaining.values()):
        anchor = next(it for it in by_value if remaining[it.id] > 0) if anchored else None
        best: tuple[float, float, int] | None = None
        choice: tuple[Slot, Pattern, bool] | None = None
        for slot in usable:
            order = [it for it in orders[slot.index] if remaining[it.id] > 0]
            if anchor is not None:
                if slot.index not in anchor.slots:
                    continue
                order = [anchor, *(it for it in order if it is not anchor)]
            if not order:
                continue
            pattern, exception = fill_node(order, remaining, slot, started)
            if not pattern or (anchor is not None and pattern[0][0] is not anchor):
                continue
            value = sum(fair[it.id] * k for it, k in pattern)
            key = (value / slot.offering.cost_per_hour, -slot.offering.cost_per_hour, -slot.index)
            if best is None or key > best:
                best, choice = key, (slot, pattern, exception)
        if choice is None:
            return None
        slot, pattern, exception = choice
        repeat = 1 if exception else max(1, min(remaining[it.id] // k for it, k in pattern))
        for it, k in pattern:
            remaining[it.id] -= k * repeat
            started.update(it.counts_into)
        out.append((cheapest_slot(pattern, slots) or slot, pattern, repeat))
    return out


def repack_cheapest(
    items: Sequence[tuple[Item, int]],
    slots: Sequence[Slot],
    incumbent: tuple[float, int],
) -> list[tuple[Slot, Pattern, int]] | None:
    """Pack ``items`` first-fit-decreasing on each of ``slots`` in turn, give every
    resulting node the cheapest slot that holds it, also pack them by value across
    all slots (:func:`pack_by_value`), and return the cheapest of these packings
    if it beats ``incumbent`` (cost, nodes)."""
    counts = {it.id: n for it, n in items}
    members = [it for it, _ in items]
    best = incumbent
    found: list[tuple[Slot, Pattern, int]] | None = None
    candidates: list[list[tuple[Slot, Pattern, int]]] = []
    for slot in slots:
        if not all(slot.index in it.slots for it in members):
            continue
        packing = pack(members, slot, UNLIMITED, set(), counts)
        if sum(packing.placed.values()) != sum(counts.values()):
            continue
        candidates.append(
            [(cheapest_slot(pattern, slots) or slot, pattern, n) for pattern, n in packing.blocks]
        )
    for anchored in (True, False):
        by_value = pack_by_value(items, slots, anchored=anchored)
        if by_value is not None:
            candidates.append(by_value)
    for sized in candidates:
        cost = sized_cost(sized)
        if cost[0] < best[0] - 1e-9 or (abs(cost[0] - best[0]) <= 1e-9 and cost[1] < best[1]):
            best, found = cost, sized
    return found


# -- the cheapest whole packing ------------------------------------------------------------

LADDER = 12
"""Candidate node shapes a whole packing tries at most (then refines around the best)."""
SOLVER_PIECES = 16
"""Classes of plain pods the cutting-stock solver takes at most (its knapsacks grow
with them); a round with more is packed by :func:`pack_whole`."""
SOLVER_KINDS = 24
"""Undominated slots the cutting-stock solver considers at most (spread by price)."""


def plain(it: Item) -> bool:
    """Pods without node-level relations (anti-affinity, spread or affinity on the
    hostname, host ports) and without extended resources (the solver's dimensions are
    CPU, memory, ephemeral storage, GPUs and pod slots): the cutting-stock solver
    packs these."""
    return not (
        it.conflicts
        or it.max_per_node < UNLIMITED
        or it.ports
        or it.caps
        or it.needs
        or it.extended
    )


def slot_shape(slot: Slot) -> tuple[object, ...]:
    return (
        slot.cpu,
        slot.memory,
        slot.ephemeral,
        slot.gpu,
        slot.pods,
        slot.ds_ports,
        slot.extended,
    )


def _signature(
    slot: Slot, sets: Sequence[frozenset[int]], prefs: Sequence[Item]
) -> tuple[object, ...]:
    """What decides whether two slots are interchangeable for ``items`` but for size and
    price: pool, availability, which items may use it, and their preferences there."""
    return (
        slot.pool_index,
        slot.unavailable,
        tuple(slot.index in s for s in sets),
        tuple(it.preference.get(slot.index, 0) for it in prefs),
    )


def undominated_slots(slots: Sequence[Slot], items: Sequence[Item]) -> list[Slot]:
    """The slots no other slot beats for ``items``: a slot of the same pool and
    availability that the same items may use, with at least their preference there,
    no dearer, at least as big in every dimension (extended resources included) and
    with no more host ports taken never has to be used. Of identical ones the first
    in order is kept."""
    sets = sorted({it.slots for it in items}, key=lambda s: (len(s), sorted(s)))
    prefs = [it for it in items if it.preference]
    groups: dict[tuple[object, ...], list[Slot]] = {}
    for slot in slots:
        groups.setdefault(_signature(slot, sets, prefs), []).append(slot)
    keep: set[int] = set()
    for members in groups.values():
        frontier: list[Slot] = []
        most = [-1, -1, -1, -1, -1]  # the frontier's largest of each dimension
        for slot in sorted(members, key=_slot_order):
            size = (slot.cpu, slot.memory, slot.ephemeral, slot.gpu, slot.pods)
            if any(s > m for s, m in zip(size, most, strict=True)):
                pass  # bigger than anything cheaper in some dimension: never dominated
            elif any(
                f.cpu >= slot.cpu
                and f.memory >= slot.memory
                and f.ephemeral >= slot.ephemeral
                and f.gpu >= slot.gpu
                and f.pods >= slot.pods
                and f.ds_ports <= slot.ds_ports
                and f.extended.covers(slot.extended)
                for f in frontier
            ):
                continue
            frontier.append(slot)
            most = [max(m, s) for m, s in zip(most, size, strict=True)]
            keep.add(slot.index)
    return [s for s in slots if s.index in keep]


def _ladder(count: int) -> list[int]:
    """Up to :data:`LADDER` positions of ``count``, spread geometrically (small ones close)."""
    if count <= LADDER:
        return list(range(count))
    picks = {round((count - 1) ** (k / (LADDER - 1))) for k in range(LADDER)}
    picks.update({0, count - 1})
    return sorted(picks)


Sized = list[tuple[Slot, Pattern, int]]


class Sizer:
    """The cheapest slot of a pool and location (among ``slots``) that holds a node's
    pods: nodes packed on one slot move to it (right-sizing), remembered per pattern."""

    def __init__(self, slots: Sequence[Slot]) -> None:
        self.by_place: dict[tuple[int, tuple[str, str]], list[Slot]] = {}
        for slot in sorted(slots, key=_slot_order):
            self.by_place.setdefault((slot.pool_index, slot.location), []).append(slot)
        self.memo: dict[tuple[int, tuple[str, str], tuple[tuple[int, int], ...]], Slot] = {}

    def __call__(self, slot: Slot, pattern: Pattern) -> Slot:
        place = (slot.pool_index, slot.location)
        key = (place[0], place[1], tuple((it.id, k) for it, k in pattern))
        found = self.memo.get(key)
        if found is None:
            found = slot
            best: tuple[float, int] | None = None
            cpu = mem = eph = gpu = count = 0
            ports: set[tuple[int, str]] = set()
            extended: dict[str, int] = {}
            liked = False
            for it, k in pattern:
                if it.extended:
                    take_extended(extended, it.extended, -k)
                cpu += it.cpu * k
                mem += it.memory * k
                eph += it.ephemeral * k
                gpu += it.gpu * k
                count += k
                ports |= it.ports
                liked = liked or bool(it.preference)
            for other in self.by_place.get(place, ()):
                price = other.offering.cost_per_hour
                if price > slot.offering.cost_per_hour or (best is not None and price > best[0]):
                    break
                if (
                    cpu > other.cpu
                    or mem > other.memory
                    or eph > other.ephemeral
                    or gpu > other.gpu
                    or count > other.pods
                    or not other.ds_ports.isdisjoint(ports)
                    or any(other.index not in it.slots for it, _ in pattern)
                    or (extended and not other.extended.covers(extended))
                ):
                    continue
                # Of the cheapest that hold it, the one the pods prefer most.
                score = (
                    sum(it.preference.get(other.index, 0) * k for it, k in pattern) if liked else 0
                )
                if best is None or score > best[1]:
                    found, best = other, (price, score)
                if not liked:
                    break
            self.memo[key] = found
        return found


def pack_whole(
    items: Sequence[Item],
    slots: Sequence[Slot],
    rooms: Mapping[int, int],
    started: set[int],
) -> Sized | None:
    """The cheapest packing of ``items`` this heuristic finds on ``slots``: for each
    candidate slot, first-fit-decreasing onto its nodes with every node then moved
    to the cheapest slot of its pool and location that holds it, and the pods it
    cannot take on the best other slot for them; the packing that places the most
    pods wins, then the cheapest, then the one with fewer nodes.

    Candidates are the undominated slots, one per shape; with many shapes a
    geometric ladder of them (by price) and then the shapes between the best rung
    and its neighbours, halving the interval (costs rarely have many local minima
    along a line of sizes). ``rooms``: pool → nodes it may still add."""
    sizer = Sizer(slots)
    pool = undominated_slots(slots, items)
    seen: dict[tuple[object, ...], Slot] = {}
    sets = sorted({it.slots for it in items}, key=lambda s: (len(s), sorted(s)))
    prefs = [it for it in items if it.preference]
    for slot in sorted(pool, key=_slot_order):
        key = (slot_shape(slot), _signature(slot, sets, prefs))
        seen.setdefault(key, slot)
    shapes = sorted(seen.values(), key=_slot_order)
    if not shapes:
        return None
    results: dict[int, tuple[tuple[int, float, int, int, int], Sized]] = {}

    rungs = _ladder(len(shapes))
    packed: dict[tuple[object, ...], tuple[Sized, dict[int, int]]] = {}
    needs = any(it.needs for it in items)

    def ffd(
        slot: Slot, counts: Mapping[int, int], used: Mapping[int, int], begun: set[int]
    ) -> tuple[Sized, dict[int, int]]:
        """First-fit-decreasing of ``counts`` pods (item id → pods) on ``slot``, right-sized."""
        feasible = [it for it in items if slot.index in it.slots and counts.get(it.id, 0) > 0]
        room = rooms.get(slot.pool_index, UNLIMITED) - used.get(slot.pool_index, 0)
        if not feasible or room <= 0:
            return [], {}
        # Completions pack the same leftovers on the same slots again: remember them.
        room = min(room, sum(counts[it.id] for it in feasible))
        key = (
            slot.index,
            tuple((it.id, counts[it.id]) for it in feasible),
            room,
            frozenset(begun) if needs else None,
        )
        found = packed.get(key)
        if found is None:
            packing = pack(feasible, slot, room, begun, counts)
            found = packed[key] = (
                [(sizer(slot, pattern), pattern, n) for pattern, n in packing.blocks],
                packing.placed,
            )
        return found

    def rest_of(counts: Mapping[int, int], placed: Mapping[int, int]) -> dict[int, int]:
        return {i: n - placed.get(i, 0) for i, n in counts.items() if n > placed.get(i, 0)}

    def evaluate(pos: int) -> tuple[int, float, int, int, int]:
        if pos in results:
            return results[pos][0]
        slot = shapes[pos]
        counts = {it.id: it.remaining for it in items if it.remaining > 0}
        sized, placed = ffd(slot, counts, {}, started)
        left = rest_of(counts, placed)
        # Completing costs at least nothing: not worth it once dearer than a packing
        # that places everything.
        if left and sized_cost(sized)[0] < ceiling[0]:
            # Pods this shape cannot take (too big, or a limit): the cheapest other
            # shape for them completes the packing, so that a small shape for most
            # pods can beat a big one for all.
            used: dict[int, int] = {}
            for target, _, n in sized:
                used[target.pool_index] = used.get(target.pool_index, 0) + n
            begun = set(started)
            for _, pattern, _ in sized:
                for it, _ in pattern:
                    begun.update(it.counts_into)
            extra: tuple[tuple[int, float, int], Sized, dict[int, int]] | None = None
            for other in (shapes[q] for q in rungs):
                if other is slot:
                    continue
                more, got = ffd(other, left, used, begun)
                if not got:
                    continue
                cost, nodes = sized_cost(more)
                key2 = (-sum(got.values()), round(cost, 9), nodes)
                if extra is None or key2 < extra[0]:
                    extra = (key2, more, got)
            if extra is not None:
                sized = sized + extra[1]
                left = rest_of(left, extra[2])
        cost, nodes = sized_cost(sized)
        liked = sum(
            it.preference.get(target.index, 0) * k * n
            for target, pattern, n in sized
            for it, k in pattern
            if it.preference
        )
        unplaced = sum(left.values())
        key = (unplaced, round(cost, 9), nodes, -liked, pos)
        results[pos] = (key, sized)
        if not unplaced:
            ceiling[0] = min(ceiling[0], cost)
        return key

    ceiling = [float("inf")]
    for pos in reversed(rungs):  # big shapes first: they usually place everything
        evaluate(pos)
    best = min(results, key=lambda p: results[p][0])
    at = rungs.index(best)
    lo = rungs[at - 1] if at > 0 else best
    hi = rungs[at + 1] if at + 1 < len(rungs) else best
    # Bracketing search between the best rung's neighbours.
    while hi - lo > 2:
        probe = (lo + best) // 2 if best - lo > hi - best else (best + hi + 1) // 2
        if probe in (lo, best, hi):
            break
        if evaluate(probe) < results[best][0]:
            lo, hi = (lo, best) if probe < best else (best, hi)
            best = probe
        elif probe < best:
            lo = probe
        else:
            hi = probe
    for pos in range(lo, hi + 1):
        evaluate(pos)
    best = min(results, key=lambda p: results[p][0])
    return results[best][1]


def solve_plain(
    items: Sequence[Item],
    slots: Sequence[Slot],
    rooms: Mapping[int, int],
    total_room: int,
    *,
    exact: bool,
    work: list[int] | None = None,
) -> Sized | None:
    """The cheapest packing of plain ``items`` on ``slots`` by the cutting-stock solver
    (:mod:`.cutting`), then the fewest nodes: None without HiGHS. Pods a node limit
    leaves out stay in their items. ``rooms``: pool → nodes it may still add;
    ``total_room``: the group's."""
    kinds = undominated_slots([s for s in slots if s.usable], items)
    if not kinds or not cutting.available():
        return None
    if len(kinds) > SOLVER_KINDS:
        # Many sizes (a provider with hundreds of types): a ladder of them by price.
        ordered = sorted(kinds, key=_slot_order)
        picks = {round(i * (len(ordered) - 1) / (SOLVER_KINDS - 1)) for i in range(SOLVER_KINDS)}
        kinds = [ordered[i] for i in sorted(picks)]
    demand = [it.remaining for it in items]
    totals = [
        sum(getattr(it, dim) * n for it, n in zip(items, demand, strict=True))
        for dim in ("cpu", "memory", "ephemeral", "gpu")
    ]
    totals.append(sum(demand))
    pieces = [
        cutting.Piece(
            (it.cpu, it.memory, it.ephemeral, it.gpu, 1),
            n,
            frozenset(k for k, s in enumerate(kinds) if s.index in it.slots),
            {k: it.preference[s.index] for k, s in enumerate(kinds) if s.index in it.preference},
        )
        for it, n in zip(items, demand, strict=True)
    ]
    # A node never needs more of a dimension than all the pods ask for: the cap keeps
    # "unlimited" ephemeral storage a sane number for the solver.
    kinds_c = [
        cutting.Kind(
            s.offering.cost_per_hour,
            tuple(
                min(c, t)
                for c, t in zip((s.cpu, s.memory, s.ephemeral, s.gpu, s.pods), totals, strict=True)
            ),
            s.pool_index,
        )
        for s in kinds
    ]
    sol = cutting.solve(
        pieces,
        kinds_c,
        {s.pool_index: rooms.get(s.pool_index, UNLIMITED) for s in kinds},
        total_room,
        exact=exact,
        work=work,
    )
    if sol is None:
        return None
    return [
        (kinds[k], tuple((items[i], c) for i, c in enumerate(counts) if c), n)
        for k, counts, n in sol.bins
    ]
