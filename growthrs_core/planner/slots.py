"""The places a group can put a new node: one *slot* per (pool, offering).

A slot knows everything the packer asks about a prospective node: its labels
and taints, the DaemonSet pods it would run (and so the room left for the
pending pods), its topology domains, and whether the offering is backing off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from growthrs_core.cluster import DaemonSetInfo, GroupView
from growthrs_core.crd.models import NodeGroupWithPrioritySpec, Pool
from growthrs_core.domain import NO_EXTENDED, ExtendedResources, Offering, Resources, Taint
from growthrs_core.labels import ZONE_LABEL
from growthrs_core.planner.matching import daemonset_overhead, matching_labels, new_node_labels
from growthrs_core.strategies import PoolRef

UNLIMITED = 1 << 62
"""Capacity of a dimension an offering does not limit (ephemeral storage unset)."""


def extended_room(room: Mapping[str, int], demand: Mapping[str, int]) -> int:
    """How many pods requesting ``demand`` (extended resources) fit in ``room``:
    :data:`UNLIMITED` when they request none, 0 when ``room`` lacks one."""
    k = UNLIMITED
    for name, amount in demand.items():
        if amount > 0:
            k = min(k, room.get(name, 0) // amount)
    return max(k, 0)


def take_extended(room: dict[str, int], demand: Mapping[str, int], k: int) -> None:
    """Take ``k`` pods' worth of ``demand`` from ``room``."""
    for name, amount in demand.items():
        room[name] = room.get(name, 0) - amount * k


def extended_fits(pattern: Iterable[tuple[HasExtended, int]], slot: Slot) -> bool:
    """Whether one node of ``slot`` has the extended resources for ``pattern``
    ((item, pods) pairs)."""
    used: dict[str, int] = {}
    for it, k in pattern:
        if it.extended:
            take_extended(used, it.extended, -k)
    return all(slot.extended.get(name, 0) >= amount for name, amount in used.items())


class HasExtended(Protocol):
    @property
    def extended(self) -> Mapping[str, int]: ...


def extended_capacity(have: Mapping[str, int], overhead: Mapping[str, int]) -> ExtendedResources:
    """What pods may use of the extended resources an offering declares after the
    DaemonSet pods' share; a DaemonSet pod asking for one the offering lacks does
    not run there and takes none."""
    if not have:
        return NO_EXTENDED
    return ExtendedResources(
        (name, max(amount - overhead.get(name, 0), 0)) for name, amount in have.items()
    )


@dataclass(frozen=True, eq=False)
class Slot:
    """One (pool, offering) of a group, with the room it leaves for pending pods."""

    index: int
    group: str
    pool_index: int
    pool: Pool
    offering: Offering
    labels: dict[str, str]
    match_labels: dict[str, str]
    topology: dict[str, str]
    """Labels used as topology domains: ``labels`` with the zone inferred when unset."""
    ds_overhead: Resources
    ds_pods: int
    ds_ports: frozenset[tuple[int, str]]
    unavailable: bool
    cpu: int
    memory: int
    ephemeral: int
    gpu: int
    pods: int
    ref: PoolRef
    extended: ExtendedResources = NO_EXTENDED
    """Room for pods in each extended resource the offering declares (after DaemonSets)."""
    blocked: str = ""
    """Why its pool is blocked (``PlanningInput.blocked_pools``); empty when it is not."""

    # Cached: the fields never change, and with a thousand offerings the planner asks
    # for every slot of a group for every node it plans.
    @cached_property
    def has_room(self) -> bool:
        """Its DaemonSet pods leave room for at least one pod."""
        return self.cpu >= 0 and self.memory >= 0 and self.ephemeral >= 0 and self.pods >= 1

    @cached_property
    def usable(self) -> bool:
        """A new node may be planned here: room for a pod, and its pool not blocked."""
        return self.has_room and not self.blocked

    @property
    def location(self) -> tuple[str, str]:
        return (str(self.offering.region), str(self.offering.zone or ""))


