"""The node that is created is the node that was planned, and pods land where they can run.

- The planned offering is asked for first; when it has no capacity, fallback takes the
  cheapest offering of the best pool that still holds every planned pod, and that node
  runs them all.
- A pod whose volume can only attach in one location gets a node there, or, when its
  group cannot create one there, a ``VolumeTopology`` event and no node.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from growthrs_core.controller.kube import Kube, ngp_path
from growthrs_testkit.controlplane import installed_paths
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
from growthrs_testkit.operator import Operator, free_port, scrape_metrics, start_operator

pytestmark = pytest.mark.e2e


def test_the_planned_offering_first_then_the_cheapest_that_holds_the_pods(
    kube: Kube, kubeconfig: str, ns: str, operators: list[Operator], tmp_path: Path
) -> None:
    name = f"e2e-fb-{uuid.uuid4().hex[:4]}"
    kube.create(
        ngp_path(),
        group_body(
            name,
            [
                {"provider": "kwok", "serverType": ["cx42", "cpx41", "ccx33"], "priority": 90},
                {"provider": "kwok", "serverType": ["cx32"], "priority": 50},
            ],
            locations=["fsn1"],
            scaleDown={"enabled": False},
        ),
    )
    port = free_port()
    op = start_operator(
        operators,
        kubeconfig,
        tmp_path,
        env={"GROWTHRS_KWOK_UNAVAILABLE": "cx42@fsn1"},
        log_format="json",
        metrics_port=port,
    )
    try:
        kube.create(
            f"/apis/apps/v1/namespaces/{ns}/deployments",
            deployment_body("web", ns, 6, node_selector={"growthrs.io/node-group": name}),
        )
        wait_for("6 pods Running", lambda: running(pods(kube, ns, "app=web")) == 6, 120)
        [nr] = node_requests(kube, name)
        assert nr["spec"]["plannedOffering"].startswith("cx42@fsn1")  # the cheapest 8-core node
        tried = [(a["result"], a["offering"].split("@")[0]) for a in nr["status"]["attempts"]]
        # Planned first; then the cheapest of the same pool that holds all six pods
        # (not the dearer ccx33, not the lower-priority pool).
        assert tried == [("Unavailable", "cx42"), ("Created", "cpx41")], tried
        [node] = group_nodes(kube, name)
        assert node["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "cpx41"
        on_node = [
            p
            for p in pods(kube, ns, "app=web")
            if p["spec"].get("nodeName") == node["metadata"]["name"]
        ]
        assert len(on_node) == 6
        # Conditions make the request waitable with kubectl.
        waited = subprocess.run(
            [
                installed_paths()["KUBECTL"],
                "--kubeconfig",
                kubeconfig,
                "wait",
                "--for=condition=Ready",
                "--timeout=30s",
                f"noderequests.growthrs.io/{nr['metadata']['name']}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert waited.returncode == 0, waited.stderr
        # Every line of the run's log is a JSON object; lines about a request say which.
        lines = [json.loads(line) for line in op.log().splitlines() if line.strip()]
        assert lines and all({"time", "level", "logger", "msg"} <= set(line) for line in lines)
        about = [line for line in lines if line.get("noderequest") == nr["metadata"]["name"]]
        assert any("creating" in line["msg"] and line.get("provider") == "kwok" for line in about)
        # The metrics say the same, under Prometheus names.
        scraped = scrape_metrics(port)
        assert scraped[("growthrs_node_requests_created_total", (("group", name),))] == 1
        failures = (("group", name), ("reason", "OfferingUnavailable"))
        assert scraped[("growthrs_scale_up_failures_total", failures)] == 1
        ready = (("group", name), ("pool", "0"), ("state", "ready"))
        assert scraped[("growthrs_nodes", ready)] == 1
        errors = (("kind", "OfferingUnavailable"), ("method", "create"), ("provider", "kwok"))
        assert scraped[("growthrs_provider_errors_total", errors)] == 1
        calls = (("method", "create"), ("provider", "kwok"))
        assert scraped[("growthrs_provider_call_duration_seconds_count", calls)] == 2
        assert scraped[("growthrs_group_max_nodes", (("group", name),))] == -1
        assert scraped[("growthrs_is_leader", ())] == 1
        assert ("growthrs_plan_duration_seconds_count", ()) in scraped
        assert any(k[0] == "growthrs_build_info" for k in scraped)
        assert not [k for k in scraped if k[0].endswith("_created")], "no _created series"
    finally:
        delete_group_and_nodes(kube, name)


def claim_and_volume(kube: Kube, ns: str, name: str, region: str) -> None:
    """A PersistentVolume that attaches only in ``region``, pre-bound to a claim."""
    kube.create(
        "/api/v1/persistentvolumes",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"{ns}-{name}"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "hostPath": {"path": f"/tmp/{ns}-{name}"},
                "claimRef": {"namespace": ns, "name": name},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "topology.kubernetes.io/region",
                                        "operator": "In",
                                        "values": [region],
                                    }
                                ]
                            }
                        ]
                    }
                },
            },
        },
    )
    kube.create(
        f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "volumeName": f"{ns}-{name}",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )


def pod_with_claim(ns: str, name: str, claim: str, group: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "nodeSelector": {"growthrs.io/node-group": group},
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "app",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
    }


def test_volume_topology_decides_where_the_node_goes(
    kube: Kube, kubeconfig: str, ns: str, operators: list[Operator], tmp_path: Path
) -> None:
    wide, narrow = f"e2e-vol-{uuid.uuid4().hex[:4]}", f"e2e-vnr-{uuid.uuid4().hex[:4]}"
    pool = [{"provider": "kwok", "serverType": ["cx22"], "priority": 50}]
    kube.create(
        ngp_path(), group_body(wide, pool, locations=["fsn1", "nbg1"], scaleDown={"enabled": False})
    )
    kube.create(
        ngp_path(), group_body(narrow, pool, locations=["fsn1"], scaleDown={"enabled": False})
    )
    claim_and_volume(kube, ns, "data-a", "nbg1")
    claim_and_volume(kube, ns, "data-b", "nbg1")
    wait_for(
        "the claims bound",
        lambda: all(
            (
                kube.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{c}").get("status") or {}
            ).get("phase")
            == "Bound"
            for c in ("data-a", "data-b")
        ),
        60,
    )
    start_operator(operators, kubeconfig, tmp_path)
    try:
        kube.create(f"/api/v1/namespaces/{ns}/pods", pod_with_claim(ns, "db-a", "data-a", wide))
        kube.create(f"/api/v1/namespaces/{ns}/pods", pod_with_claim(ns, "db-b", "data-b", narrow))
        wait_for("db-a Running", lambda: running(pods(kube, ns, "app=db-a")) == 1, 120)
        [node] = group_nodes(kube, wide)
        assert node["metadata"]["labels"]["topology.kubernetes.io/region"] == "nbg1"
        event = wait_for(
            "a VolumeTopology event on db-b",
            lambda: [e for e in events_for(kube, ns, "db-b") if e["reason"] == "VolumeTopology"],
            60,
        )[0]
        assert (event["type"] == "Warning" and "nbg1" in event["message"]) or "volume" in event[
            "message"
        ]
        assert node_requests(kube, narrow) == [] and group_nodes(kube, narrow) == []
    finally:
        for g in (wide, narrow):
            delete_group_and_nodes(kube, g)
        for c in ("data-a", "data-b"):
            kube.delete(f"/api/v1/persistentvolumes/{ns}-{c}")
