"""The loop's own memory: what it knows that the cluster does not show.

One explicit record, so every decision is a function of (snapshot, memory,
now) and a test can build both. The shell owns the only instance and updates
it with what the decisions return. Backoffs are also written to the groups'
status (and read back here), so ``growthrs plan`` and a restarted operator
avoid what the running one avoids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from growthrs_core.cluster import GroupView
from growthrs_core.crd.models import Backoff as BackoffStatus
from growthrs_core.decisions.backoff import Backoff
from growthrs_core.domain import ProviderStatus
from growthrs_core.timeutil import format_time, parse_time

OfferingRef = tuple[str, str]
"""(provider, offering key), e.g. ("hetzner", "cx22@fsn1")."""


@dataclass(frozen=True, slots=True)
class DeleteRetry:
    """A failed delete of an instance no later pass would ask to remove again."""

    provider: str
    reason: str
    due: datetime
    failures: int


CallKind = Literal["create", "status", "delete", "orphans", "validate"]


@dataclass(frozen=True, slots=True, order=True)
class CallKey:
    """One provider call in flight: what it does, and to what (a NodeRequest, node
    or provider name). At most one call per key runs at a time."""

    kind: CallKind
    name: str


@dataclass(frozen=True, slots=True)
class CreateCall:
    """A create call in flight: which group and pool it will add a node to."""

    group: str
    pool_index: int
    provider: str
    offering: str


PoolKey = tuple[str, int]
"""(group, pool index)."""


@dataclass(frozen=True, slots=True)
class PoolBlock:
    """A pool that must not create, and what must change before it may again.

    ``ConfigurationError``: a create failed for want of configuration (401/403, a
    missing Secret, node class or user data); lifted when the group's generation
    or ``fingerprint`` (versions of the node class and Secrets the provider read)
    changes. ``InvalidPool``: the provider's pool check found problems; lifted
    when a later check finds none.
    """

    reason: str
    message: str
    since: datetime
    generation: int = 0
    fingerprint: tuple[tuple[str, str], ...] = ()


@dataclass
class LoopMemory:
    offering_backoffs: dict[OfferingRef, Backoff] = field(default_factory=dict)
    """Offerings skipped until a time, after capacity errors or failed creates. An entry
    stays after it expires, so the next failure backs off longer and only one create
    probes the offering until one succeeds."""
    proven: set[OfferingRef] = field(default_factory=set)
    """Offerings whose last create succeeded: requests may create there side by side."""
    group_backoffs: dict[str, Backoff] = field(default_factory=dict)
    """Groups that create nothing until a time, after a request of theirs went Unmet."""
    pool_blocks: dict[PoolKey, PoolBlock] = field(default_factory=dict)
    """Pools that create nothing until what blocked them changes."""
    retry_at: dict[str, datetime] = field(default_factory=dict)
    """NodeRequest name -> no create before this time (a provider asked to wait)."""
    delete_retries: dict[str, DeleteRetry] = field(default_factory=dict)
    """Node name -> the next try of a failed delete of a failed, orphaned or abandoned
    instance (scale-down removals are decided again every pass instead)."""
    orphans_seen: dict[OfferingRef, datetime] = field(default_factory=dict)
    """(provider, instance id) -> when it was first listed with nothing accounting for it."""
    unowned_nodes: dict[str, datetime] = field(default_factory=dict)
    """Node -> when it was first seen labelled for a group that does not exist."""
    evictions_due: dict[str, datetime] = field(default_factory=dict)
    """Pod key -> no eviction before then (a PodDisruptionBudget refused the last one)."""
    provider_status: dict[str, tuple[datetime, ProviderStatus]] = field(default_factory=dict)
    """Node name -> when the provider last answered ``status`` for it, and what."""
    creating: dict[str, CreateCall] = field(default_factory=dict)
    """NodeRequest name -> its create call in flight."""
    removing: set[str] = field(default_factory=set)
    """Nodes (instance ids) with a delete call in flight."""
    removed: dict[str, datetime] = field(default_factory=dict)
    """Nodes deleted successfully, until the watch sees them go: never deleted twice."""
    calls: set[CallKey] = field(default_factory=set)
    """Every provider call in flight."""

    def unavailable(self, now: datetime) -> frozenset[OfferingRef]:
        """Offerings out of planning and fallback at ``now`` (hard backoffs)."""
        return frozenset(k for k, b in self.offering_backoffs.items() if b.hard and b.active(now))

    def forget_expired(self, now: datetime, nodes: Iterable[str] = ()) -> None:
        """Drop retry times that passed and removed nodes the cluster no longer shows
        (or that were removed long ago); keep expired backoffs (their count still matters)."""
        self.retry_at = {k: v for k, v in self.retry_at.items() if v > now}
        present = set(nodes)
        self.removed = {
            k: v
            for k, v in self.removed.items()
            if k in present and (now - v).total_seconds() < 300
        }

    def leaving(self) -> set[str]:
        """Nodes being removed, removed already, or waiting for a retry of their removal:
        no decision removes them again."""
        return self.removing | set(self.removed) | set(self.delete_retries)


def backoffs_from_groups(groups: Iterable[GroupView]) -> dict[OfferingRef, Backoff]:
    """The offering backoffs the groups' status recorded (the latest wins per offering)."""
    found: dict[OfferingRef, Backoff] = {}
    for group in groups:
        for entry in group.status.backoffs:
            until = parse_time(entry.until)
            if until is None or not entry.provider or not entry.offering:
                continue
            key = (entry.provider, entry.offering)
            previous = found.get(key)
            if previous is None or until > previous.until:
                found[key] = Backoff(until=until, failures=entry.failures, reason=entry.reason)
    return found


