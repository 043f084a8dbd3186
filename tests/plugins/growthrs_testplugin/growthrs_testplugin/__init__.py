"""A complete, minimal third-party GrowthRS plugin, used only by the test suite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from growthrs_core import (
    ProviderContext,
    ProviderRegistry,
    ScaleUpOption,
    StrategyRegistry,
    hookimpl,
)
from growthrs_core.crd.schema import crd_manifest
from growthrs_testplugin.cloud import InMemoryCloud

PROVIDER = "test-cloud"
STRATEGY = "alphabetical"


class AlphabeticalStrategy:
    """Keeps the options whose instance type sorts first: easy to predict in tests."""

    def best_options(self, options: Sequence[ScaleUpOption]) -> list[ScaleUpOption]:
        first = min(str(o.offering.instance_type) for o in options)
        return [o for o in options if str(o.offering.instance_type) == first]


class TestCloudNodeClassSpec(BaseModel):
    """Provider configuration a pool's ``nodeClassRef`` may point at."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(default="test-image", min_length=1)
    tags: dict[str, str] = Field(default_factory=dict)


def make_provider(context: ProviderContext) -> InMemoryCloud:
    return InMemoryCloud(cluster_name=context.cluster_name, settings=dict(context.settings))


@hookimpl
def growthrs_register_providers(registry: ProviderRegistry) -> None:
    registry.add(PROVIDER, make_provider)


@hookimpl
def growthrs_register_strategies(registry: StrategyRegistry) -> None:
    registry.add(STRATEGY, AlphabeticalStrategy())


@hookimpl
def growthrs_crds() -> list[dict[str, Any]]:
    return [
        crd_manifest(
            kind="TestCloudNodeClass",
            plural="testcloudnodeclasses",
            short_names=["tcnc"],
            group="testplugin.growthrs.io",
            spec_model=TestCloudNodeClassSpec,
            status_model=None,
            description="Test-only node class of the test-cloud provider.",
        )
    ]
