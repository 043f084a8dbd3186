"""Table-driven tests of the NodeRequest state machine: one row per transition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthrs_core.cluster import NodeInfo, NodeRequestView, Taint
from growthrs_core.crd.models import Attempt, NodeRequestSpec, NodeRequestStatus, Pool, Requirements
from growthrs_core.decisions.candidates import Candidate
from growthrs_core.decisions.node_request import (
    NOTHING,
    CreateInstance,
    DeleteInstance,
    DeleteNodeRequest,
    LabelNode,
    MachineConfig,
    Observation,
    node_name_for,
    on_create_result,
    step,
)
from growthrs_core.domain import Failed, InstanceType, NodeId, NotFound, Offering, Region, Resources
from growthrs_core.errors import CreationFailed, OfferingUnavailable, ProviderInternal
from growthrs_core.timeutil import format_time

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
CFG = MachineConfig(
    readiness_wait=300, max_attempts=2, ready_ttl=600, unmet_ttl=300, instance_gone_grace=60
)


def offering(name: str, cpu: int = 4000, mem: int = 8192, region: str = "fsn1") -> Offering:
    return Offering(
        instance_type=InstanceType(name),
        resources=Resources(cpu_millis=cpu, memory_mib=mem),
        cost_per_hour=0.01,
        region=Region(region),
    )


POOL_A = Pool(provider="kwok", serverType=["cx32"], priority=90)
POOL_B = Pool(provider="kwok", serverType=["cpx31"], priority=50)
CX32 = Candidate(0, POOL_A, offering("cx32"))
CPX31 = Candidate(1, POOL_B, offering("cpx31"))


def ago(seconds: float) -> str:
    return format_time(NOW - timedelta(seconds=seconds))


def nr(
    phase: str = "Pending",
    attempts: list[dict[str, Any]] | None = None,
    planned: tuple[int, str] | None = None,
    **status: Any,
) -> NodeRequestView:
    return NodeRequestView(
        name="g-abc",
        spec=NodeRequestSpec(
            nodeGroup="g",
            requirements=Requirements(cpu="2", memory="2Gi"),
            plannedPool=planned[0] if planned else None,
            plannedOffering=planned[1] if planned else None,
        ),
        status=NodeRequestStatus(
            phase=phase,  # type: ignore[arg-type]
            attempts=[Attempt(**a) for a in attempts or []],
            **status,
        ),
        creation=ago(1000),
    )


def created(
    pool: int = 0, offering_key: str = "cx32@fsn1", at: float = 10, node: str = "g-abc"
) -> dict[str, Any]:
    return {
        "pool": pool,
        "provider": "kwok",
        "offering": offering_key,
        "result": "Created",
        "nodeName": node,
        "timestamp": ago(at),
    }


def ready_node(name: str = "g-abc", ready: bool = True) -> NodeInfo:
    return NodeInfo(name=name, ready=ready, provider_id=f"kwok://{name}")


def test_pending_creates_the_best_candidate() -> None:
    # Candidates come best first (decisions.candidates ranks them as the planner would).
    t = step(nr(), Observation(candidates=[CX32, CPX31]), NOW, CFG)
    assert t.status is None
    assert t.actions == (CreateInstance(0, "kwok", CX32.offering, "g-abc"),)


def test_pending_asks_for_the_planned_offering_first() -> None:
    planned = nr(planned=(1, "cpx31@fsn1"))
    t = step(planned, Observation(candidates=[CX32, CPX31]), NOW, CFG)
    assert t.actions == (CreateInstance(1, "kwok", CPX31.offering, "g-abc"),)
    # Once it had no capacity, fallback takes the best candidate left.
    attempts = [{"pool": 1, "provider": "kwok", "offering": "cpx31@fsn1", "result": "Unavailable"}]
    t = step(
        nr(planned=(1, "cpx31@fsn1"), attempts=attempts),
        Observation(candidates=[CX32, CPX31]),
        NOW,
        CFG,
    )
    assert t.actions == (CreateInstance(0, "kwok", CX32.offering, "g-abc"),)


def test_pending_waits_while_its_group_backs_off_or_its_choice_is_probed() -> None:
    assert (
        step(nr(), Observation(candidates=[CX32], hold="group g is backing off"), NOW, CFG)
        == NOTHING
    )
    probed = Observation(candidates=[CX32, CPX31], probing=frozenset({("kwok", "cx32@fsn1")}))
    assert step(nr(), probed, NOW, CFG) == NOTHING  # the best one is being probed: wait
    other = Observation(candidates=[CX32, CPX31], probing=frozenset({("kwok", "cpx31@fsn1")}))
    assert step(nr(), other, NOW, CFG).actions == (
        CreateInstance(0, "kwok", CX32.offering, "g-abc"),
    )


def test_pending_skips_offerings_that_had_no_capacity_for_it() -> None:
    attempts = [{"pool": 0, "provider": "kwok", "offering": "cx32@fsn1", "result": "Unavailable"}]
    t = step(nr(attempts=attempts), Observation(candidates=[CX32, CPX31]), NOW, CFG)
    assert t.actions == (CreateInstance(1, "kwok", CPX31.offering, "g-abc"),)


def test_pending_gives_up_a_pool_after_max_attempts() -> None:
    attempts = [
        {**created(), "result": "Created"},
        {"pool": 0, "provider": "kwok", "offering": "cx32@fsn1", "result": "JoinTimeout"},
        {**created(node="g-abc-1"), "result": "Created"},
        {"pool": 0, "provider": "kwok", "offering": "cx32@fsn1", "result": "JoinTimeout"},
    ]
    t = step(nr(attempts=attempts), Observation(candidates=[CX32, CPX31]), NOW, CFG)
    assert t.actions == (CreateInstance(1, "kwok", CPX31.offering, "g-abc-2"),)


def test_pending_gives_up_a_pool_after_a_non_retryable_failure() -> None:
    attempts = [
        {
            "pool": 0,
            "provider": "kwok",
            "offering": "cx32@fsn1",
            "result": "Failed",
            "retryable": False,
        }
    ]
    t = step(nr(attempts=attempts), Observation(candidates=[CX32, CPX31]), NOW, CFG)
    assert [a.pool_index for a in t.actions if isinstance(a, CreateInstance)] == [1]


def test_pending_with_nothing_left_is_unmet() -> None:
    attempts = [
        {
            "pool": 0,
            "provider": "kwok",
            "offering": "cx32@fsn1",
            "result": "Unavailable",
            "message": "sold out",
        },
        {
            "pool": 1,
            "provider": "kwok",
            "offering": "cpx31@fsn1",
            "result": "Unavailable",
            "message": "sold out",
        },
    ]
    obs = Observation(candidates=[CX32, CPX31], unusable=["pool 2 (x): provider not installed"])
    t = step(nr(attempts=attempts), obs, NOW, CFG)
    assert t.status is not None and t.status.phase == "Unmet"
    assert t.status.lastTransitionTime == format_time(NOW)
    assert "provider not installed" in (t.status.message or "")
    assert "no capacity for cx32@fsn1" in (t.status.message or "")
    assert t.events[0].type == "Warning" and t.events[0].reason == "Unmet"
    assert t.actions == ()


@pytest.mark.parametrize(
    ("result", "phase", "attempt", "event"),
    [
        (NodeId("g-abc"), "Provisioning", "Created", "Provisioning"),
        (OfferingUnavailable("sold out"), "Pending", "Unavailable", "OfferingUnavailable"),
        (ProviderInternal("HTTP 503"), "Pending", "Failed", "CreationFailed"),
        (CreationFailed("quota", retryable=False), "Pending", "Failed", "CreationFailed"),
    ],
)
def test_create_result_is_recorded(result: Any, phase: str, attempt: str, event: str) -> None:
    action = CreateInstance(0, "kwok", CX32.offering, "g-abc")
    t = on_create_result(nr(), action, result, NOW)
    assert t.status is not None
    assert t.status.phase == phase
    assert t.status.attempts[-1].result == attempt
    assert t.status.attempts[-1].offering == "cx32@fsn1"
    assert t.status.attempts[-1].timestamp == format_time(NOW)
    assert t.events[0].reason == event
    if phase == "Provisioning":
        assert t.status.nodeName == "g-abc" and t.status.currentPool == 0
    if isinstance(result, CreationFailed):
        assert t.status.attempts[-1].retryable is False


def test_provisioning_node_ready_becomes_ready_and_labels_the_node() -> None:
    request = nr("Provisioning", [created()], nodeName="g-abc", currentPool=0, offering="cx32@fsn1")
    t = step(request, Observation(node=ready_node()), NOW, CFG)
    assert t.status is not None and t.status.phase == "Ready"
    assert t.status.providerID == "kwok://g-abc"
    assert t.actions == (LabelNode("g-abc", 0, "cx32@fsn1"),)


def registered_once(request: NodeRequestView, obs: Observation) -> None:
    """The request waits: it only notes (once) that its node registered."""
    t = step(request, obs, NOW, CFG)
    assert t.actions == () and t.status is not None and t.status.phase == "Provisioning"
    assert [(c.type, c.status) for c in t.status.conditions] == [("Registered", "True")]
    again = NodeRequestView(
        name=request.name, spec=request.spec, status=t.status, creation=request.creation
    )
    assert step(again, obs, NOW, CFG) == NOTHING


def test_provisioning_waits_while_the_node_is_not_ready_yet() -> None:
    request = nr("Provisioning", [created(at=10)], nodeName="g-abc", currentPool=0)
    registered_once(request, Observation(node=ready_node(ready=False)))
    assert step(request, Observation(node=None), NOW, CFG) == NOTHING  # not registered yet


@pytest.mark.parametrize(
    "key", ["node.kubernetes.io/not-ready", "node.cloudprovider.kubernetes.io/uninitialized"]
)
def test_provisioning_waits_while_a_ready_node_still_has_a_startup_taint(key: str) -> None:
    request = nr("Provisioning", [created(at=10)], nodeName="g-abc", currentPool=0)
    node = ready_node()
    node.taints = (Taint(key=key, value="", effect="NoSchedule"),)
    registered_once(request, Observation(node=node))
    late = nr("Provisioning", [created(at=301)], nodeName="g-abc", currentPool=0)
    t = step(late, Observation(node=node), NOW, CFG)
    assert t.status is not None and t.status.attempts[-1].result == "JoinTimeout"
    assert f"still tainted {key}" in t.status.attempts[-1].message


def test_provisioning_past_readiness_wait_deletes_and_retries() -> None:
    request = nr(
        "Provisioning", [created(at=301)], nodeName="g-abc", currentPool=0, offering="cx32@fsn1"
    )
    t = step(request, Observation(node=ready_node(ready=False)), NOW, CFG)
    assert t.status is not None and t.status.phase == "Pending"
    assert t.status.attempts[-1].result == "JoinTimeout"
    assert t.status.nodeName is None
    assert t.actions == (
        DeleteInstance("kwok", NodeId("g-abc"), "g-abc", t.status.attempts[-1].message),
    )
    assert node_name_for("g-abc", t.status) == "g-abc-1"


@pytest.mark.parametrize(
    ("visible_for", "times_out"),
    [
        pytest.param(None, True, id="never-blind"),
        pytest.param(30.0, False, id="sight-regained-30s-ago"),
        pytest.param(300.0, True, id="sight-regained-a-full-wait-ago"),
    ],
)
def test_the_join_clock_restarts_when_the_operator_sees_nodes_again(
    visible_for: float | None, times_out: bool
) -> None:
    """During an apiserver outage no node can be seen (or even become) Ready: that is
    nobody's fault, so the join wait counts from when the operator could see again."""
    request = nr(
        "Provisioning", [created(at=400)], nodeName="g-abc", currentPool=0, offering="cx32@fsn1"
    )
    since = None if visible_for is None else NOW - timedelta(seconds=visible_for)
    t = step(request, Observation(node=ready_node(ready=False), visible_since=since), NOW, CFG)
    timed_out = t.status is not None and t.status.phase == "Pending"
    assert timed_out is times_out
    if timed_out:
        assert t.status is not None and "not Ready after 400s" in t.status.attempts[-1].message