def blocks_from_groups(groups: Iterable[GroupView]) -> dict[PoolKey, PoolBlock]:
    """The pool blocks the groups' status recorded (as a restarted loop or a dry run sees them)."""
    found: dict[PoolKey, PoolBlock] = {}
    for group in groups:
        for pool in group.status.pools:
            block = pool.block
            if block is None:
                continue
            fingerprint = tuple(
                (what, version)
                for what, _, version in (f.rpartition("=") for f in block.fingerprint)
                if what
            )
            found[(group.name, pool.index)] = PoolBlock(
                reason=block.reason,
                message=block.message,
                since=parse_time(block.since) or datetime.min.replace(tzinfo=UTC),
                generation=block.generation,
                fingerprint=fingerprint,
            )
    return found


def seed_from_groups(memory: LoopMemory, groups: Iterable[GroupView]) -> None:
    """Adopt backoffs and blocks recorded in the cluster that this memory does not know."""
    groups = list(groups)
    for key, backoff in backoffs_from_groups(groups).items():
        mine = memory.offering_backoffs.get(key)
        if mine is None or backoff.until > mine.until:
            memory.offering_backoffs[key] = backoff
    for pool, block in blocks_from_groups(groups).items():
        memory.pool_blocks.setdefault(pool, block)


def status_backoffs(
    backoffs: Mapping[OfferingRef, Backoff],
    pool_offerings: Mapping[str, Iterable[str]],
    now: datetime,
) -> list[BackoffStatus]:
    """The active backoffs of offerings a group's pools could use, for its status.

    ``pool_offerings`` maps provider -> offering keys the group's pools may ask for.
    """
    usable = {(provider, key) for provider, keys in pool_offerings.items() for key in keys}
    return [
        BackoffStatus(
            provider=provider,
            offering=offering,
            until=format_time(backoff.until),
            failures=backoff.failures,
            reason=backoff.reason[:200],
        )
        for (provider, offering), backoff in sorted(backoffs.items())
        if backoff.hard and backoff.active(now) and (provider, offering) in usable
    ]
