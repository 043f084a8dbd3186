"""GrowthRS core: everything a provider or strategy plugin needs, in one import.

Plugins import from here only (an import contract in the lint step holds them
to it); the modules behind these names may move, these names stay.
"""

from __future__ import annotations

from growthrs_core.crd.models import Condition
from growthrs_core.crd.schema import crd_manifest
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
from growthrs_core.labels import (
    ARCH_LABEL,
    CLUSTER_LABEL,
    GPU_MODEL_LABEL,
    GPU_RESOURCE,
    HOSTNAME_LABEL,
    INSTANCE_TYPE_LABEL,
    MANAGED_PREFIX,
    NODE_GROUP_LABEL,
    NODE_REQUEST_LABEL,
    NOT_READY_TAINT_KEY,
    OS_LABEL,
    POOL_LABEL,
    PROVIDER_LABEL,
    REGION_LABEL,
    ZONE_LABEL,
)
from growthrs_core.plugins.markers import hookimpl
from growthrs_core.plugins.registry import ProviderRegistry, StrategyRegistry
from growthrs_core.provider import (
    PoolCheck,
    Provider,
    ProviderContext,
    ProviderFactory,
    ReportsRateLimit,
    SecretReader,
    ValidatesPools,
)
from growthrs_core.quantity import format_cpu, format_memory
from growthrs_core.strategies import PoolRef, ScaleUpOption, Strategy

__all__ = [
    "ARCH_LABEL",
    "CLUSTER_LABEL",
    "GPU_MODEL_LABEL",
    "GPU_RESOURCE",
    "HOSTNAME_LABEL",
    "INSTANCE_TYPE_LABEL",
    "MANAGED_PREFIX",
    "NODE_GROUP_LABEL",
    "NODE_REQUEST_LABEL",
    "NOT_READY_TAINT_KEY",
    "OS_LABEL",
    "POOL_LABEL",
    "PROVIDER_LABEL",
    "REGION_LABEL",
    "ZONE_LABEL",
    "Condition",
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
    "PoolCheck",
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
    "ReportsRateLimit",
    "Resources",
    "Running",
    "ScaleUpOption",
    "SecretReader",
    "Strategy",
    "StrategyRegistry",
    "Taint",
    "UnknownProvider",
    "ValidatesPools",
    "Zone",
    "crd_manifest",
    "format_cpu",
    "format_memory",
    "hookimpl",
]
