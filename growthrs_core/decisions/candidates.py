"""Which (pool, offering) a Pending NodeRequest may still ask for, and which it asks for.

Everything the lifecycle needs to pick the next offering lives here: pool
limits, installed providers, loaded offerings, the request's requirements and
offerings backing off. Fallback is therefore decided in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from growthrs_core.cluster import GroupView, NodeRequestView
from growthrs_core.crd.models import Pool
from growthrs_core.decisions.backoff import Backoff, BackoffPolicy, next_backoff
from growthrs_core.decisions.identity import current_pool
from growthrs_core.decisions.memory import OfferingRef
from growthrs_core.decisions.snapshot import Snapshot
from growthrs_core.decisions.usage import PoolKey, headroom
from growthrs_core.domain import Offering, Resources
from growthrs_core.errors import OfferingUnavailable, ProviderError
from growthrs_core.planner.matching import offering_satisfies
from growthrs_core.quantity import cpu_millis, memory_mib
from growthrs_core.strategies import PoolRef, ScaleUpOption, Strategy, choose


@dataclass(frozen=True)
class Candidate:
    """A (pool, offering) pair that meets the NodeRequest's requirements now."""

    pool_index: int
    pool: Pool
    offering: Offering


def pool_label(index: int, pool: Pool) -> str:
    return f"pool {index} ({pool.provider} {','.join(pool.serverType)})"


def candidates(
    nr: NodeRequestView,
    group: GroupView,
    snapshot: Snapshot,
    unavailable: frozenset[OfferingRef],
    usage: Mapping[PoolKey, int],
    own_node: str,
) -> tuple[list[Candidate], list[str]]:
    """The candidates of ``nr`` in ``group``, and why the pools without any are out.

    ``own_node`` is the name the request's next node gets: if a node of that
    name exists already (a create that went through before a crash), it is
    being replaced, not added, and does not count against the limits.
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
    found: list[Candidate] = []
    unusable: list[str] = []
    for index, pool in enumerate(spec.pools):
        label = pool_label(index, pool)
        if index in room.full_pools:
            unusable.append(f"{label}: {room.full_pools[index]}")
            continue
        if pool.provider not in snapshot.installed:
            unusable.append(f"{label}: provider not installed")
            continue
        offers = snapshot.offerings_of(pool.provider)
        if offers is None:
            err = snapshot.offering_errors.get(pool.provider) or "offerings not loaded yet"
            unusable.append(f"{label}: {err}")
            continue
        locations = spec.pool_locations(pool)
        matching = [
            o
            for o in offers
            if o.instance_type in pool.serverType
            and (locations is None or o.region in locations)
            and offering_satisfies(o, nr.spec.requirements)
        ]
        usable = [o for o in matching if (pool.provider, o.key) not in unavailable]
        if not matching:
            unusable.append(f"{label}: no offering meets the requirements")
        elif not usable:
            unusable.append(f"{label}: every offering is backing off after a capacity error")
        found.extend(Candidate(index, pool, o) for o in usable)
    return found, unusable


def _requested(nr: NodeRequestView) -> Resources:
    req = nr.spec.requirements if nr.spec else None
    if req is None:
        return Resources(cpu_millis=0, memory_mib=0)
    return Resources(cpu_millis=cpu_millis(req.cpu), memory_mib=memory_mib(req.memory), gpu=req.gpu)


def choose_candidate(
    nr: NodeRequestView, candidates: Sequence[Candidate], chain: Sequence[Strategy]
) -> Candidate | None:
    """The highest-priority level wins; the strategy chain picks within it."""
    if not candidates:
        return None
    top = max(c.pool.priority for c in candidates)
    level = [c for c in candidates if c.pool.priority == top]
    pods = tuple(f"{p.namespace}/{p.name}" for p in (nr.spec.pods if nr.spec else ()))
    requested = _requested(nr)
    by_option = {
        ScaleUpOption(
            pool=PoolRef(nr.group, c.pool_index, c.pool.provider, c.pool.priority),
            offering=c.offering,
            node_count=1,
            pods=pods,
            requested=requested,
        ): c
        for c in level
    }
    best = choose(list(by_option), chain)
    return None if best is None else by_option[best]


@dataclass(frozen=True)
class CreateFailure:
    """What a failed create changes beyond the request's own attempts."""

    retry_at: datetime | None
    """No create for this request before then (the provider asked to wait)."""
    offering_backoff: Backoff | None
    """The offering's new backoff, if it is to be avoided by every request for a while."""


def after_create_error(
    error: ProviderError,
    offering: OfferingRef,
    previous: Backoff | None,
    policy: BackoffPolicy,
    now: datetime,
) -> CreateFailure:
    """A provider that says when to retry is waited out; an offering without capacity,
    or one whose failure a retry will not fix, backs off for everyone."""
    retry_at = None
    if error.retryable and error.retry_after:
        retry_at = now + timedelta(seconds=error.retry_after)
    backoff = None
    if not error.retryable or isinstance(error, OfferingUnavailable):
        backoff = next_backoff(previous, policy, now, "/".join(offering), error.message)
    return CreateFailure(retry_at, backoff)