def test_provisioning_failed_instance_is_deleted() -> None:
    request = nr("Provisioning", [created()], nodeName="g-abc", currentPool=0)
    t = step(request, Observation(provider_status=Failed("image missing")), NOW, CFG)
    assert t.status is not None and t.status.phase == "Pending"
    assert "image missing" in t.status.attempts[-1].message
    assert isinstance(t.actions[0], DeleteInstance)


@pytest.mark.parametrize(
    ("node", "workload", "outcome"),
    [
        pytest.param(None, 0, "Pending", id="no-node-the-instance-is-deleted"),
        pytest.param(ready_node(ready=False), 0, "Pending", id="a-node-not-ready-is-deleted"),
        pytest.param(ready_node(), 0, "Ready", id="a-ready-node-joins"),
        pytest.param(
            NodeInfo(
                name="g-abc",
                ready=True,
                taints=(Taint(key="node.kubernetes.io/not-ready", value="", effect="NoSchedule"),),
            ),
            0,
            "waits",
            id="ready-but-tainted-waits-for-the-taint",
        ),
        pytest.param(ready_node(ready=False), 3, "Ready", id="pods-already-bound-it-joined"),
    ],
)
def test_a_failed_status_never_removes_a_node_that_runs(
    node: NodeInfo | None, workload: int, outcome: str
) -> None:
    """The provider's ``Failed`` loses to what the cluster shows: a Ready node, or one the
    scheduler has bound pods to (seen before its Ready), is not deleted with its pods."""
    request = nr("Provisioning", [created()], nodeName="g-abc", currentPool=0, offering="cx32@fsn1")
    t = step(
        request,
        Observation(node=node, provider_status=Failed("type retired"), workload=workload),
        NOW,
        CFG,
    )
    if outcome == "waits":
        assert t.status is None or t.status.phase == "Provisioning"
        assert not any(isinstance(a, DeleteInstance) for a in t.actions)
        return
    assert t.status is not None and t.status.phase == outcome
    deletes = [a for a in t.actions if isinstance(a, DeleteInstance)]
    assert bool(deletes) == (outcome == "Pending")


