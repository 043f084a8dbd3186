"""Loads plugins and calls hooks through one typed wrapper.

Plugins are found through the ``growthrs`` entry-point group, loaded once and
lazily (never at import time). A plugin that fails to import, violates a
hookspec or raises from a hook is logged and skipped; the rest keep working.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from growthrs_core.errors import GrowthrsError
from growthrs_core.plugins import builtin, spec
from growthrs_core.plugins.markers import PROJECT_NAME
from growthrs_core.plugins.registry import ProviderRegistry, StrategyRegistry
from growthrs_core.strategies import Strategy

log = logging.getLogger(__name__)

DISABLED_ENV = "GROWTHRS_DISABLED_PLUGINS"
BUILTIN_NAME = "growthrs-builtin"


@dataclass
class PluginInfo:
    """One loaded (or skipped) plugin, for ``growthrs plugins`` and the logs."""

    name: str
    distribution: str
    version: str
    providers: list[str] = field(default_factory=list)
    strategies: list[str] = field(default_factory=list)
    crds: list[str] = field(default_factory=list)
    error: str | None = None


def disabled_from_env(environ: dict[str, str] | None = None) -> set[str]:
    raw = (os.environ if environ is None else environ).get(DISABLED_ENV, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


class PluginManager:
    """The host side of the plugin contract.

    ``extra`` plugins (objects or modules holding hook impls) are registered in
    addition to entry points: tests use it for small local plugins.
    """

    def __init__(
        self,
        *,
        load_entry_points: bool = True,
        disabled: Iterable[str] | None = None,
        extra: Sequence[tuple[str, object]] = (),
    ) -> None:
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(spec)
        self.disabled = set(disabled_from_env() if disabled is None else disabled)
        self.plugins: dict[str, PluginInfo] = {}
        self._dist_of: dict[int, PluginInfo] = {}
        self._register(BUILTIN_NAME, builtin, "growthrs-core", _version("growthrs-core"))
        if load_entry_points:
            self._load_entry_points()
        for name, plugin in extra:
            self._register(name, plugin, name, "")
        self.providers = ProviderRegistry()
        self.strategies = StrategyRegistry()
        self._call_register("growthrs_register_providers", self.providers, "providers")
        self._call_register("growthrs_register_strategies", self.strategies, "strategies")
        self._crds: list[dict[str, Any]] | None = None

    # -- loading -------------------------------------------------------------

    def _load_entry_points(self) -> None:
        for ep in sorted(metadata.entry_points(group=PROJECT_NAME), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else "?"
            version = ep.dist.version if ep.dist is not None else ""
            if ep.name in self.disabled:
                log.info("plugin %s (%s) disabled by %s", ep.name, dist, DISABLED_ENV)
                self.plugins[ep.name] = PluginInfo(ep.name, dist, version, error="disabled")
                continue
            if ep.name in self.plugins:
                log.error("plugin name %s is used by two distributions; skipping %s", ep.name, dist)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure skips the plugin
                log.error("plugin %s (%s) failed to load, skipped: %s", ep.name, dist, _short(exc))
                self.plugins[ep.name] = PluginInfo(ep.name, dist, version, error=_short(exc))
                continue
            self._register(ep.name, plugin, dist, version)

    def _register(self, name: str, plugin: object, dist: str, version: str) -> None:
        info = PluginInfo(name, dist, version)
        self.plugins[name] = info
        try:
            self._pm.register(plugin, name=name)
            _check_known_hooks(self._pm, plugin)
            _check_call_options(self._pm, plugin)
        except (pluggy.PluginValidationError, ValueError) as exc:
            if self._pm.is_registered(plugin):
                self._pm.unregister(plugin)
            log.error("plugin %s (%s) breaks the hook contract, skipped: %s", name, dist, exc)
            info.error = f"invalid plugin: {exc}"
            return
        self._dist_of[id(plugin)] = info

    # -- calling hooks --------------------------------------------------------

    def _impls(self, hook_name: str) -> list[tuple[PluginInfo, pluggy.HookImpl]]:
        caller: pluggy.HookCaller = getattr(self._pm.hook, hook_name)
        # Registration order (built-ins first), whatever order pluggy keeps
        # (it moves tryfirst/trylast impls), so the first registration of a name wins.
        order = {key: index for index, key in enumerate(self._dist_of)}
        impls = [impl for impl in caller.get_hookimpls() if id(impl.plugin) in order]
        impls.sort(key=lambda impl: order[id(impl.plugin)])
        return [(self._dist_of[id(impl.plugin)], impl) for impl in impls]

    def _call(self, info: PluginInfo, impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> Any:
        return impl.function(**{name: kwargs[name] for name in impl.argnames})

    def _call_register(self, hook_name: str, registry: Any, attr: str) -> None:
        for info, impl in self._impls(hook_name):
            registry._from(info.name, info.distribution, info.version)
            before = set(registry)
            try:
                self._call(info, impl, {"registry": registry})
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the rest
                log.error(
                    "plugin %s (%s): %s failed: %s",
                    info.name,
                    info.distribution,
                    hook_name,
                    _short(exc),
                )
                info.error = _short(exc)
            getattr(info, attr).extend(sorted(set(registry) - before))

    def crds(self) -> list[dict[str, Any]]:
        """CRD manifests contributed by plugins (the core's own are not included)."""
        if self._crds is None:
            crds: list[dict[str, Any]] = []
            for info, impl in self._impls("growthrs_crds"):
                try:
                    result = self._call(info, impl, {})
                    if not isinstance(result, list) or not all(isinstance(c, dict) for c in result):
                        raise TypeError("growthrs_crds() must return a list of dicts")
                except Exception as exc:  # noqa: BLE001
                    log.error(
                        "plugin %s (%s): growthrs_crds failed: %s",
                        info.name,
                        info.distribution,
                        _short(exc),
                    )
                    info.error = _short(exc)
                    continue
                info.crds = [str(c.get("metadata", {}).get("name", "?")) for c in result]
                crds.extend(result)
            self._crds = crds
        return self._crds

    # -- lookups ---------------------------------------------------------------

    def strategy_chain(self, names: Sequence[str]) -> list[Strategy]:
        """Resolve ``["priority", "least-waste"]`` into strategy objects."""
        unknown = [n for n in names if n not in self.strategies]
        if unknown:
            known = ", ".join(self.strategies)
            raise GrowthrsError(f"unknown strategy {', '.join(unknown)} (installed: {known})")
        return [self.strategies[n] for n in names]


def _check_known_hooks(pm: pluggy.PluginManager, plugin: object) -> None:
    """A misspelled hook would otherwise never run and never say so.

    Hooks from a newer GrowthRS are fine when marked ``optionalhook=True``.
    """
    unknown = sorted(
        caller.name
        for caller in pm.get_hookcallers(plugin) or ()
        if not caller.has_spec()
        and any(i.plugin is plugin and not i.optionalhook for i in caller.get_hookimpls())
    )
    if unknown:
        raise pluggy.PluginValidationError(
            plugin,
            f"unknown hook {', '.join(unknown)} (not in growthrs_core.plugins.spec; "
            "use @hookimpl(optionalhook=True) for hooks of newer GrowthRS versions)",
        )


UNSUPPORTED_OPTIONS = ("hookwrapper", "wrapper", "tryfirst", "trylast")


def _check_call_options(pm: pluggy.PluginManager, plugin: object) -> None:
    """GrowthRS calls each plugin's hook once, in registration order, and gives every
    plugin its own result; wrappers and ordering options would silently do nothing,
    so a plugin that asks for them is refused instead."""
    for caller in pm.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            used = [o for o in UNSUPPORTED_OPTIONS if getattr(impl, o, False)]
            if used:
                raise pluggy.PluginValidationError(
                    plugin,
                    f"hook {caller.name} uses {', '.join(used)}, which GrowthRS does not support "
                    "(each plugin's hook is called once, in registration order)",
                )


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


_DEFAULT: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide manager, created on first use."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = PluginManager()
    return _DEFAULT


__all__ = ["PluginInfo", "PluginManager", "get_plugin_manager"]
