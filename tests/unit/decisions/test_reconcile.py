"""One pass: NodeRequest steps in order, limits within the pass, polls, and the dry run."""

from __future__ import annotations

from datetime import timedelta

from decision_builders import CATALOGUE, NOW, created, group, node, request, snapshot

from growthrs_core.cluster import PodInfo
from growthrs_core.decisions.memory import CallKey, DeleteRetry, LoopMemory, seed_from_groups
from growthrs_core.decisions.node_request import CreateInstance
from growthrs_core.decisions.reconcile import DecisionConfig, dry_run, scale_down_plan, tick
from growthrs_core.decisions.scale_down import ScaleDownConfig
from growthrs_core.domain import Resources, Running
from growthrs_core.strategies import LeastWasteStrategy, PriorityStrategy

CHAIN = [PriorityStrategy(), LeastWasteStrategy()]
CFG = DecisionConfig(scale_down=ScaleDownConfig(enabled=True, new_node_grace=60))
A = {"provider": "kwok", "serverType": ["cx32"], "priority": 90}


def creates(plan) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        s.nr.name: a.offering.key
        for s in plan.steps
        for a in s.transition.actions
        if isinstance(a, CreateInstance)
    }


def test_requests_step_in_order_and_limits_hold_within_one_pass() -> None:
    g = group(pools=[A], maxNodes=1, locations=["fsn1"])
    snap = snapshot(groups=[g], node_requests=[request("g-a"), request("g-b")])
    plan = tick(snap, LoopMemory(), CFG)
    assert creates(plan) == {"g-a": "cx32@fsn1"}
    [unmet] = [s for s in plan.steps if s.nr.name == "g-b"]
    assert unmet.transition.status is not None and unmet.transition.status.phase == "Unmet"
    assert "maxNodes 1" in (unmet.transition.status.message or "")
    assert plan.phases == {"Pending": 2, "Provisioning": 0, "Ready": 0, "Unmet": 0}


def test_busy_and_waiting_requests_are_left_alone() -> None:
    g = group(pools=[A])
    snap = snapshot(groups=[g], node_requests=[request("g-a"), request("g-b"), request("g-c")])
    memory = LoopMemory(
        calls={CallKey("create", "g-a")},
        retry_at={"g-b": NOW + timedelta(seconds=5), "g-c": NOW - timedelta(seconds=1)},
    )
    assert set(creates(tick(snap, memory, CFG))) == {"g-c"}


def test_requests_of_a_missing_or_invalid_group_wait() -> None:
    snap = snapshot(groups=[], node_requests=[request("g-a")])
    assert tick(snap, LoopMemory(), CFG).steps == []


def test_provisioning_instances_are_polled_every_few_seconds() -> None:
    g = group(pools=[A])
    provisioning = request(
        "g-a", "Provisioning", attempts=[created(node_name="g-a")], nodeName="g-a", currentPool=0
    )
    snap = snapshot(groups=[g], node_requests=[provisioning])
    [poll] = tick(snap, LoopMemory(), CFG).polls
    assert (poll.provider, poll.node_name) == ("kwok", "g-a")
    fresh = LoopMemory(provider_status={"g-a": (NOW - timedelta(seconds=2), Running())})
    assert tick(snap, fresh, CFG).polls == []
    stale = LoopMemory(provider_status={"g-a": (NOW - timedelta(seconds=6), Running())})
    assert len(tick(snap, stale, CFG).polls) == 1


def test_failed_deletes_come_due() -> None:
    retry = DeleteRetry("kwok", "orphan", NOW - timedelta(seconds=1), 2)
    later = DeleteRetry("kwok", "orphan", NOW + timedelta(seconds=9), 4)
    memory = LoopMemory(delete_retries={"x": retry, "y": later})
    assert tick(snapshot(), memory, CFG).retry_deletes == [("x", retry)]


def test_nodes_being_removed_are_not_judged_again() -> None:
    g = group(pools=[A])
    snap = snapshot(groups=[g], nodes=[node("n1"), node("n2")])
    assert {m.node for m in scale_down_plan(snap, LoopMemory(), CFG).marks} == {"n1", "n2"}
    assert {m.node for m in scale_down_plan(snap, LoopMemory(removing={"n1"}), CFG).marks} == {"n2"}


