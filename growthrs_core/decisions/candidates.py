"""Which (pool, offering) a Pending NodeRequest asks for next: the planned one, then fallback.

The planner chose an offering (and zone) for each request; that is the first
thing asked for. Only when it cannot be had (no capacity, backing off, a
failed create, its pool full or blocked) does fallback choose the next one,
as the planner would: the highest-priority pool first, then the cheapest
offering that still holds every pod the request was planned for next to the
DaemonSet pods of that offering's zone (:func:`~growthrs_core.planner.fallback_offerings`).
Pool limits, installed providers, loaded offerings, backoffs and blocks are
all checked here, so fallback is decided in one place.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from growthrs_core.cluster import GroupView, NodeRequestView, PodInfo
from growthrs_core.crd.models import Pool
from growthrs_core.decisions.identity import current_pool
from growthrs_core.decisions.memory import OfferingRef, PoolBlock
from growthrs_core.decisions.snapshot import Snapshot
from growthrs_core.decisions.usage import PoolKey, headroom
from growthrs_core.domain import Offering
from growthrs_core.planner import fallback_offerings
from growthrs_core.planner.matching import offering_satisfies


@dataclass(frozen=True)
class Candidate:
    """A (pool, offering) pair the request may ask for now."""

    pool_index: int
    pool: Pool
    offering: Offering


def pool_label(index: int, pool: Pool) -> str:
    return f"pool {index} ({pool.provider} {','.join(pool.serverType)})"


def listed_pods(nr: NodeRequestView, snapshot: Snapshot) -> list[PodInfo]:
    """The pods the request was planned for that still wait for a node."""
    pods = []
    for ref in nr.spec.pods if nr.spec is not None else ():
        pod = snapshot.pods_by_key.get(f"{ref.namespace}/{ref.name}")
        if pod is None or pod.node_name or pod.deleting or (ref.uid and pod.uid != ref.uid):
            continue
        pods.append(pod)
    return pods


def candidates(
    nr: NodeRequestView,
    group: GroupView,
    snapshot: Snapshot,
    unavailable: frozenset[OfferingRef],
    usage: Mapping[PoolKey, int],
    own_node: str,
    *,
    excluded: Collection[tuple[int, str]] = frozenset(),
    given_up: Collection[int] = frozenset(),
    blocks: Mapping[tuple[str, int], PoolBlock] | None = None,
) -> tuple[list[Candidate], list[str]]:
    """The request's candidates, best first, and why the pools without any are out.

    ``excluded`` are (pool, offering) pairs this request found without capacity,
    ``given_up`` pools it gave up on; ``own_node`` is the name its next node gets:
    if a node of that name exists already (a create that went through before a
    crash), it is being replaced, not added, and does not count against the limits.
    """
    spec = group.spec
    assert spec is not None and nr.spec is not None
    own = snapshot.nodes_by_name.get(own_node)
    own_pool: tuple[bool, int | None] = (False, None)
    if own is not None and own.node_group == group.name and not own.deleting:
        own_pool = (True, current_pool(own.identity, spec))
    room = headroom(group.name, spec, usage, own_pool=own_pool)
    if room.group_full is not None:
        return [], [room.group_full]
    pods = listed_pods(nr, snapshot)
    out_pools: set[int] = set(given_up)
    unusable: list[str] = []
    for index, pool in enumerate(spec.pools):
        label = pool_label(index, pool)
        block = (blocks or {}).get((group.name, index))
        if index in room.full_pools:
            unusable.append(f"{label}: {room.full_pools[index]}")
        elif block is not None:
            unusable.append(f"{label}: blocked ({block.reason}): {block.message}")
        elif pool.provider not in snapshot.installed:
            unusable.append(f"{label}: provider not installed")
        elif snapshot.offerings_of(pool.provider) is None:
            err = snapshot.offering_errors.get(pool.provider) or "offerings not loaded yet"
            unusable.append(f"{label}: {err}")
        else:
            continue
        out_pools.add(index)
    ranked = fallback_offerings(
        group,
        snapshot.offerings,
        snapshot.daemonsets,
        pods,
        nr.spec.requirements,
        excluded,
        unavailable,
        excluded_pools=out_pools,
    )
    found = [
        Candidate(index, spec.pools[index], offering)
        for index, offering in ranked
        if (spec.pools[index].provider, offering.key) not in unavailable
    ]
    for index, pool in enumerate(spec.pools):
        if index in out_pools or any(c.pool_index == index for c in found):
            continue
        why = _why_none(index, pool, group, snapshot, nr, ranked, excluded)
        if why is not None:
            unusable.append(f"{pool_label(index, pool)}: {why}")
    return found, unusable


def _why_none(
    index: int,
    pool: Pool,
    group: GroupView,
    snapshot: Snapshot,
    nr: NodeRequestView,
    ranked: Sequence[tuple[int, Offering]],
    excluded: Collection[tuple[int, str]],
) -> str | None:
    """Why pool ``index`` offers the request nothing; ``None`` when its attempts say it."""
    assert group.spec is not None and nr.spec is not None
    if any(i == index for i, _ in ranked):
        return "every offering is backing off after failures"
    locations = group.spec.pool_locations(pool)
    offers = snapshot.offerings_of(pool.provider) or ()
    matching = [
        o
        for o in offers
        if o.instance_type in pool.serverType
        and (locations is None or o.region in locations)
        and offering_satisfies(o, nr.spec.requirements)
    ]
    if not matching:
        return "no offering meets the requirements"
    if all((index, o.key) in excluded for o in matching):
        return None  # each had no capacity for it: the attempts say so
    return "no offering holds the request's pods next to its DaemonSet pods"


def choose_candidate(nr: NodeRequestView, found: Sequence[Candidate]) -> Candidate | None:
    """The planned (pool, offering) when it is still a candidate, else the best one."""
    if not found:
        return None
    spec = nr.spec
    if spec is not None and spec.plannedOffering:
        for c in found:
            if c.offering.key == spec.plannedOffering and spec.plannedPool in (None, c.pool_index):
                return c
    return found[0]
