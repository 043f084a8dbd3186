"""status(), delete(), list_nodes() and provider_id() along a server's life."""

from __future__ import annotations

import pytest
from hetzner_support import create_request

from growthrs_core import Creating, Failed, NodeId, NotFound, Removing, Running
from growthrs_hetzner.provider import HetznerProvider
from hcloud_standin import Fault, StandIn


def test_creating_until_the_actions_finish_then_running(
    api: StandIn, provider: HetznerProvider
) -> None:
    provider.create(create_request(provider, "node-1"))
    assert provider.status(NodeId("node-1")) == Creating()  # create_server running (30 s)
    api.advance(45)
    assert api.server("node-1")["status"] == "starting"  # type: ignore[index]
    assert provider.status(NodeId("node-1")) == Creating()  # start_server running
    api.finish_actions()
    assert provider.status(NodeId("node-1")) == Running()


def test_slow_actions_keep_it_creating(api: StandIn, provider: HetznerProvider) -> None:
    api.inject(Fault(code="slow_actions", delay=300))
    provider.create(create_request(provider, "node-1"))
    api.advance(120)
    assert provider.status(NodeId("node-1")) == Creating()
    api.advance(600)
    assert provider.status(NodeId("node-1")) == Running()


@pytest.mark.parametrize("command", ["create_server", "start_server"])
def test_failed_action_deletes_the_server_and_reports_failed(
    api: StandIn, provider: HetznerProvider, command: str
) -> None:
    api.inject(Fault(code="failing_actions", command=command, message="host on fire"))
    provider.create(create_request(provider, "node-1"))
    api.finish_actions()
    status = provider.status(NodeId("node-1"))
    assert isinstance(status, Failed)
    assert command in status.reason and "host on fire" in status.reason
    assert len(api.requests("DELETE", r"/servers/\d+")) == 1
    assert provider.status(NodeId("node-1")) == Removing()
    api.finish_actions()
    assert provider.status(NodeId("node-1")) == NotFound()


def test_status_of_an_unknown_node_is_not_found(provider: HetznerProvider) -> None:
    assert provider.status(NodeId("ghost")) == NotFound()


def test_delete_then_removing_then_gone(api: StandIn, provider: HetznerProvider) -> None:
    provider.create(create_request(provider, "node-1"))
    api.finish_actions()
    provider.delete(NodeId("node-1"))
    assert provider.status(NodeId("node-1")) == Removing()
    provider.delete(NodeId("node-1"))  # already going: no second DELETE
    assert len(api.requests("DELETE", r"/servers/\d+")) == 1
    api.finish_actions()
    assert provider.status(NodeId("node-1")) == NotFound()
    provider.delete(NodeId("node-1"))  # gone: success


def test_delete_treats_404_as_success(api: StandIn, provider: HetznerProvider) -> None:
    provider.create(create_request(provider, "node-1"))
    api.inject(Fault(code="not_found", method="DELETE", path=r"/servers/\d+"))
    provider.delete(NodeId("node-1"))
    assert api.requests("DELETE", r"/servers/\d+")[0].status == 404


def test_list_nodes_follows_pages_and_only_this_cluster(
    api: StandIn, make_provider: object
) -> None:
    api.max_per_page = 3  # the real API pages at 50; small pages keep the test fast
    provider = make_provider()  # type: ignore[operator]
    other = make_provider(cluster="other")  # type: ignore[operator]
    names = [f"node-{i}" for i in range(8)]
    for name in names:
        provider.create(create_request(provider, name))
    other.create(create_request(other, "foreign"))
    assert provider.list_nodes() == sorted(names)
    pages = [
        e.query.get("page") for e in api.requests("GET", "/servers") if "label_selector" in e.query
    ]
    assert pages == [["1"], ["2"], ["3"]]
    assert pages and all(
        e.query["label_selector"]
        == ["growthrs.io/cluster==test-cluster,growthrs.io/provider==hetzner"]
        for e in api.requests("GET", "/servers")
        if "label_selector" in e.query
    )


def test_list_nodes_beyond_the_real_page_size(api: StandIn, provider: HetznerProvider) -> None:
    for i in range(55):
        api.world.create_server(
            {
                "name": f"n-{i}",
                "server_type": "cx22",
                "image": "ubuntu-24.04",
                "labels": {
                    "growthrs.io/cluster": "test-cluster",
                    "growthrs.io/provider": "hetzner",
                },
            }
        )
    assert len(provider.list_nodes()) == 55
    assert len([e for e in api.requests("GET", "/servers")]) == 2


def test_list_nodes_skips_servers_being_deleted(api: StandIn, provider: HetznerProvider) -> None:
    provider.create(create_request(provider, "node-1"))
    provider.create(create_request(provider, "node-2"))
    provider.delete(NodeId("node-1"))
    assert provider.list_nodes() == ["node-2"]


def test_provider_id_is_hcloud_server_id(api: StandIn, provider: HetznerProvider) -> None:
    provider.create(create_request(provider, "node-1"))
    assert provider.provider_id("node-1") == f"hcloud://{api.server('node-1')['id']}"  # type: ignore[index]
    assert provider.provider_id("ghost") is None
