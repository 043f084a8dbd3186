"""Shared cloud projects: only servers with this cluster's label and the managed marker are ours.

A look-alike is a server of another cluster made exactly like ours (same name,
same labels except the cluster value), or a server with our cluster label that
GrowthRS did not make. Nothing the provider does may adopt, report, list or
delete one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hetzner_support import CLUSTER, TOKEN, create_request

from growthrs_core import CreationFailed, DeletionFailed, NodeId, NotFound, Running
from growthrs_hetzner.provider import HetznerProvider
from hcloud_standin import Fault, StandIn

OTHER = "other-cluster"


def _deletes(api: StandIn) -> list[str]:
    return [e.path for e in api.requests("DELETE", r"/servers/\d+")]


@pytest.fixture
def other(make_provider: Callable[..., HetznerProvider]) -> HetznerProvider:
    """The provider of another cluster that shares the Hetzner project."""
    return make_provider(cluster=OTHER)


@pytest.fixture
def lookalike(api: StandIn, other: HetznerProvider, provider: HetznerProvider) -> dict[str, Any]:
    """Another cluster's running ``node-1``, labelled like ours but for the cluster value."""
    other.create(create_request(other, "node-1"))
    api.finish_actions()
    server = api.server("node-1")
    assert server is not None
    ours = {**server["labels"], "growthrs.io/cluster": CLUSTER}
    assert {k for k in server["labels"] if server["labels"][k] != ours[k]} == {
        "growthrs.io/cluster"
    }
    return server


def _survived(api: StandIn, server: dict[str, Any]) -> None:
    now = api.server(str(server["name"]))
    assert now is not None and now["id"] == server["id"] and now["status"] == "running"
    assert now["labels"] == server["labels"]
    assert f"/servers/{server['id']}" not in _deletes(api)


def test_lookalike_of_another_cluster_survives_create_list_status_delete(
    api: StandIn, provider: HetznerProvider, other: HetznerProvider, lookalike: dict[str, Any]
) -> None:
    name = NodeId("node-1")
    with pytest.raises(CreationFailed, match="not GrowthRS's to use") as created:
        provider.create(create_request(provider, "node-1"))
    assert created.value.retryable is False
    assert provider.list_nodes() == []  # what orphan collection sees
    assert provider.status(name) == NotFound()  # never adopted
    assert provider.provider_id(name) is None
    with pytest.raises(DeletionFailed, match="refusing to delete Hetzner server node-1") as refused:
        provider.delete(name)
    assert refused.value.retryable is False
    assert f"growthrs.io/cluster={OTHER}" in refused.value.message
    for error in (created.value, refused.value):
        assert TOKEN not in str(error) and "secret" not in str(error).lower()
    _survived(api, lookalike)
    assert other.status(name) == Running() and other.list_nodes() == [name]


def test_uniqueness_error_never_resolves_to_a_lookalike(
    api: StandIn,
    provider: HetznerProvider,
    lookalike: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Our lookup misses (the other cluster was quicker), the POST hits ``uniqueness_error``."""
    real_find = provider._find
    calls: list[str] = []

    def first_lookup_misses(name: str) -> Any:
        calls.append(name)
        return None if len(calls) == 1 else real_find(name)

    monkeypatch.setattr(provider, "_find", first_lookup_misses)
    with pytest.raises(CreationFailed, match="not GrowthRS's to use") as info:
        provider.create(create_request(provider, "node-1"))
    assert info.value.retryable is False
    conflicts = [e for e in api.requests("POST", "/servers") if e.status == 409]
    assert conflicts and conflicts[0].response_body["error"]["code"] == "uniqueness_error"
    _survived(api, lookalike)


def test_a_server_with_our_cluster_label_but_not_made_by_growthrs_is_left_alone(
    api: StandIn, provider: HetznerProvider
) -> None:
    """E.g. a bastion someone labelled with the cluster: no managed marker, not ours."""
    api.world.create_server(
        {
            "name": "bastion",
            "server_type": "cx22",
            "image": "ubuntu-24.04",
            "labels": {"growthrs.io/cluster": CLUSTER, "growthrs.io/node-group": "default"},
        }
    )
    api.finish_actions()
    bastion = api.server("bastion")
    assert bastion is not None
    assert provider.list_nodes() == []
    assert provider.status(NodeId("bastion")) == NotFound()
    with pytest.raises(DeletionFailed, match=r"no growthrs\.io/provider"):
        provider.delete(NodeId("bastion"))
    with pytest.raises(CreationFailed, match="not GrowthRS's to use"):
        provider.create(create_request(provider, "bastion"))
    _survived(api, bastion)


def test_a_failed_lookalike_is_not_reported_nor_deleted_by_us(
    api: StandIn, provider: HetznerProvider, other: HetznerProvider
) -> None:
    """status() deletes a server whose create action failed, but only one of ours."""
    api.inject(Fault(code="failing_actions", command="create_server", message="host on fire"))
    other.create(create_request(other, "node-1"))
    api.finish_actions()
    assert provider.status(NodeId("node-1")) == NotFound()
    assert _deletes(api) == []


def test_ours_is_deleted_by_its_id_and_gone_is_success(
    api: StandIn, provider: HetznerProvider, lookalike: dict[str, Any]
) -> None:
    provider.create(create_request(provider, "node-2"))
    mine = api.server("node-2")
    assert mine is not None
    provider.delete(NodeId("node-2"))
    assert _deletes(api) == [f"/servers/{mine['id']}"]
    api.finish_actions()
    provider.delete(NodeId("node-2"))  # gone: success, no second DELETE
    provider.delete(NodeId("never-existed"))
    assert _deletes(api) == [f"/servers/{mine['id']}"]
    assert provider.list_nodes() == []
    _survived(api, lookalike)
