"""Registration through the hook, the factory's settings, and life without a cluster."""

from __future__ import annotations

from importlib import metadata

import pytest

import growthrs_kwok.plugin
from growthrs_core import (
    CreateRequest,
    MissingConfig,
    NodeId,
    Provider,
    ProviderContext,
)
from growthrs_core.plugins.manager import PluginManager
from growthrs_kwok import KwokProvider, from_context
from growthrs_kwok.faults import Target


def test_registers_provider_named_kwok() -> None:
    pm = PluginManager(load_entry_points=False, extra=[("kwok", growthrs_kwok.plugin)])
    assert "kwok" in pm.providers
    assert pm.plugins["kwok"].providers == ["kwok"]
    assert pm.plugins["kwok"].error is None
    provider = pm.providers["kwok"](ProviderContext(name="kwok"))
    assert isinstance(provider, Provider)


def test_entry_point_is_declared() -> None:
    eps = {ep.name: ep for ep in metadata.entry_points(group="growthrs")}
    assert "kwok" in eps, "growthrs-kwok is not installed: pip install -e plugins/growthrs_kwok"
    assert eps["kwok"].value == "growthrs_kwok.plugin"
    assert eps["kwok"].dist is not None and eps["kwok"].dist.name == "growthrs-kwok"


def test_offerings_need_no_cluster_but_cluster_calls_do() -> None:
    provider = from_context(ProviderContext(name="kwok"))
    assert len(provider.offerings(None)) > 60
    assert {str(o.region) for o in provider.offerings("hel1")} == {"hel1"}
    req = CreateRequest(node_name="x", offering=provider.offerings("fsn1")[0])
    for call in (
        lambda: provider.create(req),
        lambda: provider.delete(NodeId("x")),
        lambda: provider.status(NodeId("x")),
        provider.list_nodes,
    ):
        with pytest.raises(MissingConfig, match="no cluster access"):
            call()


def test_settings_configure_faults() -> None:
    provider = from_context(
        ProviderContext(name="kwok", settings={"unavailable": "cx22@fsn1", "boot_delay": "2s"})
    )
    faults = provider._faults.current()
    assert faults.unavailable == {Target("cx22", "fsn1")}
    assert faults.delay == 2.0


@pytest.mark.parametrize(
    "settings",
    [{"unavailable": "CX22"}, {"boot_delay": "soon"}, {"request_timeout": "x"}],
)
def test_bad_settings_are_missing_config_naming_the_key(settings: dict[str, str]) -> None:
    with pytest.raises(MissingConfig, match=next(iter(settings))):
        from_context(ProviderContext(name="kwok", settings=settings))


def test_cluster_name_must_be_a_label_value() -> None:
    with pytest.raises(MissingConfig, match="cluster name"):
        KwokProvider(cluster_name="not a label!")


def test_unknown_offering_is_refused_before_any_api_call() -> None:
    from growthrs_core import CreationFailed

    provider = from_context(ProviderContext(name="kwok"))
    a100 = next(o for o in provider.offerings("fsn1") if o.instance_type == "gx-a100-2")
    from dataclasses import replace

    for bad in (replace(a100, region="hel1"), replace(a100, instance_type="cx99")):  # type: ignore[arg-type]
        with pytest.raises(CreationFailed, match="sells no server type") as err:
            provider.create(CreateRequest(node_name="x", offering=bad))
        assert not err.value.retryable
