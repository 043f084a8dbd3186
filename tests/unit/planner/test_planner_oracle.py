"""The packing against an exact optimum: a bin-packing MILP solved with HiGHS.

Small random instances (at most 12 pods, a few offerings of one pool in one
location, resources only): the plan's hourly cost must stay within 5 % of the
cheapest possible set of nodes, and its node count within 5 % of that optimum's.
"""

from __future__ import annotations

import random

import pytest

from growthrs_core.strategies import Strategy
from growthrs_testkit.planning import (
    CHEAPEST_CHAIN,
    LEAST_WASTE_CHAIN,
    optimum,
    planned_cost,
    random_instance,
)

highspy = pytest.importorskip("highspy")

INSTANCES = 80
TOLERANCE = 1.05


@pytest.mark.parametrize(
    "chain", [CHEAPEST_CHAIN, LEAST_WASTE_CHAIN], ids=["cheapest", "least-waste"]
)
def test_within_five_percent_of_the_optimum(chain: list[Strategy]) -> None:
    rng = random.Random(20240601)
    worst = 1.0
    for _ in range(INSTANCES):
        inst = random_instance(rng)
        best_cost, best_nodes = optimum(inst)
        cost, nodes = planned_cost(inst, chain)
        assert cost <= best_cost * TOLERANCE + 1e-9, (inst, cost, best_cost)
        assert nodes <= best_nodes * TOLERANCE, (inst, nodes, best_nodes)
        worst = max(worst, cost / best_cost)
    assert worst <= TOLERANCE
