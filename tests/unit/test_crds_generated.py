"""``crds/`` holds the generated manifests; this fails when they are stale."""

from __future__ import annotations

from pathlib import Path

from growthrs_core.crd.generate import all_crds, file_name, render
from growthrs_core.plugins.manager import PluginManager

CRDS = Path(__file__).resolve().parents[2] / "crds"
SHIPPED_PLUGINS = {"kwok", "hetzner"}


def shipped_manager() -> PluginManager:
    """Core plus the providers that ship in this repository (no test plugins)."""
    manager = PluginManager(disabled=set())
    extra = set(manager.plugins) - SHIPPED_PLUGINS - {"growthrs-builtin"}
    return PluginManager(disabled=extra)


def test_committed_crds_match_the_models() -> None:
    expected = {file_name(c): render(c) for c in all_crds(shipped_manager())}
    committed = {p.name: p.read_text() for p in CRDS.glob("*.yaml")}
    stale = sorted(n for n in expected if committed.get(n) != expected[n])
    extra = sorted(set(committed) - set(expected))
    assert not stale and not extra, (
        f"crds/ is stale (changed: {stale}, unexpected: {extra}); regenerate with `make crds`"
    )


def test_core_crds_are_cluster_scoped_with_status_and_short_names() -> None:
    crds = {c["spec"]["names"]["kind"]: c for c in all_crds(None)}
    assert set(crds) == {"NodeGroupWithPriority", "NodeRequest", "NodeRemoval"}
    for crd, short in (
        (crds["NodeGroupWithPriority"], "ngp"),
        (crds["NodeRequest"], "nr"),
        (crds["NodeRemoval"], "nrm"),
    ):
        assert crd["spec"]["scope"] == "Cluster"
        assert crd["spec"]["names"]["shortNames"] == [short]
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        assert version["additionalPrinterColumns"]
        text = render(crd)
        assert "$ref" not in text and "anyOf" not in text
