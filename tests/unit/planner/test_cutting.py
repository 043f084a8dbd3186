"""The cutting-stock solver on its own: pieces and kinds in, nodes out."""

from __future__ import annotations

import itertools
import random

import pytest

from growthrs_core.planner import cutting
from growthrs_core.planner.cutting import Kind, Piece, best_pattern, cost_of, solve, undominated

pytest.importorskip("highspy")

ALL = frozenset(range(8))


def kinds_linear() -> list[Kind]:
    # (CPU, memory, pod slots), price: a cheap big node, small ones, a dear one.
    return [
        Kind(0.0409, (15900, 32512, 110)),  # cax41
        Kind(0.0206, (7900, 16128, 110)),  # cax31
        Kind(0.0108, (3900, 7936, 110)),  # cax21
        Kind(0.0060, (1900, 3840, 110)),  # cx22
        Kind(0.0856, (7900, 32512, 110)),  # ccx33: dearer, no bigger than cax41
    ]


def brute_force(pieces: list[Piece], kinds: list[Kind], max_nodes: int) -> tuple[float, int]:
    """The cheapest (then fewest nodes) packing by trying every multiset of node
    patterns: only for a handful of pods."""
    patterns = []
    for ki, k in enumerate(kinds):
        ranges = [range(p.demand + 1) if ki in p.kinds else range(1) for p in pieces]
        for counts in itertools.product(*ranges):
            if not any(counts):
                continue
            if all(
                sum(p.size[r] * a for p, a in zip(pieces, counts, strict=True)) <= k.capacity[r]
                for r in range(len(k.capacity))
            ):
                patterns.append((k.cost, counts))
    demand = tuple(p.demand for p in pieces)
    best = (float("inf"), 0)

    def rec(start: int, left: tuple[int, ...], cost: float, nodes: int) -> None:
        nonlocal best
        if not any(v > 0 for v in left):
            if (round(cost, 9), nodes) < (round(best[0], 9), best[1]):
                best = (cost, nodes)
            return
        if nodes >= max_nodes or cost >= best[0] + 1e-9:
            return
        for j in range(start, len(patterns)):
            c, counts = patterns[j]
            rec(j, tuple(v - a for v, a in zip(left, counts, strict=True)), cost + c, nodes + 1)

    rec(0, demand, 0.0, 0)
    return best


def test_one_class_is_packed_optimally() -> None:
    kinds = kinds_linear()
    pieces = [Piece((250, 256, 1), 1000, frozenset(range(len(kinds))))]
    sol = solve(pieces, kinds)
    assert sol is not None and sol.optimal
    assert cost_of(sol, kinds) == pytest.approx((16 * 0.0409, 16))
    assert sum(c[0] * n for _, c, n in sol.bins) == 1000


@pytest.mark.parametrize("seed", range(12))
def test_small_instances_match_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    kinds = [
        Kind(round(rng.uniform(0.5, 1.5) * c * 0.001 + m * 0.0002, 5), (c * 1000, m * 1024, 110))
        for c, m in ((2, 4), (4, 8), (8, 16))
    ]
    pieces = [
        Piece(
            (rng.choice([500, 1000, 1500]), rng.choice([512, 1024, 3072]), 1),
            rng.randint(1, 4),
            frozenset(range(3)),
        )
        for _ in range(2)
    ]
    sol = solve(pieces, kinds)
    assert sol is not None and not any(sol.unplaced)
    cost, nodes = cost_of(sol, kinds)
    best_cost, best_nodes = brute_force(pieces, kinds, 8)
    assert cost == pytest.approx(best_cost, abs=1e-9)
    assert nodes <= best_nodes


def test_every_pod_once_and_every_node_within_its_capacity() -> None:
    rng = random.Random(5)
    kinds = kinds_linear()
    pieces = [
        Piece((rng.choice([100, 250, 500, 1000]), rng.choice([128, 512, 2048, 4096]), 1), n, ALL)
        for n in (37, 120, 15, 64)
    ]
    sol = solve(pieces, kinds)
    assert sol is not None and not any(sol.unplaced)
    for i, p in enumerate(pieces):
        assert sum(c[i] * n for _, c, n in sol.bins) == p.demand
    for k, counts, n in sol.bins:
        assert n > 0
        for r, cap in enumerate(kinds[k].capacity):
            assert sum(p.size[r] * a for p, a in zip(pieces, counts, strict=True)) <= cap


