"""End-to-end: the operator as its own process against a real local control plane.

Each test states its bounds. Pods are pinned to the test's own group with the
``growthrs.io/node-group`` selector so tests never see each other's groups.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from growthrs_core.controller.kube import Kube, KubeError, ngp_path, node_path, nr_path
from growthrs_core.plugins.manager import PluginManager
from growthrs_core.provider import ProviderContext
from growthrs_testkit.kube import (
    delete_group_and_nodes,
    deployment_body,
    events_for,
    group_body,
    group_nodes,
    node_requests,
    pods,
    running,
    wait_for,
)
from growthrs_testkit.operator import Operator, start_operator

pytestmark = pytest.mark.e2e

SCHEDULE_BOUND = 120.0  # seconds for a scale-up of tens of pods to be Running


def kwok_offering(instance_type: str, region: str = "fsn1") -> Any:
    provider = PluginManager().providers["kwok"](ProviderContext(name="kwok"))
    return next(o for o in provider.offerings(region) if o.instance_type == instance_type)


def nodes_needed(pods_count: int, cpu_millis: int, memory_mib: int, offering: Any) -> int:
    per_node = min(
        offering.resources.cpu_millis // cpu_millis,
        offering.resources.memory_mib // memory_mib,
        offering.max_pods,
    )
    return math.ceil(pods_count / per_node)


def create_deployment(kube: Kube, ns: str, body: dict[str, Any]) -> None:
    kube.create(f"/apis/apps/v1/namespaces/{ns}/deployments", body)


def scale(kube: Kube, ns: str, name: str, replicas: int) -> None:
    kube.patch(
        f"/apis/apps/v1/namespaces/{ns}/deployments/{name}", {"spec": {"replicas": replicas}}
    )


def all_running(kube: Kube, ns: str, app: str, count: int) -> bool:
    current = pods(kube, ns, f"app={app}")
    return len(current) == count and running(current) == count


@pytest.fixture
def group(kube: Kube) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        delete_group_and_nodes(kube, name)


def test_scale_up_packs_fifty_pods_onto_the_top_pool(
    kube: Kube,
    kubeconfig: str,
    ns: str,
    operators: list[Operator],
    tmp_path: Path,
    group: list[str],
) -> None:
    name = "e2e-up"
    group.append(name)
    kube.create(
        ngp_path(),
        group_body(
            name,
            [
                {"provider": "kwok", "serverType": ["cx32"], "priority": 90},
                {"provider": "kwok", "serverType": ["cpx31"], "priority": 50},
            ],
            locations=["fsn1"],
            scaleDown={"enabled": False},
        ),
    )
    start_operator(operators, kubeconfig, tmp_path)
    started = time.monotonic()
    create_deployment(
        kube, ns, deployment_body("web", ns, 50, node_selector={"growthrs.io/node-group": name})
    )
    wait_for("50 pods Running", lambda: all_running(kube, ns, "web", 50), SCHEDULE_BOUND)
    elapsed = time.monotonic() - started
    nrs = wait_for(
        "every NodeRequest Ready",
        lambda: (
            lambda items: (
                items
                if items and all(i.get("status", {}).get("phase") == "Ready" for i in items)
                else None
            )
        )(node_requests(kube, name)),
        30,
    )
    nodes = group_nodes(kube, name)
    need = nodes_needed(50, 1000, 1024, kwok_offering("cx32"))
    assert len(nodes) <= need, f"{len(nodes)} nodes for 50 pods, packing needs {need}"
    assert len(nrs) == len(nodes)
    for node in nodes:
        labels = node["metadata"]["labels"]
        assert labels["node.kubernetes.io/instance-type"] == "cx32"
        assert labels["growthrs.io/node-group"] == name
        assert labels["growthrs.io/pool"] == "0"
        assert labels["topology.kubernetes.io/region"] == "fsn1"
        assert node["spec"]["providerID"] == f"kwok://{node['metadata']['name']}"
    for nr in nrs:
        assert nr["metadata"]["ownerReferences"][0]["kind"] == "NodeGroupWithPriority"
    print(
        f"50 pods Running after {elapsed:.1f}s on {len(nodes)} nodes (bound {SCHEDULE_BOUND}s, need {need})"
    )


def test_fallback_to_next_pool_and_unmet_when_all_fail(
    kube: Kube,
    kubeconfig: str,
    ns: str,
    operators: list[Operator],
    tmp_path: Path,
    group: list[str],
) -> None:
    fallback, unmet = "e2e-fallback", "e2e-unmet"
    group += [fallback, unmet]
    kube.create(
        ngp_path(),
        group_body(
            fallback,
            [
                {"provider": "kwok", "serverType": ["cx22"], "priority": 90},
                {"provider": "kwok", "serverType": ["cpx21"], "priority": 50},
            ],
            locations=["fsn1"],
            scaleDown={"enabled": False},
        ),
    )
    kube.create(
        ngp_path(),
        group_body(
            unmet,
            [
                {"provider": "kwok", "serverType": ["cx42"], "priority": 90},
                {"provider": "kwok", "serverType": ["cpx41"], "priority": 50},
            ],
            locations=["fsn1"],
        ),
    )
    start_operator(
        operators, kubeconfig, tmp_path, env={"GROWTHRS_KWOK_UNAVAILABLE": "cx22,cx42,cpx41"}
    )
    create_deployment(
        kube,
        ns,
        deployment_body(
            "fb",
            ns,
            2,
            cpu="500m",
            memory="512Mi",
            node_selector={"growthrs.io/node-group": fallback},
        ),
    )
    wait_for("fallback pods Running", lambda: all_running(kube, ns, "fb", 2), 60)
    nrs = node_requests(kube, fallback)
    assert nrs, "no NodeRequest was created"
    for nr in nrs:
        status = nr["status"]
        attempts = status["attempts"]
        unavailable = [a for a in attempts if a["result"] == "Unavailable"]
        created = [a for a in attempts if a["result"] == "Created"]
        assert unavailable and unavailable[0]["offering"].startswith("cx22@"), attempts
        assert (
            created and created[-1]["offering"].startswith("cpx21@") and created[-1]["pool"] == 1
        ), attempts
        # "within one loop": the next pool was asked right after the capacity error.
        from growthrs_core.timeutil import parse_time

        gap = (
            parse_time(created[-1]["timestamp"]) - parse_time(unavailable[0]["timestamp"])
        ).total_seconds()  # type: ignore[operator]
        assert gap <= 2.0, f"fallback took {gap}s"
    for node in group_nodes(kube, fallback):
        assert node["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "cpx21"

    create_deployment(
        kube, ns, deployment_body("none", ns, 1, node_selector={"growthrs.io/node-group": unmet})
    )
    nr = wait_for(
        "the NodeRequest to be Unmet",
        lambda: next(
            (n for n in node_requests(kube, unmet) if n.get("status", {}).get("phase") == "Unmet"),
            None,
        ),
        30,
    )
    assert "no pool could provide the node" in nr["status"]["message"]
    pod_name = pods(kube, ns, "app=none")[0]["metadata"]["name"]
    wait_for(
        "a NotTriggerScaleUp event on the pod",
        lambda: [e for e in events_for(kube, ns, pod_name) if e["reason"] == "NotTriggerScaleUp"],
        15,
    )
    assert not group_nodes(kube, unmet)
    assert operators[0].alive()


def test_scale_down_removes_idle_nodes_but_keeps_minimum_and_pinned_pods(
    kube: Kube,
    kubeconfig: str,
    ns: str,
    operators: list[Operator],
    tmp_path: Path,
    group: list[str],
) -> None:
    name = "e2e-down"
    group.append(name)
    kube.create(
        ngp_path(),
        group_body(
            name,
            [{"provider": "kwok", "serverType": ["cx22"], "priority": 50}],
            locations=["fsn1"],
            minNodes=2,
            scaleDown={"enabled": True, "unneededTime": "5s"},
        ),
    )
    start_operator(operators, kubeconfig, tmp_path)
    selector = {"growthrs.io/node-group": name}
    create_deployment(
        kube, ns, deployment_body("web", ns, 4, cpu="1500m", memory="1Gi", node_selector=selector)
    )
    create_deployment(
        kube,
        ns,
        deployment_body(
            "pinned",
            ns,
            1,
            cpu="1500m",
            memory="1Gi",
            node_selector=selector,
            annotations={"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
        ),
    )
    wait_for("web Running", lambda: all_running(kube, ns, "web", 4), SCHEDULE_BOUND)
    wait_for("pinned Running", lambda: all_running(kube, ns, "pinned", 1), SCHEDULE_BOUND)
    assert len(group_nodes(kube, name)) == 5
    pinned_node = pods(kube, ns, "app=pinned")[0]["spec"]["nodeName"]
    scale(kube, ns, "web", 0)
    marked = wait_for(
        "an idle node to get the scale-down annotation and taint",
        lambda: [
            n
            for n in group_nodes(kube, name)
            if "growthrs.io/scale-down-at" in (n["metadata"].get("annotations") or {})
            and any(t["key"] == "growthrs.io/scale-down" for t in n["spec"].get("taints") or ())
        ],
        30,
        interval=0.2,
    )
    assert pinned_node not in {n["metadata"]["name"] for n in marked}
    removed_by = 5 + 45  # unneededTime + 45 s margin
    wait_for(
        "idle nodes removed down to the minimum",
        lambda: len(group_nodes(kube, name)) == 2,
        removed_by,
    )
    # Deliberately let time pass (longer than unneededTime): nothing may remove a
    # node below the minimum meanwhile. There is no event to wait for.
    time.sleep(6)
    remaining = {n["metadata"]["name"] for n in group_nodes(kube, name)}
    assert len(remaining) == 2, remaining
    assert pinned_node in remaining


def test_restart_mid_scale_up_creates_no_duplicates(
    kube: Kube,
    kubeconfig: str,
    ns: str,
    operators: list[Operator],
    tmp_path: Path,
    group: list[str],
) -> None:
    name = "e2e-restart"
    group.append(name)
    kube.create(
        ngp_path(),
        group_body(
            name,
            [{"provider": "kwok", "serverType": ["cx32"], "priority": 50}],
            locations=["fsn1"],
            scaleDown={"enabled": False},
        ),
    )
    env = {"GROWTHRS_KWOK_BOOT_DELAY": "4"}
    first = start_operator(operators, kubeconfig, tmp_path, env=env)
    create_deployment(
        kube, ns, deployment_body("web", ns, 30, node_selector={"growthrs.io/node-group": name})
    )
    wait_for("the first NodeRequest", lambda: node_requests(kube, name), 30, interval=0.1)
    first.stop(signal.SIGKILL)
    before = {n["metadata"]["name"] for n in node_requests(kube, name)}
    start_operator(operators, kubeconfig, tmp_path, env=env)
    wait_for(
        "30 pods Running after the restart",
        lambda: all_running(kube, ns, "web", 30),
        SCHEDULE_BOUND,
    )
    nrs = node_requests(kube, name)
    nodes = group_nodes(kube, name)
    need = nodes_needed(30, 1000, 1024, kwok_offering("cx32"))
    assert before <= {n["metadata"]["name"] for n in nrs}
    assert len(nrs) == len(nodes) == need, (len(nrs), len(nodes), need)
    assert len({n["status"].get("nodeName") for n in nrs}) == len(nrs)


def test_bad_input_is_rejected_or_reported(
    kube: Kube,
    kubeconfig: str,
    ns: str,
    operators: list[Operator],
    tmp_path: Path,
    group: list[str],
) -> None:
    invalid = {
        "empty serverType": (
            [{"provider": "kwok", "serverType": [], "priority": 10}],
            "serverType",
        ),
        "empty serverType name": (
            [{"provider": "kwok", "serverType": [""], "priority": 10}],
            "serverType",
        ),
        "priority out of range": (
            [{"provider": "kwok", "serverType": ["cx22"], "priority": 5000}],
            "priority",
        ),
        "duplicate pools": (
            [
                {"provider": "kwok", "serverType": ["cx22"], "priority": 10},
                {"provider": "kwok", "serverType": ["cx22"], "priority": 20},
            ],
            "duplicate pools",
        ),
    }
    for case, (pools, expected) in invalid.items():
        with pytest.raises(KubeError) as err:
            kube.create(ngp_path(), group_body("e2e-invalid", pools))
        assert err.value.status == 422, case
        assert expected in str(err.value), f"{case}: {err.value}"
    body = group_body(
        "e2e-invalid",
        [{"provider": "kwok", "serverType": ["cx22"], "priority": 10, "colour": "red"}],
    )
    with pytest.raises(KubeError) as err:
        kube.create(ngp_path(), body, fieldValidation="Strict")
    assert "unknown field" in str(err.value)

    ghost = "e2e-ghost"
    group.append(ghost)
    kube.create(
        ngp_path(),
        group_body(ghost, [{"provider": "nosuchcloud", "serverType": ["x1"], "priority": 10}]),
    )
    op = start_operator(operators, kubeconfig, tmp_path)

    def unknown_condition() -> Any:
        status = kube.get(ngp_path(ghost)).get("status") or {}
        return next(
            (
                c
                for c in status.get("conditions") or ()
                if c["type"] == "ProviderUnknown" and c["status"] == "True"
            ),
            None,
        )

    condition = wait_for("the ProviderUnknown condition", unknown_condition, 30)
    assert "nosuchcloud" in condition["message"]
    wait_for(
        "a ProviderUnknown event on the group",
        lambda: [e for e in events_for(kube, "default", ghost) if e["reason"] == "ProviderUnknown"],
        15,
    )
    create_deployment(
        kube,
        ns,
        deployment_body("lost", ns, 1, node_selector={"growthrs.io/node-group": "does-not-exist"}),
    )
    pod_name = wait_for("the pod", lambda: pods(kube, ns, "app=lost"), 15)[0]["metadata"]["name"]
    event = wait_for(
        "a NodeGroupNotFound warning on the pod",
        lambda: [e for e in events_for(kube, ns, pod_name) if e["reason"] == "NodeGroupNotFound"],
        30,
    )[0]
    assert event["type"] == "Warning" and "does-not-exist" in event["message"]
    assert op.alive(), "the operator crashed on bad input"


def test_plan_dry_run_prints_the_decision_and_writes_nothing(
    kube: Kube, kubeconfig: str, ns: str, group: list[str]
) -> None:
    name = "e2e-plan"
    group.append(name)
    kube.create(
        ngp_path(),
        group_body(
            name, [{"provider": "kwok", "serverType": ["cx32"], "priority": 50}], locations=["nbg1"]
        ),
    )
    create_deployment(
        kube, ns, deployment_body("web", ns, 5, node_selector={"growthrs.io/node-group": name})
    )

    def unschedulable() -> bool:
        items = pods(kube, ns, "app=web")
        return len(items) == 5 and all(
            any(
                c.get("reason") == "Unschedulable"
                for c in (p.get("status") or {}).get("conditions") or ()
            )
            for p in items
        )

    wait_for("5 unschedulable pods", unschedulable, 60)
    before_nodes = kube.list_all(node_path())[0]
    result = subprocess.run(
        [sys.executable, "-m", "growthrs_core.cli", "plan", "--kubeconfig", kubeconfig],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    print(out)
    assert "Would create" in out
    assert name in out and "cx32@nbg1" in out
    assert node_requests(kube, name) == []
    assert len(kube.list_all(node_path())[0]) == len(before_nodes)
    assert kube.list_all(nr_path())[0] == [] or all(
        n["spec"]["nodeGroup"] != name for n in kube.list_all(nr_path())[0]
    )
