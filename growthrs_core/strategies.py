"""Scoring strategies: narrow a list of scale-up options to the best ones.

The shape comes from Cluster Autoscaler's expanders. Strategies chain: each one
narrows the ties the previous one left, and :func:`choose` breaks a final tie
deterministically, so the same input always gives the same node.

A strategy may instead ask the planner to compare *whole packings*: with
``packs_whole_group = True`` (as :class:`CheapestStrategy` has), the planner
narrows the options with the strategies before it (say ``priority``: the
highest pool priority that can take the pods), then packs all the pods of a
round onto the offerings left at once, for the lowest total hourly cost and
then the fewest nodes (see ``docs/planner.md``). Per-option scoring, as
Cluster Autoscaler's expanders do it, sees one offering at a time and cannot
tell that a mix of offerings, or a bigger node, is cheaper overall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from growthrs_core.domain import Offering, Resources


@dataclass(frozen=True, slots=True)
class PoolRef:
    """One pool of a NodeGroupWithPriority: its position, provider and priority."""

    group: str
    index: int
    provider: str
    priority: int


@dataclass(frozen=True, slots=True)
class ScaleUpOption:
    """Adding ``node_count`` nodes of ``offering`` from ``pool`` to place ``pods``.

    ``requested`` is the sum of what the placed pods request across all those
    nodes. The planner leaves DaemonSet pods out, so that least-waste counts
    the room they take on every extra node as waste (as Cluster Autoscaler
    does); otherwise many small nodes would look as good as a few big ones.
    """

    pool: PoolRef
    offering: Offering
    node_count: int
    pods: tuple[str, ...]
    requested: Resources

    @property
    def cost_per_hour(self) -> float:
        return self.offering.cost_per_hour * self.node_count

    @property
    def idle(self) -> tuple[float, float]:
        """Fraction of CPU and memory left unused by the pods, after packing."""
        cap = self.offering.resources
        cpu_total = cap.cpu_millis * self.node_count
        mem_total = cap.memory_mib * self.node_count
        cpu = 1 - self.requested.cpu_millis / cpu_total if cpu_total else 1.0
        mem = 1 - self.requested.memory_mib / mem_total if mem_total else 1.0
        return cpu, mem


@runtime_checkable
class Strategy(Protocol):
    """Narrows options; must return a non-empty subset of a non-empty input."""

    def best_options(self, options: Sequence[ScaleUpOption]) -> list[ScaleUpOption]: ...


def _keep_min(options: Sequence[ScaleUpOption], key: object) -> list[ScaleUpOption]:
    scored = [(key(o), o) for o in options]  # type: ignore[operator]
    best = min(s for s, _ in scored)
    return [o for s, o in scored if s == best]


class PriorityStrategy:
    """The seed's rule: the highest pool priority wins."""

    def best_options(self, options: Sequence[ScaleUpOption]) -> list[ScaleUpOption]:
        return _keep_min(options, lambda o: -o.pool.priority)


class CheapestStrategy:
    """The cheapest packing of all the pods, then the fewest nodes (``cheapest``).

    The planner packs whole groups for it (``packs_whole_group``); where it is
    asked to narrow single options (a NodeRequest's fallback offerings, say), it
    keeps the lowest cost per placed pod."""

    packs_whole_group: ClassVar[bool] = True

    def best_options(self, options: Sequence[ScaleUpOption]) -> list[ScaleUpOption]:
        return _keep_min(options, lambda o: round(o.cost_per_hour / max(len(o.pods), 1), 9))


class LeastWasteStrategy:
    """Least idle CPU after packing, then least idle memory."""

    def best_options(self, options: Sequence[ScaleUpOption]) -> list[ScaleUpOption]:
        narrowed = _keep_min(options, lambda o: round(o.idle[0], 9))
        return _keep_min(narrowed, lambda o: round(o.idle[1], 9))


class MostPodsStrategy:
    """Places the most pods."""

    def best_options(self, options: Sequence[ScaleUpOption]) -> list[ScaleUpOption]:
        return _keep_min(options, lambda o: -len(o.pods))


def tie_break_key(option: ScaleUpOption) -> tuple[object, ...]:
    """Deterministic last resort: fewer nodes, cheaper, then names."""
    return (
        option.node_count,
        option.cost_per_hour,
        option.pool.index,
        str(option.offering.instance_type),
        str(option.offering.region),
        str(option.offering.zone or ""),
    )


def packs_whole_group(strategy: object) -> bool:
    """Whether the planner should pack whole groups for ``strategy`` (see the module)."""
    return bool(getattr(strategy, "packs_whole_group", False))


def narrow(options: Sequence[ScaleUpOption], chain: Sequence[Strategy]) -> list[ScaleUpOption]:
    """Run the strategy chain: the options every strategy in turn kept."""
    remaining = list(options)
    for strategy in chain:
        if len(remaining) <= 1:
            break
        narrowed = strategy.best_options(remaining)
        # A strategy that returns nothing (or strangers) is ignored, not trusted.
        # Membership by identity first: comparing options by value hashes their pods.
        ids = {id(o) for o in remaining}
        kept = [o for o in narrowed if id(o) in ids]
        if len(kept) < len(narrowed):
            values = set(remaining)
            kept = [o for o in narrowed if id(o) in ids or o in values]
        if kept:
            remaining = kept
    return remaining


def choose(options: Sequence[ScaleUpOption], chain: Sequence[Strategy]) -> ScaleUpOption | None:
    """Run the strategy chain and break the final tie deterministically."""
    remaining = narrow(options, chain)
    return min(remaining, key=tie_break_key) if remaining else None
