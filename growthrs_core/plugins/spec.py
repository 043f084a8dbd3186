"""Hook specifications: the public plugin contract (SPEC §2).

Hook names are fixed; new hooks and new arguments may be added, never renamed.
Implementations may accept fewer arguments than the spec offers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from growthrs_core.plugins.markers import hookspec

if TYPE_CHECKING:
    from growthrs_core.plugins.registry import ProviderRegistry, StrategyRegistry


@hookspec
def growthrs_register_providers(registry: ProviderRegistry) -> None:
    """Register provider factories with ``registry.add(name, factory)``.

    Called once when plugins load. ``factory(context)`` must return a
    :class:`~growthrs_core.Provider`; it is called lazily, the first time a pool
    uses the provider. A name already taken by another plugin is an error.
    """


@hookspec
def growthrs_register_strategies(registry: StrategyRegistry) -> None:
    """Register scoring strategies with ``registry.add(name, strategy)``.

    Called once when plugins load. A strategy narrows scale-up options to the
    best ones (see :class:`~growthrs_core.Strategy`); users chain them by name.
    """


@hookspec
def growthrs_crds() -> list[dict[str, Any]]:
    """Return the CustomResourceDefinition manifests this plugin contributes.

    ``growthrs crds`` prints them after the core's own. Must not talk to a
    cluster; return plain dicts.
    """
    raise NotImplementedError  # pragma: no cover - a spec has no body
