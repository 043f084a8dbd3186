"""The reliability suite counts what it claims to count: its bounds and its history of
pods, nodes and NodeRequests, on hand-made watch events (no cluster)."""

from __future__ import annotations

from typing import Any

from reliability.recorder import Recorder
from reliability.suite import markdown, summarise
from reliability.trial import TrialResult, backoff_steps


def test_backoff_steps_double_from_the_base_up_to_the_cap() -> None:
    assert backoff_steps(5, 10) == 1  # only the first try
    assert backoff_steps(10.5, 10) == 2  # 0, 10
    assert backoff_steps(60, 10) == 3  # 0, 10, 30 (the next is at 70)
    assert backoff_steps(60, 10, cap=10) == 6  # 0, 10, 20, 30, 40, 50
    assert backoff_steps(60, 0) > 1000  # no backoff, no bound


def pod(
    name: str, rv: int, node: str = "", *, deleting: bool = False, owner: str = "ReplicaSet"
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "uid": f"uid-{name}",
        "resourceVersion": str(rv),
        "ownerReferences": [{"kind": owner, "name": "x", "controller": True}],
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"nodeName": node},
        "status": {"phase": "Running" if node else "Pending"},
    }


def node(name: str, rv: int, request: str = "", ready: bool = True) -> dict[str, Any]:
    labels = {"growthrs.io/node-request": request} if request else {}
    return {
        "metadata": {"name": name, "resourceVersion": str(rv), "labels": labels},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def request(name: str, rv: int, pods: list[str], phase: str = "Pending") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "resourceVersion": str(rv)},
        "spec": {"nodeGroup": "g", "pods": [{"uid": f"uid-{p}", "name": p} for p in pods]},
        "status": {"phase": phase},
    }


def recorder() -> Recorder:
    return Recorder(None, "ns", secrets=["s3cret"])  # type: ignore[arg-type]


def test_a_node_deleted_under_a_running_pod_is_a_busy_node_removed() -> None:
    rec = recorder()
    rec._node("ADDED", node("n1", 1), False)
    rec._node("ADDED", node("n2", 2), False)
    rec._pod("ADDED", pod("a", 3, "n1"), False)
    rec._pod("ADDED", pod("b", 4, "n2"), False)
    rec._pod("MODIFIED", pod("b", 5, "n2", deleting=True), False)  # evicted first
    rec._pod("ADDED", pod("ds", 6, "n2", owner="DaemonSet"), False)
    rec._node("DELETED", node("n1", 7), False)
    rec._node("DELETED", node("n2", 8), False)
    rec._pod("DELETED", pod("a", 9, "n1"), False)  # the pod GC comes later
    assert rec.busy_nodes_removed() == [("n1", ["a"])]


def test_a_pod_gone_before_its_node_leaves_the_node_idle() -> None:
    rec = recorder()
    rec._node("ADDED", node("n1", 1), False)
    rec._pod("ADDED", pod("a", 2, "n1"), False)
    rec._pod("DELETED", pod("a", 3, "n1"), False)
    rec._node("DELETED", node("n1", 4), False)
    assert rec.busy_nodes_removed() == []


def test_two_requests_claiming_one_pod_are_a_duplicate_unless_the_first_was_ready() -> None:
    rec = recorder()
    rec._request("ADDED", request("r1", 1, ["a", "b"]), False)
    rec._request("ADDED", request("r2", 2, ["b"]), False)
    assert rec.duplicate_requests({"g"}) == [("r1", "r2", "uid-b")]
    rec = recorder()
    rec._request("ADDED", request("r1", 1, ["a", "b"]), False)
    rec._request("MODIFIED", request("r1", 2, ["a", "b"], "Ready"), False)
    rec._request("ADDED", request("r2", 3, ["b"]), False)  # b went elsewhere, then came back
    assert rec.duplicate_requests({"g"}) == []
    rec = recorder()
    rec._request("ADDED", request("r1", 1, ["a"], "Unmet"), False)
    rec._request("ADDED", request("r2", 2, ["a"]), False)  # an Unmet request still holds a
    assert rec.duplicate_requests({"g"}) == [("r1", "r2", "uid-a")]
    rec = recorder()
    rec._request("ADDED", request("r1", 1, ["a"], "Unmet"), False)
    rec._request("DELETED", request("r1", 2, ["a"], "Unmet"), False)
    rec._request("ADDED", request("r2", 3, ["a"]), False)
    assert rec.duplicate_requests({"g"}) == []


def test_two_ready_nodes_for_one_request_are_a_duplicate() -> None:
    rec = recorder()
    rec._node("ADDED", node("r1", 1, "r1"), False)
    rec._node("ADDED", node("r1-1", 2, "r1", ready=False), False)
    assert not rec.duplicate_nodes
    rec._node("MODIFIED", node("r1-1", 3, "r1"), False)
    assert rec.duplicate_nodes == {("r1", "r1", "r1-1")}


def test_secrets_are_found_in_labels_annotations_and_statuses() -> None:
    rec = recorder()
    leaky = node("n1", 1)
    leaky["metadata"]["annotations"] = {"x": "token=s3cret"}
    rec._node("ADDED", leaky, False)
    nr = request("r1", 2, [])
    nr["status"]["message"] = "nothing to see"
    rec._request("ADDED", nr, False)
    assert dict(rec.secret_hits) == {"Node n1": 1}


def test_the_summary_adds_up_per_category() -> None:
    ok = TrialResult(
        "crash-kwok",
        "a",
        1,
        creates=4,
        needed_nodes=4,
        api_calls_per_node=1.0,
        pods=8,
        events_per_pod=1.0,
        recovery_s=3.0,
    )
    bad = TrialResult(
        "crash-kwok",
        "b",
        2,
        ok=False,
        failures=["x"],
        duplicates=1,
        leaked=2,
        recovery_s=5.0,
        token_hits=0,
    )
    summary = summarise([ok, bad])["crash-kwok"]
    assert summary["trials"] == 2 and summary["failed"] == 1
    assert summary["duplicates"] == 1 and summary["leaked"] == 2
    assert summary["recovery_s_median"] == 4.0 and summary["token_searches"] == 1
    report = {
        "started": "now",
        "machine": {
            "host": "h",
            "cpus": 2,
            "platform": "p",
            "python": "3",
            "load_at_start": [1, 1, 1],
        },
        "seed": 7,
        "trials": [ok.to_dict(), bad.to_dict()],
        "duration_s": 60,
        "failed": 1,
        "categories": summarise([ok, bad]),
    }
    text = markdown(report)
    assert "| crash-kwok | 2 | 1 | 1 | 2 |" in text and "`crash-kwok/b` (seed 2): x" in text


def test_a_pod_bound_but_never_started_does_not_make_a_node_busy() -> None:
    rec = recorder()
    rec._node("ADDED", node("n1", 1, ready=False), False)
    waiting = pod("a", 2, "n1")
    waiting["status"]["phase"] = "Pending"
    rec._pod("ADDED", waiting, False)
    rec._node("DELETED", node("n1", 3), False)
    assert rec.busy_nodes_removed() == []
    assert rec.busy_nodes_removed(running=False) == [("n1", ["a"])]
