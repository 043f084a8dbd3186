"""The hook implementations GrowthRS loads through the ``growthrs`` entry point."""

from __future__ import annotations

from growthrs_core import ProviderRegistry, hookimpl
from growthrs_kwok.provider import from_context


@hookimpl
def growthrs_register_providers(registry: ProviderRegistry) -> None:
    registry.add("kwok", from_context)
