"""The plugin layer with small local plugins and a fresh manager per test."""

from __future__ import annotations

import inspect
import logging
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import growthrs_core
from growthrs_core import (
    CreateRequest,
    NodeId,
    NotFound,
    Offering,
    ProviderContext,
    ProviderRegistry,
    ProviderStatus,
    ScaleUpOption,
    StrategyRegistry,
    hookimpl,
)
from growthrs_core.errors import GrowthrsError
from growthrs_core.plugins import builtin, spec
from growthrs_core.plugins.manager import (
    BUILTIN_NAME,
    DISABLED_ENV,
    PluginManager,
    disabled_from_env,
)
from growthrs_core.plugins.manager import metadata as manager_metadata
from growthrs_core.strategies import PriorityStrategy

REPO = Path(__file__).resolve().parents[2]
BUILTINS = ["cheapest", "least-waste", "most-pods", "priority"]


# -- small local plugins --------------------------------------------------------------


class NullCloud:
    def __init__(self, context: ProviderContext) -> None:
        self.context = context

    def offerings(self, region: str | None) -> list[Offering]:
        return []

    def create(self, request: CreateRequest) -> NodeId:
        return NodeId(request.node_name)

    def delete(self, node_id: NodeId) -> None:
        return None

    def status(self, node_id: NodeId) -> ProviderStatus:
        return NotFound()

    def list_nodes(self) -> list[NodeId]:
        return []


class KeepAll:
    def best_options(self, options: Sequence[ScaleUpOption]) -> list[ScaleUpOption]:
        return list(options)


class CloudPlugin:
    def __init__(self, provider: str = "null-cloud", strategy: str = "keep-all") -> None:
        self.provider, self.strategy = provider, strategy

    @hookimpl
    def growthrs_register_providers(self, registry: ProviderRegistry) -> None:
        registry.add(self.provider, NullCloud)

    @hookimpl
    def growthrs_register_strategies(self, registry: StrategyRegistry) -> None:
        registry.add(self.strategy, KeepAll())


class ProviderOnly:
    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def growthrs_register_providers(self, registry: ProviderRegistry) -> None:
        registry.add(self.name, NullCloud)


class Exploding:
    @hookimpl
    def growthrs_register_providers(self, registry: ProviderRegistry) -> None:
        raise RuntimeError("kaboom")

    @hookimpl
    def growthrs_register_strategies(self, registry: StrategyRegistry) -> None:
        registry.add("exploding-strategy", KeepAll())


class WrongArgName:
    @hookimpl
    def growthrs_register_providers(self, registy: ProviderRegistry) -> None:  # typo on purpose
        registy.add("never", NullCloud)


class NoArgs:
    """Implementations may take fewer arguments than the spec offers."""

    calls = 0

    @hookimpl
    def growthrs_register_providers(self) -> None:
        NoArgs.calls += 1


class CrdPlugin:
    @hookimpl
    def growthrs_crds(self) -> list[dict[str, Any]]:
        return [{"apiVersion": "apiextensions.k8s.io/v1", "metadata": {"name": "things.x.io"}}]


class BadCrdPlugin:
    @hookimpl
    def growthrs_crds(self) -> Any:
        return {"not": "a list"}


def manager(*plugins: tuple[str, object], disabled: Sequence[str] = ()) -> PluginManager:
    return PluginManager(load_entry_points=False, extra=list(plugins), disabled=disabled)


# -- registration -----------------------------------------------------------------------------


def test_provider_and_strategy_registration() -> None:
    pm = manager(("cloud-dist", CloudPlugin()))
    assert list(pm.providers) == ["null-cloud"]
    assert "keep-all" in pm.strategies
    info = pm.plugins["cloud-dist"]
    assert (info.providers, info.strategies, info.error) == (["null-cloud"], ["keep-all"], None)
    provider = pm.providers["null-cloud"](ProviderContext(name="null-cloud"))
    assert isinstance(provider, growthrs_core.Provider)
    entry = next(e for e in pm.providers.entries() if e.name == "null-cloud")
    assert (entry.plugin, entry.distribution) == ("cloud-dist", "cloud-dist")


