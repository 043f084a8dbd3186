"""GrowthRS core: everything a provider or strategy plugin needs, in one import."""

from __future__ import annotations

from growthrs_core.domain import (
    CreateRequest,
    Creating,
    Failed,
    InstanceType,
    NodeId,
    NotFound,
    Offering,
    ProviderStatus,
    Region,
    Removing,
    Resources,
    Running,
    Taint,
    Zone,
)
from growthrs_core.errors import (
    CreationFailed,
    DeletionFailed,
    GrowthrsError,
    JoinTimeout,
    MissingConfig,
    OfferingUnavailable,
    ProviderError,
    ProviderInternal,
    UnknownProvider,
)
from growthrs_core.plugins.markers import hookimpl
from growthrs_core.plugins.registry import ProviderRegistry, StrategyRegistry
from growthrs_core.provider import Provider, ProviderContext, ProviderFactory
from growthrs_core.strategies import PoolRef, ScaleUpOption, Strategy

__all__ = [
    "CreateRequest",
    "Creating",
    "CreationFailed",
    "DeletionFailed",
    "Failed",
    "GrowthrsError",
    "InstanceType",
    "JoinTimeout",
    "MissingConfig",
    "NodeId",
    "NotFound",
    "Offering",
    "OfferingUnavailable",
    "PoolRef",
    "Provider",
    "ProviderContext",
    "ProviderError",
    "ProviderFactory",
    "ProviderInternal",
    "ProviderRegistry",
    "ProviderStatus",
    "Region",
    "Removing",
    "Resources",
    "Running",
    "ScaleUpOption",
    "Strategy",
    "StrategyRegistry",
    "Taint",
    "UnknownProvider",
    "Zone",
    "hookimpl",
]