def test_a_piece_only_goes_where_it_may() -> None:
    kinds = kinds_linear()
    arm_only = frozenset({0, 1, 2})
    pieces = [Piece((500, 512, 1), 40, arm_only), Piece((500, 512, 1), 10, frozenset({3}))]
    sol = solve(pieces, kinds)
    assert sol is not None and not any(sol.unplaced)
    for k, counts, _ in sol.bins:
        if counts[0]:
            assert k in arm_only
        if counts[1]:
            assert k == 3


def test_node_limits_leave_pods_unplaced_and_are_never_exceeded() -> None:
    kinds = [Kind(0.01, (4000, 8192, 110), group=0), Kind(0.02, (4000, 8192, 110), group=1)]
    pieces = [Piece((1000, 1024, 1), 20, frozenset({0, 1}))]
    sol = solve(pieces, kinds, rooms={0: 2, 1: 1})
    assert sol is not None
    per_group = {0: 0, 1: 0}
    for k, _, n in sol.bins:
        per_group[kinds[k].group] += n
    assert per_group == {0: 2, 1: 1}
    assert sol.unplaced == (8,)
    capped = solve(pieces, kinds, total_room=1)
    assert capped is not None and cost_of(capped, kinds) == (0.01, 1)
    assert capped.unplaced == (16,)


def test_fewer_nodes_break_a_tie_in_cost() -> None:
    # Two small nodes cost exactly what one big one does.
    kinds = [Kind(0.02, (2000, 4096, 110)), Kind(0.04, (4000, 8192, 110))]
    pieces = [Piece((1000, 1024, 1), 4, frozenset({0, 1}))]
    sol = solve(pieces, kinds)
    assert sol is not None and cost_of(sol, kinds) == pytest.approx((0.04, 1))


def test_preference_breaks_a_tie_in_cost_and_nodes() -> None:
    kinds = [Kind(0.02, (2000, 4096, 110)), Kind(0.02, (2000, 4096, 110))]
    pieces = [Piece((1000, 1024, 1), 2, frozenset({0, 1}), {1: 10})]
    sol = solve(pieces, kinds)
    assert sol is not None and [k for k, _, _ in sol.bins] == [1]


def test_dominated_kinds_are_dropped() -> None:
    kinds = kinds_linear()
    pieces = [Piece((250, 256, 1), 10, frozenset(range(len(kinds))))]
    assert 4 not in undominated(pieces, kinds, {})
    # ... unless a piece may use only the dominated one.
    only = [Piece((250, 256, 1), 10, frozenset({4}))]
    assert 4 in undominated(only, kinds, {})


def test_the_same_input_gives_the_same_packing() -> None:
    rng = random.Random(11)
    kinds = kinds_linear()
    pieces = [
        Piece((rng.choice([250, 500, 1000]), rng.choice([256, 1024, 4096]), 1), n, ALL)
        for n in (140, 60, 45)
    ]
    first = solve(pieces, kinds)
    assert first is not None
    for _ in range(2):
        again = solve(pieces, kinds)
        assert again is not None and again.bins == first.bins


def test_without_highs_there_is_no_solution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cutting, "available", lambda: False)
    assert solve([Piece((1, 1, 1), 1, ALL)], kinds_linear()) is None


@pytest.mark.parametrize("seed", range(20))
def test_best_pattern_is_the_most_valuable_fill(seed: int) -> None:
    rng = random.Random(seed)
    sizes = [(rng.randint(1, 9), rng.randint(1, 9)) for _ in range(3)]
    values = [rng.uniform(0.1, 2.0) for _ in range(3)]
    bounds = [rng.randint(0, 5) for _ in range(3)]
    capacity = (rng.randint(5, 25), rng.randint(5, 25))
    value, counts = best_pattern(values, sizes, bounds, capacity)
    best = max(
        sum(v * a for v, a in zip(values, combo, strict=True))
        for combo in itertools.product(*(range(b + 1) for b in bounds))
        if all(
            sum(s[r] * a for s, a in zip(sizes, combo, strict=True)) <= capacity[r]
            for r in range(2)
        )
    )
    assert value == pytest.approx(best)
    assert all(a <= b for a, b in zip(counts, bounds, strict=True))
