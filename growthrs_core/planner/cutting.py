"""The cheapest packing of pod classes onto node kinds: a cutting-stock problem.

Pending pods fold into a few classes of identical pods (*pieces*), and a group's
offerings into a few *kinds* of node, each with a price and a capacity per
dimension (CPU, memory, ephemeral storage, GPUs, pod slots). A node's content is
a *pattern*: how many pods of each piece it holds. The cheapest set of nodes
for all the pods is the classic cutting-stock problem (Gilmore and Gomory,
1961)::

    minimise   sum_p cost(p) * x_p
    subject to sum_p a_ip * x_p >= demand_i    for every piece i
               sum_{p in pool g} x_p <= room_g  for every pool with a node limit
               x_p >= 0, integer

Its linear relaxation is solved by *column generation*: start from a few
patterns, solve the LP (HiGHS), and ask every kind for the pattern its dual
prices value most (a small bounded knapsack, solved here by branch and bound);
a pattern worth more than its node costs joins the LP, until none does. The
LP's value is then a lower bound on the cost of any packing.

The integer problem over the patterns found (plus each kind's best pattern,
so small nodes can take the tail) is solved by HiGHS's branch and cut. When
that leaves a gap to the bound, every pattern whose reduced cost is within
the gap is added (no other pattern can be part of a better packing) and the
integer problem is solved again, which makes the result optimal whenever the
enumeration and the branch and cut finish within their limits. The cover is
then trimmed to the exact demand, each trimmed node moving to the cheapest
kind that holds it.

Ties in cost are broken towards fewer nodes, then towards preferred kinds, by
tiny weights in the objective. Everything is deterministic: the limits count
work (branch-and-bound nodes, rounds, patterns), never wall-clock time.
:func:`solve` returns ``None`` when HiGHS (``highspy``) is not installed; the
caller then keeps its heuristic packing.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

UNLIMITED = 1 << 62

NODE_WEIGHT = 1e-4
"""Objective weight of one node, relative to the cheapest kind's price: fewer nodes
break a tie in cost. A packing may cost that much more per node it saves (0.01 %
of the cheapest node), far below any real difference in price, and well above
the solver's tolerances."""
PREFERENCE_WEIGHT = 1e-9
"""Objective weight of one unit of preferred node-affinity weight (same scale)."""
PRICING_NODES = 2_000
"""Branch-and-bound nodes one pricing knapsack may take (then its best pattern so far)."""
WORK_LIMIT = 40_000
"""Knapsack search nodes one solve may take in all (its dives and restricted solves
included): beyond, column generation stops with the patterns it has (the bound is
then not proven) and prices with :data:`SPENT_PRICING_NODES`."""
SPENT_PRICING_NODES = 40
MAX_ROUNDS = 80
"""Column-generation rounds before the LP is taken as it is."""
MIP_NODES = 300
"""Branch-and-cut nodes HiGHS may take for the integer packing."""
ENUMERATION_LIMIT = 400
"""Patterns within the gap the exact step may add; beyond, it is skipped."""
DIVES = (0.0,)
"""The dives tried: where each hands the rest to :func:`_tail` (in nodes of the dearest
kind the LP uses; 0: once no column has a whole node left)."""
ENUMERATION_NODES = 200_000
"""Search nodes the enumeration of those patterns may take; beyond, it is skipped."""


@dataclass(frozen=True)
class Piece:
    """``demand`` identical pods, each of ``size`` (one number per dimension)."""

    size: tuple[int, ...]
    demand: int
    kinds: frozenset[int]
    """The kinds (indices) a pod of this piece may run on."""
    bonus: Mapping[int, int] = field(default_factory=dict)
    """Kind → preferred node-affinity weight of one pod there (a tie-breaker)."""


@dataclass(frozen=True)
class Kind:
    """A node one can ask for: its hourly price, capacity per dimension and the
    limit group (pool) it counts against."""

    cost: float
    capacity: tuple[int, ...]
    group: int = 0


@dataclass
class Solution:
    bins: list[tuple[int, tuple[int, ...], int]]
    """(kind, pods of each piece on one node, how many such nodes)."""
    unplaced: tuple[int, ...]
    """Pods of each piece no node within the limits could take."""
    lower_bound: float | None
    """A bound no packing of the same pods can beat (None when not proven)."""
    optimal: bool = False
    """Proven cheapest, then fewest nodes."""


def cost_of(solution: Solution, kinds: Sequence[Kind]) -> tuple[float, int]:
    """(hourly cost, nodes) of a solution."""
    return (
        sum(kinds[k].cost * n for k, _, n in solution.bins),
        sum(n for _, _, n in solution.bins),
    )


def _highs() -> Any | None:
    """A quiet HiGHS instance, or None when ``highspy`` is not installed.

    The raw binding is used where it exists: the ``Highs`` wrapper prints a banner
    to the process's stdout on first use, which would end up in ``growthrs plan -o json``.
    """
    try:
        highspy = importlib.import_module("highspy")
    except ImportError:
        return None
    raw = getattr(highspy, "_Highs", None)
    h = raw() if raw is not None else highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    return h


def _integer() -> Any:
    return importlib.import_module("highspy").HighsVarType.kInteger


def available() -> bool:
    """Whether the exact solver (HiGHS) can be used."""
    return importlib.util.find_spec("highspy") is not None


# -- knapsacks: the patterns a node of one kind is worth most in ------------------------