@pytest.mark.parametrize(
    ("obs", "at", "message"),
    [
        pytest.param(Observation(node=ready_node(ready=False)), 301, "not Ready after 301s"),
        pytest.param(Observation(provider_status=Failed("boom")), 10, "instance failed: boom"),
        pytest.param(Observation(provider_status=NotFound()), 61, "disappeared before it joined"),
    ],
    ids=["join-timeout", "failed", "vanished"],
)
def test_a_failed_attempt_names_its_offering_for_backoff(
    obs: Observation, at: float, message: str
) -> None:
    request = nr(
        "Provisioning", [created(at=at)], nodeName="g-abc", currentPool=0, offering="cx32@fsn1"
    )
    t = step(request, obs, NOW, CFG)
    assert t.failed_offering is not None
    assert (t.failed_offering.provider, t.failed_offering.offering) == ("kwok", "cx32@fsn1")
    assert message in t.failed_offering.message
    # A request that joins names nothing.
    assert step(request, Observation(node=ready_node()), NOW, CFG).failed_offering is None


def test_provisioning_instance_gone_without_node_fails_after_grace() -> None:
    young = nr("Provisioning", [created(at=30)], nodeName="g-abc", currentPool=0)
    assert step(young, Observation(provider_status=NotFound()), NOW, CFG).status is None
    old = nr("Provisioning", [created(at=61)], nodeName="g-abc", currentPool=0)
    t = step(old, Observation(provider_status=NotFound()), NOW, CFG)
    assert t.status is not None and t.status.phase == "Pending"


