"""Entry-point discovery with a real installed plugin distribution.

Unit tests elsewhere register plugin objects directly; only an installed
distribution proves that ``PluginManager()`` finds plugins through the
``growthrs`` entry-point group, skips one that cannot be imported, and honours
``GROWTHRS_DISABLED_PLUGINS``.
"""

from __future__ import annotations

import logging
from importlib import metadata

import pytest

from growthrs_core import (
    CreateRequest,
    Creating,
    InstanceType,
    NodeId,
    NotFound,
    Offering,
    OfferingUnavailable,
    PoolRef,
    Provider,
    ProviderContext,
    Region,
    Resources,
    Running,
    ScaleUpOption,
)
from growthrs_core.plugins.manager import DISABLED_ENV, PluginManager

DIST = "growthrs-testplugin"
INSTALL = ".venv/bin/pip install -e tests/plugins/growthrs_testplugin"


@pytest.fixture(autouse=True)
def testplugin_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly, never skip, when the test distribution is missing."""
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{DIST} is not installed in this environment; install it with: {INSTALL}")
    names = {ep.name for ep in dist.entry_points if ep.group == "growthrs"}
    if names != {"testplugin", "broken"}:
        pytest.fail(f"{DIST} declares entry points {sorted(names)}; reinstall it with: {INSTALL}")
    monkeypatch.delenv(DISABLED_ENV, raising=False)


def test_discovers_the_installed_plugin_through_its_entry_point() -> None:
    pm = PluginManager()
    info = pm.plugins["testplugin"]
    assert (info.distribution, info.version, info.error) == (DIST, "0.0.1", None)
    assert info.providers == ["test-cloud"]
    assert info.strategies == ["alphabetical"]
    assert "test-cloud" in pm.providers and "alphabetical" in pm.strategies
    assert next(e for e in pm.providers.entries() if e.name == "test-cloud").distribution == DIST


def test_broken_entry_point_is_logged_and_skipped_while_testplugin_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        pm = PluginManager()
    broken = pm.plugins["broken"]
    assert broken.distribution == DIST
    assert broken.error is not None and broken.error.startswith("ImportError")
    assert "broken on purpose" in broken.error
    assert broken.providers == broken.strategies == []
    assert any(
        "broken" in r.getMessage() and DIST in r.getMessage() and "ImportError" in r.getMessage()
        for r in caplog.records
    )
    # The same distribution's other entry point, and everything else, still works.
    assert pm.plugins["testplugin"].error is None
    assert "test-cloud" in pm.providers
    assert {"priority", "cheapest", "least-waste", "most-pods"} <= set(pm.strategies)


def test_disabled_by_entry_point_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLED_ENV, "testplugin")
    pm = PluginManager()
    assert pm.plugins["testplugin"].error == "disabled"
    assert "test-cloud" not in pm.providers and "alphabetical" not in pm.strategies
    assert all("testplugin" not in c["metadata"]["name"] for c in pm.crds())
    # Disabling one entry point leaves the other of the same distribution alone.
    assert pm.plugins["broken"].error is not None and pm.plugins["broken"].error != "disabled"


def test_disabling_the_broken_one_silences_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(DISABLED_ENV, "broken")
    with caplog.at_level(logging.ERROR):
        pm = PluginManager()
    assert pm.plugins["broken"].error == "disabled"
    assert not any("broken on purpose" in r.getMessage() for r in caplog.records)
    assert "test-cloud" in pm.providers


def test_contributed_crd_is_structural() -> None:
    pm = PluginManager()
    crd = next(
        c
        for c in pm.crds()
        if c["metadata"]["name"] == "testcloudnodeclasses.testplugin.growthrs.io"
    )
    assert pm.plugins["testplugin"].crds == ["testcloudnodeclasses.testplugin.growthrs.io"]
    assert crd["spec"]["names"]["kind"] == "TestCloudNodeClass"
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec_props = schema["properties"]["spec"]["properties"]
    assert set(spec_props) == {"image", "tags"}
    assert "$ref" not in str(schema) and "anyOf" not in str(schema)


def test_discovered_provider_and_strategy_work() -> None:
    pm = PluginManager()
    provider = pm.providers["test-cloud"](
        ProviderContext(name="test-cloud", cluster_name="c1", settings={"unavailable": "large"})
    )
    assert isinstance(provider, Provider)
    offerings = provider.offerings("lab-1")
    assert sorted(str(o.instance_type) for o in offerings) == ["large", "small"]
    small = next(o for o in offerings if o.instance_type == "small")
    large = next(o for o in offerings if o.instance_type == "large")
    node = provider.create(CreateRequest(node_name="n1", offering=small))
    assert provider.create(CreateRequest(node_name="n1", offering=small)) == node
    assert provider.list_nodes() == [NodeId("n1")]
    assert provider.status(node) == Creating()
    assert provider.status(node) == Running()
    with pytest.raises(OfferingUnavailable):
        provider.create(CreateRequest(node_name="n2", offering=large))
    provider.delete(node)
    provider.delete(node)
    assert provider.status(node) == NotFound()

    def option(instance_type: str, index: int) -> ScaleUpOption:
        return ScaleUpOption(
            pool=PoolRef(group="g", index=index, provider="test-cloud", priority=10),
            offering=Offering(
                instance_type=InstanceType(instance_type),
                resources=Resources(cpu_millis=1000, memory_mib=1024),
                cost_per_hour=0.01,
                region=Region("lab-1"),
            ),
            node_count=1,
            pods=("default/p",),
            requested=Resources(cpu_millis=500, memory_mib=512),
        )

    options = [option("zeta", 0), option("alpha", 1), option("mid", 2)]
    best = pm.strategy_chain(["alphabetical"])[0].best_options(options)
    assert [o.offering.instance_type for o in best] == ["alpha"]
