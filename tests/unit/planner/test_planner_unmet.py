"""An Unmet NodeRequest holds the pods it lists until the operator deletes it after
``unmet_ttl``: they are not planned again at once (a churn of requests when every
pool fails), but the request is no capacity and no node under ``maxNodes``."""

from __future__ import annotations

from typing import Any

from growthrs_core.cluster import NodeRequestView, PodInfo, parse_node_request
from growthrs_testkit.planning import (
    covered,
    group,
    lineup,
    node_requests_from,
    pod,
    pool,
    reasons,
    run,
)

HETZNER = {"hetzner": lineup(["cx22", "cx32"])}
G = [group(pools=[pool(["cx22", "cx32"])])]
WHY = "pool 0 (hetzner cx22,cx32): every offering is backing off after a capacity error"


def unmet(name: str, pods: list[PodInfo], *, message: str = WHY, **meta: Any) -> NodeRequestView:
    return parse_node_request(
        {
            "metadata": {"name": name, "uid": f"uid-{name}", **meta},
            "spec": {
                "nodeGroup": "default",
                "requirements": {"cpu": "1", "memory": "1Gi"},
                "pods": [{"namespace": p.namespace, "name": p.name, "uid": p.uid} for p in pods],
                "plannedPool": 0,
                "plannedOffering": "cx22@fsn1",
            },
            "status": {"phase": "Unmet", "message": message},
        }
    )


def test_an_unmet_request_holds_its_pending_pods() -> None:
    a, b = pod("a"), pod("b")
    result = run([a, b], G, HETZNER, node_requests=[unmet("nr-1", [a, b])])
    assert result.new_nodes == []
    assert covered(result) == {"default/a": "nr-1", "default/b": "nr-1"}
    outcome = result.outcomes["default/a"]
    assert outcome.kind == "in_flight" and outcome.node_request == "nr-1"
    assert "NodeRequest nr-1 is Unmet" in outcome.message
    assert WHY in outcome.message and "unmet_ttl" in outcome.message
    assert not result.stuck()


def test_the_plans_own_requests_turned_unmet_plan_nothing_new() -> None:
    pending = [pod(f"p{i}", "1500m") for i in range(3)]
    first = run(pending, G, HETZNER)
    assert len(first.new_nodes) >= 2
    again = run(pending, G, HETZNER, node_requests=node_requests_from(first, phase="Unmet"))
    assert again.new_nodes == []
    assert set(covered(again)) == {p.key for p in pending}


def test_an_unmet_request_offers_no_room() -> None:
    a = pod("a", "100m")
    other = pod("other", "100m")
    result = run([a, other], G, HETZNER, node_requests=[unmet("nr-1", [a])])
    assert covered(result) == {"default/a": "nr-1"}
    assert [p.name for n in result.new_nodes for p in n.pods] == ["other"]


def test_an_unmet_request_does_not_count_against_max_nodes() -> None:
    groups = [group(pools=[pool(["cx22"], maxNodes=1)], maxNodes=1)]
    a, b = pod("a"), pod("b")
    result = run([a, b], groups, HETZNER, node_requests=[unmet("nr-1", [a])])
    assert [p.name for n in result.new_nodes for p in n.pods] == ["b"]
    assert reasons(result) == {}


def test_an_unmet_request_is_no_node_for_minimums() -> None:
    groups = [group(pools=[pool(["cx22"])], minNodes=1)]
    a = pod("a")
    result = run([a], groups, HETZNER, node_requests=[unmet("nr-1", [a])])
    assert covered(result) == {"default/a": "nr-1"}
    assert [len(n.pods) for n in result.new_nodes] == [0]  # the minimum, empty


def test_once_deleted_its_pods_are_planned_afresh() -> None:
    a = pod("a")
    deleting = unmet("nr-1", [a], deletionTimestamp="2024-01-01T00:00:00Z")
    assert deleting.deleting
    result = run([a], G, HETZNER, node_requests=[deleting])
    assert covered(result) == {}
    assert [p.name for n in result.new_nodes for p in n.pods] == ["a"]
    assert run([a], G, HETZNER).outcomes["default/a"].kind == "planned"


def test_an_unreadable_unmet_request_holds_nothing() -> None:
    a = pod("a")
    broken = unmet("nr-1", [a])
    broken.error = "spec.requirements: field required"
    result = run([a], G, HETZNER, node_requests=[broken])
    assert covered(result) == {}
    assert result.new_nodes


def test_a_recreated_pod_of_the_same_name_is_not_held() -> None:
    old = pod("a", uid="old")
    result = run([pod("a", uid="new")], G, HETZNER, node_requests=[unmet("nr-1", [old])])
    assert covered(result) == {}
    assert result.new_nodes


def test_an_in_flight_request_wins_over_an_unmet_one_for_the_same_pod() -> None:
    a = pod("a")
    first = run([a], G, HETZNER)
    (pending,) = node_requests_from(first)
    stale = unmet("aaa-unmet", [a])  # sorts first by name; still loses
    result = run([a], G, HETZNER, node_requests=[stale, pending])
    assert covered(result) == {"default/a": pending.name}
    assert "on its way" in result.outcomes["default/a"].message


def test_the_message_falls_back_when_the_status_has_none() -> None:
    a = pod("a")
    result = run([a], G, HETZNER, node_requests=[unmet("nr-1", [a], message="")])
    assert "no pool could provide a node" in result.outcomes["default/a"].message
