"""End-to-end safety: deleting a group leaks nothing, and a released node stays.

Each test states what it would have seen before: a deleted group's nodes and
instances stayed forever (scale-down looked only at existing groups and orphan
collection counted every Node as accounted for).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from growthrs_core.controller.kube import Kube, ngp_path, node_path
from growthrs_testkit.kube import (
    delete_group_and_nodes,
    deployment_body,
    gone,
    group_body,
    group_nodes,
    pods,
    running,
    wait_for,
)
from growthrs_testkit.operator import Operator, start_operator

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("policy", ["Remove", "Release"])
def test_deleting_a_group_removes_or_releases_its_nodes_and_leaks_nothing(
    kube: Kube, kubeconfig: str, ns: str, operators: list[Operator], tmp_path: Path, policy: str
) -> None:
    name = f"e2e-del-{policy.lower()}-{uuid.uuid4().hex[:4]}"
    kube.create(
        ngp_path(),
        group_body(
            name,
            [{"provider": "kwok", "serverType": ["cx32"], "priority": 50}],
            locations=["fsn1"],
            scaleDown={"enabled": False},
            nodesOnDeletion=policy,
        ),
    )
    op = start_operator(operators, kubeconfig, tmp_path)
    try:
        kube.create(
            f"/apis/apps/v1/namespaces/{ns}/deployments",
            deployment_body("web", ns, 6, node_selector={"growthrs.io/node-group": name}),
        )
        wait_for("6 pods Running", lambda: running(pods(kube, ns, "app=web")) == 6, 120)
        nodes = sorted(n["metadata"]["name"] for n in group_nodes(kube, name))
        assert nodes
        group = wait_for(
            "the finalizer on the group",
            lambda: (
                lambda g: g if "growthrs.io/nodes" in g["metadata"].get("finalizers", []) else None
            )(kube.get(ngp_path(name))),
            30,
        )
        assert group
        kube.delete(ngp_path(name))
        wait_for("the group to be gone", lambda: gone(kube, ngp_path(name)), 120)
        if policy == "Remove":
            # Nodes and their (KWOK) instances are gone: nothing labelled for the group remains.
            for node in nodes:
                assert gone(kube, node_path(node)), f"{node} leaked"
        else:
            for node in nodes:
                obj = kube.get(node_path(node))
                labels = obj["metadata"].get("labels") or {}
                assert not any(k.startswith("growthrs.io/node-group") for k in labels)
                assert "growthrs.io/released" in (obj["metadata"].get("annotations") or {})
        assert op.alive(), "the operator crashed"
    finally:
        delete_group_and_nodes(kube, name)
        for node in [n["metadata"]["name"] for n in kube.list_all(node_path())[0]]:
            if node.startswith(name):
                kube.delete(node_path(node))


def nuke(kubeconfig: str, *args: str) -> Any:
    import subprocess
    import sys

    return subprocess.run(
        [
            sys.executable,
            "-m",
            "growthrs_core.cli",
            "nuke",
            "--yes",
            "--kubeconfig",
            kubeconfig,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_nuke_removes_instances_before_nodes_and_fails_loudly_when_it_cannot(
    kube: Kube, kubeconfig: str, ns: str, operators: list[Operator], tmp_path: Path
) -> None:
    name = f"e2e-nuke-{uuid.uuid4().hex[:4]}"
    kube.create(
        ngp_path(),
        group_body(
            name,
            [{"provider": "kwok", "serverType": ["cx22"], "priority": 50}],
            locations=["fsn1"],
            scaleDown={"enabled": False},
        ),
    )
    cluster = f"nuke-{uuid.uuid4().hex[:6]}"
    op = start_operator(operators, kubeconfig, tmp_path, cluster_name=cluster)
    try:
        kube.create(
            f"/apis/apps/v1/namespaces/{ns}/deployments",
            deployment_body(
                "web", ns, 2, cpu="1500m", node_selector={"growthrs.io/node-group": name}
            ),
        )
        wait_for("2 pods Running", lambda: running(pods(kube, ns, "app=web")) == 2, 120)
        op.stop()
        nodes = sorted(n["metadata"]["name"] for n in group_nodes(kube, name))
        assert len(nodes) == 2
        # The KWOK provider cannot start with this identity: it cannot list, so
        # nothing of it may be removed, and nuke must say so and fail.
        failed = nuke(kubeconfig, "--cluster-name", "not a label value!")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "kwok" in failed.stderr and "could not be listed" in failed.stderr
        for node in nodes:
            assert f"node {node}: kept" in failed.stderr
            assert not gone(kube, node_path(node))
        done = nuke(kubeconfig, "--cluster-name", cluster)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2 node(s), 2 instance(s)" in done.stdout, done.stdout
        for node in nodes:
            assert gone(kube, node_path(node))
    finally:
        delete_group_and_nodes(kube, name)


def backoff_steps(seconds: float, base: float) -> int:
    """How many tries an offering gets in ``seconds`` when the wait doubles from ``base``."""
    steps, at, wait = 1, 0.0, base
    while at + wait < seconds:
        at, wait, steps = at + wait, wait * 2, steps + 1
    return steps


@pytest.mark.parametrize(
    ("fault", "base"), [("GROWTHRS_KWOK_CREATE_ERROR", 10.0), ("GROWTHRS_KWOK_UNAVAILABLE", 60.0)]
)
def test_total_failure_does_not_churn(
    kube: Kube,
    kubeconfig: str,
    ns: str,
    operators: list[Operator],
    tmp_path: Path,
    fault: str,
    base: float,
) -> None:
    """Every pool failing for 60 s: no storm of requests, calls or events.

    Before: 204 NodeRequests, 816 create calls and 612 NotTriggerScaleUp events in 60 s
    for 4 nodes needed. Bounds: requests ≤ the nodes needed, creates per offering ≤ one
    per backoff step, one Event per pod and reason.
    """
    import re
    import time
    from collections import Counter

    name = f"e2e-churn-{uuid.uuid4().hex[:4]}"
    kube.create(
        ngp_path(),
        group_body(
            name,
            [
                {"provider": "kwok", "serverType": ["cx32"], "priority": 90},
                {"provider": "kwok", "serverType": ["cpx31"], "priority": 50},
            ],
            locations=["fsn1"],
        ),
    )
    op = start_operator(
        operators,
        kubeconfig,
        tmp_path,
        env={fault: "*@fsn1"},
        offering_backoff=60,
        failure_backoff=10,
        group_backoff=30,
        unmet_ttl=300,
    )
    try:
        kube.create(
            f"/apis/apps/v1/namespaces/{ns}/deployments",
            deployment_body("web", ns, 8, node_selector={"growthrs.io/node-group": name}),
        )
        time.sleep(60)  # deliberately: 60 s of total failure, then count
        log = op.log()
        requests = set(re.findall(rf"NodeRequest -/({name}-\w+): Pending:", log))
        creates = Counter(
            re.findall(r"provisioning: NodeRequest \S+: creating (\S+) with kwok", log)
        )
        needed = 3  # 8 pods of 1 CPU, 3 to a cx32 or cpx31
        assert 0 < len(requests) <= needed, requests
        bound = backoff_steps(60, base)
        assert creates and max(creates.values()) <= bound, (creates, bound)
        events = [
            e
            for e in kube.list_all(f"/api/v1/namespaces/{ns}/events")[0]
            if e.get("source", {}).get("component") == "growthrs"
        ]
        per_key = Counter((e["involvedObject"]["name"], e["reason"]) for e in events)
        assert per_key and max(per_key.values()) == 1, per_key
        assert all(e.get("count", 1) >= 1 for e in events)
        print(f"{fault}: {len(requests)} requests, creates {dict(creates)}, {len(events)} events")
        assert op.alive()
    finally:
        delete_group_and_nodes(kube, name)