def test_duplicate_provider_name_is_an_error_naming_both_distributions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pm = manager(("first-dist", ProviderOnly("twin")), ("second-dist", ProviderOnly("twin")))
    error = pm.plugins["second-dist"].error
    assert error is not None
    assert "twin" in error and "first-dist" in error and "second-dist" in error
    assert pm.plugins["first-dist"].error is None
    assert pm.plugins["second-dist"].providers == []
    # The first registration stands.
    entry = next(e for e in pm.providers.entries() if e.name == "twin")
    assert entry.distribution == "first-dist"
    assert any(
        r.levelno == logging.ERROR and "first-dist" in r.getMessage() for r in caplog.records
    )


def test_duplicate_of_a_builtin_strategy_names_growthrs_core() -> None:
    pm = manager(("shadow-dist", CloudPlugin(provider="p", strategy="priority")))
    error = pm.plugins["shadow-dist"].error
    assert error is not None and "growthrs-core" in error and "shadow-dist" in error
    assert isinstance(pm.strategies["priority"], PriorityStrategy)  # the built-in kept its name
    assert next(e for e in pm.strategies.entries() if e.name == "priority").distribution == (
        "growthrs-core"
    )


def test_a_plugin_asking_to_go_first_is_refused_and_the_builtin_keeps_its_name() -> None:
    class Pushy:
        @hookimpl(tryfirst=True)
        def growthrs_register_strategies(self, registry: StrategyRegistry) -> None:
            registry.add("priority", KeepAll())

    pm = manager(("pushy-dist", Pushy()))
    assert next(e for e in pm.strategies.entries() if e.name == "priority").plugin == BUILTIN_NAME
    assert pm.plugins[BUILTIN_NAME].error is None
    assert "uses tryfirst" in (pm.plugins["pushy-dist"].error or "")


def test_hooks_run_in_registration_order() -> None:
    class Crds:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def growthrs_crds(self) -> list[dict[str, Any]]:
            return [{"metadata": {"name": self.name}}]

    pm = manager(("one", Crds("a.x.io")), ("two", Crds("b.x.io")), ("three", Crds("c.x.io")))
    assert [c["metadata"]["name"] for c in pm.crds()] == ["a.x.io", "b.x.io", "c.x.io"]


def test_a_plugin_raising_in_a_hook_is_logged_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pm = manager(("bad-dist", Exploding()), ("good-dist", CloudPlugin()))
    assert pm.plugins["bad-dist"].error == "RuntimeError: kaboom"
    assert pm.plugins["good-dist"].error is None
    assert "null-cloud" in pm.providers and "keep-all" in pm.strategies
    # Its other hooks still ran: the failure is per hook call.
    assert "exploding-strategy" in pm.strategies
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("bad-dist" in m and "kaboom" in m for m in messages)


