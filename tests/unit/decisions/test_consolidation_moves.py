"""Consolidation, expiry and drift moves, simulated with the planner itself."""

from __future__ import annotations

from typing import Any

import pytest
from decision_builders import ago, group, node, offering, request, snapshot

from growthrs_core.cluster import GroupView, NodeInfo, PodInfo
from growthrs_core.decisions.consolidation import (
    ConsolidationConfig,
    DisruptionDecision,
    decide,
    node_cost,
    simulate,
    utilisation,
)
from growthrs_core.decisions.disruption import RemovalView, parse_removal
from growthrs_core.decisions.memory import LoopMemory
from growthrs_core.decisions.reconcile import plan_pass
from growthrs_core.decisions.snapshot import Snapshot
from growthrs_core.domain import Resources
from growthrs_core.strategies import LeastWasteStrategy, PriorityStrategy

CHAIN = [PriorityStrategy(), LeastWasteStrategy()]
CFG = ConsolidationConfig()
CX32 = {"provider": "kwok", "serverType": ["cx32"], "priority": 90}
CPX31 = {"provider": "kwok", "serverType": ["cpx31"], "priority": 50}
CATALOGUE = {"kwok": [offering("cx32", cost=0.02), offering("cpx31", cost=0.03)]}


def plan(snap: Snapshot) -> Any:
    return plan_pass(snap, LoopMemory(), CHAIN)


def consolidating(**fields: Any) -> GroupView:
    scale_down = {"consolidation": "WhenUnderutilized", **fields.pop("scaleDown", {})}
    return group(pools=[CX32, CPX31], locations=["fsn1"], scaleDown=scale_down, **fields)


def pod(name: str, on: str = "", cpu: int = 1000, age: float = 3600, **kw: Any) -> PodInfo:
    fields: dict[str, Any] = {
        "phase": "Running" if on else "Pending",
        "owner_kind": "ReplicaSet",
        "owner_name": "web",
        "labels": {"app": "web"},
        **kw,
    }
    return PodInfo(
        namespace="ns",
        name=name,
        node_name=on,
        requests=Resources(cpu_millis=cpu, memory_mib=cpu),
        creation=ago(age),
        **fields,
    )


def cluster(
    g: GroupView,
    nodes: list[NodeInfo],
    pods: list[PodInfo],
    removals: list[RemovalView] | None = None,
    **kw: Any,
) -> tuple[Snapshot, list[RemovalView]]:
    snap = snapshot(groups=[g], nodes=nodes, pods=pods, offerings=CATALOGUE, **kw)
    return snap, removals or []


def run(
    snap: Snapshot, removals: list[RemovalView], memory: LoopMemory | None = None
) -> DisruptionDecision:
    return decide(snap, removals, memory or LoopMemory(), plan, CFG)


def removed(decision: DisruptionDecision) -> list[str]:
    return [m.node.name for m in decision.batch.moves] if decision.batch else []


# -- deletes and replaces -----------------------------------------------------------------


def test_a_node_whose_pods_fit_elsewhere_is_deleted_within_the_budget() -> None:
    snap, removals = cluster(
        consolidating(), [node("a"), node("b")], [pod("p1", "a"), pod("p2", "b")]
    )
    decision = run(snap, removals)
    # Default budget: 10 % of 2 nodes, rounded up: one at a time.
    assert removed(decision) == ["a"]
    assert decision.batch is not None and decision.batch.replacements == []
    assert decision.batch.saving == pytest.approx(0.02)
    assert "underutilised (25% requested)" in decision.batch.message(decision.batch.moves[0])
    assert "waiting for the disruption budget" in decision.skipped["b"]