def test_the_dry_run_holds_scale_down_where_the_run_will_have_requests_in_flight() -> None:
    """Plan equals run: an idle node of a group that gets a new NodeRequest in this pass
    is not marked, exactly as the run (which has created the request by then) decides."""
    g = group(pools=[A], locations=["fsn1"])
    idle = node("idle")
    # Empty for scale-down (a DaemonSet pod only), yet without room for the pending pod.
    daemon = PodInfo(
        namespace="kube-system",
        name="ds-idle",
        node_name="idle",
        phase="Running",
        owner_kind="DaemonSet",
        requests=Resources(cpu_millis=2000, memory_mib=100),
    )
    pending = PodInfo(
        namespace="ns",
        name="p",
        unschedulable=True,
        requests=Resources(cpu_millis=3000, memory_mib=100),
    )
    snap = snapshot(groups=[g], nodes=[idle], pods=[pending, daemon])
    dry = dry_run(snap, LoopMemory(), CFG, CHAIN)
    assert len(dry.plan.new_nodes) == 1 and dry.scale_down.marks == []
    # The run, one step later: the request exists and is Pending.
    after = snapshot(
        groups=[g],
        nodes=[idle],
        pods=[pending, daemon],
        node_requests=[request("g-new", pods=["ns/p"])],
    )
    assert scale_down_plan(after, LoopMemory(), CFG).marks == []
    # Without pending pods both mark the idle node.
    quiet = snapshot(groups=[g], nodes=[idle], pods=[daemon])
    assert [m.node for m in dry_run(quiet, LoopMemory(), CFG, CHAIN).scale_down.marks] == ["idle"]


def test_the_dry_run_avoids_what_the_group_status_says_is_backing_off() -> None:
    from growthrs_core.crd.models import Backoff as BackoffStatus

    g = group(
        pools=[A, {"provider": "kwok", "serverType": ["cpx31"], "priority": 50}], locations=["fsn1"]
    )
    g.status = g.status.model_copy(
        update={
            "backoffs": [
                BackoffStatus(
                    provider="kwok",
                    offering="cx32@fsn1",
                    until="2026-11-30T12:05:00Z",
                    failures=1,
                    reason="no capacity",
                )
            ]
        }
    )
    pending = PodInfo(
        namespace="ns",
        name="p",
        unschedulable=True,
        requests=Resources(cpu_millis=500, memory_mib=100),
    )
    snap = snapshot(groups=[g], pods=[pending])
    memory = LoopMemory()
    seed_from_groups(memory, snap.groups)
    dry = dry_run(snap, memory, CFG, CHAIN)
    assert [n.offering.key for n in dry.plan.new_nodes] == ["cpx31@fsn1"]
    assert list(dry.backing_off) == [("kwok", "cx32@fsn1")]


def test_an_offering_that_never_succeeded_takes_one_create_at_a_time() -> None:
    g = group(pools=[A], locations=["fsn1"])
    snap = snapshot(groups=[g], node_requests=[request("g-a"), request("g-b"), request("g-c")])
    # Nothing proven yet: one probes, the others wait for its answer.
    assert list(creates(tick(snap, LoopMemory(), CFG))) == ["g-a"]
    # Once a create there succeeded, requests create side by side.
    proven = LoopMemory(proven={("kwok", "cx32@fsn1")})
    assert sorted(creates(tick(snap, proven, CFG))) == ["g-a", "g-b", "g-c"]


def test_a_group_backing_off_creates_nothing_until_the_time_is_up() -> None:
    from growthrs_core.decisions.backoff import Backoff

    g = group(pools=[A], locations=["fsn1"])
    snap = snapshot(groups=[g], node_requests=[request("g-a")])
    memory = LoopMemory(group_backoffs={"g": Backoff(NOW + timedelta(seconds=30), 1, "quota")})
    plan = tick(snap, memory, CFG)
    assert creates(plan) == {} and all(s.transition.status is None for s in plan.steps)
    later = snapshot(groups=[g], node_requests=[request("g-a")], now=NOW + timedelta(seconds=31))
    assert list(creates(tick(later, memory, CFG))) == ["g-a"]


def test_the_plan_sees_volumes_and_namespaces_from_the_snapshot() -> None:
    from growthrs_core.cluster import ClaimInfo, NamespaceInfo
    from growthrs_core.decisions.reconcile import plan_pass
    from growthrs_core.decisions.snapshot import build_snapshot

    g = group(pools=[A], locations=["fsn1"])
    pod = PodInfo(
        namespace="ns",
        name="db-0",
        unschedulable=True,
        requests=Resources(cpu_millis=500, memory_mib=100),
        claims=("data",),
    )
    unbound = ClaimInfo(namespace="ns", name="data", storage_class="", phase="Pending")
    snap = build_snapshot(
        pods=[pod],
        nodes=[],
        daemonsets=[],
        groups=[g],
        node_requests=[],
        offerings=CATALOGUE,
        installed=["kwok"],
        now=NOW,
        claims=[unbound],
        namespaces=[NamespaceInfo("ns", {"team": "a"})],
    )
    assert snap.namespaces == {"ns": {"team": "a"}}
    outcome = plan_pass(snap, LoopMemory(), CHAIN).outcomes["ns/db-0"]
    assert outcome.kind == "cannot_serve" and outcome.reason == "VolumeNotBound"


