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
    for i in rel:
        item = item_of_unit[i]
        proto = units[i].cls.proto
        ports = frozenset((port, proto_) for port, proto_, _ in proto.host_ports)
        conflicts: set[int] = set()
        self_conflict = bool(ports)
        for j in rel:
            other = units[j].cls.proto
            clash = any(m.matches_pod(other) for m in anti[i]) or any(
                m.matches_pod(proto) for m in anti[j]
            )
            if not clash and ports:
                clash = bool(ports & {(a, b) for a, b, _ in other.host_ports})
            if clash:
                if i == j:
                    self_conflict = True
                else:
                    conflicts.add(item_of_unit[j].id)
        counts_into = tuple(t for m, t in trackers.items() if m.matches_pod(proto))
        caps = tuple((trackers[m], skew, trackers[m] in counts_into) for m, skew in spread[i])
        needs = []
        for m in aff[i]:
            others = any(m.matches_pod(units[j].cls.proto) for j in rel if j != i)
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
) -> tuple[Pattern, bool]:
    """Greedy fill of one node of ``slot`` that already holds ``base``; returns what to
    add and whether an affinity "first pod" exception was used (such a node is not
    repeated)."""
    cpu, mem, eph, gpu, slots_left = slot.cpu, slot.memory, slot.ephemeral, slot.gpu, slot.pods
    ports: set[tuple[int, str]] = set(slot.ds_ports)
    ext = dict(slot.extended)
    on_node: dict[int, int] = {}
    tc: dict[int, int] = {}
    for it, k in base:
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
    todo = list(order)
    # Pods that must join others (required hostname affinity) wait until a pass has
    # put what they follow on the node: a chain A -> B -> C fills in as many passes.
    while todo:
        waiting: list[Item] = []
        added = False
        for it in todo:
            n = remaining[it.id]
            if n <= 0 or slots_left <= 0:
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
            take_extended(ext, it.extended, k)
            on_node[it.id] = on_node.get(it.id, 0) + k
            ports |= it.ports
            for t in it.counts_into:
                tc[t] = tc.get(t, 0) + k
        todo = waiting if added else []
    return tuple(pattern), used_exception


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
    while order and nodes < max_nodes:
        pattern, exception = fill_node(order, remaining, slot, local_started)
        if not pattern:
            break
        repeat = 1 if exception else min(remaining[it.id] // k for it, k in pattern)
        repeat = max(1, min(repeat, max_nodes - nodes))
        for it, k in pattern:
            remaining[it.id] -= k * repeat
            local_started.update(it.counts_into)
        blocks.append((pattern, repeat))
        nodes += repeat
        order = [it for it in order if remaining[it.id] > 0]
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
    if not all(slot.index in it.slots for it, _ in pattern):
        return False
    cpu = sum(it.cpu * k for it, k in pattern)
    mem = sum(it.memory * k for it, k in pattern)
    eph = sum(it.ephemeral * k for it, k in pattern)
    gpu = sum(it.gpu * k for it, k in pattern)
    count = sum(k for _, k in pattern)
    if cpu > slot.cpu or mem > slot.memory or eph > slot.ephemeral or gpu > slot.gpu:
        return False
    if count > slot.pods or not extended_fits(pattern, slot):
        return False
    return all(slot.ds_ports.isdisjoint(it.ports) for it, _ in pattern)


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
