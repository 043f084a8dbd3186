"""``growthrs plan`` says exactly what one pass of ``growthrs run`` does.

The cluster is put in a state with something for every decision: pending pods
(one pinned to a group whose top offering is backing off), an in-flight
NodeRequest covering some of them, a young node, an idle node and a node whose
scale-down time has passed. ``growthrs plan -o json`` runs first, then
``growthrs run --once`` makes one pass with the same settings. The NodeRequests
it created and the nodes it marked and removed must be what the plan printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest

from growthrs_core import CreateRequest, NodeId
from growthrs_core.controller.kube import Kube, ngp_path, node_path, nr_path
from growthrs_core.plugins.manager import PluginManager
from growthrs_core.provider import ProviderContext
from growthrs_core.timeutil import format_time, now
from growthrs_testkit.kube import (
    delete_group_and_nodes,
    deployment_body,
    group_body,
    group_nodes,
    node_requests,
    pods,
    wait_for,
)

pytestmark = pytest.mark.e2e

CLUSTER = "growthrs-e2e-plan-run"
GRACE = 20  # seconds a node counts as young
SETTINGS = [
    "--cluster-name", CLUSTER,
    "--scale-down-new-node-grace", str(GRACE),
    "--strategies", "priority,least-waste",
    "--metrics-port", "0",
]  # fmt: skip


def kwok(kube: Kube) -> Any:
    return PluginManager().providers["kwok"](
        ProviderContext(name="kwok", cluster_name=CLUSTER, api_client=kube.api_client)
    )


def make_node(provider: Any, group: str, name: str, instance_type: str = "cx22") -> None:
    offering = next(o for o in provider.offerings("fsn1") if o.instance_type == instance_type)
    provider.create(
        CreateRequest(
            node_name=name,
            offering=offering,
            labels={
                "growthrs.io/node-group": group,
                "growthrs.io/pool": "0",
                "growthrs.io/provider": "kwok",
                "node.kubernetes.io/instance-type": instance_type,
                "topology.kubernetes.io/region": "fsn1",
            },
            node_group=group,
            node_request=name,
        )
    )


def cli(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "growthrs_core.cli", *args, "--kubeconfig", kubeconfig, *SETTINGS],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_dry_run_is_the_run(kube: Kube, kubeconfig: str, ns: str) -> None:
    busy, quiet = f"pr-busy-{ns[-6:]}", f"pr-quiet-{ns[-6:]}"
    provider = kwok(kube)
    try:
        # A group that scales up; its top pool's only offering is backing off (as the
        # operator records it in the status), and a NodeRequest is already in flight.
        kube.create(
            ngp_path(),
            group_body(
                busy,
                [
                    {"provider": "kwok", "serverType": ["cx32"], "priority": 90},
                    {"provider": "kwok", "serverType": ["cpx31", "cx42"], "priority": 50},
                ],
                locations=["fsn1"],
            ),
        )
        backoff_until = format_time(now() + timedelta(minutes=10))
        offers = [o.key for o in provider.offerings("fsn1") if o.instance_type == "cx32"]
        kube.patch(
            ngp_path(busy) + "/status",
            {
                "status": {
                    "backoffs": [
                        {
                            "provider": "kwok",
                            "offering": key,
                            "until": backoff_until,
                            "failures": 1,
                            "reason": "no capacity (test)",
                        }
                        for key in offers
                    ]
                }
            },
        )
        # A quiet group with an idle node (older than the grace), a young one, and
        # one whose removal time has passed.
        kube.create(
            ngp_path(),
            group_body(
                quiet,
                [{"provider": "kwok", "serverType": ["cx22"], "priority": 10}],
                locations=["fsn1"],
                scaleDown={"enabled": True, "unneededTime": "1h"},
            ),
        )
        make_node(provider, quiet, f"{quiet}-idle")
        make_node(provider, quiet, f"{quiet}-expired")
        kube.patch(
            node_path(f"{quiet}-expired"),
            {
                "metadata": {"annotations": {"growthrs.io/scale-down-at": format_time(now())}},
                "spec": {"taints": [{"key": "growthrs.io/scale-down", "effect": "NoSchedule"}]},
            },
        )
        time.sleep(GRACE + 1)  # let the idle node age past the grace
        make_node(provider, quiet, f"{quiet}-young")
        wait_for(
            "the quiet group's nodes Ready",
            lambda: len([n for n in group_nodes(kube, quiet) if _ready(n)]) == 3,
            60,
        )
        # Pending pods for the busy group, three of them covered by an in-flight request.
        kube.create(
            f"/apis/apps/v1/namespaces/{ns}/deployments",
            deployment_body(
                "web", ns, 9, cpu="1", memory="1Gi", node_selector={"growthrs.io/node-group": busy}
            ),
        )
        wait_for("9 unschedulable pods", lambda: _unschedulable(kube, ns) == 9, 60)
        covered = sorted(p["metadata"]["name"] for p in pods(kube, ns, "app=web"))[:3]
        inflight = kube.create(
            nr_path(),
            {
                "apiVersion": "growthrs.io/v1alpha1",
                "kind": "NodeRequest",
                "metadata": {
                    "generateName": f"{busy}-",
                    "labels": {"growthrs.io/node-group": busy},
                },
                "spec": {
                    "nodeGroup": busy,
                    "requirements": {"cpu": "3", "memory": "3Gi"},
                    "pods": [{"namespace": ns, "name": n} for n in covered],
                    "plannedPool": 1,
                    "plannedOffering": "cpx31@fsn1",
                },
            },
        )
        inflight_name = inflight["metadata"]["name"]
        kube.patch(
            nr_path(inflight_name) + "/status",
            {
                "status": {
                    "phase": "Provisioning",
                    "currentPool": 1,
                    "offering": "cpx31@fsn1",
                    "nodeName": "not-yet-registered",
                    "attempts": [
                        {
                            "pool": 1,
                            "provider": "kwok",
                            "offering": "cpx31@fsn1",
                            "result": "Created",
                            "nodeName": "not-yet-registered",
                            "timestamp": format_time(now()),
                        }
                    ],
                }
            },
        )

        # -- the dry run ---------------------------------------------------------------
        planned = cli(kubeconfig, "plan", "--output", "json")
        assert planned.returncode == 0, planned.stderr
        report = json.loads(planned.stdout)
        print(json.dumps(report, indent=1)[:4000])
        assert report["newNodes"], "the scenario needs new nodes"
        assert all(n["offering"] not in offers for n in report["newNodes"]), "backing off"
        planned_pods = {p for n in report["newNodes"] for p in n["pods"]}
        assert not planned_pods & {f"{ns}/{n}" for n in covered}, "covered by the in-flight request"
        assert node_requests(kube, busy) and len(node_requests(kube, busy)) == 1, (
            "plan wrote nothing"
        )

        # -- one pass of the operator ----------------------------------------------------
        ran = cli(kubeconfig, "run", "--once", "--log-level", "INFO")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        created = [
            nr for nr in node_requests(kube, busy) if nr["metadata"]["name"] != inflight_name
        ]
        assert _requests(created) == _planned(report)
        marked = sorted(
            n["metadata"]["name"]
            for n in group_nodes(kube, quiet)
            if "growthrs.io/scale-down-at" in n["metadata"].get("annotations", {})
        )
        assert marked == sorted(m["node"] for m in report["scaleDown"]["mark"])
        assert [r["node"] for r in report["scaleDown"]["remove"]] == [f"{quiet}-expired"]
        assert f"{quiet}-expired" not in {n["metadata"]["name"] for n in group_nodes(kube, quiet)}
        assert f"{quiet}-idle" in marked and f"{quiet}-young" not in marked
        assert report["scaleDown"]["unmark"] == []
    finally:
        for name in (busy, quiet):
            delete_group_and_nodes(kube, name)
        for node in [f"{quiet}-idle", f"{quiet}-young", f"{quiet}-expired"]:
            provider.delete(NodeId(node))


def _ready(node: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or ()
    )


def _unschedulable(kube: Kube, ns: str) -> int:
    return sum(
        1
        for p in pods(kube, ns, "app=web")
        if any(
            c.get("reason") == "Unschedulable"
            for c in (p.get("status") or {}).get("conditions") or ()
        )
    )


def _requests(items: list[dict[str, Any]]) -> list[tuple[str, int, str, tuple[str, ...]]]:
    return sorted(
        (
            nr["spec"]["nodeGroup"],
            nr["spec"]["plannedPool"],
            nr["spec"]["plannedOffering"],
            tuple(sorted(f"{p['namespace']}/{p['name']}" for p in nr["spec"]["pods"])),
        )
        for nr in items
    )


def _planned(report: dict[str, Any]) -> list[tuple[str, int, str, tuple[str, ...]]]:
    return sorted(
        (n["group"], n["pool"], n["offering"], tuple(sorted(n["pods"]))) for n in report["newNodes"]
    )