def test_a_plugin_violating_a_hookspec_is_skipped_with_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pm = manager(("typo-dist", WrongArgName()), ("good-dist", CloudPlugin()))
    error = pm.plugins["typo-dist"].error
    assert error is not None and error.startswith("invalid plugin")
    assert "registy" in error and "growthrs_register_providers" in error
    assert "never" not in pm.providers
    assert "null-cloud" in pm.providers
    assert any("typo-dist" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


@pytest.mark.parametrize("option", ["hookwrapper", "wrapper", "tryfirst", "trylast"])
def test_call_options_growthrs_does_not_honour_are_refused(option: str) -> None:
    class Ordered:
        @hookimpl(**{option: True})  # type: ignore[call-overload]
        def growthrs_register_strategies(self, registry: StrategyRegistry) -> Any:
            registry.add("ordered", KeepAll())
            if option in ("hookwrapper", "wrapper"):
                yield

    pm = manager(("ordered-dist", Ordered()), ("good-dist", CloudPlugin()))
    error = pm.plugins["ordered-dist"].error
    assert error is not None and error.startswith("invalid plugin") and option in error
    assert "ordered" not in pm.strategies and "keep-all" in pm.strategies


def test_no_hookspec_asks_for_firstresult() -> None:
    """Every plugin's answer counts; a first-result hook would drop all but one."""
    for name in ("growthrs_register_providers", "growthrs_register_strategies", "growthrs_crds"):
        opts = getattr(spec, name).growthrs_spec
        assert not opts.get("firstresult"), name


def test_a_misspelled_hook_is_skipped_with_an_error() -> None:
    class Typo:
        @hookimpl
        def growthrs_register_provider(self, registry: ProviderRegistry) -> None:
            registry.add("never", NullCloud)

        @hookimpl
        def growthrs_register_strategies(self, registry: StrategyRegistry) -> None:
            registry.add("typo-strategy", KeepAll())

    pm = manager(("typo-dist", Typo()))
    error = pm.plugins["typo-dist"].error
    assert error is not None and "unknown hook growthrs_register_provider" in error
    # The whole plugin is skipped, not half of it.
    assert "typo-strategy" not in pm.strategies
    assert not pm._pm.hook.growthrs_register_provider.get_hookimpls()


def test_an_optional_hook_of_a_newer_host_is_allowed() -> None:
    class FromTheFuture:
        @hookimpl(optionalhook=True)
        def growthrs_register_something_new(self) -> None:
            raise AssertionError("never called by this host")

        @hookimpl
        def growthrs_register_strategies(self, registry: StrategyRegistry) -> None:
            registry.add("future", KeepAll())

    pm = manager(("future-dist", FromTheFuture()))
    assert pm.plugins["future-dist"].error is None
    assert "future" in pm.strategies


def test_implementations_may_take_fewer_arguments() -> None:
    NoArgs.calls = 0
    pm = manager(("lazy-dist", NoArgs()))
    assert pm.plugins["lazy-dist"].error is None
    assert NoArgs.calls == 1


def test_crds_hook_collects_manifests_and_skips_bad_ones(caplog: pytest.LogCaptureFixture) -> None:
    pm = manager(("crd-dist", CrdPlugin()), ("bad-crd-dist", BadCrdPlugin()))
    assert [c["metadata"]["name"] for c in pm.crds()] == ["things.x.io"]
    assert pm.plugins["crd-dist"].crds == ["things.x.io"]
    error = pm.plugins["bad-crd-dist"].error
    assert error is not None and "list of dicts" in error
    assert pm.crds() is pm.crds()  # computed once
    assert any("bad-crd-dist" in r.getMessage() for r in caplog.records)


# -- strategies ------------------------------------------------------------------------------


def test_builtin_strategies_are_registered_through_the_same_hook() -> None:
    pm = manager()
    assert list(pm.strategies) == BUILTINS
    info = pm.plugins[BUILTIN_NAME]
    assert info.distribution == "growthrs-core" and info.strategies == BUILTINS
    assert {e.plugin for e in pm.strategies.entries()} == {BUILTIN_NAME}
    # The built-in module is an ordinary plugin with an ordinary hook implementation.
    assert getattr(builtin.growthrs_register_strategies, "growthrs_impl", None) is not None
    impls = pm._pm.hook.growthrs_register_strategies.get_hookimpls()
    assert [i.plugin for i in impls] == [builtin]


def test_strategy_chain_resolves_names_in_order() -> None:
    pm = manager(("cloud-dist", CloudPlugin()))
    chain = pm.strategy_chain(["least-waste", "keep-all", "priority"])
    assert chain == [
        pm.strategies["least-waste"],
        pm.strategies["keep-all"],
        pm.strategies["priority"],
    ]


def test_strategy_chain_with_unknown_name_errors() -> None:
    pm = manager()
    with pytest.raises(GrowthrsError, match=r"unknown strategy cheepest.*installed: cheapest"):
        pm.strategy_chain(["priority", "cheepest"])


def test_registry_rejects_what_cannot_work() -> None:
    class BadNames:
        @hookimpl
        def growthrs_register_strategies(self, registry: StrategyRegistry) -> None:
            registry.add("no-method", object())  # type: ignore[arg-type]

        @hookimpl
        def growthrs_register_providers(self, registry: ProviderRegistry) -> None:
            registry.add("", NullCloud)

    pm = manager(("names-dist", BadNames()))
    error = pm.plugins["names-dist"].error
    assert error is not None and "best_options" in error
    assert "no-method" not in pm.strategies and "" not in pm.providers


# -- disabling by entry-point name -----------------------------------------------------------


class FakeDist:
    name = "fake-dist"
    version = "1.0"


class FakeEntryPoint:
    """What the manager uses of an ``importlib.metadata.EntryPoint``."""

    dist = FakeDist()

    def __init__(self, name: str, plugin: object) -> None:
        self.name = name
        self.plugin = plugin
        self.loaded = False

    def load(self) -> object:
        self.loaded = True
        if isinstance(self.plugin, Exception):
            raise self.plugin
        return self.plugin


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeEntryPoint]:
    eps = {
        "alpha": FakeEntryPoint("alpha", ProviderOnly("alpha-cloud")),
        "beta": FakeEntryPoint("beta", ProviderOnly("beta-cloud")),
        "gamma": FakeEntryPoint("gamma", ImportError("no module named gamma_sdk")),
    }

    def fake(*, group: str) -> list[FakeEntryPoint]:
        assert group == "growthrs"
        return list(eps.values())

    monkeypatch.setattr(manager_metadata, "entry_points", fake)
    return eps


