"""The built-in strategies, registered through the same hook as anyone's."""

from __future__ import annotations

from growthrs_core.plugins.markers import hookimpl
from growthrs_core.plugins.registry import StrategyRegistry
from growthrs_core.strategies import (
    CheapestStrategy,
    LeastWasteStrategy,
    MostPodsStrategy,
    PriorityStrategy,
)


@hookimpl
def growthrs_register_strategies(registry: StrategyRegistry) -> None:
    registry.add("priority", PriorityStrategy())
    registry.add("cheapest", CheapestStrategy())
    registry.add("least-waste", LeastWasteStrategy())
    registry.add("most-pods", MostPodsStrategy())
