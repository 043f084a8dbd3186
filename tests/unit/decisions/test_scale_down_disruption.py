"""Scale-down of empty nodes next to consolidation: budgets, drained and protected nodes,
do-not-disrupt, and the tick's wiring of drains and drift stamps."""

from __future__ import annotations

from typing import Any

from decision_builders import NOW, ago, group, node, request, snapshot

from growthrs_core.cluster import NodeInfo, PodInfo
from growthrs_core.decisions.consolidation import fits_elsewhere
from growthrs_core.decisions.disruption import parse_removal, template_hash
from growthrs_core.decisions.memory import LoopMemory
from growthrs_core.decisions.reconcile import DecisionConfig, disruption, scale_down_plan, tick
from growthrs_core.decisions.scale_down import ScaleDownConfig
from growthrs_core.domain import Resources
from growthrs_core.strategies import LeastWasteStrategy, PriorityStrategy

CFG = DecisionConfig(scale_down=ScaleDownConfig(enabled=True, new_node_grace=60))
A = {"provider": "kwok", "serverType": ["cx32"], "priority": 90}


def marked(name: str, **kw: Any) -> NodeInfo:
    n = node(name, **kw)
    n.scale_down_at = ago(1)
    return n


def removal(node_name: str, phase: str = "Candidate", **spec: Any) -> Any:
    return parse_removal(
        {
            "metadata": {"name": node_name},
            "spec": {"nodeName": node_name, "nodeGroup": "g", "reason": "Underutilized", **spec},
            "status": {"phase": phase},
        }
    )


def test_empty_removals_wait_for_the_budget_the_group_sets() -> None:
    nodes = [marked("a"), marked("b"), marked("c")]
    unlimited = scale_down_plan(snapshot(groups=[group(pools=[A])], nodes=nodes), LoopMemory(), CFG)
    assert [r.node for r in unlimited.removals] == ["a", "b", "c"]  # as before: no limit
    one = group(pools=[A], disruption={"budgets": [{"nodes": "1"}]})
    plan = scale_down_plan(snapshot(groups=[one], nodes=nodes), LoopMemory(), CFG)
    assert [r.node for r in plan.removals] == ["a"] and plan.unmarks == []
    only_drift = group(pools=[A], disruption={"budgets": [{"nodes": "0", "reasons": ["Drifted"]}]})
    plan = scale_down_plan(snapshot(groups=[only_drift], nodes=nodes), LoopMemory(), CFG)
    assert len(plan.removals) == 3


def test_a_budget_counts_nodes_being_drained() -> None:
    one = group(pools=[A], disruption={"budgets": [{"nodes": "1"}]})
    snap = snapshot(groups=[one], nodes=[marked("a"), node("busy")])
    plan = scale_down_plan(snap, LoopMemory(), CFG, removals=[removal("busy", "Draining")])
    assert plan.removals == []


def test_drained_nodes_and_their_replacements_are_left_to_the_removal() -> None:
    replacement = request("g-r", "Ready", nodeName="g-r")
    snap = snapshot(
        groups=[group(pools=[A])],
        nodes=[node("old"), node("g-r")],
        node_requests=[replacement],
    )
    plan = scale_down_plan(
        snap, LoopMemory(), CFG, removals=[removal("old", "Draining", replacements=["g-r"])]
    )
    assert plan.marks == []  # neither the drained node nor its (empty) replacement


def test_a_do_not_disrupt_pod_keeps_an_empty_node() -> None:
    ds = PodInfo(
        namespace="kube-system",
        name="agent",
        node_name="a",
        phase="Running",
        owner_kind="DaemonSet",
        do_not_disrupt=True,
    )
    snap = snapshot(groups=[group(pools=[A])], nodes=[marked("a")], pods=[ds])
    [unmark] = scale_down_plan(snap, LoopMemory(), CFG).unmarks
    assert "karpenter.sh/do-not-disrupt" in unmark.reason


def test_tick_steps_removals_and_stamps_new_nodes() -> None:
    g = group(pools=[A], locations=["fsn1"])
    assert g.spec is not None
    snap = snapshot(groups=[g], nodes=[node("a"), node("b")])
    decided = tick(snap, LoopMemory(), CFG, removals=[removal("a", "Candidate")])
    [step] = decided.removals.steps
    assert step.taint and step.status is not None and step.status.phase == "Draining"
    assert decided.stamps == [("a", template_hash(g.spec, 0)), ("b", template_hash(g.spec, 0))]


def running(name: str, on: str, cpu: int = 1000) -> PodInfo:
    return PodInfo(
        namespace="ns",
        name=name,
        node_name=on,
        phase="Running",
        owner_kind="ReplicaSet",
        requests=Resources(cpu_millis=cpu, memory_mib=cpu),
        creation=ago(3600),
    )


def test_pods_landing_on_a_drained_node_fit_elsewhere_by_the_planners_rules() -> None:
    snap = snapshot(groups=[group(pools=[A])], nodes=[node("a"), node("b")])
    assert fits_elsewhere(snap, [running("p", "a", 3000)], {"a"})
    assert not fits_elsewhere(snap, [running("p", "a", 3000), running("q", "a", 3000)], {"a"})
    assert not fits_elsewhere(snap, [running("p", "a")], {"a", "b"})


def test_the_disruption_pass_runs_the_planner_the_operator_runs() -> None:
    g = group(pools=[A], locations=["fsn1"], scaleDown={"consolidation": "WhenUnderutilized"})
    snap = snapshot(
        groups=[g],
        nodes=[node("a"), node("b")],
        pods=[running("p1", "a"), running("p2", "b")],
        now=NOW,
    )
    decided = disruption(snap, LoopMemory(), CFG, [PriorityStrategy(), LeastWasteStrategy()], [])
    assert decided.batch is not None and [m.node.name for m in decided.batch.moves] == ["a"]