def test_disabled_plugins_env_blocks_by_entry_point_name_without_importing(
    entry_points: dict[str, FakeEntryPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DISABLED_ENV, " beta , gamma,")
    pm = PluginManager()
    assert list(pm.providers) == ["alpha-cloud"]
    assert pm.plugins["beta"].error == "disabled"
    assert pm.plugins["gamma"].error == "disabled"
    assert not entry_points["beta"].loaded and not entry_points["gamma"].loaded


def test_import_failure_is_logged_and_skipped(
    entry_points: dict[str, FakeEntryPoint],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv(DISABLED_ENV, raising=False)
    pm = PluginManager()
    assert list(pm.providers) == ["alpha-cloud", "beta-cloud"]
    assert pm.plugins["gamma"].error == "ImportError: no module named gamma_sdk"
    assert pm.plugins["gamma"].distribution == "fake-dist"
    assert any("gamma" in r.getMessage() and "fake-dist" in r.getMessage() for r in caplog.records)


def test_explicit_disabled_argument_overrides_the_environment(
    entry_points: dict[str, FakeEntryPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DISABLED_ENV, "alpha")
    pm = PluginManager(disabled=["beta", "gamma"])
    assert list(pm.providers) == ["alpha-cloud"]


def test_disabled_from_env_parsing() -> None:
    assert disabled_from_env({DISABLED_ENV: "a, b,,c "}) == {"a", "b", "c"}
    assert disabled_from_env({}) == set()


def test_plugins_are_not_loaded_at_import_time() -> None:
    code = (
        "import sys, growthrs_core, growthrs_core.plugins.manager as m\n"
        "print(m._DEFAULT is None, 'growthrs_kwok' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["True", "False"]


# -- the public API --------------------------------------------------------------------------

SPEC_EXPORTS = [
    # hooks and registries
    "hookimpl",
    "ProviderRegistry",
    "StrategyRegistry",
    # provider contract
    "Provider",
    "ProviderContext",
    "ProviderFactory",
    "Offering",
    "Resources",
    "CreateRequest",
    "NodeId",
    "Region",
    "Zone",
    "InstanceType",
    "Taint",
    "ProviderStatus",
    "Creating",
    "Running",
    "Removing",
    "NotFound",
    "Failed",
    # errors
    "ProviderError",
    "CreationFailed",
    "DeletionFailed",
    "JoinTimeout",
    "OfferingUnavailable",
    "MissingConfig",
    "UnknownProvider",
    "ProviderInternal",
    # strategies
    "Strategy",
    "ScaleUpOption",
    "PoolRef",
]


@pytest.mark.parametrize("name", SPEC_EXPORTS)
def test_growthrs_core_exports_what_plugins_need(name: str) -> None:
    assert hasattr(growthrs_core, name), f"growthrs_core.{name} is missing"
    assert name in growthrs_core.__all__


def test_only_hookimpl_marker_is_exported() -> None:
    assert not hasattr(growthrs_core, "hookspec")


def test_error_family_says_whether_retrying_helps() -> None:
    family = {
        "CreationFailed": True,
        "DeletionFailed": True,
        "JoinTimeout": True,
        "ProviderInternal": True,
        "OfferingUnavailable": False,
        "MissingConfig": False,
        "UnknownProvider": False,
    }
    for name, retryable in family.items():
        cls = getattr(growthrs_core, name)
        assert issubclass(cls, growthrs_core.ProviderError)
        err = cls("boom")
        assert err.retryable is retryable, name
        assert err.retry_after is None
        assert cls("x", retryable=not retryable, retry_after=5).retryable is not retryable
    assert growthrs_core.ProviderInternal("x", retry_after=2.5).retry_after == 2.5


def test_domain_types_are_constructible_by_keyword_with_spec_defaults() -> None:
    res = growthrs_core.Resources(cpu_millis=2000, memory_mib=4096)
    assert (res.ephemeral_storage_gib, res.gpu, res.gpu_model) == (None, 0, None)
    offering = growthrs_core.Offering(
        instance_type=growthrs_core.InstanceType("cx22"),
        resources=res,
        cost_per_hour=0.006,
        region=growthrs_core.Region("fsn1"),
    )
    assert (offering.zone, offering.arch) == (None, "amd64")
    req = growthrs_core.CreateRequest(node_name="n", offering=offering)
    assert (req.labels, req.taints, req.node_class) == ({}, (), {})
    assert growthrs_core.Failed("x") == growthrs_core.Failed("x") != growthrs_core.Failed("y")
    assert growthrs_core.Running() == growthrs_core.Running() != growthrs_core.Creating()


# -- every hook documented (datasette's test_plugin_hooks_are_documented) -----------------------

HOOKS_DOC = REPO / "docs" / "plugin-hooks.md"


def spec_hooks() -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(fn).parameters)
        for name, fn in inspect.getmembers(spec, inspect.isfunction)
        if name.startswith("growthrs_")
    }


def documented_hooks() -> dict[str, list[str]]:
    found = re.findall(r"^#+\s+`?(growthrs_\w+)\(([^)]*)\)`?\s*$", HOOKS_DOC.read_text(), re.M)
    return {name: [a.strip() for a in args.split(",") if a.strip()] for name, args in found}


def test_spec_has_the_hooks_the_contract_names() -> None:
    assert set(spec_hooks()) >= {
        "growthrs_register_providers",
        "growthrs_register_strategies",
        "growthrs_crds",
    }


@pytest.mark.parametrize("hook", sorted(spec_hooks()))
def test_plugin_hooks_are_documented(hook: str) -> None:
    documented = documented_hooks()
    assert hook in documented, f"{hook} has no heading in {HOOKS_DOC.relative_to(REPO)}"
    assert documented[hook] == spec_hooks()[hook], f"{hook} documented with other arguments"


def test_documented_hooks_exist() -> None:
    assert set(documented_hooks()) <= set(spec_hooks())


@pytest.mark.parametrize("hook", sorted(spec_hooks()))
def test_hookspecs_have_a_docstring_and_full_types(hook: str) -> None:
    fn = getattr(spec, hook)
    assert inspect.getdoc(fn), f"{hook} needs a docstring saying when it runs"
    hints = inspect.get_annotations(fn)
    assert "return" in hints
    assert set(hints) - {"return"} == set(inspect.signature(fn).parameters)
