"""The Node a create request turns into, built without a cluster."""

from __future__ import annotations

from growthrs_core import CreateRequest, Offering, Taint
from growthrs_kwok import manifest
from growthrs_kwok.offerings import catalogue


def offering(key: str) -> Offering:
    return next(o for o in catalogue() if o.key == key)


def request(key: str = "cx22@fsn1/fsn1-dc14", **kw: object) -> CreateRequest:
    return CreateRequest(node_name="n-1", offering=offering(key), **kw)  # type: ignore[arg-type]


def test_node_for_a_plain_offering() -> None:
    node = manifest.build_node(request(), "prod", ready_at=None)
    meta, spec, status = node["metadata"], node["spec"], node["status"]
    assert meta["name"] == "n-1"
    assert meta["annotations"] == {"kwok.x-k8s.io/node": "fake"}
    assert meta["labels"] == {
        "kubernetes.io/hostname": "n-1",
        "type": "kwok",
        "growthrs.io/provider": "kwok",
        "growthrs.io/cluster": "prod",
        "node.kubernetes.io/instance-type": "cx22",
        "topology.kubernetes.io/region": "fsn1",
        "topology.kubernetes.io/zone": "fsn1-dc14",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
    }
    assert spec == {"providerID": "kwok://n-1"}
    assert status["capacity"] == {
        "cpu": "2",
        "memory": "4096Mi",
        "pods": "110",
        "ephemeral-storage": "40Gi",
    }
    assert status["allocatable"] == {
        "cpu": "1900m",
        "memory": "3840Mi",
        "pods": "110",
        "ephemeral-storage": "36Gi",
    }
    assert status["nodeInfo"]["architecture"] == "amd64"
    assert status["nodeInfo"]["operatingSystem"] == "linux"


def test_request_labels_and_taints_are_kept_but_provider_facts_win() -> None:
    req = request(
        "cax11@hel1/hel1-dc2",
        labels={"growthrs.io/node-group": "g", "kubernetes.io/arch": "amd64", "type": "x"},
        taints=(Taint("dedicated", "ci", "NoExecute"), Taint("spot")),
    )
    node = manifest.build_node(req, "c", ready_at=None)
    labels = node["metadata"]["labels"]
    assert labels["growthrs.io/node-group"] == "g"
    assert labels["kubernetes.io/arch"] == "arm64"
    assert labels["type"] == "kwok"
    assert node["spec"]["taints"] == [
        {"key": "dedicated", "value": "ci", "effect": "NoExecute"},
        {"key": "spot", "effect": "NoSchedule"},
    ]
    assert node["status"]["nodeInfo"]["architecture"] == "arm64"


def test_gpu_node_reports_gpus_and_model_label() -> None:
    node = manifest.build_node(request("gx-a100-2@fsn1/fsn1-dc14"), "c", ready_at=None)
    assert node["status"]["capacity"]["nvidia.com/gpu"] == "2"
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "2"
    assert node["metadata"]["labels"]["growthrs.io/gpu-model"] == "nvidia-a100"


def test_delayed_node_is_not_handed_to_kwok_and_records_when() -> None:
    node = manifest.build_node(request(), "c", ready_at=1_700_000_000.25)
    assert node["metadata"]["annotations"] == {
        "kwok.growthrs.io/ready-at": "2023-11-14T22:13:20.250Z"
    }
    assert not manifest.handed_to_kwok(node)
    assert manifest.ready_at(node) == 1_700_000_000.25


def test_readers() -> None:
    node = manifest.build_node(request(), "c", ready_at=None)
    assert manifest.is_ours(node, "c") and not manifest.is_ours(node, "other")
    assert manifest.handed_to_kwok(node)
    assert manifest.placement(node) == ("cx22", "fsn1")
    assert not manifest.is_ready(node) and not manifest.is_deleting(node)
    node["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    node["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert manifest.is_ready(node) and manifest.is_deleting(node)
    assert manifest.parse_time("yesterday") is None


def test_node_info_ids_are_stable_per_name() -> None:
    assert manifest.node_info("a", "amd64") == manifest.node_info("a", "amd64")
    assert (
        manifest.node_info("a", "amd64")["machineID"]
        != manifest.node_info("b", "amd64")["machineID"]
    )


def test_booted_node_is_the_same_node_handed_to_kwok() -> None:
    req = request(labels={"team": "x"}, taints=(Taint("dedicated", "x"),))
    booting = manifest.build_node(req, "c", ready_at=1.0)
    # What the apiserver adds meanwhile: a UID, system taints, status details.
    booting["metadata"]["uid"] = "u-1"
    booting["spec"]["taints"].append(
        {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
    )
    booting["status"]["daemonEndpoints"] = {"kubeletEndpoint": {"Port": 0}}
    booted = manifest.booted_node(booting)
    fresh = manifest.build_node(req, "c", ready_at=None)
    assert booted == fresh


def test_a_booting_node_is_tainted_and_not_ready_until_handed_over() -> None:
    dedicated = {"key": "dedicated", "value": "x", "effect": "NoSchedule"}
    not_ready = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
    req = request(taints=(Taint("dedicated", "x"),))
    booting = manifest.build_node(req, "c", ready_at=1_700_000_000.25)
    assert booting["spec"]["taints"] == [dedicated, not_ready]
    conditions = booting["status"]["conditions"]
    assert [(c["type"], c["status"]) for c in conditions] == [("Ready", "False")]
    assert "2023-11-14T22:13:20.250Z" in conditions[0]["message"]
    assert not manifest.is_ready(booting)
    booted = manifest.booted_node(booting)
    assert booted["spec"]["taints"] == [dedicated]
    assert "conditions" not in booted["status"]
    assert booted == manifest.build_node(req, "c", ready_at=None)


def test_a_node_handed_to_kwok_at_once_carries_no_booting_taint() -> None:
    node = manifest.build_node(request(), "c", ready_at=None)
    assert "taints" not in node["spec"] and "conditions" not in node["status"]
