"""The kwok provider against a real control plane with a kwok controller.

Each test uses its own cluster name (so ``list_nodes`` only sees its nodes) and
its own faults ConfigMap, and removes what it created.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from growthrs_core import (
    CreateRequest,
    Creating,
    CreationFailed,
    DeletionFailed,
    Failed,
    NodeId,
    NotFound,
    Offering,
    OfferingUnavailable,
    ProviderContext,
    Removing,
    Running,
    Taint,
)
from growthrs_kwok import KwokProvider, from_context, manifest
from growthrs_kwok.offerings import catalogue

pytestmark = pytest.mark.e2e

T = TypeVar("T")
NAMESPACE = "default"


def eventually(probe: Callable[[], T], accept: Callable[[T], bool], timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout}s")
        time.sleep(0.2)


def offering(key: str) -> Offering:
    return next(o for o in catalogue() if o.key == key)


CX22 = offering("cx22@fsn1/fsn1-dc14")
CAX11_HEL = offering("cax11@hel1/hel1-dc2")
L4 = offering("gx-l4-1@nbg1/nbg1-dc3")


class Harness:
    """A provider for one test plus raw API access and cleanup."""

    def __init__(self, api_client: Any, cluster_name: str) -> None:
        self.api_client = api_client
        self.core = k8s.CoreV1Api(api_client)
        self.cluster_name = cluster_name
        self.configmap = f"{cluster_name}-faults"

    def provider(self, **settings: str) -> KwokProvider:
        settings.setdefault("faults_namespace", NAMESPACE)
        settings.setdefault("faults_configmap", self.configmap)
        # Re-read the faults ConfigMap on every call, so a test sees its change at
        # once instead of sleeping out the 1 s cache (test_kwok_faults covers that).
        settings.setdefault("faults_refresh", "0")
        return from_context(
            ProviderContext(
                name="kwok",
                cluster_name=self.cluster_name,
                api_client=self.api_client,
                settings=settings,
            )
        )

    def request(self, suffix: str, o: Offering = CX22, **kw: Any) -> CreateRequest:
        return CreateRequest(node_name=f"{self.cluster_name}-{suffix}", offering=o, **kw)

    def node(self, name: str) -> dict[str, Any] | None:
        try:
            resp = self.core.read_node(name, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        node: dict[str, Any] = json.loads(resp.data)
        return node

    def set_faults(self, **data: str) -> None:
        body = {"metadata": {"name": self.configmap, "namespace": NAMESPACE}, "data": data}
        try:
            self.core.replace_namespaced_config_map(self.configmap, NAMESPACE, body)
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.core.create_namespaced_config_map(NAMESPACE, body)

    def cleanup(self) -> None:
        for name in self.nodes_of_cluster():
            try:
                self.core.delete_node(name, grace_period_seconds=0)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        try:
            self.core.delete_namespaced_config_map(self.configmap, NAMESPACE)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def nodes_of_cluster(self) -> list[str]:
        resp = self.core.list_node(
            label_selector=f"growthrs.io/cluster={self.cluster_name}", _preload_content=False
        )
        return sorted(n["metadata"]["name"] for n in json.loads(resp.data)["items"])


@pytest.fixture
def kw(api_client: Any, cluster_name: str) -> Iterator[Harness]:
    harness = Harness(api_client, cluster_name)
    yield harness
    harness.cleanup()


def test_lifecycle_create_idempotent_running_list_delete(kw: Harness) -> None:
    provider = kw.provider()
    req = kw.request(
        "a",
        L4,
        labels={"growthrs.io/node-group": "gpu"},
        taints=(Taint("nvidia.com/gpu", "present", "NoSchedule"),),
    )
    node_id = provider.create(req)
    assert node_id == req.node_name
    assert provider.create(req) == node_id  # idempotent: same name, one node
    assert eventually(lambda: provider.status(node_id), lambda s: s == Running()) == Running()

    node = kw.node(node_id)
    assert node is not None
    meta, spec, status = node["metadata"], node["spec"], node["status"]
    assert spec["providerID"] == f"kwok://{node_id}"
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"} in spec["taints"]
    assert meta["annotations"]["kwok.x-k8s.io/node"] == "fake"
    for key, value in {
        "kubernetes.io/hostname": node_id,
        "type": "kwok",
        "growthrs.io/provider": "kwok",
        "growthrs.io/cluster": kw.cluster_name,
        "growthrs.io/node-group": "gpu",
        "growthrs.io/gpu-model": "nvidia-l4",
        "node.kubernetes.io/instance-type": "gx-l4-1",
        "topology.kubernetes.io/region": "nbg1",
        "topology.kubernetes.io/zone": "nbg1-dc3",
    }.items():
        assert meta["labels"][key] == value, key
    assert status["allocatable"]["nvidia.com/gpu"] == "1"
    assert status["allocatable"]["cpu"] == "7900m"
    assert status["capacity"]["memory"] == "32Gi"
    assert status["nodeInfo"]["architecture"] == "amd64"

    assert provider.list_nodes() == [node_id]
    provider.delete(node_id)
    provider.delete(node_id)  # deleting what is gone (or going) is success
    eventually(lambda: provider.status(node_id), lambda s: s in (Removing(), NotFound()))
    eventually(lambda: provider.status(node_id), lambda s: s == NotFound())
    assert provider.list_nodes() == []


def test_list_nodes_sees_only_this_clusters_kwok_nodes(kw: Harness, api_client: Any) -> None:
    mine, theirs = kw.provider(), Harness(api_client, f"{kw.cluster_name}-other")
    try:
        other = theirs.provider()
        a = mine.create(kw.request("a"))
        b = mine.create(kw.request("b", CAX11_HEL))
        c = other.create(theirs.request("c"))
        assert mine.list_nodes() == sorted([a, b])
        assert other.list_nodes() == [c]
        # Another cluster's node is not ours: not found, and never deleted by us.
        assert mine.status(c) == NotFound()
        with pytest.raises(DeletionFailed, match="refusing") as err:
            mine.delete(c)
        assert not err.value.retryable
        assert kw.node(c) is not None
    finally:
        theirs.cleanup()


def test_a_lookalike_node_of_another_cluster_survives_create_list_status_delete(
    kw: Harness, api_client: Any
) -> None:
    """Another cluster's kwok node with our node's name and labels (but the cluster value)
    is never adopted, reported, listed (so never an orphan of ours) or deleted."""
    theirs = Harness(api_client, f"{kw.cluster_name}-other")
    try:
        req = kw.request("a", labels={"growthrs.io/node-group": "web"})
        name = theirs.provider().create(req)
        before = kw.node(name)
        assert before is not None
        labels = before["metadata"]["labels"]
        ours = manifest.node_labels(req, kw.cluster_name)
        assert {k for k in ours if labels.get(k) != ours[k]} == {"growthrs.io/cluster"}

        mine = kw.provider()
        with pytest.raises(CreationFailed, match="already exists") as created:
            mine.create(req)
        assert not created.value.retryable
        with pytest.raises(OfferingUnavailable):  # under a fault: no adoption either
            kw.provider(unavailable="cx22").create(req)
        assert mine.list_nodes() == []
        assert mine.status(NodeId(name)) == NotFound()
        with pytest.raises(DeletionFailed, match="refusing to delete") as deleted:
            mine.delete(NodeId(name))
        assert not deleted.value.retryable

        after = kw.node(name)
        assert after is not None and after["metadata"]["uid"] == before["metadata"]["uid"]
        assert after["metadata"].get("deletionTimestamp") is None
        # (kwok may add its beta.kubernetes.io labels meanwhile; ours stay as they were)
        assert {k: after["metadata"]["labels"].get(k) for k in labels} == labels
    finally:
        theirs.cleanup()


def test_create_refuses_a_name_taken_by_someone_else(kw: Harness) -> None:
    name = f"{kw.cluster_name}-taken"
    kw.core.create_node(
        {
            "metadata": {
                "name": name,
                "labels": {"growthrs.io/cluster": kw.cluster_name},
                "annotations": {"kwok.x-k8s.io/node": "fake"},
            }
        }
    )
    with pytest.raises(CreationFailed, match="already exists") as err:
        kw.provider().create(CreateRequest(node_name=name, offering=CX22))
    assert not err.value.retryable


def test_invalid_node_name_is_a_permanent_creation_failure(kw: Harness) -> None:
    with pytest.raises(CreationFailed, match="HTTP 422") as err:
        kw.provider().create(CreateRequest(node_name="Not_A_DNS_Name", offering=CX22))
    assert not err.value.retryable


def test_unavailable_from_settings(kw: Harness) -> None:
    provider = kw.provider(unavailable="cx22@fsn1")
    with pytest.raises(OfferingUnavailable, match=r"no capacity for cx22 in fsn1.*cx22@fsn1"):
        provider.create(kw.request("a"))
    assert kw.nodes_of_cluster() == []
    # Other types and other locations still work.
    provider.create(kw.request("b", CAX11_HEL))
    provider.create(kw.request("c", offering("cx22@nbg1/nbg1-dc3")))
    assert len(kw.nodes_of_cluster()) == 2


def test_faults_configmap_changes_apply_while_running(kw: Harness) -> None:
    provider = kw.provider()
    existing = provider.create(kw.request("a"))
    kw.set_faults(unavailable="*@fsn1")
    with pytest.raises(OfferingUnavailable, match=r"\*@fsn1"):
        provider.create(kw.request("b"))
    # A retried create of a node that already exists still returns it.
    assert provider.create(kw.request("a")) == existing
    kw.set_faults(unavailable="")
    assert provider.create(kw.request("b")) == f"{kw.cluster_name}-b"


def test_default_configmap_location_is_kube_system(kw: Harness) -> None:
    provider = from_context(
        ProviderContext(name="kwok", cluster_name=kw.cluster_name, api_client=kw.api_client)
    )
    cm = "growthrs-kwok-faults"
    kw.core.create_namespaced_config_map(
        "kube-system", {"metadata": {"name": cm}, "data": {"create_error": "cx22"}}
    )
    try:
        with pytest.raises(CreationFailed, match="create_error: cx22") as err:
            provider.create(kw.request("a"))
        assert err.value.retryable
    finally:
        kw.core.delete_namespaced_config_map(cm, "kube-system")


def test_boot_delay_then_ready_even_after_a_restart(kw: Harness) -> None:
    provider = kw.provider(boot_delay="2s")
    req = kw.request("a", labels={"team": "x"}, taints=(Taint("dedicated", "x"),))
    node_id = provider.create(req)
    node = kw.node(node_id)
    assert node is not None
    annotations = node["metadata"]["annotations"]
    assert "kwok.x-k8s.io/node" not in annotations
    assert manifest.READY_AT_ANNOTATION in annotations
    assert provider.list_nodes() == [node_id]
    assert provider.status(node_id) == Creating()
    # Deliberately let time pass (half the boot delay): the node must still be booting.
    time.sleep(1)
    assert provider.status(node_id) == Creating()
    # A fresh provider (an operator restart) knows the boot time from the Node itself.
    restarted = kw.provider()
    eventually(lambda: restarted.status(node_id), lambda s: s == Running(), timeout=20)
    node = kw.node(node_id)
    assert node is not None and node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert manifest.READY_AT_ANNOTATION not in node["metadata"]["annotations"]
    assert node["metadata"]["labels"]["team"] == "x"
    assert {"key": "dedicated", "value": "x", "effect": "NoSchedule"} in node["spec"]["taints"]
    assert node["status"]["allocatable"]["cpu"] == "1900m"
    assert provider.list_nodes() == [node_id]


def test_kwok_runs_pods_on_a_created_node(kw: Harness) -> None:
    provider = kw.provider()
    node_id = provider.create(kw.request("a", labels={"e2e-pool": kw.cluster_name}))
    eventually(lambda: provider.status(node_id), lambda s: s == Running())
    pod = {
        "metadata": {"name": kw.cluster_name},
        "spec": {
            "nodeSelector": {"e2e-pool": kw.cluster_name},
            "containers": [
                {"name": "c", "image": "fake", "resources": {"requests": {"cpu": "1500m"}}}
            ],
        },
    }
    kw.core.create_namespaced_pod(NAMESPACE, pod)
    try:

        def phase() -> tuple[str, str]:
            raw = kw.core.read_namespaced_pod(kw.cluster_name, NAMESPACE, _preload_content=False)
            got = json.loads(raw.data)
            return got["spec"].get("nodeName", ""), got["status"].get("phase", "")

        assert eventually(phase, lambda p: p[1] == "Running", timeout=60) == (node_id, "Running")
    finally:
        kw.core.delete_namespaced_pod(kw.cluster_name, NAMESPACE, grace_period_seconds=0)


NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}


def _taints(node: dict[str, Any]) -> list[dict[str, str]]:
    return [{"key": t["key"], "effect": t["effect"]} for t in node["spec"].get("taints") or ()]


def _ready(node: dict[str, Any]) -> str | None:
    found = [c for c in node["status"].get("conditions") or () if c["type"] == "Ready"]
    return found[0]["status"] if found else None


def test_no_pod_is_bound_to_a_booting_node_and_pods_run_once_it_booted(kw: Harness) -> None:
    """A booting Node is tainted not-ready (and Ready=False, so the node lifecycle controller
    keeps the taint): the scheduler binds nothing to it, and its pods run once it booted."""
    boot = 8.0
    provider = kw.provider(boot_delay=f"{boot:g}s")
    node_id = provider.create(kw.request("a", labels={"e2e-pool": kw.cluster_name}))
    created = time.monotonic()
    pod = {
        "metadata": {"name": kw.cluster_name},
        "spec": {
            "nodeSelector": {"e2e-pool": kw.cluster_name},
            "containers": [
                {"name": "c", "image": "fake", "resources": {"requests": {"cpu": "1500m"}}}
            ],
        },
    }
    kw.core.create_namespaced_pod(NAMESPACE, pod)

    def read_pod() -> dict[str, Any]:
        raw = kw.core.read_namespaced_pod(kw.cluster_name, NAMESPACE, _preload_content=False)
        got: dict[str, Any] = json.loads(raw.data)
        return got

    try:
        uid = read_pod()["metadata"]["uid"]
        # Deliberately let time pass (most of the boot delay): an unjustified not-ready
        # taint is gone within seconds, and the scheduler binds at once when it is.
        looks = 0
        while time.monotonic() - created < boot - 2:
            node = kw.node(node_id)
            assert node is not None and not manifest.handed_to_kwok(node)
            assert NOT_READY in _taints(node), _taints(node)
            assert _ready(node) == "False"
            assert not read_pod()["spec"].get("nodeName"), "a pod was bound to a booting node"
            looks += 1
            time.sleep(0.5)
        assert looks >= 5
        eventually(lambda: provider.status(node_id), lambda s: s == Running(), timeout=30)

        def placed() -> tuple[str, str, str]:
            got = read_pod()
            return (
                got["metadata"]["uid"],
                got["spec"].get("nodeName", ""),
                got["status"].get("phase", ""),
            )

        assert eventually(placed, lambda p: p[2] == "Running", timeout=60) == (
            uid,
            node_id,
            "Running",
        )
        # Booted: the control plane took the not-ready taint off once kwok reported Ready.
        node = eventually(
            lambda: kw.node(node_id), lambda n: n is not None and NOT_READY not in _taints(n)
        )
        assert node is not None and _ready(node) == "True"
    finally:
        kw.core.delete_namespaced_pod(kw.cluster_name, NAMESPACE, grace_period_seconds=0)


def test_boot_delay_from_configmap(kw: Harness) -> None:
    provider = kw.provider(boot_delay="0")
    kw.set_faults(boot_delay="60")  # the ConfigMap overrides the setting
    node_id = provider.create(kw.request("a"))
    # Deliberately let time pass: with the ConfigMap's 60 s boot delay (not the
    # setting's 0) the node must still be booting a second later.
    time.sleep(1)
    assert provider.status(node_id) == Creating()


def test_never_ready_until_the_fault_is_lifted(kw: Harness) -> None:
    provider = kw.provider()
    kw.set_faults(never_ready="cax11@hel1")
    stuck = provider.create(kw.request("a", CAX11_HEL))
    fine = provider.create(kw.request("b"))
    eventually(lambda: provider.status(fine), lambda s: s == Running())
    # Deliberately let time pass (2 s, while its sibling booted at once): a node
    # under never_ready must stay Creating throughout.
    for _ in range(5):
        assert provider.status(stuck) == Creating()
        time.sleep(0.4)
    node = kw.node(stuck)
    assert node is not None and "kwok.x-k8s.io/node" not in node["metadata"]["annotations"]
    provider.delete(stuck)  # what the operator does after its readiness wait
    eventually(lambda: provider.status(stuck), lambda s: s == NotFound())

    again = provider.create(kw.request("c", CAX11_HEL))
    kw.set_faults()
    eventually(lambda: provider.status(again), lambda s: s == Running())


def test_create_error_from_settings(kw: Harness) -> None:
    provider = kw.provider(create_error="cax11")
    with pytest.raises(CreationFailed, match="create_error: cax11") as err:
        provider.create(kw.request("a", CAX11_HEL))
    assert err.value.retryable
    assert kw.nodes_of_cluster() == []


def test_failed_by_fault_or_by_annotation(kw: Harness) -> None:
    provider = kw.provider()
    a = provider.create(kw.request("a"))
    b = provider.create(kw.request("b", CAX11_HEL))
    eventually(lambda: provider.status(a), lambda s: s == Running())
    kw.set_faults(failed="cx22")
    assert provider.status(a) == Failed("simulated fault 'failed: cx22'")
    assert provider.status(b) != Failed("simulated fault 'failed: cx22'")
    kw.core.patch_node(b, {"metadata": {"annotations": {manifest.FAILED_ANNOTATION: "disk died"}}})
    assert provider.status(b) == Failed("disk died")
    kw.set_faults()
    assert provider.status(a) == Running()
