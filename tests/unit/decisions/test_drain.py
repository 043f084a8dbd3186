"""Safe drains: which pods keep a node, and each NodeRemoval's next step."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from decision_builders import NOW, ago, group, node, request

from growthrs_core.cluster import GroupView, NodeInfo, PodInfo, parse_pod
from growthrs_core.decisions.disruption import RemovalView, parse_removal
from growthrs_core.decisions.drain import (
    DrainConfig,
    DrainPolicy,
    RemovalPlan,
    after_terminate,
    blocker,
    removal_plan,
)
from growthrs_core.decisions.memory import DeleteRetry, LoopMemory
from growthrs_core.domain import Taint
from growthrs_core.timeutil import format_time

CFG = DrainConfig()


def pod(name: str, on: str = "n", **kw: Any) -> PodInfo:
    fields: dict[str, Any] = {"phase": "Running", "owner_kind": "ReplicaSet", **kw}
    return PodInfo(namespace="ns", name=name, node_name=on, **fields)


def removal(
    phase: str = "Draining",
    *,
    pods: Sequence[str] = ("web",),
    replacements: Sequence[str] = (),
    deleting: bool = False,
    created: float = 60,
    **status: Any,
) -> RemovalView:
    meta: dict[str, Any] = {
        "name": "n",
        "uid": "uid-n",
        "creationTimestamp": ago(created),
        "finalizers": ["growthrs.io/removal"],
    }
    if deleting:
        meta["deletionTimestamp"] = ago(1)
    return parse_removal(
        {
            "metadata": meta,
            "spec": {
                "nodeName": "n",
                "nodeGroup": "g",
                "provider": "kwok",
                "reason": "Underutilized",
                "pods": [{"namespace": "ns", "name": p} for p in pods],
                "replacements": list(replacements),
            },
            "status": {"phase": phase, **status},
        }
    )


def drained_node(name: str = "n", tainted: bool = True, **kw: Any) -> NodeInfo:
    n = node(name, **kw)
    if tainted:
        n.taints = (Taint("growthrs.io/scale-down"),)
        n.finalizers = ("growthrs.io/termination",)
    return n


def decide(
    r: RemovalView,
    *,
    nodes: Sequence[NodeInfo] | None = None,
    pods: Sequence[PodInfo] = (),
    groups: Sequence[GroupView] | None = None,
    requests: Sequence[Any] = (),
    memory: LoopMemory | None = None,
    fits: bool = True,
    now_offset: float = 0,
) -> RemovalPlan:
    by_node: dict[str, list[PodInfo]] = {}
    for p in pods:
        by_node.setdefault(p.node_name, []).append(p)
    return removal_plan(
        removals=[r],
        nodes=list(nodes if nodes is not None else [drained_node()]),
        pods_by_node=by_node,
        groups={g.name: g for g in (groups if groups is not None else [group()])},
        node_requests=list(requests),
        memory=memory or LoopMemory(),
        now=NOW + timedelta(seconds=now_offset),
        cfg=CFG,
        fits_elsewhere=lambda _pods, _node: fits,
    )


def only(plan: RemovalPlan) -> Any:
    [step] = plan.steps
    return step


# -- what keeps a node ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "policy", "why"),
    [
        ({}, DrainPolicy(), None),
        ({"owner_kind": "DaemonSet", "do_not_disrupt": True}, DrainPolicy(), None),
        ({"mirror": True, "owner_kind": ""}, DrainPolicy(), None),
        ({"phase": "Succeeded", "owner_kind": ""}, DrainPolicy(), None),
        ({"do_not_disrupt": True}, DrainPolicy(), "do-not-disrupt"),
        ({"do_not_disrupt": True, "safe_to_evict": True}, DrainPolicy(), "do-not-disrupt"),
        ({"safe_to_evict": False}, DrainPolicy(), "safe-to-evict=false"),
        ({"local_storage": True}, DrainPolicy(), "local storage"),
        ({"local_storage": True}, DrainPolicy(evict_local_storage=True), None),
        ({"local_storage": True, "safe_to_evict": True}, DrainPolicy(), None),
        ({"owner_kind": ""}, DrainPolicy(), "no controller"),
        ({"owner_kind": ""}, DrainPolicy(evict_unreplicated=True), None),
        ({"owner_kind": "", "safe_to_evict": True}, DrainPolicy(), None),
    ],
)
def test_blockers(kw: dict[str, Any], policy: DrainPolicy, why: str | None) -> None:
    found = blocker(pod("p", **kw), policy)
    assert (found is None) if why is None else (found is not None and why in found)


def test_the_parser_records_what_a_drain_needs() -> None:
    raw = {
        "metadata": {
            "namespace": "ns",
            "name": "p",
            "annotations": {
                "karpenter.sh/do-not-disrupt": "true",
                "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes": "cache",
            },
        },
        "spec": {
            "terminationGracePeriodSeconds": 90,
            "volumes": [{"name": "cache", "emptyDir": {}}, {"name": "cm", "configMap": {}}],
            "containers": [],
        },
    }
    parsed = parse_pod(raw)
    assert parsed.do_not_disrupt and not parsed.local_storage and parsed.termination_grace == 90
    raw["spec"]["volumes"].append({"name": "logs", "hostPath": {"path": "/var/log"}})  # type: ignore[index]
    assert parse_pod(raw).local_storage
    assert parse_pod({"metadata": {"name": "q"}, "spec": {}}).termination_grace == 30


# -- Candidate ------------------------------------------------------------------------------


def test_a_candidate_without_replacements_taints_and_starts_draining() -> None:
    step = only(decide(removal("Candidate"), nodes=[drained_node(tainted=False)]))
    assert step.taint and step.status.phase == "Draining"
    assert step.status.drainStarted == format_time(NOW)
    assert [e.reason for e in step.events] == ["Draining"]


def test_a_candidate_waits_for_every_replacement_to_be_ready() -> None:
    provisioning = request("g-r", "Provisioning", nodeName="g-r")
    step = only(decide(removal("Candidate", replacements=["g-r"]), requests=[provisioning]))
    assert step.status.phase == "Candidate" and "g-r (Provisioning)" in step.status.message
    ready = request("g-r", "Ready", nodeName="g-r")
    joined = node("g-r")
    step = only(
        decide(
            removal("Candidate", replacements=["g-r"]),
            nodes=[drained_node(), joined],
            requests=[ready],
        )
    )
    assert step.status.phase == "Draining" and not step.taint


@pytest.mark.parametrize(
    ("requests", "why"),
    [([], "g-r is gone"), ([request("g-r", "Unmet")], "g-r is Unmet")],
)
def test_a_candidate_whose_replacement_fails_is_cancelled(requests: list[Any], why: str) -> None:
    step = only(decide(removal("Candidate", replacements=["g-r"]), requests=requests))
    assert step.status.phase == "Cancelled" and why in step.status.message and step.untaint


def test_a_candidate_waits_only_so_long() -> None:
    slow = request("g-r", "Provisioning")
    step = only(decide(removal("Candidate", replacements=["g-r"], created=3600), requests=[slow]))
    assert step.status.phase == "Cancelled" and "not Ready in time" in step.status.message


# -- Draining -------------------------------------------------------------------------------


def draining(**status: Any) -> RemovalView:
    return removal("Draining", drainStarted=ago(30), **status)


def test_draining_evicts_everything_but_daemonset_mirror_and_finished_pods() -> None:
    pods = [
        pod("web"),
        pod("ds", owner_kind="DaemonSet"),
        pod("static", mirror=True),
        pod("done", phase="Succeeded"),
    ]
    step = only(decide(draining(), pods=pods))
    assert [p.name for p in step.evict] == ["web"]
    assert step.status.evictionsPending == 1 and step.status.lastEviction == format_time(NOW)


def test_evictions_a_budget_refused_wait_for_their_backoff_and_are_reported() -> None:
    memory = LoopMemory(evictions_due={"ns/web": NOW + timedelta(seconds=5)})
    step = only(decide(draining(), pods=[pod("web"), pod("api")], memory=memory))
    assert [p.name for p in step.evict] == ["api"]
    assert step.status.blockedByPDB == ["ns/web"]
    assert "1 refused by a PodDisruptionBudget" in step.status.message


def test_past_the_drain_timeout_it_gives_up_and_untaints_by_default() -> None:
    memory = LoopMemory(evictions_due={"ns/web": NOW + timedelta(seconds=5)})
    step = only(
        decide(removal("Draining", drainStarted=ago(601)), pods=[pod("web")], memory=memory)
    )
    assert step.status.phase == "Cancelled" and step.untaint and not step.force_delete
    assert "timed out" in step.status.message and "ns/web" in step.status.message


def test_force_on_timeout_deletes_the_rest_without_eviction() -> None:
    g = group(disruption={"onDrainTimeout": "Force", "drainTimeout": "1m"})
    step = only(decide(removal("Draining", drainStarted=ago(61)), pods=[pod("web")], groups=[g]))
    assert [p.name for p in step.force_delete] == ["web"] and step.status.phase == "Draining"


def test_terminating_pods_get_their_grace_period_after_the_last_eviction() -> None:
    going = pod("web", deleting=True, termination_grace=60)
    waiting = only(decide(draining(lastEviction=ago(30)), pods=[going]))
    assert waiting.status.phase == "Draining" and "terminate" in waiting.status.message
    done = only(decide(draining(lastEviction=ago(70)), pods=[going]))
    assert done.status.phase == "Deleting"


def test_a_drained_node_goes_to_deleting() -> None:
    step = only(decide(draining(), pods=[pod("ds", owner_kind="DaemonSet")]))
    assert step.status.phase == "Deleting" and step.status.message == "drained"


@pytest.mark.parametrize(
    ("pods", "fits", "why"),
    [
        ([pod("web"), pod("stay", do_not_disrupt=True)], True, "do-not-disrupt"),
        ([pod("web"), pod("stranger")], False, "fit nowhere else landed on the node: ns/stranger"),
    ],
)
def test_pods_that_cannot_go_elsewhere_cancel_the_removal(
    pods: list[PodInfo], fits: bool, why: str
) -> None:
    step = only(decide(draining(), pods=pods, fits=fits))
    assert step.status.phase == "Cancelled" and why in step.status.message and step.untaint


def test_newcomers_that_fit_elsewhere_are_drained_too() -> None:
    step = only(decide(draining(), pods=[pod("web"), pod("stranger")], fits=True))
    assert {p.name for p in step.evict} == {"web", "stranger"}


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"deleting": True}, "the NodeRemoval was deleted"),
        ({"groups": []}, "group g is gone"),
    ],
)
def test_cancellations(kw: dict[str, Any], why: str) -> None:
    deleting = kw.pop("deleting", False)
    step = only(decide(removal("Draining", deleting=deleting), **kw))
    assert step.status.phase == "Cancelled" and why in step.status.message


def test_a_node_deleted_by_someone_else_still_has_its_instance_deleted() -> None:
    gone = drained_node(deleting=True)
    step = only(decide(draining(), nodes=[gone]))
    assert step.status.phase == "Deleting"
    step = only(decide(draining(), nodes=[]))
    assert step.status.phase == "Deleting"


# -- Deleting and after ---------------------------------------------------------------------


def test_deleting_terminates_once_unless_a_delete_is_in_flight() -> None:
    step = only(decide(removal("Deleting")))
    assert step.terminate == "kwok"
    assert decide(removal("Deleting"), memory=LoopMemory(removing={"n"})).steps == []
    retry = DeleteRetry("kwok", "x", NOW, 1)
    assert decide(removal("Deleting"), memory=LoopMemory(delete_retries={"n": retry})).steps == []
    assert after_terminate(removal("Deleting"), NOW).phase == "Deleted"


def test_finished_records_go_after_their_ttl_and_release_their_finalizer() -> None:
    assert decide(removal("Deleted", lastTransitionTime=ago(60)), nodes=[]).steps == []
    step = only(decide(removal("Deleted", lastTransitionTime=ago(601)), nodes=[]))
    assert step.release and step.delete_record
    step = only(decide(removal("Cancelled", deleting=True, lastTransitionTime=ago(5)), nodes=[]))
    assert step.release and not step.delete_record


def test_finalized_nodes_without_a_removal_are_terminated_or_untainted() -> None:
    deleting = drained_node("x", deleting=True)
    stale = drained_node("y")
    plain = node("z")
    out = removal_plan(
        removals=[],
        nodes=[deleting, stale, plain],
        pods_by_node={},
        groups={"g": group()},
        node_requests=[],
        memory=LoopMemory(),
        now=NOW,
        cfg=CFG,
        fits_elsewhere=lambda _p, _n: True,
    )
    assert [(t.node, t.provider) for t in out.terminations] == [("x", "kwok")]
    assert out.stale == ["y"]