def test_several_nodes_go_at_once_while_the_rest_holds_their_pods() -> None:
    g = consolidating(disruption={"budgets": [{"nodes": "100%"}]})
    nodes = [node(n) for n in "abcd"]
    pods = [pod(f"p{n}", n) for n in "abcd"]
    decision = run(*cluster(g, nodes, pods))
    # Four 1-CPU pods fit one 4-CPU node: three nodes just go. Taking the fourth too and
    # a new node for all four saves no more, and disrupts one pod more.
    assert removed(decision) == ["a", "b", "c"]
    assert decision.batch is not None and decision.batch.replacements == []
    assert "not together with the others" in decision.skipped["d"]


def test_a_dear_node_is_replaced_by_a_cheaper_one_that_must_come_first() -> None:
    big = node("big", pool=1, instance_type="cpx31")
    decision = run(*cluster(consolidating(), [big], [pod("p1", "big", cpu=2000)]))
    assert decision.batch is not None and removed(decision) == ["big"]
    [new] = decision.batch.replacements
    assert new.offering.key == "cx32@fsn1" and [p.key for p in new.pods] == ["ns/p1"]
    assert decision.batch.saving == pytest.approx(0.01)


def test_no_move_when_the_new_nodes_would_cost_as_much() -> None:
    decision = run(*cluster(consolidating(), [node("a")], [pod("p1", "a")]))
    assert decision.batch is None
    assert "would not save" in decision.skipped["a"]


def test_the_best_saving_per_disrupted_pod_goes_first() -> None:
    # Both could go, one at a time: the node with one pod before the one with two.
    g = consolidating()
    nodes = [node("crowded"), node("lonely"), node("target")]
    pods = [pod("c1", "crowded"), pod("c2", "crowded"), pod("l1", "lonely"), pod("t1", "target")]
    assert removed(run(*cluster(g, nodes, pods))) == ["lonely"]


# -- what keeps a node --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"do_not_disrupt": True}, "karpenter.sh/do-not-disrupt"),
        ({"safe_to_evict": False}, "safe-to-evict=false"),
        ({"local_storage": True}, "local storage"),
        ({"owner_kind": ""}, "no controller"),
    ],
)
def test_pods_that_keep_their_node(kw: dict[str, Any], why: str) -> None:
    snap, removals = cluster(
        consolidating(disruption={"budgets": [{"nodes": "100%"}]}),
        [node("a"), node("b")],
        [pod("p1", "a", **kw), pod("p2", "b", **kw)],
    )
    decision = run(snap, removals)
    assert decision.batch is None and why in decision.skipped["a"]


def test_group_settings_allow_local_storage_and_unreplicated_pods() -> None:
    g = consolidating(disruption={"evictLocalStorage": True, "evictUnreplicated": True})
    pods = [pod("p1", "a", local_storage=True, owner_kind=""), pod("p2", "b")]
    assert removed(run(*cluster(g, [node("a"), node("b")], pods))) == ["a"]


def test_safe_to_evict_true_overrides_local_storage() -> None:
    pods = [pod("p1", "a", local_storage=True, safe_to_evict=True), pod("p2", "b")]
    assert removed(run(*cluster(consolidating(), [node("a"), node("b")], pods))) == ["a"]


@pytest.mark.parametrize(
    ("group_fields", "pod_age", "why"),
    [
        ({"scaleDown": {"consolidation": "WhenEmpty"}}, 3600, None),
        ({"scaleDown": {"consolidateAfter": "10m"}}, 60, "consolidateAfter 10m"),
        ({"scaleDown": {"utilisationThreshold": 0.2}}, 3600, "utilisation 25% is not below 20%"),
        ({"disruption": {"budgets": [{"nodes": "0"}]}}, 3600, "disruption budget"),
    ],
)
def test_settings_that_hold_consolidation_back(
    group_fields: dict[str, Any], pod_age: float, why: str | None
) -> None:
    pods = [pod("p1", "a", age=pod_age), pod("p2", "b", age=pod_age)]
    decision = run(*cluster(consolidating(**group_fields), [node("a"), node("b")], pods))
    assert decision.batch is None
    if why is None:
        assert decision.skipped == {}
    else:
        assert why in decision.skipped["a"]


