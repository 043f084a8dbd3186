"""The default chain packs whole workloads for the lowest cost, then the fewest nodes.

Three workloads like the peer benchmark's (``growthrs_testkit.planning.cost_workloads``;
``python -m bench.packing_cost`` measures the peer benchmark's own at full size) at a
fifth of their size, against the KWOK catalogue in one location, are compared with an exact integer
program over every node pattern (``growthrs_testkit.planning.pattern_optimum``,
HiGHS): the plan may cost at most 1 % more than the optimum, and no packing that
costs at most what the plan does may have fewer nodes. Both checks use the
solver's proven bound, so a time limit can only make them stricter.
"""

from __future__ import annotations

import math

import pytest

from growthrs_core.planner import cutting
from growthrs_core.settings import Settings
from growthrs_core.strategies import CheapestStrategy, PriorityStrategy, Strategy
from growthrs_kwok.offerings import catalogue
from growthrs_testkit.planning import (
    DEFAULT_CHAIN,
    Shape,
    Workload,
    cost_workloads,
    pattern_optimum,
    planned_workload,
)

pytest.importorskip("highspy")

CHAIN: list[Strategy] = [PriorityStrategy(), CheapestStrategy()]
RATIO = 1.01
WORKLOADS = {w.name: w for w in cost_workloads(catalogue("fsn1"), scale=0.2)}


def test_the_default_chain_is_priority_then_cheapest() -> None:
    assert Settings().strategies == ["priority", "cheapest"]
    assert [type(s) for s in DEFAULT_CHAIN] == [PriorityStrategy, CheapestStrategy]


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_within_one_percent_of_the_optimum_and_no_packing_as_cheap_has_fewer_nodes(
    name: str,
) -> None:
    workload = WORKLOADS[name]
    cost, nodes = planned_workload(workload, CHAIN)
    best = pattern_optimum(workload, time_limit=60)
    assert cost <= RATIO * best.bound + 1e-9, (cost, best)
    fewest = pattern_optimum(workload, time_limit=60, max_cost=cost)
    assert nodes <= math.ceil(fewest.bound - 1e-6), (nodes, fewest)


def test_a_batch_that_divides_into_small_nodes_still_gets_the_cheapest_mix() -> None:
    # 600 pods of 250m fill 40 cax21 exactly (least idle CPU per round), but nine
    # cax41, a cax31 and a cx22 cost less.
    types = tuple(o for o in catalogue("fsn1") if not o.resources.gpu)
    workload = Workload("batch", (Shape("web", 600, 250, 256),), types)
    cost, nodes = planned_workload(workload, CHAIN)
    assert (round(cost, 4), nodes) == (0.3947, 11)
    best = pattern_optimum(workload, time_limit=60)
    assert cost == pytest.approx(best.cost)


def test_without_highs_the_heuristic_packs_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cutting, "available", lambda: False)
    for workload in WORKLOADS.values():
        cost, _ = planned_workload(workload, CHAIN)  # asserts every pod is planned
        assert cost > 0