class _Knapsack:
    """Patterns of one node capacity, valued by ``values``: the most valuable one
    (:meth:`best`) or every maximal one worth at least a threshold (:meth:`above`).
    Depth-first branch and bound over the pieces in order of value density; the
    bound is the tightest of a few surrogate (weighted-sum) fractional knapsacks."""

    def __init__(
        self,
        values: Sequence[float],
        sizes: Sequence[tuple[int, ...]],
        bounds: Sequence[int],
        capacity: tuple[int, ...],
    ) -> None:
        self.n = len(values)
        self.capacity = capacity
        dims = len(capacity)
        self.dims = dims
        live = [i for i in range(self.n) if bounds[i] > 0]

        def weight(i: int) -> float:
            return max(
                (sizes[i][r] / capacity[r] for r in range(dims) if capacity[r] > 0), default=0.0
            )

        self.order = sorted(live, key=lambda i: (-values[i] / max(weight(i), 1e-12), i))
        m = len(self.order)
        self.m = m
        self.val = [max(values[i], 0.0) for i in self.order]
        self.siz = [sizes[i] for i in self.order]
        self.ub = [bounds[i] for i in self.order]
        # Bounds: fractional knapsacks on surrogate constraints, one per weighting
        # of the dimensions (each alone, and mixes of two or all), the tightest wins.
        active = [r for r in range(dims) if capacity[r] > 0 and any(s[r] > 0 for s in self.siz)]
        mixes: list[list[float]] = []
        for r in active:
            mixes.append([1.0 / capacity[q] if q == r else 0.0 for q in range(dims)])
        for a, r in enumerate(active):
            for q in active[a + 1 :]:
                w = [0.0] * dims
                w[r], w[q] = 0.5 / capacity[r], 0.5 / capacity[q]
                mixes.append(w)
        if len(active) > 2:
            mixes.append([1.0 / capacity[q] if q in active else 0.0 for q in range(dims)])
        self.mixes = [[(r, wr) for r, wr in enumerate(w) if wr] for w in mixes]
        self.weights = [
            [sum(w[r] * self.siz[p][r] for r in range(dims)) for p in range(m)] for w in mixes
        ]
        self.orders = [_by_density(self.val, ws) for ws in self.weights]
        self.nodes = 0

    def _bound(self, depth: int, room: list[int]) -> float:
        best = float("inf")
        val, ub = self.val, self.ub
        for w, ws, order in zip(self.mixes, self.weights, self.orders, strict=True):
            left = 0.0
            for r, wr in w:
                left += wr * room[r]
            total = 0.0
            for p in order:
                if p < depth:
                    continue
                s = ws[p]
                if s <= 0:
                    total += val[p] * ub[p]
                    continue
                full = ub[p] * s
                if full <= left:
                    total += val[p] * ub[p]
                    left -= full
                else:
                    total += val[p] * left / s
                    break
            if total < best:
                best = total
        return best

    def _most(self, depth: int, room: list[int]) -> int:
        k = self.ub[depth]
        for r, s in enumerate(self.siz[depth]):
            if s > 0:
                k = min(k, room[r] // s)
        return max(k, 0)

    def _counts(self, by_position: Sequence[int]) -> list[int]:
        out = [0] * self.n
        for p, i in enumerate(self.order):
            out[i] = by_position[p]
        return out

    def best(
        self, node_limit: int = PRICING_NODES, floor: float = 0.0
    ) -> tuple[float, list[int], bool]:
        """The most valuable pattern: (value, counts, whether proven best). Patterns
        worth no more than ``floor`` are of no interest: the search proves only that
        none is worth more (and returns a greedy one)."""
        m = self.m
        room = list(self.capacity)
        counts = [0] * m
        value = 0.0
        for p in range(m):  # a greedy start: fill in density order
            k = self._most(p, room)
            if k > 0 and self.val[p] > 0:
                counts[p] = k
                value += k * self.val[p]
                for r in range(self.dims):
                    room[r] -= k * self.siz[p][r]
        best_value, best_counts = value, list(counts)
        current = [0] * m
        room = list(self.capacity)
        self.nodes = 0

        def rec(depth: int, acc: float) -> None:
            nonlocal best_value, best_counts
            self.nodes += 1
            if acc > best_value + 1e-12:
                best_value, best_counts = acc, list(current)
            if depth == m or self.nodes > node_limit:
                return
            if self.val[depth] <= 0:
                return
            if acc + self._bound(depth, room) <= max(best_value, floor) + 1e-12:
                return
            s = self.siz[depth]
            for take in range(self._most(depth, room), -1, -1):
                current[depth] = take
                for r in range(self.dims):
                    room[r] -= take * s[r]
                rec(depth + 1, acc + take * self.val[depth])
                for r in range(self.dims):
                    room[r] += take * s[r]
                current[depth] = 0
                if self.nodes > node_limit:
                    return

        rec(0, 0.0)
        return best_value, self._counts(best_counts), self.nodes <= node_limit

    def above(self, threshold: float, limit: int, node_limit: int) -> list[list[int]] | None:
        """Every maximal pattern (no piece left that fits) worth at least ``threshold``;
        None when there are more than ``limit`` or the search outgrows ``node_limit``."""
        m, dims = self.m, self.dims
        current = [0] * m
        room = list(self.capacity)
        out: list[list[int]] = []
        self.nodes = 0
        overflow = False

        def maximal() -> bool:
            for p in range(m):
                if current[p] < self.ub[p] and all(self.siz[p][r] <= room[r] for r in range(dims)):
                    return False
            return True

        def rec(depth: int, acc: float) -> None:
            nonlocal overflow
            self.nodes += 1
            if self.nodes > node_limit or len(out) > limit:
                overflow = True
                return
            if depth == m:
                if acc >= threshold - 1e-12 and any(current) and maximal():
                    out.append(self._counts(current))
                return
            if acc + self._bound(depth, room) < threshold - 1e-12:
                return
            s = self.siz[depth]
            for take in range(self._most(depth, room), -1, -1):
                current[depth] = take
                for r in range(dims):
                    room[r] -= take * s[r]
                rec(depth + 1, acc + take * self.val[depth])
                for r in range(dims):
                    room[r] += take * s[r]
                current[depth] = 0
                if overflow:
                    return

        rec(0, 0.0)
        return None if overflow else out


def _by_density(values: Sequence[float], weights: Sequence[float]) -> list[int]:
    """Positions by value per unit of weight, weightless ones first."""

    def key(p: int) -> float:
        return -(values[p] / weights[p]) if weights[p] > 0 else float("-inf")

    return sorted(range(len(values)), key=key)


def best_pattern(
    values: Sequence[float],
    sizes: Sequence[tuple[int, ...]],
    bounds: Sequence[int],
    capacity: tuple[int, ...],
    node_limit: int = PRICING_NODES,
) -> tuple[float, list[int]]:
    """Maximise ``sum(values[i] * a[i])`` over whole ``0 <= a[i] <= bounds[i]`` that fit
    ``capacity`` in every dimension (the best found when ``node_limit`` runs out)."""
    value, counts, _ = _Knapsack(values, sizes, bounds, capacity).best(node_limit)
    return value, counts


# -- the master problem ----------------------------------------------------------------


@dataclass(eq=False)
class _Master:
    """The covering problem over the patterns found so far."""

    pieces: Sequence[Piece]
    kinds: Sequence[Kind]
    rooms: Mapping[int, int]
    total_room: int
    unit: float
    penalty: float
    columns: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    seen: set[tuple[int, tuple[int, ...]]] = field(default_factory=set)
    limited: list[int] = field(default_factory=list)
    lp: Any = None
    in_lp: int = 0
    demand: list[int] = field(default_factory=list)
    """What is left to cover (the pieces' demand, less what a dive fixed)."""
    taken: dict[int, int] = field(default_factory=dict)
    """Nodes per limit group a dive fixed."""
    taken_total: int = 0
    work: list[int] = field(default_factory=lambda: [WORK_LIMIT])
    """Knapsack search nodes left, shared with the solves this one starts."""

    def __post_init__(self) -> None:
        self.limited = sorted(g for g, r in self.rooms.items() if r < UNLIMITED)
        self.demand = [p.demand for p in self.pieces]

    def residual(self, demand: Sequence[int], used: Mapping[int, int], used_total: int) -> None:
        """Cover only ``demand`` from now on, with ``used`` nodes per group (and
        ``used_total`` in all) already taken."""
        self.demand = list(demand)
        self.taken, self.taken_total = dict(used), used_total
        if self.lp is None:
            return
        inf = 1e30
        p = len(self.pieces)
        for i, d in enumerate(demand):
            self.lp.changeRowBounds(i, float(max(d, 0)), inf)
            self.lp.changeColBounds(i, 0.0, float(max(d, 0)))
        for r, g in enumerate(self.limited):
            self.lp.changeRowBounds(p + r, -inf, float(self.rooms[g] - used.get(g, 0)))
        if self.total_room < UNLIMITED:
            self.lp.changeRowBounds(
                p + len(self.limited), -inf, float(self.total_room - used_total)
            )

    def add(self, kind: int, counts: Sequence[int]) -> bool:
        key = (kind, tuple(counts))
        if key in self.seen or not any(counts):
            return False
        self.seen.add(key)
        self.columns.append(key)
        return True

    def bonus(self, kind: int, counts: Sequence[int]) -> int:
        return sum(p.bonus.get(kind, 0) * a for p, a in zip(self.pieces, counts, strict=True))

    def column_cost(self, kind: int, counts: Sequence[int]) -> float:
        return self.kinds[kind].cost + self.unit * (
            NODE_WEIGHT - PREFERENCE_WEIGHT * self.bonus(kind, counts)
        )

    def _rows(self, h: Any) -> None:
        inf = 1e30
        lower = [float(d) for d in self.demand] + [-inf] * len(self.limited)
        upper = [inf] * len(self.pieces) + [
            float(self.rooms[g] - self.taken.get(g, 0)) for g in self.limited
        ]
        if self.total_room < UNLIMITED:
            lower.append(-inf)
            upper.append(float(self.total_room - self.taken_total))
        h.addRows(len(lower), lower, upper, 0, [], [], [])
        for i, d in enumerate(self.demand):
            h.addCol(self.penalty, 0.0, float(d), 1, [i], [1.0])

    def _column(self, h: Any, kind: int, counts: Sequence[int]) -> None:
        idx = [i for i, a in enumerate(counts) if a]
        val = [float(counts[i]) for i in idx]
        group = self.kinds[kind].group
        if group in self.rooms and self.rooms[group] < UNLIMITED:
            idx.append(len(self.pieces) + self.limited.index(group))
            val.append(1.0)
        if self.total_room < UNLIMITED:
            idx.append(len(self.pieces) + len(self.limited))
            val.append(1.0)
        h.addCol(self.column_cost(kind, counts), 0.0, 1e30, len(idx), idx, val)

    def relax(self) -> tuple[float, list[float]] | None:
        """Solve the LP over the columns so far (warm, adding only the new ones):
        its value and the duals of the rows (pieces, then limits)."""
        if self.lp is None:
            self.lp = _highs()
            if self.lp is None:
                return None
            self._rows(self.lp)
        for kind, counts in self.columns[self.in_lp :]:
            self._column(self.lp, kind, counts)
        self.in_lp = len(self.columns)
        self.lp.run()
        sol = self.lp.getSolution()
        if not sol.value_valid or not sol.dual_valid:
            return None
        return float(self.lp.getInfo().objective_function_value), list(sol.row_dual)

    def values(self) -> list[float]:
        """The LP's nodes per column, as last solved."""
        return list(self.lp.getSolution().col_value)[len(self.pieces) :]

    def integer(
        self, columns: Sequence[tuple[int, tuple[int, ...]]]
    ) -> tuple[list[int], list[int], bool] | None:
        """The integer problem over ``columns``: how many nodes of each column, the
        unplaced pods per piece and whether it is proven optimal."""
        h = _highs()
        if h is None:
            return None
        self._rows(h)
        for kind, counts in columns:
            self._column(h, kind, counts)
        p = len(self.pieces)
        n = len(columns) + p
        h.changeColsIntegrality(n, list(range(n)), [_integer()] * n)
        h.setOptionValue("mip_max_nodes", MIP_NODES)
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("mip_abs_gap", self.unit * NODE_WEIGHT * 0.5)
        h.run()
        sol = h.getSolution()
        if not sol.value_valid:
            return None
        values = [round(v) for v in sol.col_value]
        return values[p:], values[:p], str(h.getModelStatus()).endswith("kOptimal")

    def objective(self, bins: Sequence[tuple[int, tuple[int, ...], int]], unplaced: int) -> float:
        return sum(self.column_cost(k, c) * n for k, c, n in bins) + self.penalty * unplaced


def solve(
    pieces: Sequence[Piece],
    kinds: Sequence[Kind],
    rooms: Mapping[int, int] | None = None,
    total_room: int = UNLIMITED,
    *,
    exact: bool = True,
    by_capacity: bool = True,
    work: list[int] | None = None,
) -> Solution | None:
    """The cheapest packing of ``pieces`` onto ``kinds`` within the node limits
    (``rooms``: limit group → nodes it may still add; ``total_room``: all groups
    together), then the fewest nodes, then the most preferred kinds. None when
    HiGHS is not installed or fails."""
    if not pieces or not kinds or not available():
        return None
    rooms = dict(rooms or {})
    for k in kinds:
        rooms.setdefault(k.group, UNLIMITED)
    valid = frozenset(range(len(kinds)))
    pieces = [
        p if p.kinds <= valid else Piece(p.size, p.demand, p.kinds & valid, p.bonus) for p in pieces
    ]
    # Prices in units of the cheapest node, so that the tie-break weights are well
    # above the solver's tolerances.
    scale = min((k.cost for k in kinds if k.cost > 0), default=1.0)
    kinds = [Kind(k.cost / scale, k.capacity, k.group) for k in kinds]
    unit = 1.0
    penalty = 2.0 * max(k.cost for k in kinds) + 1.0
    m = _Master(pieces, kinds, rooms, total_room, unit, penalty)
    if work is not None:
        m.work = work
    sizes = [p.size for p in pieces]
    keep = undominated(pieces, kinds, rooms)
    bounds_of = [
        _bounds(pieces, k, ki) if ki in keep else [0] * len(pieces) for ki, k in enumerate(kinds)
    ]
    # Start: each kind full of each piece, and a mixed greedy fill.
    for ki, k in enumerate(kinds):
        for i in range(len(pieces)):
            if bounds_of[ki][i]:
                counts = [0] * len(pieces)
                counts[i] = bounds_of[ki][i]
                m.add(ki, counts)
        m.add(ki, best_pattern([1.0] * len(pieces), sizes, bounds_of[ki], k.capacity, 200)[1])
    if not m.columns:
        return Solution([], tuple(p.demand for p in pieces), None)
    # Small pods: the cheapest nodes whose total capacity holds them often hold them
    # packed as well, and then nothing is cheaper.
    if by_capacity:
        first = _within_capacity(m, bounds_of, exact)
        if first is not None:
            unplaced = _uncovered(pieces, first)
            return Solution(_trim(pieces, kinds, first, unplaced, rooms), unplaced, None, True)
    shapes = _shapes(pieces, kinds, bounds_of)
    got = _generate(m, shapes)
    if got is None:
        return None
    lower, duals, complete = got
    # An incumbent: the LP's nodes rounded down, the rest greedily, then trimmed.
    values_lp = m.values()
    floor = [(m.columns[j], int(v + 1e-9)) for j, v in enumerate(values_lp) if v >= 1 - 1e-9]
    cover = _cover_rest(m, floor, shapes, duals, bounds_of)
    unplaced = _uncovered(pieces, cover)
    bins = _trim(pieces, kinds, cover, unplaced, rooms)
    best = m.objective(bins, sum(unplaced))
    # Another: dive (fix the LP's whole nodes, then one node at a time, re-solving the
    # LP for what is left).
    for tail_nodes in DIVES:
        dived = _dive(m, bounds_of, lower, tail_nodes)
        m.residual([p.demand for p in pieces], {}, 0)
        if _generate(m, shapes) is None:
            return None
        if dived is None:
            continue
        d_unplaced = _uncovered(pieces, dived)
        d_bins = _trim(pieces, kinds, dived, d_unplaced, rooms)
        d_best = m.objective(d_bins, sum(d_unplaced))
        if d_best < best - 1e-9:
            bins, unplaced, best = d_bins, d_unplaced, d_best
    optimal = complete and best <= lower + unit * NODE_WEIGHT * 0.5
    if exact and complete and not optimal:
        # Only patterns whose reduced cost is within the gap can be part of a
        # cheaper packing: solve the integer problem over them alone.
        gap = best - lower
        within = _within(m, shapes, duals, gap)
        if within is not None:
            columns = list(dict.fromkeys([*within, *((k, c) for k, c, _ in bins)]))
            found = m.integer(columns)
            if found is not None:
                counts_used, unplaced_list, proven = found
                used = [(columns[j], n) for j, n in enumerate(counts_used) if n > 0]
                trimmed = _trim(pieces, kinds, used, tuple(unplaced_list), rooms)
                if m.objective(trimmed, sum(unplaced_list)) <= best + 1e-9:
                    bins, unplaced = trimmed, tuple(unplaced_list)
                    optimal = proven
    # The LP value carries the tiny tie-break weights too: a bound on the cost all the same.
    return Solution(bins, unplaced, lower * scale if complete else None, optimal)


def _generate(
    m: _Master, shapes: Sequence[tuple[list[int], list[int], tuple[int, ...], list[int]]]
) -> tuple[float, list[float], bool] | None:
    """Column generation to the LP optimum: (LP value, duals, whether proven)."""
    sizes = [p.size for p in m.pieces]
    lower, duals = 0.0, list[float]()
    for _ in range(MAX_ROUNDS):
        got = m.relax()
        if got is None:
            return None
        lower, duals = got
        added = False
        complete = True
        for members, bounds, capacity, bonus in shapes:
            values = _values(m, duals, bonus)
            floor = min(_reduced(m, ki, 0.0, duals) for ki in members)
            knapsack = _Knapsack(values, sizes, bounds, capacity)
            # Out of budget, pricing is little more than the greedy fill.
            limit = PRICING_NODES if m.work[0] > 0 else SPENT_PRICING_NODES
            worth, counts, proven = knapsack.best(limit, floor)
            m.work[0] -= knapsack.nodes
            complete = complete and proven
            for ki in members:
                if _reduced(m, ki, worth, duals) < -1e-9 * m.unit and m.add(ki, counts):
                    added = True
        if not added:
            return lower, duals, complete
        if m.work[0] <= 0:
            break
    return lower, duals, False


def _uncovered(
    pieces: Sequence[Piece], cover: Sequence[tuple[tuple[int, tuple[int, ...]], int]]
) -> tuple[int, ...]:
    return tuple(
        max(0, p.demand - sum(c[i] * n for (_, c), n in cover)) for i, p in enumerate(pieces)
    )


def _dive(
    m: _Master, bounds_of: Sequence[list[int]], lower: float, tail_nodes: float
) -> list[tuple[tuple[int, tuple[int, ...]], int]] | None:
    """Round the LP by diving: fix the whole nodes of the column the LP uses most (at
    least one), re-solve the LP for the rest (with patterns sized to it), and again,
    until everything is covered. Once what is left is worth at most ``tail_nodes`` of
    the dearest node the LP uses (or no column has a whole node), it is covered by
    :func:`_tail` instead."""
    pieces, kinds = m.pieces, m.kinds
    left = [p.demand for p in pieces]
    fixed: dict[tuple[int, tuple[int, ...]], int] = {}
    used: dict[int, int] = {}
    total = 0
    for _ in range(len(pieces) * 4 + 40):
        values = m.values()
        j = max(range(len(values)), key=lambda j: (values[j], -j), default=None)
        if j is None or values[j] <= 1e-9:
            break
        whole = [(m.columns[j], max(1, int(values[j] + 1e-9)))]
        dearest = max(kinds[m.columns[q][0]].cost for q, v in enumerate(values) if v > 1e-9)
        if values[j] < 1 - 1e-9 or lower <= tail_nodes * dearest:
            # Only a few nodes' worth is left: the cheapest nodes whose capacity
            # covers it, if it packs into them.
            tail = _tail(m, left, bounds_of)
            if tail is not None:
                whole = tail
        for col, n in whole:
            fixed[col] = fixed.get(col, 0) + n
            g = kinds[col[0]].group
            used[g] = used.get(g, 0) + n
            total += n
            left = [v - a * n for v, a in zip(left, col[1], strict=True)]
        if all(v <= 0 for v in left):
            break
        m.residual([max(v, 0) for v in left], used, total)
        capped = [[min(b, max(v, 0)) for b, v in zip(bk, left, strict=True)] for bk in bounds_of]
        got = _generate(m, _shapes(pieces, kinds, capped))
        if got is None:
            return None
        lower = got[0]
    return list(fixed.items())


def _within_capacity(
    m: _Master, bounds_of: Sequence[list[int]], exact: bool
) -> list[tuple[tuple[int, tuple[int, ...]], int]] | None:
    """All the pods on the cheapest set of nodes whose total capacity holds them
    (then the fewest nodes), if they can be packed there: no packing is cheaper, nor
    has fewer nodes at that price. First-fit-decreasing first, then column
    generation and a dive restricted to those nodes. None when neither packs them."""
    pieces, kinds = m.pieces, m.kinds
    demand = [p.demand for p in pieces]
    # Kinds any piece may use: a relaxation (a piece that cannot use a kind still
    # counts that kind's capacity), so the cheapest such set is a bound all the same.
    allowed = sorted(ki for ki in range(len(kinds)) if any(bounds_of[ki]))
    if not allowed:
        return None
    dims = len(kinds[allowed[0]].capacity)
    need = [sum(p.demand * p.size[r] for p in pieces) for r in range(dims)]
    counts = _fewest_kinds(m, allowed, need, demand, bounds_of)
    if counts is None:
        return None
    bins = [ki for ki in allowed for _ in range(counts.get(ki, 0))]
    packed, rest = _fill(pieces, kinds, bins, demand)
    if not any(rest):
        out: dict[tuple[int, tuple[int, ...]], int] = {}
        for ki, pattern in packed:
            if any(pattern):
                out[(ki, pattern)] = out.get((ki, pattern), 0) + 1
        return list(out.items())
    chosen = sorted(counts)
    sub_kinds = [Kind(kinds[ki].cost, kinds[ki].capacity, j) for j, ki in enumerate(chosen)]
    sub_pieces = [
        Piece(
            p.size,
            p.demand,
            frozenset(j for j, ki in enumerate(chosen) if ki in p.kinds),
            {j: p.bonus[ki] for j, ki in enumerate(chosen) if ki in p.bonus},
        )
        for p in pieces
    ]
    sub = solve(
        sub_pieces,
        sub_kinds,
        {j: counts[ki] for j, ki in enumerate(chosen)},
        exact=exact,
        by_capacity=False,
        work=m.work,
    )
    if sub is None or any(sub.unplaced):
        return None
    return [((chosen[j], c), n) for j, c, n in sub.bins]


def _tail(
    m: _Master, left: Sequence[int], bounds_of: Sequence[list[int]]
) -> list[tuple[tuple[int, tuple[int, ...]], int]] | None:
    found = _by_capacity(m, left, bounds_of)
    return None if found is None else found[0]


def _by_capacity(
    m: _Master, left: Sequence[int], bounds_of: Sequence[list[int]]
) -> tuple[list[tuple[tuple[int, tuple[int, ...]], int]], bool] | None:
    """Cover what is left with the cheapest set of nodes whose total capacity holds
    it (a small integer program over kinds, not patterns: a bound on any packing),
    packed first-fit-decreasing. When the pods do not fit, the capacity asked for
    grows by what was left out, a few times; None if they still do not fit. Says
    whether the first set of nodes held them: then no packing is cheaper."""
    pieces, kinds = m.pieces, m.kinds
    live = [i for i, v in enumerate(left) if v > 0]
    allowed = sorted(ki for ki in range(len(kinds)) if any(bounds_of[ki][i] > 0 for i in live))
    if not live or not allowed:
        return None
    dims = len(kinds[allowed[0]].capacity)
    need = [sum(left[i] * pieces[i].size[r] for i in live) for r in range(dims)]
    for attempt in range(4):
        counts = _fewest_kinds(m, allowed, need, left, bounds_of)
        if counts is None:
            return None
        bins = [ki for ki in allowed for _ in range(counts.get(ki, 0))]
        packed, rest = _fill(pieces, kinds, bins, left)
        if not any(rest):
            out: dict[tuple[int, tuple[int, ...]], int] = {}
            for ki, pattern in packed:
                if any(pattern):
                    out[(ki, pattern)] = out.get((ki, pattern), 0) + 1
            return list(out.items()), attempt == 0
        for r in range(dims):
            need[r] += sum(rest[i] * pieces[i].size[r] for i in live)
    return None


def _fewest_kinds(
    m: _Master,
    allowed: Sequence[int],
    need: Sequence[int],
    left: Sequence[int],
    bounds_of: Sequence[list[int]],
) -> dict[int, int] | None:
    """The cheapest multiset of ``allowed`` kinds (then the fewest nodes) whose
    capacity covers ``need`` in every dimension and whose nodes could hold the
    ``left`` pods of each piece if they held only that piece, within the node limits."""
    h = _highs()
    if h is None:
        return None
    kinds = m.kinds
    inf = 1e30
    for ki in allowed:
        h.addCol(kinds[ki].cost + m.unit * NODE_WEIGHT, 0.0, inf, 0, [], [])
    n = len(allowed)
    h.changeColsIntegrality(n, list(range(n)), [_integer()] * n)
    for r, amount in enumerate(need):
        if amount > 0:
            caps = [float(kinds[ki].capacity[r]) for ki in allowed]
            h.addRow(float(amount), inf, n, list(range(n)), caps)
    for i, amount in enumerate(left):
        if amount > 0:
            holds = [float(bounds_of[ki][i]) for ki in allowed]
            h.addRow(float(amount), inf, n, list(range(n)), holds)
    for g in m.limited:
        idx = [j for j, ki in enumerate(allowed) if kinds[ki].group == g]
        if idx:
            room = float(m.rooms[g] - m.taken.get(g, 0))
            h.addRow(-inf, room, len(idx), idx, [1.0] * len(idx))
    if m.total_room < UNLIMITED:
        h.addRow(-inf, float(m.total_room - m.taken_total), n, list(range(n)), [1.0] * n)
    h.setOptionValue("mip_max_nodes", MIP_NODES)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", m.unit * NODE_WEIGHT * 0.5)
    h.run()
    sol = h.getSolution()
    if not sol.value_valid or not str(h.getModelStatus()).endswith("kOptimal"):
        return None
    return {ki: round(v) for ki, v in zip(allowed, sol.col_value, strict=True) if round(v) > 0}


def _fill(
    pieces: Sequence[Piece], kinds: Sequence[Kind], bins: Sequence[int], left: Sequence[int]
) -> tuple[list[tuple[int, tuple[int, ...]]], list[int]]:
    """First-fit-decreasing of ``left`` pods into nodes of ``bins`` (kinds), biggest
    nodes first: the pattern of each node and the pods that did not fit."""
    order = sorted(
        range(len(bins)),
        key=lambda b: (-kinds[bins[b]].cost, tuple(-c for c in kinds[bins[b]].capacity), b),
    )
    rooms = {b: list(kinds[bins[b]].capacity) for b in order}
    patterns = {b: [0] * len(pieces) for b in order}
    rest = [max(v, 0) for v in left]

    def share(i: int) -> float:
        cap = kinds[bins[order[0]]].capacity
        return max((pieces[i].size[r] / cap[r] for r in range(len(cap)) if cap[r] > 0), default=0.0)

    for i in sorted(range(len(pieces)), key=lambda i: (-share(i), i)):
        for b in order:
            if rest[i] <= 0:
                break
            if bins[b] not in pieces[i].kinds:
                continue
            k = rest[i]
            for r, sz in enumerate(pieces[i].size):
                if sz > 0:
                    k = min(k, rooms[b][r] // sz)
            if k <= 0:
                continue
            patterns[b][i] += k
            rest[i] -= k
            for r, sz in enumerate(pieces[i].size):
                rooms[b][r] -= k * sz
    return [(bins[b], tuple(patterns[b])) for b in order], rest


def undominated(
    pieces: Sequence[Piece], kinds: Sequence[Kind], rooms: Mapping[int, int]
) -> set[int]:
    """The kinds no other kind beats: one that is dearer (or as dear) and no bigger in
    any dimension than another that every piece may use as well, with at least the
    same preference and no tighter node limit, never has to be used."""
    allowed = [
        frozenset(i for i, p in enumerate(pieces) if ki in p.kinds) for ki in range(len(kinds))
    ]
    bonus = [tuple(p.bonus.get(ki, 0) for p in pieces) for ki in range(len(kinds))]
    keep = set()
    for ki, k in enumerate(kinds):
        if not allowed[ki]:
            continue
        beaten = False
        for kj, other in enumerate(kinds):
            if kj == ki or other.cost > k.cost or not allowed[ki] <= allowed[kj]:
                continue
            if other.group != k.group and rooms.get(other.group, UNLIMITED) < UNLIMITED:
                continue
            if any(a < b for a, b in zip(other.capacity, k.capacity, strict=True)):
                continue
            if any(a < b for a, b in zip(bonus[kj], bonus[ki], strict=True)):
                continue
            same = (
                other.cost == k.cost
                and other.capacity == k.capacity
                and allowed[kj] == allowed[ki]
                and bonus[kj] == bonus[ki]
            )
            if not same or kj < ki:
                beaten = True
                break
        if not beaten:
            keep.add(ki)
    return keep


def _values(m: _Master, duals: Sequence[float], bonus: Sequence[int]) -> list[float]:
    """What one pod of each piece is worth on a node, at the duals (and preferences)."""
    return [
        max(y, 0.0) + m.unit * PREFERENCE_WEIGHT * b
        for y, b in zip(duals[: len(m.pieces)], bonus, strict=True)
    ]


def _cover_rest(
    m: _Master,
    base: list[tuple[tuple[int, tuple[int, ...]], int]],
    shapes: Sequence[tuple[list[int], list[int], tuple[int, ...], list[int]]],
    duals: Sequence[float],
    bounds_of: Sequence[list[int]],
) -> list[tuple[tuple[int, tuple[int, ...]], int]]:
    """``base`` plus nodes for what it leaves uncovered: each next node the pattern
    (of any kind with room) that covers the most dual value per unit of cost."""
    pieces, kinds = m.pieces, m.kinds
    sizes = [p.size for p in pieces]
    left = [p.demand - sum(c[i] * n for (_, c), n in base) for i, p in enumerate(pieces)]
    used: dict[int, int] = {}
    total = 0
    for (k, _), n in base:
        used[kinds[k].group] = used.get(kinds[k].group, 0) + n
        total += n
    out = list(base)
    # Value a pod by its dual price, or by its share of the cheapest node when the
    # duals say nothing (a piece the LP over-covers).
    fallback = [
        min(
            (
                kinds[ki].cost / max(bounds_of[ki][i], 1)
                for ki in range(len(kinds))
                if bounds_of[ki][i]
            ),
            default=0.0,
        )
        for i in range(len(pieces))
    ]
    price = [y if y > 1e-12 else f for y, f in zip(duals[: len(pieces)], fallback, strict=True)]
    while any(v > 0 for v in left) and total < m.total_room:
        best: tuple[float, int, list[int]] | None = None
        for members, bounds, capacity, _ in shapes:
            capped = [min(b, max(v, 0)) for b, v in zip(bounds, left, strict=True)]
            if not any(capped):
                continue
            worth, counts, _ = _Knapsack(price, sizes, capped, capacity).best(500)
            if worth <= 0:
                continue
            for ki in members:
                g = kinds[ki].group
                if used.get(g, 0) >= m.rooms.get(g, UNLIMITED):
                    continue
                ratio = worth / kinds[ki].cost if kinds[ki].cost > 0 else float("inf")
                if best is None or ratio > best[0] + 1e-12:
                    best = (ratio, ki, counts)
        if best is None:
            break
        _, ki, counts = best
        # As many such nodes as the pods left fill completely (at least one).
        g = kinds[ki].group
        n = min([v // a for v, a in zip(left, counts, strict=True) if a] or [1])
        n = max(1, min(n, m.rooms.get(g, UNLIMITED) - used.get(g, 0), m.total_room - total))
        out.append(((ki, tuple(counts)), n))
        used[g] = used.get(g, 0) + n
        total += n
        left = [v - a * n for v, a in zip(left, counts, strict=True)]
    return out


def _reduced(m: _Master, kind: int, worth: float, duals: Sequence[float]) -> float:
    k = m.kinds[kind]
    extra = m.unit * NODE_WEIGHT
    if k.group in m.limited:
        extra -= duals[len(m.pieces) + m.limited.index(k.group)]
    if m.total_room < UNLIMITED:
        extra -= duals[len(m.pieces) + len(m.limited)]
    return k.cost + extra - worth


def _within(
    m: _Master,
    shapes: Sequence[tuple[list[int], list[int], tuple[int, ...], list[int]]],
    duals: Sequence[float],
    gap: float,
) -> list[tuple[int, tuple[int, ...]]] | None:
    """Every maximal pattern whose reduced cost is at most ``gap``; None when there
    are too many to enumerate."""
    sizes = [p.size for p in m.pieces]
    found: list[tuple[int, tuple[int, ...]]] = []
    for members, bounds, capacity, bonus in shapes:
        values = _values(m, duals, bonus)
        # worth >= cost + extra - gap, for the cheapest member.
        need = min(_reduced(m, ki, 0.0, duals) for ki in members) - gap
        knapsack = _Knapsack(values, sizes, bounds, capacity)
        limit = min(ENUMERATION_NODES, m.work[0])
        if limit <= 0:
            return None
        patterns = knapsack.above(need, ENUMERATION_LIMIT - len(found), limit)
        m.work[0] -= knapsack.nodes
        if patterns is None:
            return None
        for counts in patterns:
            worth = sum(v * a for v, a in zip(values, counts, strict=True))
            for ki in members:
                if _reduced(m, ki, worth, duals) <= gap + 1e-12:
                    found.append((ki, tuple(counts)))
        if len(found) > ENUMERATION_LIMIT:
            return None
    return found


def _bounds(pieces: Sequence[Piece], kind: Kind, index: int) -> list[int]:
    """How many pods of each piece one node of ``kind`` holds alone (0: not allowed)."""
    out = []
    for p in pieces:
        if index not in p.kinds:
            out.append(0)
            continue
        k = p.demand
        for s, c in zip(p.size, kind.capacity, strict=True):
            if s > 0:
                k = min(k, c // s)
        out.append(max(k, 0))
    return out


def _shapes(
    pieces: Sequence[Piece], kinds: Sequence[Kind], bounds_of: Sequence[list[int]]
) -> list[tuple[list[int], list[int], tuple[int, ...], list[int]]]:
    """Kinds that price alike (same capacity, allowed pieces and preferences) share
    one knapsack: (kinds, bounds per piece, capacity, preference per piece)."""
    by: dict[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]], list[int]] = {}
    for ki, k in enumerate(kinds):
        if any(bounds_of[ki]):
            bonus = tuple(p.bonus.get(ki, 0) for p in pieces)
            by.setdefault((k.capacity, tuple(bounds_of[ki]), bonus), []).append(ki)
    return [(members, list(b), cap, list(bonus)) for (cap, b, bonus), members in by.items()]


def _trim(
    pieces: Sequence[Piece],
    kinds: Sequence[Kind],
    used: list[tuple[tuple[int, tuple[int, ...]], int]],
    unplaced: tuple[int, ...],
    rooms: Mapping[int, int],
) -> list[tuple[int, tuple[int, ...], int]]:
    """Take the surplus of the cover off single nodes, and move each node whose
    content changed to the cheapest kind that holds it."""
    bins: list[list[Any]] = [[k, list(c), n] for (k, c), n in used]
    need = [p.demand - u for p, u in zip(pieces, unplaced, strict=True)]
    have = [sum(b[1][i] * b[2] for b in bins) for i in range(len(pieces))]
    # Surplus comes off the dearest nodes first, one node at a time.
    order = sorted(range(len(bins)), key=lambda j: (-kinds[bins[j][0]].cost, j))
    trimmed: list[list[Any]] = []
    for i in range(len(pieces)):
        surplus = have[i] - need[i]
        for t in trimmed:
            if surplus <= 0:
                break
            take = min(surplus, t[1][i])
            t[1][i] -= take
            surplus -= take
        for j in order:
            if surplus <= 0:
                break
            b = bins[j]
            while surplus > 0 and b[2] > 0 and b[1][i] > 0:
                take = min(surplus, b[1][i])
                counts = list(b[1])
                counts[i] -= take
                b[2] -= 1
                trimmed.append([b[0], counts, 1])
                surplus -= take
    used_rooms: dict[int, int] = {}
    for b in bins + trimmed:
        used_rooms[kinds[b[0]].group] = used_rooms.get(kinds[b[0]].group, 0) + b[2]
    out: dict[tuple[int, tuple[int, ...]], int] = {}
    for b in bins:
        if b[2] > 0:
            key = (b[0], tuple(b[1]))
            out[key] = out.get(key, 0) + b[2]
    for t in trimmed:
        if not any(t[1]):
            used_rooms[kinds[t[0]].group] -= 1
            continue
        kind = _cheapest_kind(pieces, kinds, t[1], t[0], rooms, used_rooms)
        if kind != t[0]:
            used_rooms[kinds[t[0]].group] -= 1
            used_rooms[kinds[kind].group] = used_rooms.get(kinds[kind].group, 0) + 1
        key = (kind, tuple(t[1]))
        out[key] = out.get(key, 0) + 1
    return [(k, c, n) for (k, c), n in out.items()]


def _cheapest_kind(
    pieces: Sequence[Piece],
    kinds: Sequence[Kind],
    counts: Sequence[int],
    current: int,
    rooms: Mapping[int, int],
    used_rooms: Mapping[int, int],
) -> int:
    dims = len(kinds[current].capacity)
    load = [sum(p.size[r] * a for p, a in zip(pieces, counts, strict=True)) for r in range(dims)]
    allowed: frozenset[int] | None = None
    for p, a in zip(pieces, counts, strict=True):
        if a:
            allowed = p.kinds if allowed is None else allowed & p.kinds
    best = current
    best_key = _kind_key(pieces, kinds, counts, current)
    for ki in sorted(allowed or ()):
        k = kinds[ki]
        if any(load[r] > k.capacity[r] for r in range(dims)):
            continue
        if k.group != kinds[current].group and used_rooms.get(k.group, 0) >= rooms.get(
            k.group, UNLIMITED
        ):
            continue
        key = _kind_key(pieces, kinds, counts, ki)
        if key < best_key:
            best, best_key = ki, key
    return best


def _kind_key(
    pieces: Sequence[Piece], kinds: Sequence[Kind], counts: Sequence[int], ki: int
) -> tuple[float, int, int]:
    bonus = sum(p.bonus.get(ki, 0) * a for p, a in zip(pieces, counts, strict=True))
    return (kinds[ki].cost, -bonus, ki)