def test_a_node_marked_disabled_or_empty_is_not_consolidated() -> None:
    disabled = node("a")
    disabled.scale_down_disabled = True
    decision = run(*cluster(consolidating(), [disabled, node("b"), node("c")], [pod("p", "a")]))
    assert "scale-down-disabled" in decision.skipped["a"]
    assert "b" not in removed(decision) and "c" not in removed(decision)  # empty: scale-down's


def test_a_pod_pinned_to_its_node_keeps_it() -> None:
    pinned = pod("p1", "a", node_selector={"kubernetes.io/hostname": "a"})
    decision = run(*cluster(consolidating(), [node("a"), node("b")], [pinned, pod("p2", "b")]))
    assert decision.batch is None or "a" not in removed(decision)


# -- never undone, and only at rest ----------------------------------------------------------


def test_never_below_the_groups_minimum() -> None:
    g = consolidating(minNodes=2, disruption={"budgets": [{"nodes": "100%"}]})
    decision = run(*cluster(g, [node("a"), node("b")], [pod("p1", "a"), pod("p2", "b")]))
    assert decision.batch is None
    assert "undoing the move" in decision.skipped["a"]


def test_nothing_while_the_planner_adds_nodes_or_pods_are_about_to_land() -> None:
    nodes = [node("a"), node("b")]
    big_pending = pod("wide", cpu=3500, unschedulable=True)
    decision = run(*cluster(consolidating(), nodes, [pod("p1", "a"), pod("p2", "b"), big_pending]))
    assert decision.batch is None and decision.waiting == "the planner is adding nodes"
    small_pending = pod("small", cpu=500, unschedulable=True)
    decision = run(
        *cluster(consolidating(), nodes, [pod("p1", "a"), pod("p2", "b"), small_pending])
    )
    assert decision.waiting == "1 pending pod(s) are about to be placed"


def test_moved_pods_may_take_room_already_in_flight_and_wait_for_it() -> None:
    flight = request("g-f", "Provisioning", plannedPool=0, plannedOffering="cx32@fsn1")
    snap = snapshot(
        groups=[consolidating()],
        nodes=[node("a")],
        pods=[pod("p1", "a")],
        node_requests=[flight],
        offerings=CATALOGUE,
    )
    decision = run(snap, [])
    assert decision.batch is not None and removed(decision) == ["a"]
    assert decision.batch.replacements == [] and decision.batch.waits_for == ["g-f"]


# -- expiry and drift -----------------------------------------------------------------------


def test_an_expired_node_is_replaced_whatever_it_costs() -> None:
    g = consolidating(expireAfter="24h", scaleDown={"consolidation": "WhenEmpty"})
    old = node("old", age=2 * 86400)
    decision = run(*cluster(g, [old], [pod("p1", "old")]))
    assert decision.batch is not None and removed(decision) == ["old"]
    assert decision.batch.moves[0].reason == "Expired"
    assert [n.offering.key for n in decision.batch.replacements] == ["cx32@fsn1"]


def test_an_expired_node_whose_pods_fit_elsewhere_is_just_deleted() -> None:
    g = consolidating(expireAfter="24h", scaleDown={"consolidation": "WhenEmpty"})
    nodes = [node("old", age=2 * 86400), node("young", age=600)]
    decision = run(*cluster(g, nodes, [pod("p1", "old"), pod("p2", "young")]))
    assert removed(decision) == ["old"]
    assert decision.batch is not None and decision.batch.replacements == []


def test_a_drifted_node_goes_before_consolidation_and_within_budget() -> None:
    g = group(
        pools=[CX32],
        locations=["fsn1"],
        labels={"team": "b"},
        disruption={"budgets": [{"nodes": "1"}]},
    )
    nodes = [node("a", team="a"), node("b", team="a"), node("c", team="b")]
    pods = [pod("p1", "a"), pod("p2", "b"), pod("p3", "c")]
    decision = run(*cluster(g, nodes, pods))
    assert removed(decision) == ["a"]
    assert decision.batch is not None and decision.batch.moves[0].reason == "Drifted"
    assert "waiting for the disruption budget" in decision.skipped["b"]


