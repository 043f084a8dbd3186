"""The built-in scoring strategies and the deterministic final tie-break."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from growthrs_core import InstanceType, Offering, Region, Resources, Zone
from growthrs_core.strategies import (
    CheapestStrategy,
    LeastWasteStrategy,
    MostPodsStrategy,
    PoolRef,
    PriorityStrategy,
    ScaleUpOption,
    Strategy,
    choose,
    tie_break_key,
)


def option(
    name: str = "cx22",
    *,
    priority: int = 50,
    index: int = 0,
    cost: float = 0.01,
    cpu: int = 2000,
    mem: int = 4096,
    nodes: int = 1,
    pods: int = 1,
    req_cpu: int = 1000,
    req_mem: int = 2048,
    region: str = "fsn1",
    zone: str | None = None,
) -> ScaleUpOption:
    return ScaleUpOption(
        pool=PoolRef(group="g", index=index, provider="kwok", priority=priority),
        offering=Offering(
            instance_type=InstanceType(name),
            resources=Resources(cpu_millis=cpu, memory_mib=mem),
            cost_per_hour=cost,
            region=Region(region),
            zone=Zone(zone) if zone else None,
        ),
        node_count=nodes,
        pods=tuple(f"default/p{i}" for i in range(pods)),
        requested=Resources(cpu_millis=req_cpu, memory_mib=req_mem),
    )


def names(options: Sequence[ScaleUpOption]) -> list[str]:
    return [str(o.offering.instance_type) for o in options]


@pytest.mark.parametrize(
    "strategy", [PriorityStrategy(), CheapestStrategy(), LeastWasteStrategy(), MostPodsStrategy()]
)
def test_builtins_satisfy_the_protocol_and_keep_a_single_option(strategy: Strategy) -> None:
    assert isinstance(strategy, Strategy)
    only = [option()]
    assert strategy.best_options(only) == only


def test_priority_keeps_the_highest_pool_priority() -> None:
    opts = [
        option("a", priority=50, index=1),
        option("b", priority=90, index=0),
        option("c", priority=90, index=2),
        option("d", priority=10, index=3),
    ]
    assert names(PriorityStrategy().best_options(opts)) == ["b", "c"]


def test_cheapest_is_cost_per_placed_pod_not_cost() -> None:
    opts = [
        option("cheap-box", cost=0.01, pods=1),  # 0.01 per pod
        option("big-box", cost=0.03, pods=6),  # 0.005 per pod
        option("two-boxes", cost=0.004, nodes=2, pods=1),  # 0.008 for the pod
    ]
    assert names(CheapestStrategy().best_options(opts)) == ["big-box"]


def test_cheapest_counts_nodes_and_treats_no_pods_as_one() -> None:
    opts = [option("x", cost=0.01, nodes=3, pods=0), option("y", cost=0.02, nodes=1, pods=0)]
    assert names(CheapestStrategy().best_options(opts)) == ["y"]


def test_cheapest_ties_survive_float_noise() -> None:
    opts = [option("a", cost=0.1 + 0.2, pods=3), option("b", cost=0.3, pods=3)]
    assert names(CheapestStrategy().best_options(opts)) == ["a", "b"]


def test_least_waste_prefers_least_idle_cpu_then_memory() -> None:
    opts = [
        option("half-cpu", cpu=2000, req_cpu=1000, mem=4096, req_mem=4096),
        option("full-cpu-idle-mem", cpu=1000, req_cpu=1000, mem=8192, req_mem=4096),
        option("full-cpu-full-mem", cpu=1000, req_cpu=1000, mem=4096, req_mem=4096),
    ]
    assert names(LeastWasteStrategy().best_options(opts)) == ["full-cpu-full-mem"]
    assert names(LeastWasteStrategy().best_options(opts[:2])) == ["full-cpu-idle-mem"]


def test_least_waste_measures_across_all_nodes() -> None:
    one = option("one", cpu=4000, mem=8192, nodes=1, req_cpu=3000, req_mem=4096)
    two = option("two", cpu=2000, mem=4096, nodes=2, req_cpu=3000, req_mem=4096)
    assert one.idle == two.idle == (0.25, 0.5)
    assert names(LeastWasteStrategy().best_options([one, two])) == ["one", "two"]


def test_idle_of_a_zero_capacity_offering_is_all_idle() -> None:
    assert option(cpu=0, mem=0).idle == (1.0, 1.0)


def test_most_pods() -> None:
    opts = [option("a", pods=2), option("b", pods=5), option("c", pods=5)]
    assert names(MostPodsStrategy().best_options(opts)) == ["b", "c"]


def test_choose_runs_the_chain_in_order() -> None:
    opts = [
        option("low-prio-cheap", priority=10, cost=0.001, index=0),
        option("hi-prio-pricey", priority=90, cost=0.05, index=1),
        option("hi-prio-cheap", priority=90, cost=0.02, index=2),
    ]
    assert choose(opts, [PriorityStrategy(), CheapestStrategy()]) == opts[2]
    assert choose(opts, [CheapestStrategy(), PriorityStrategy()]) == opts[0]


def test_choose_with_empty_input_or_empty_chain() -> None:
    assert choose([], [PriorityStrategy()]) is None
    opts = [option("b", cost=0.02), option("a", cost=0.01)]
    assert choose(opts, []) == opts[1]  # only the final tie-break: cheaper first


class Nothing:
    def best_options(self, options: Sequence[ScaleUpOption]) -> list[ScaleUpOption]:
        return []


class Stranger:
    def best_options(self, options: Sequence[ScaleUpOption]) -> list[ScaleUpOption]:
        return [option("not-an-input", cost=0.0)]


def test_choose_ignores_a_strategy_that_returns_nothing_or_strangers() -> None:
    opts = [option("a", priority=10), option("b", priority=90, index=1)]
    assert choose(opts, [Nothing(), Stranger(), PriorityStrategy()]) == opts[1]


def test_tie_break_order_fewer_nodes_cheaper_pool_index_then_names() -> None:
    base = dict(priority=50, pods=1)
    ranked = [
        option("z", nodes=1, cost=0.01, index=5, **base),  # type: ignore[arg-type]
        option("z", nodes=1, cost=0.02, index=0, **base),  # type: ignore[arg-type]
        option("b", nodes=1, cost=0.03, index=0, **base),  # type: ignore[arg-type]
        option("c", nodes=1, cost=0.03, index=0, **base),  # type: ignore[arg-type]
        option("c", nodes=1, cost=0.03, index=0, region="hel1", **base),  # type: ignore[arg-type]
        option("c", nodes=1, cost=0.03, index=0, region="nbg1", **base),  # type: ignore[arg-type]
        option("c", nodes=1, cost=0.03, index=0, region="nbg1", zone="nbg1-dc3", **base),  # type: ignore[arg-type]
        option("a", nodes=2, cost=0.001, index=0, **base),  # type: ignore[arg-type]
    ]
    assert sorted(ranked, key=tie_break_key) == ranked
    # Unlike Offering.key's region/zone, no two distinct options share a key.
    assert len({tie_break_key(o) for o in ranked}) == len(ranked)


TIED = [
    option(t, region=r, index=i)
    for i, t in enumerate(["cx22", "cpx11", "cax11"])
    for r in ("fsn1", "nbg1", "hel1")
]


@given(st.permutations(TIED))
def test_choose_is_deterministic_whatever_the_input_order(opts: list[ScaleUpOption]) -> None:
    chain: list[Strategy] = [PriorityStrategy(), LeastWasteStrategy(), CheapestStrategy()]
    chosen = choose(opts, chain)
    assert chosen is not None
    assert (chosen.pool.index, str(chosen.offering.instance_type), str(chosen.offering.region)) == (
        0,
        "cx22",
        "fsn1",
    )