def test_a_node_removed_once_is_not_removed_again_before_the_watch_sees_it_go() -> None:
    g = group(pools=[A])
    gone = node("n1", age=7200)
    gone.scale_down_at = "2026-11-30T11:00:00Z"
    snap = snapshot(groups=[g], nodes=[gone])
    assert [r.node for r in scale_down_plan(snap, LoopMemory(), CFG).removals] == ["n1"]
    memory = LoopMemory(removed={"n1": NOW})
    assert scale_down_plan(snap, memory, CFG).removals == []
    memory.forget_expired(NOW, snap.nodes_by_name)
    assert "n1" in memory.removed  # still listed: still remembered
    memory.forget_expired(NOW, {})
    assert memory.removed == {}  # the watch saw it go


def test_an_instance_that_never_joined_backs_its_offering_off_for_every_request() -> None:
    """A join timeout costs one create of that type, not one per request in flight: after
    it, the others fall back, and the type is probed once when its backoff ends."""
    from growthrs_core.decisions.failures import FailurePolicy, remember_node_failure

    g = group(
        pools=[A, {"provider": "kwok", "serverType": ["cpx31"], "priority": 50}], locations=["fsn1"]
    )
    timed_out = request(
        "g-t",
        "Provisioning",
        attempts=[created(node_name="g-t", at=CFG.machine.readiness_wait + 1)],
        nodeName="g-t",
        currentPool=0,
        offering="cx32@fsn1",
    )
    plan = tick(snapshot(groups=[g], node_requests=[timed_out]), LoopMemory(), CFG)
    [failure] = [s.transition.failed_offering for s in plan.steps]
    assert failure is not None and (failure.provider, failure.offering) == ("kwok", "cx32@fsn1")
    memory = LoopMemory(proven={("kwok", "cx32@fsn1"), ("kwok", "cpx31@fsn1")})
    remember_node_failure(memory, ("kwok", "cx32@fsn1"), FailurePolicy(), NOW, failure.message)
    pending = [request("g-a"), request("g-b")]
    assert creates(tick(snapshot(groups=[g], node_requests=pending), memory, CFG)) == {
        "g-a": "cpx31@fsn1",
        "g-b": "cpx31@fsn1",
    }
    later = NOW + timedelta(seconds=60)
    assert creates(tick(snapshot(groups=[g], node_requests=pending, now=later), memory, CFG)) == {
        "g-a": "cx32@fsn1"
    }


def test_a_provisioning_node_with_pods_bound_joins_even_if_the_provider_says_failed() -> None:
    from growthrs_core.domain import Failed

    g = group(pools=[A], locations=["fsn1"])
    nr = request(
        "g-a",
        "Provisioning",
        attempts=[created(node_name="g-a")],
        nodeName="g-a",
        currentPool=0,
        offering="cx32@fsn1",
    )
    booting = node("g-a", ready=False)
    web = PodInfo(namespace="ns", name="web", node_name="g-a", phase="Running")
    memory = LoopMemory(provider_status={"g-a": (NOW, Failed("type retired"))})
    plan = tick(snapshot(groups=[g], node_requests=[nr], nodes=[booting], pods=[web]), memory, CFG)
    [s] = plan.steps
    assert s.transition.status is not None and s.transition.status.phase == "Ready"
    assert s.transition.failed_offering is None
    # Without the pod, the failed instance goes.
    plan = tick(snapshot(groups=[g], node_requests=[nr], nodes=[booting]), memory, CFG)
    [s] = plan.steps
    assert s.transition.status is not None and s.transition.status.phase == "Pending"


def test_a_request_waits_for_a_backoff_that_ends_before_unmet_ttl_instead_of_going_unmet() -> None:
    """Unmet would hold the pods for unmet_ttl anyway; an offering back sooner than that
    is waited for. A longer backoff, or a pool the request gave up, makes it Unmet."""
    from growthrs_core.decisions.backoff import Backoff

    g = group(pools=[A], locations=["fsn1"])
    ttl = CFG.machine.unmet_ttl

    def phase_after(backoff_s: float, attempts: list[dict[str, object]] | None = None) -> str:
        nr = request("g-a", attempts=attempts or [])
        memory = LoopMemory(
            offering_backoffs={
                ("kwok", "cx32@fsn1"): Backoff(
                    NOW + timedelta(seconds=backoff_s), 1, "node not Ready", hard=True
                )
            }
        )
        [s] = tick(snapshot(groups=[g], node_requests=[nr]), memory, CFG).steps
        assert not [a for a in s.transition.actions if isinstance(a, CreateInstance)]
        return s.transition.status.phase if s.transition.status else "Pending"

    assert phase_after(10) == "Pending"
    assert phase_after(ttl - 1) == "Pending"
    assert phase_after(ttl + 60) == "Unmet"
    failed = {"pool": 0, "provider": "kwok", "offering": "cx32@fsn1", "result": "Failed"}
    assert phase_after(10, [failed, failed]) == "Unmet"  # max_attempts used up in the pool
