"""The companion kubelet: Nodes appear for running servers and go with them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hetzner_support import JOIN, create_request, k3s_class

from growthrs_core import NodeId, Taint
from growthrs_hetzner.provider import HetznerProvider
from hcloud_standin import StandIn
from hcloud_standin.kubelet import (
    KWOK_ANNOTATION,
    MANAGED_ANNOTATION,
    FakeKubelet,
    main,
    node_manifest,
    parse_taint,
    parse_user_data,
    plan,
)


class FakeCoreV1:
    """Just enough of ``kubernetes.client.CoreV1Api`` for the companion."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}

    def list_node(self) -> Any:
        items = [
            SimpleNamespace(
                metadata=SimpleNamespace(
                    name=n["metadata"]["name"], annotations=n["metadata"].get("annotations")
                )
            )
            for n in self.nodes.values()
        ]
        return SimpleNamespace(items=items)

    def create_node(self, body: dict[str, Any]) -> None:
        self.nodes[body["metadata"]["name"]] = body

    def delete_node(self, name: str) -> None:
        del self.nodes[name]


def test_parse_k3s_flags() -> None:
    labels, taints = parse_user_data(
        "sh -s - agent --node-label growthrs.io/node-group=default --node-label 'team=a b' "
        "--node-taint dedicated=gpu:NoSchedule --node-taint=spot:NoExecute"
    )
    assert labels == {"growthrs.io/node-group": "default", "team": "a b"}
    assert [t.to_dict() for t in taints] == [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
        {"key": "spot", "effect": "NoExecute"},
    ]


def test_parse_taint_rejects_nonsense() -> None:
    assert parse_taint("a=b:Sometimes") is None and parse_taint("no-effect") is None


def _server(
    api: StandIn, provider: HetznerProvider, node_class: dict[str, object], **kw: Any
) -> dict[str, Any]:
    provider.create(
        create_request(provider, "node-1", "cax21", "hel1", node_class=node_class, **kw)
    )
    api.finish_actions()
    server = api.server("node-1")
    assert server is not None
    return server


def test_manifest_from_the_k3s_template(api: StandIn, provider: HetznerProvider) -> None:
    server = _server(
        api, provider, k3s_class(), labels={"pool": "arm"}, taints=(Taint("arm", "true"),)
    )
    node = node_manifest(server, api.user_data("node-1") or "")
    assert node["metadata"]["name"] == "node-1"
    assert node["spec"]["providerID"] == f"hcloud://{server['id']}"
    assert node["spec"]["taints"] == [{"key": "arm", "value": "true", "effect": "NoSchedule"}]
    labels = node["metadata"]["labels"]
    assert labels["pool"] == "arm"
    assert labels["node.kubernetes.io/instance-type"] == "cax21"
    assert labels["topology.kubernetes.io/region"] == "hel1"
    assert labels["topology.kubernetes.io/zone"] == "hel1-dc2"
    assert labels["kubernetes.io/arch"] == "arm64"
    assert node["metadata"]["annotations"][KWOK_ANNOTATION] == "fake"
    assert node["status"]["capacity"] == {
        "cpu": "4",
        "memory": "8192Mi",
        "ephemeral-storage": "80Gi",
        "pods": "110",
    }
    assert node["status"]["allocatable"]["memory"] == "8092Mi"


def test_manifest_from_the_kubeadm_template(api: StandIn, provider: HetznerProvider) -> None:
    node_class = {
        "userData": {"kind": "kubeadm"},
        "joinSecretRef": {"namespace": JOIN[0], "name": JOIN[1]},
    }
    server = _server(
        api,
        provider,
        node_class,
        labels={"pool": "x", "tier": "b"},
        taints=(Taint("d", "", "NoExecute"),),
    )
    labels, taints = parse_user_data(api.user_data("node-1") or "")
    assert labels == {"pool": "x", "tier": "b"}
    assert [t.to_dict() for t in taints] == [{"key": "d", "effect": "NoExecute"}]
    assert node_manifest(server, api.user_data("node-1") or "")["metadata"]["labels"]["pool"] == "x"


def test_plan_only_touches_its_own_nodes() -> None:
    servers = [
        {"id": 1, "name": "a", "status": "running"},
        {"id": 2, "name": "b", "status": "starting"},
        {"id": 3, "name": "c", "status": "deleting"},
    ]
    nodes = [
        {"metadata": {"name": "c", "annotations": {MANAGED_ANNOTATION: "3"}}},
        {"metadata": {"name": "gone", "annotations": {MANAGED_ANNOTATION: "9"}}},
        {"metadata": {"name": "control-plane", "annotations": {}}},
    ]
    todo = plan(servers, nodes)
    assert [s["name"] for s in todo.create] == ["a"]
    assert todo.delete == ["c", "gone"]


def test_sync_mirrors_servers_as_nodes(api: StandIn, provider: HetznerProvider) -> None:
    core = FakeCoreV1()
    kubelet = FakeKubelet(
        api.url, core, token=api.token, label_selector="growthrs.io/cluster=test-cluster"
    )
    provider.create(create_request(provider, "node-1", node_class=k3s_class()))
    kubelet.sync_once()
    assert core.nodes == {}  # still booting
    api.finish_actions()
    kubelet.sync_once()
    assert list(core.nodes) == ["node-1"]
    kubelet.sync_once()  # nothing changes
    provider.delete(NodeId("node-1"))
    kubelet.sync_once()
    assert core.nodes == {}


def test_command_line_once(api: StandIn, provider: HetznerProvider) -> None:
    core = FakeCoreV1()
    provider.create(create_request(provider, "node-1"))
    api.finish_actions()
    code = main(
        ["--standin", api.base, "--kubeconfig", "/dev/null", "--token", api.token, "--once"],
        core_v1_factory=lambda path: core,
    )
    assert code == 0 and list(core.nodes) == ["node-1"]
