"""Typed registries handed to the registration hooks.

Each entry remembers which plugin distribution registered it, so a duplicate
name is reported with both distributions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from growthrs_core.errors import PluginError
from growthrs_core.provider import ProviderFactory
from growthrs_core.strategies import Strategy

T = TypeVar("T")


@dataclass(frozen=True)
class Registered(Generic[T]):
    name: str
    value: T
    plugin: str
    distribution: str
    version: str


class _Registry(Generic[T]):
    kind = "entry"

    def __init__(self) -> None:
        self._entries: dict[str, Registered[T]] = {}
        self._plugin = "growthrs-core"
        self._distribution = "growthrs-core"
        self._version = ""

    def _from(self, plugin: str, distribution: str, version: str) -> None:
        """Set who is registering now (called by the plugin manager)."""
        self._plugin, self._distribution, self._version = plugin, distribution, version

    def _check(self, name: str, value: T) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(
                f"{self._distribution}: a {self.kind} name must be a non-empty string, got {name!r}"
            )
        if name in self._entries:
            other = self._entries[name].distribution
            raise PluginError(
                f"{self.kind} {name!r} is registered twice: by {other} and by {self._distribution}"
            )

    def add(self, name: str, value: T) -> None:
        self._check(name, value)
        self._entries[name] = Registered(
            name, value, self._plugin, self._distribution, self._version
        )

    def __getitem__(self, name: str) -> T:
        return self._entries[name].value

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[Registered[T]]:
        return [self._entries[n] for n in sorted(self._entries)]


class ProviderRegistry(_Registry[ProviderFactory]):
    """``registry.add(name, factory)`` where ``factory(context) -> Provider``."""

    kind = "provider"

    def _check(self, name: str, value: ProviderFactory) -> None:
        super()._check(name, value)
        if not callable(value):
            raise PluginError(f"{self._distribution}: provider {name!r} factory is not callable")


class StrategyRegistry(_Registry[Strategy]):
    """``registry.add(name, strategy)`` where ``strategy.best_options(options)`` narrows."""

    kind = "strategy"

    def _check(self, name: str, value: Strategy) -> None:
        super()._check(name, value)
        if not callable(getattr(value, "best_options", None)):
            raise PluginError(
                f"{self._distribution}: strategy {name!r} has no best_options(options) method"
            )