@dataclass(eq=False)
class GroupContext:
    """A valid group with its slots and what keeps any of its pools from having one."""

    view: GroupView
    spec: NodeGroupWithPrioritySpec
    taints: tuple[Taint, ...]
    slots: list[Slot] = field(default_factory=list)
    pool_problems: list[str] = field(default_factory=list)
    blocked: dict[int, str] = field(default_factory=dict)
    """Pool index → why no node may be planned in it (``PlanningInput.blocked_pools``)."""

    def pool_label(self, index: int) -> str:
        return f"pool {index} ({self.spec.pools[index].provider})"

    def blocked_text(self, pools: Iterable[int]) -> str:
        """``pool 0 (hetzner) is blocked: no node class``, for messages."""
        parts = [f"{self.pool_label(i)} is blocked: {self.blocked[i]}" for i in sorted(pools)]
        return "; ".join(parts)

    @property
    def name(self) -> str:
        return self.view.name


def build_group(
    view: GroupView,
    offerings: Mapping[str, Sequence[Offering]],
    daemonsets: Sequence[DaemonSetInfo],
    unavailable: frozenset[tuple[str, str]],
    zone_of_region: Mapping[str, str],
    blocked: Mapping[int, str] | None = None,
) -> GroupContext:
    """The group's slots; those of a pool in ``blocked`` (pool index → why) are kept,
    marked, so the planner can say a pod only a blocked pool could serve is blocked."""
    assert view.spec is not None
    spec = view.spec
    taints = tuple(Taint(key=t.key, value=t.value, effect=t.effect) for t in spec.taints)
    ctx = GroupContext(
        view=view,
        spec=spec,
        taints=taints,
        blocked={
            i: why or "its provider cannot use it"
            for i, why in (blocked or {}).items()
            if 0 <= i < len(spec.pools)
        },
    )
    ds_cache: dict[tuple[tuple[str, str], ...], tuple[Resources, int, frozenset[tuple[int, str]]]]
    ds_cache = {}
    for pool_index, pool in enumerate(spec.pools):
        provider_offerings = offerings.get(pool.provider)
        label = f"pool {pool_index} ({pool.provider})"
        if provider_offerings is None:
            ctx.pool_problems.append(
                f"{label}: provider {pool.provider} has no offerings (not installed or not loaded)"
            )
            continue
        locations = spec.pool_locations(pool)
        types = set(pool.serverType)
        found = [
            o
            for o in provider_offerings
            if o.instance_type in types and (locations is None or o.region in locations)
        ]
        if not found:
            where = f" in {', '.join(locations)}" if locations is not None else ""
            ctx.pool_problems.append(f"{label}: no offering of {', '.join(pool.serverType)}{where}")
            continue
        ref = PoolRef(
            group=view.name, index=pool_index, provider=pool.provider, priority=pool.priority
        )
        for offering in sorted(found, key=lambda o: o.key):
            labels = new_node_labels(view, pool_index, offering)
            cache_key = tuple(sorted(labels.items()))
            if cache_key not in ds_cache:
                ds_cache[cache_key] = daemonset_overhead(daemonsets, labels, taints)
            overhead, ds_pods, ds_ports = ds_cache[cache_key]
            topology = dict(labels)
            if ZONE_LABEL not in topology:
                topology[ZONE_LABEL] = zone_of_region.get(
                    str(offering.region), str(offering.region)
                )
            have = offering.resources
            eph_cap = (
                UNLIMITED
                if have.ephemeral_storage_gib is None
                else have.ephemeral_storage_gib - (overhead.ephemeral_storage_gib or 0)
            )
            ctx.slots.append(
                Slot(
                    index=len(ctx.slots),
                    group=view.name,
                    pool_index=pool_index,
                    pool=pool,
                    offering=offering,
                    labels=labels,
                    match_labels=matching_labels(labels),
                    topology=topology,
                    ds_overhead=overhead,
                    ds_pods=ds_pods,
                    ds_ports=ds_ports,
                    unavailable=(pool.provider, offering.key) in unavailable,
                    cpu=have.cpu_millis - overhead.cpu_millis,
                    memory=have.memory_mib - overhead.memory_mib,
                    ephemeral=eph_cap,
                    gpu=have.gpu - overhead.gpu,
                    pods=offering.max_pods - ds_pods,
                    ref=ref,
                    extended=extended_capacity(have.extended, overhead.extended),
                    blocked=ctx.blocked.get(pool_index, ""),
                )
            )
    return ctx
