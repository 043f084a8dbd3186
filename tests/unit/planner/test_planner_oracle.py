"""The packing against an exact optimum: a bin-packing MILP solved with HiGHS.

Small random instances (at most 12 pods, a few offerings of one pool in one
location, resources only): the plan's hourly cost must stay within 5 % of the
cheapest possible set of nodes, and its node count within 5 % of that optimum's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from planner_builders import CHEAPEST_CHAIN, DEFAULT_CHAIN, group, offering, pod, pool, run

from growthrs_core.cluster import PodInfo
from growthrs_core.domain import Offering
from growthrs_core.strategies import Strategy

highspy = pytest.importorskip("highspy")

INSTANCES = 80
TOLERANCE = 1.05


@dataclass
class Instance:
    pods: list[PodInfo]
    offerings: list[Offering]


def random_instance(rng: random.Random, min_pods: int = 1, max_pods: int = 12) -> Instance:
    """One pool's worth of offerings (1-4, prices off linear by up to 30 %) and
    ``min_pods``..``max_pods`` pods that each fit at least one of them."""
    offers = []
    for t in range(rng.randint(1, 4)):
        cpu = rng.choice([1, 2, 4, 8])
        mem = cpu * rng.choice([1, 2, 4])
        price = round((cpu * 0.004 + mem * 0.001) * rng.uniform(0.7, 1.3), 5)
        offers.append(offering(f"t{t}", cpu=cpu, memory_gib=mem, price=price))
    big_cpu = max(o.resources.cpu_millis for o in offers)
    big_mem = max(o.resources.memory_mib for o in offers)
    pods = []
    for i in range(rng.randint(min_pods, max_pods)):
        share = rng.choice([4, 4, 3, 2, 1])  # mostly small pods, some big ones
        cpu = rng.randint(1, max(1, big_cpu // 100 // share)) * 100
        mem = rng.randint(1, max(1, big_mem // 128 // share)) * 128
        # Keep every pod placeable on at least one offering.
        while not any(
            cpu <= o.resources.cpu_millis and mem <= o.resources.memory_mib for o in offers
        ):
            cpu, mem = max(100, cpu // 2), max(128, mem // 2)
        pods.append(pod(f"p{i}", f"{cpu}m", f"{mem}Mi"))
    return Instance(pods, offers)


def optimum(inst: Instance) -> tuple[float, int]:
    """Cheapest packing, then fewest nodes among the cheapest: (cost, nodes).

    Pods sorted by size; pod i may only use bins 0..i (a standard symmetry break:
    any packing can be renumbered so each bin is named after its first pod).
    """
    h = highspy.Highs()
    h.silent()
    pods = sorted(inst.pods, key=lambda p: (-p.requests.cpu_millis, -p.requests.memory_mib))
    n, types = len(pods), inst.offerings
    y = [[h.addBinary() for _ in types] for _ in range(n)]
    x = [[h.addBinary() for _ in range(i + 1)] for i in range(n)]
    for i in range(n):
        h.addConstr(sum(x[i]) == 1)
    for b in range(n):
        h.addConstr(sum(y[b]) <= 1)
        members = [(i, x[i][b]) for i in range(b, n)]
        for _, var in members:
            h.addConstr(var <= sum(y[b]))
        h.addConstr(
            sum(pods[i].requests.cpu_millis * var for i, var in members)
            <= sum(o.resources.cpu_millis * y[b][t] for t, o in enumerate(types))
        )
        h.addConstr(
            sum(pods[i].requests.memory_mib * var for i, var in members)
            <= sum(o.resources.memory_mib * y[b][t] for t, o in enumerate(types))
        )
    epsilon = min(o.cost_per_hour for o in types) * 1e-4
    h.minimize(
        sum((o.cost_per_hour + epsilon) * y[b][t] for b in range(n) for t, o in enumerate(types))
    )
    values = h.vals([v for row in y for v in row])
    nodes = round(sum(values))
    cost = sum(
        o.cost_per_hour * round(values[b * len(types) + t])
        for b in range(n)
        for t, o in enumerate(types)
    )
    return cost, nodes


def planned(inst: Instance, chain: list[Strategy]) -> tuple[float, int]:
    names = [str(o.instance_type) for o in inst.offerings]
    result = run(
        inst.pods, [group(pools=[pool(names)])], {"hetzner": inst.offerings}, strategies=chain
    )
    assert not result.stuck()
    assert sum(len(n.pods) for n in result.new_nodes) == len(inst.pods)
    return sum(n.offering.cost_per_hour for n in result.new_nodes), len(result.new_nodes)


@pytest.mark.parametrize("chain", [CHEAPEST_CHAIN, DEFAULT_CHAIN], ids=["cheapest", "least-waste"])
def test_within_five_percent_of_the_optimum(chain: list[Strategy]) -> None:
    rng = random.Random(20240601)
    worst = 1.0
    for _ in range(INSTANCES):
        inst = random_instance(rng)
        best_cost, best_nodes = optimum(inst)
        cost, nodes = planned(inst, chain)
        assert cost <= best_cost * TOLERANCE + 1e-9, (inst, cost, best_cost)
        assert nodes <= best_nodes * TOLERANCE, (inst, nodes, best_nodes)
        worst = max(worst, cost / best_cost)
    assert worst <= TOLERANCE
