"""The plugin as GrowthRS sees it: entry point, provider factory, node class CRD."""

from __future__ import annotations

import pytest
from hetzner_support import CLUSTER, TOKEN

from growthrs_core import MissingConfig, Provider, ProviderContext
from growthrs_core.crd.generate import file_name, render
from growthrs_core.plugins.manager import PluginManager
from growthrs_hetzner import nodeclass, plugin
from growthrs_hetzner.nodeclass import HetznerNodeClassSpec, parse_node_class
from growthrs_hetzner.provider import HetznerProvider
from growthrs_hetzner.settings import HetznerSettings
from hcloud_standin import StandIn


def test_entry_point_is_discovered() -> None:
    pm = PluginManager(disabled=())
    assert "hetzner" in pm.providers
    assert pm.plugins["hetzner"].distribution == "growthrs-hetzner"
    assert pm.plugins["hetzner"].error is None
    assert "hetznernodeclasses.growthrs.io" in [c["metadata"]["name"] for c in pm.crds()]


def test_disabled_by_name() -> None:
    assert "hetzner" not in PluginManager(disabled=("hetzner",)).providers


def test_factory_builds_a_provider_from_the_context(api: StandIn) -> None:
    pm = PluginManager(disabled=())
    context = ProviderContext(
        name="hetzner",
        cluster_name=CLUSTER,
        settings={"token": TOKEN, "endpoint": api.url, "offerings_ttl": "5"},
    )
    provider = pm.providers["hetzner"](context)
    assert isinstance(provider, Provider) and isinstance(provider, HetznerProvider)
    assert provider.settings.offerings_ttl == 5.0
    assert provider.list_nodes() == []


def test_crd_shape() -> None:
    crd = nodeclass.crd()
    assert crd["metadata"]["name"] == "hetznernodeclasses.growthrs.io"
    spec = crd["spec"]
    assert (spec["group"], spec["scope"], spec["names"]["shortNames"]) == (
        "growthrs.io",
        "Cluster",
        ["hnc"],
    )
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert {
        "image",
        "locations",
        "networks",
        "firewalls",
        "placementGroup",
        "sshKeys",
        "publicNet",
        "labels",
        "userData",
        "joinSecretRef",
    } <= set(schema["properties"])
    assert schema["properties"]["userData"]["properties"]["kind"]["enum"] == [
        "k3s",
        "kubeadm",
        "custom",
    ]
    assert "x-kubernetes-validations" in schema
    assert "$ref" not in str(crd) and "anyOf" not in str(crd)


def test_committed_crd_is_current() -> None:
    """``crds/`` at the repository root carries this CRD; keep it in step with the model."""
    from pathlib import Path

    committed = Path(__file__).resolve().parents[3] / "crds" / file_name(nodeclass.crd())
    if not committed.exists():
        pytest.skip("not in a GrowthRS checkout")
    assert committed.read_text() == render(nodeclass.crd())


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"unknown": 1}, "unknown: Extra inputs are not permitted"),
        ({"image": {"amd64": {"name": "a", "id": 1}}}, "exactly one of name, id or labelSelector"),
        ({"userData": {"kind": "k3s"}}, "needs joinSecretRef"),
        ({"userData": {"kind": "custom"}}, "kind custom needs templateRef"),
        ({"userData": {"kind": "ansible"}}, "userData.kind"),
        ({"labels": {"growthrs.io/x": "y"}}, "set by GrowthRS"),
        ({"labels": {"hetzner.cloud/x": "y"}}, "reserved by Hetzner"),
        ({"labels": {"ok": "not valid!"}}, "labels.ok: String should match pattern"),
        ({"publicNet": {"ipv4": False, "ipv6": False}}, "at least one network"),
    ],
)
def test_node_class_validation_names_the_problem(spec: dict[str, object], message: str) -> None:
    with pytest.raises(MissingConfig, match=message):
        parse_node_class(spec)


def test_node_class_accepts_a_whole_object_or_a_spec() -> None:
    spec = {"image": {"arm64": {"labelSelector": "role=node"}}, "sshKeys": ["ops"]}
    name, parsed = parse_node_class(
        {
            "apiVersion": "growthrs.io/v1alpha1",
            "kind": "HetznerNodeClass",
            "metadata": {"name": "arm"},
            "spec": spec,
        }
    )
    assert name == "arm" and parsed == HetznerNodeClassSpec.model_validate(spec)
    assert parse_node_class(spec)[1] == parsed
    assert parsed.image_for("amd64") is None
    assert parse_node_class({})[1].image_for("amd64") == nodeclass.ImageRef(name="ubuntu-24.04")


def test_settings_from_environment_names() -> None:
    settings = HetznerSettings.from_mapping(
        {
            "token": TOKEN,
            "price": "gross",
            "max_retries": "5",
            "reserved_memory_mib": "0",
            "endpoint": "http://x/v1/",
        }
    )
    assert (settings.price, settings.max_retries, settings.reserved_memory_mib) == ("gross", 5, 0)
    assert settings.endpoint == "http://x/v1"
    assert TOKEN not in repr(settings)
    with pytest.raises(MissingConfig, match="GROWTHRS_HETZNER_MAX_RETRIES must be a number"):
        HetznerSettings.from_mapping({"max_retries": "many"})
    with pytest.raises(
        MissingConfig, match="GROWTHRS_HETZNER_TOKEN_SECRET must be namespace/name/key"
    ):
        HetznerSettings.from_mapping({"token_secret": "just-a-name"})
    with pytest.raises(MissingConfig, match="GROWTHRS_HETZNER_PRICE"):
        HetznerSettings.from_mapping({"price": "cheap"})


def test_config_map_reader_without_a_cluster() -> None:
    with pytest.raises(MissingConfig, match="no cluster access"):
        plugin.config_map_reader(None)("ns", "cm", "key")