def test_nodes_being_removed_count_and_are_not_chosen_again() -> None:
    g = consolidating(disruption={"budgets": [{"nodes": "2"}]})
    draining = parse_removal(
        {
            "metadata": {"name": "a"},
            "spec": {"nodeName": "a", "nodeGroup": "g", "reason": "Underutilized"},
            "status": {"phase": "Draining"},
        }
    )
    nodes = [node("a"), node("b"), node("c"), node("d")]
    pods = [pod("p1", "a"), pod("p2", "b"), pod("p3", "c"), pod("p4", "d")]
    decision = run(*cluster(g, nodes, pods, [draining]))
    assert "a" not in removed(decision) and len(removed(decision)) == 1


# -- the pieces -----------------------------------------------------------------------------


def test_simulation_leaves_daemonset_and_finished_pods_behind() -> None:
    pods = [
        pod("web", "a"),
        pod("ds", "a", owner_kind="DaemonSet"),
        pod("done", "a", phase="Succeeded"),
        pod("going", "a", deleting=True),
    ]
    snap = snapshot(groups=[consolidating()], nodes=[node("a"), node("b")], pods=pods)
    sim = simulate(snap, {"a": snap.nodes_by_name["a"]}, plan)
    assert sim.moved == {"ns/web"}
    assert sim.plan.outcomes["ns/web"].kind == "fits_existing"


def test_cost_and_utilisation() -> None:
    assert node_cost(node("a"), CATALOGUE) == 0.02
    assert node_cost(node("a", instance_type="cx99"), CATALOGUE) is None
    assert utilisation(node("a"), [pod("p", "a", cpu=1000), pod("q", "a", cpu=2000)]) == 0.75


def test_a_node_still_joining_is_not_judged() -> None:
    # Its labels may still be on their way: no drift, no consolidation until it joined.
    g = group(pools=[CX32], locations=["fsn1"], labels={"team": "b"})
    joining = node("new", ready=False)
    flight = node("flight", team="a", **{"growthrs.io/node-request": "g-f"})
    nr = request("g-f", "Provisioning", nodeName="flight")
    snap = snapshot(
        groups=[g],
        nodes=[joining, flight],
        pods=[pod("p1", "new"), pod("p2", "flight")],
        node_requests=[nr],
        offerings=CATALOGUE,
    )
    decision = run(snap, [])
    assert decision.batch is None and decision.skipped == {}


def test_a_pod_the_planner_places_but_the_scheduler_does_not_holds_back_only_so_long() -> None:
    nodes = [node("a"), node("b")]
    waiting = pod("small", cpu=500, unschedulable=True, unschedulable_since=ago(60))
    decision = run(*cluster(consolidating(), nodes, [pod("p1", "a"), pod("p2", "b"), waiting]))
    assert decision.waiting == "1 pending pod(s) are about to be placed"
    stuck = pod("small", cpu=500, unschedulable=True, unschedulable_since=ago(600))
    decision = run(*cluster(consolidating(), nodes, [pod("p1", "a"), pod("p2", "b"), stuck]))
    assert decision.waiting == "" and decision.batch is not None


def test_the_dry_run_shows_the_move_the_run_makes() -> None:
    """``growthrs plan`` runs the same disruption pass on the same snapshot."""
    from growthrs_core.decisions.reconcile import DecisionConfig, disruption, dry_run

    snap, removals = cluster(
        consolidating(), [node("a"), node("b")], [pod("p1", "a"), pod("p2", "b")]
    )
    cfg = DecisionConfig(consolidation=CFG)
    ran = disruption(snap, LoopMemory(), cfg, CHAIN, removals)
    dry = dry_run(snap, LoopMemory(), cfg, CHAIN, removals)
    assert removed(dry.disruption) == removed(ran) == ["a"]
    assert dry.disruption.skipped == ran.skipped
