"""create(): one server per node name, built from the HetznerNodeClass."""

from __future__ import annotations

from typing import Any

import pytest
from hetzner_support import CLUSTER, create_request, k3s_class

from growthrs_core import CreationFailed, MissingConfig, OfferingUnavailable
from growthrs_hetzner.provider import HetznerProvider
from hcloud_standin import StandIn


def _created(api: StandIn) -> list[dict[str, Any]]:
    return [e.request_body for e in api.requests("POST", "/servers") if e.status == 201]


def test_create_returns_the_node_name_and_the_server_exists(
    api: StandIn, provider: HetznerProvider
) -> None:
    assert provider.create(create_request(provider, "node-1")) == "node-1"
    server = api.server("node-1")
    assert server is not None
    assert (server["server_type"]["name"], server["location"]["name"]) == ("cx22", "fsn1")


def test_retry_finds_the_existing_server(api: StandIn, provider: HetznerProvider) -> None:
    request = create_request(provider, "node-1")
    assert provider.create(request) == provider.create(request) == "node-1"
    assert len(_created(api)) == 1
    assert len(api.servers()) == 1


def test_uniqueness_error_resolves_to_the_existing_server(
    api: StandIn, provider: HetznerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent attempt created the server between our lookup and our POST."""
    request = create_request(provider, "node-1")
    provider.create(request)
    real_find = provider._find
    calls = []

    def first_lookup_misses(name: str) -> Any:
        calls.append(name)
        return None if len(calls) == 1 else real_find(name)

    monkeypatch.setattr(provider, "_find", first_lookup_misses)
    assert provider.create(request) == "node-1"
    conflicts = [e for e in api.requests("POST", "/servers") if e.status == 409]
    assert conflicts and conflicts[0].response_body["error"]["code"] == "uniqueness_error"
    assert len(api.servers()) == 1


def test_a_foreign_server_with_the_name_is_not_adopted(
    api: StandIn, make_provider: Any, provider: HetznerProvider
) -> None:
    other = make_provider(cluster="someone-else")
    other.create(create_request(other, "node-1"))
    with pytest.raises(CreationFailed, match="not GrowthRS's to use") as info:
        provider.create(create_request(provider, "node-1"))
    assert info.value.retryable is False


def test_labels_mark_cluster_group_and_request(api: StandIn, provider: HetznerProvider) -> None:
    request = create_request(provider, "node-1", node_class={"labels": {"team": "infra"}})
    provider.create(request)
    labels = api.server("node-1")["labels"]  # type: ignore[index]
    assert labels == {
        "growthrs.io/cluster": CLUSTER,
        "growthrs.io/provider": "hetzner",  # the managed marker
        "growthrs.io/node-group": "default",
        "growthrs.io/node-request": "nr-node-1",
        "team": "infra",
    }


def test_label_values_are_sanitised_for_hetzner(api: StandIn, make_provider: Any) -> None:
    provider = make_provider(cluster="prod/eu:Cluster #1")
    request = create_request(provider, "node-1")
    provider.create(request)
    value = api.server("node-1")["labels"]["growthrs.io/cluster"]  # type: ignore[index]
    assert value.startswith("prod-eu-Cluster-1-") and len(value) <= 63
    assert provider.list_nodes() == ["node-1"]


def test_location_comes_from_the_offering(api: StandIn, provider: HetznerProvider) -> None:
    provider.create(create_request(provider, "node-1", "cpx21", "hil"))
    assert _created(api)[0]["location"] == "hil"
    assert api.server("node-1")["location"]["name"] == "hil"  # type: ignore[index]


def test_location_outside_the_node_class_is_unavailable(provider: HetznerProvider) -> None:
    request = create_request(provider, "node-1", "cx22", "nbg1", node_class={"locations": ["fsn1"]})
    with pytest.raises(OfferingUnavailable, match="not nbg1"):
        provider.create(request)


def test_unknown_location_in_the_node_class_is_missing_config(provider: HetznerProvider) -> None:
    request = create_request(provider, "node-1", node_class={"locations": ["fsn1", "fsn2"]})
    with pytest.raises(MissingConfig, match=r"unknown location fsn2 \(field locations"):
        provider.create(request)


def test_image_per_architecture(api: StandIn, provider: HetznerProvider) -> None:
    node_class = {"image": {"amd64": {"name": "debian-12"}, "arm64": {"name": "ubuntu-22.04"}}}
    provider.create(create_request(provider, "x86-node", "cx22", node_class=node_class))
    provider.create(create_request(provider, "arm-node", "cax11", node_class=node_class))
    x86, arm = api.server("x86-node"), api.server("arm-node")
    assert (x86["image"]["name"], x86["image"]["architecture"]) == ("debian-12", "x86")  # type: ignore[index]
    assert (arm["image"]["name"], arm["image"]["architecture"]) == ("ubuntu-22.04", "arm")  # type: ignore[index]


def test_default_image_when_the_node_class_names_none(
    api: StandIn, provider: HetznerProvider
) -> None:
    provider.create(create_request(provider, "arm-node", "cax11"))
    assert api.server("arm-node")["image"]["name"] == "ubuntu-24.04"  # type: ignore[index]


def test_missing_image_for_an_architecture(provider: HetznerProvider) -> None:
    node_class = {"image": {"amd64": {"name": "ubuntu-24.04"}}}
    with pytest.raises(MissingConfig, match=r"no image for arm64 \(field image.arm64\)"):
        provider.create(create_request(provider, "arm-node", "cax11", node_class=node_class))


def test_image_by_id(api: StandIn, provider: HetznerProvider) -> None:
    snap = api.add_image(description="golden", architecture="x86")
    node_class = {"image": {"amd64": {"id": snap["id"]}}}
    provider.create(create_request(provider, "node-1", node_class=node_class))
    assert api.server("node-1")["image"]["id"] == snap["id"]  # type: ignore[index]


def test_label_selector_picks_the_newest_snapshot_of_the_architecture(
    api: StandIn, provider: HetznerProvider
) -> None:
    labels = {"role": "k8s-node"}
    api.add_image(
        description="old", architecture="arm", labels=labels, created="2024-01-01T00:00:00+00:00"
    )
    newest = api.add_image(
        description="new", architecture="arm", labels=labels, created="2024-06-01T00:00:00+00:00"
    )
    api.add_image(
        description="x86", architecture="x86", labels=labels, created="2025-01-01T00:00:00+00:00"
    )
    api.add_image(
        description="other",
        architecture="arm",
        labels={"role": "db"},
        created="2025-01-01T00:00:00+00:00",
    )
    api.add_image(
        description="broken",
        architecture="arm",
        labels=labels,
        created="2025-02-01T00:00:00+00:00",
        status="creating",
    )
    node_class = {"image": {"arm64": {"labelSelector": "role=k8s-node"}}}
    provider.create(create_request(provider, "arm-node", "cax21", node_class=node_class))
    assert api.server("arm-node")["image"]["id"] == newest["id"]  # type: ignore[index]
    query = api.requests("GET", "/images")[0].query
    assert query["type"] == ["snapshot"] and query["architecture"] == ["arm"]


def test_label_selector_without_a_match_names_the_field(provider: HetznerProvider) -> None:
    node_class = {"image": {"arm64": {"labelSelector": "role=nothing"}}}
    with pytest.raises(MissingConfig, match=r"image.arm64.labelSelector"):
        provider.create(create_request(provider, "arm-node", "cax11", node_class=node_class))


def test_networks_firewalls_placement_group_ssh_keys_and_public_net(
    api: StandIn, provider: HetznerProvider
) -> None:
    net = api.create_network("cluster-net", "10.1.0.0/16")
    fw = api.create_firewall("nodes")
    pg = api.create_placement_group("spread-1")
    api.create_ssh_key("ops", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOps ops@example")
    node_class = {
        "networks": ["cluster-net"],
        "firewalls": [str(fw["id"])],
        "placementGroup": "spread-1",
        "sshKeys": ["ops"],
        "publicNet": {"ipv4": False, "ipv6": True},
    }
    provider.create(create_request(provider, "node-1", node_class=node_class))
    sent = _created(api)[0]
    assert sent["networks"] == [net["id"]]
    assert sent["firewalls"] == [{"firewall": fw["id"]}]
    assert sent["placement_group"] == pg["id"]
    assert sent["ssh_keys"] == ["ops"]
    assert sent["public_net"] == {"enable_ipv4": False, "enable_ipv6": True}
    server = api.server("node-1")
    assert server is not None
    assert server["public_net"]["ipv4"] is None and server["public_net"]["ipv6"] is not None
    assert server["private_net"][0]["network"] == net["id"]
    assert server["placement_group"]["id"] == pg["id"]
    assert server["public_net"]["firewalls"] == [{"id": fw["id"], "status": "applied"}]


def test_names_are_resolved_once_per_ttl(api: StandIn, provider: HetznerProvider) -> None:
    api.create_network("cluster-net")
    node_class = {"networks": ["cluster-net"]}
    provider.create(create_request(provider, "node-1", node_class=node_class))
    provider.create(create_request(provider, "node-2", node_class=node_class))
    assert len(api.requests("GET", "/networks")) == 1


def test_unknown_network_name_is_missing_config(provider: HetznerProvider) -> None:
    with pytest.raises(MissingConfig, match=r"network 'nope' not found \(field networks\)"):
        provider.create(create_request(provider, "node-1", node_class={"networks": ["nope"]}))


def test_unknown_ssh_key_is_missing_config_naming_the_field(
    api: StandIn, provider: HetznerProvider
) -> None:
    with pytest.raises(MissingConfig, match=r"ssh_keys.*sshKeys"):
        provider.create(create_request(provider, "node-1", node_class={"sshKeys": ["ghost"]}))
    assert api.servers() == []


def test_invalid_node_class_is_missing_config_naming_the_field(provider: HetznerProvider) -> None:
    with pytest.raises(MissingConfig, match=r"HetznerNodeClass big: publicNet.ipv5: Extra inputs"):
        provider.create(
            create_request(
                provider,
                node_class={
                    "kind": "HetznerNodeClass",
                    "metadata": {"name": "big"},
                    "spec": {"publicNet": {"ipv5": True}},
                },
            )
        )


def test_user_data_is_sent(api: StandIn, provider: HetznerProvider) -> None:
    provider.create(create_request(provider, "node-1", node_class=k3s_class()))
    assert (api.user_data("node-1") or "").startswith("#cloud-config\n")