@pytest.mark.parametrize(
    ("phase", "age", "deleted"),
    [("Ready", 599, False), ("Ready", 600, True), ("Unmet", 299, False), ("Unmet", 300, True)],
)
def test_finished_requests_are_deleted_after_their_ttl(
    phase: str, age: float, deleted: bool
) -> None:
    t = step(nr(phase, lastTransitionTime=ago(age)), Observation(node=ready_node()), NOW, CFG)
    assert bool(t.actions and isinstance(t.actions[0], DeleteNodeRequest)) == deleted


def test_ready_request_whose_node_is_gone_is_deleted_early() -> None:
    fresh = nr("Ready", lastTransitionTime=ago(10), nodeName="g-abc")
    assert step(fresh, Observation(node=None), NOW, CFG).actions == ()
    old = nr("Ready", lastTransitionTime=ago(31), nodeName="g-abc")
    t = step(old, Observation(node=None), NOW, CFG)
    assert t.actions == (DeleteNodeRequest("node g-abc is gone"),)
    assert step(old, Observation(node=ready_node()), NOW, CFG).actions == ()


def test_step_is_idempotent() -> None:
    request = nr()
    obs = Observation(candidates=[CX32, CPX31])
    assert step(request, obs, NOW, CFG) == step(request, obs, NOW, CFG)


def conds(t: Any) -> dict[str, str]:
    return {c.type: c.status for c in t.status.conditions}


def test_conditions_follow_the_lifecycle_so_kubectl_wait_works() -> None:
    action = CreateInstance(0, "kwok", CX32.offering, "g-abc")
    launched = on_create_result(nr(), action, NodeId("g-abc"), NOW)
    assert conds(launched) == {"Launched": "True", "Registered": "False", "Ready": "False"}
    provisioning = NodeRequestView(
        name="g-abc", spec=nr().spec, status=launched.status, creation=ago(1000)
    )
    ready = step(provisioning, Observation(node=ready_node()), NOW, CFG)
    assert conds(ready) == {"Launched": "True", "Registered": "True", "Ready": "True"}
    failed = on_create_result(nr(), action, OfferingUnavailable("sold out"), NOW)
    assert conds(failed) == {"Launched": "False"}
    late = nr("Provisioning", [created(at=301)], nodeName="g-abc", currentPool=0)
    timed_out = step(late, Observation(node=None), NOW, CFG)
    assert conds(timed_out) == {"Launched": "False", "Registered": "False", "Ready": "False"}
    unmet = step(nr(), Observation(candidates=[]), NOW, CFG)
    assert unmet.status is not None and conds(unmet)["Ready"] == "False"
