"""What a create's outcome changes beyond the request's own attempts.

- A provider that says when to retry is waited out by that request.
- Every failed create backs its offering off for everyone, longer with each
  failure in a row. No capacity, or a failure a retry will not fix, is a hard
  backoff from ``offering_backoff``/``failure_backoff``: the offering is left
  out of planning and fallback until then. A transient failure is a soft one:
  requests wait for it rather than fall back (a rate limit waits exactly what
  the provider said). Until a create there succeeds again, only one request
  at a time may try it (a probe), so N requests never make N failing calls.
- A configuration error (``MissingConfig``: 401/403, a missing Secret, node
  class or user data) blocks the pool until its group, node class or Secrets
  change.
- An instance that was created but never became a usable node (it failed, or
  did not join in time) backs its offering off like a failed create (hard, from
  ``failure_backoff``), so the other requests do not try the same type at once.
- A request that goes Unmet backs its group off; a successful create in the
  group ends that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from growthrs_core.decisions.backoff import Backoff, BackoffPolicy, next_backoff
from growthrs_core.decisions.memory import LoopMemory, OfferingRef, PoolBlock
from growthrs_core.errors import MissingConfig, OfferingUnavailable, ProviderError


@dataclass(frozen=True)
class FailurePolicy:
    capacity: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(300.0, 3600.0))
    """An offering without capacity."""
    failure: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(10.0, 3600.0))
    """An offering whose create failed otherwise."""
    group: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(30.0, 1800.0))
    """A group whose request went Unmet."""


@dataclass(frozen=True)
class CreateFailure:
    """What a failed create changes beyond the request's own attempts."""

    retry_at: datetime | None
    """No create for this request before then (the provider asked to wait)."""
    offering_backoff: Backoff
    """The offering's new backoff."""
    block: PoolBlock | None
    """Set when the pool must stop creating (a configuration error)."""


def after_create_error(
    error: ProviderError,
    offering: OfferingRef,
    previous: Backoff | None,
    policy: FailurePolicy,
    now: datetime,
    *,
    generation: int = 0,
    fingerprint: tuple[tuple[str, str], ...] = (),
) -> CreateFailure:
    retry_at = None
    hard = isinstance(error, OfferingUnavailable) or not error.retryable
    kind = policy.capacity if isinstance(error, OfferingUnavailable) else policy.failure
    backoff = next_backoff(previous, kind, now, "/".join(offering), error.message, hard=hard)
    if error.retryable and error.retry_after:
        # The provider said how long: wait exactly that (a rate limit is not the
        # offering's fault, and the next try should come as soon as it may).
        retry_at = now + timedelta(seconds=error.retry_after)
        backoff = Backoff(retry_at, backoff.failures, backoff.reason, hard=False)
    block = None
    if isinstance(error, MissingConfig):
        block = PoolBlock("ConfigurationError", error.message, now, generation, fingerprint)
    return CreateFailure(retry_at, backoff, block)


def remember_create_failure(
    memory: LoopMemory,
    failure: CreateFailure,
    request: str,
    offering: OfferingRef,
    pool: tuple[str, int],
) -> None:
    """Put a :class:`CreateFailure` into the loop's memory."""
    if failure.retry_at is not None:
        memory.retry_at[request] = failure.retry_at
    memory.offering_backoffs[offering] = failure.offering_backoff
    memory.proven.discard(offering)
    if failure.block is not None:
        memory.pool_blocks[pool] = failure.block


def after_node_failure(
    offering: OfferingRef,
    previous: Backoff | None,
    policy: FailurePolicy,
    now: datetime,
    message: str,
) -> Backoff:
    """The offering's backoff after one of its instances failed or never joined."""
    return next_backoff(previous, policy.failure, now, "/".join(offering), message, hard=True)


def remember_node_failure(
    memory: LoopMemory, offering: OfferingRef, policy: FailurePolicy, now: datetime, message: str
) -> Backoff:
    """Put a node failure into the loop's memory: the offering backs off and must be
    proven again (one probe at a time) before requests create there side by side."""
    backoff = after_node_failure(
        offering, memory.offering_backoffs.get(offering), policy, now, message
    )
    memory.offering_backoffs[offering] = backoff
    memory.proven.discard(offering)
    return backoff


def remember_create_success(memory: LoopMemory, offering: OfferingRef, group: str) -> None:
    """The offering works (requests may create there side by side again) and the group
    is not backing off any more."""
    memory.offering_backoffs.pop(offering, None)
    memory.proven.add(offering)
    memory.group_backoffs.pop(group, None)


def remember_unmet(
    memory: LoopMemory, group: str, reason: str, policy: FailurePolicy, now: datetime
) -> Backoff:
    """A request of ``group`` went Unmet: the group backs off, longer each time in a row."""
    backoff = next_backoff(memory.group_backoffs.get(group), policy.group, now, group, reason)
    memory.group_backoffs[group] = backoff
    return backoff


def cooling(memory: LoopMemory, now: datetime) -> frozenset[OfferingRef]:
    """Offerings under a soft backoff (a transient failure): requests wait for them
    rather than fall back to another pool."""
    return frozenset(k for k, b in memory.offering_backoffs.items() if not b.hard and b.active(now))


def probing(memory: LoopMemory) -> frozenset[OfferingRef]:
    """Offerings with a create in flight that is probing them: they failed before and
    have not succeeded since, so no other request may create there until it answers."""
    in_flight = {(c.provider, c.offering) for c in memory.creating.values()}
    return frozenset(
        o for o in in_flight if o not in memory.proven and o in memory.offering_backoffs
    )


def unproven_in_flight(memory: LoopMemory) -> frozenset[OfferingRef]:
    """Offerings with a create in flight and no success on record since start."""
    in_flight = {(c.provider, c.offering) for c in memory.creating.values()}
    return frozenset(o for o in in_flight if o not in memory.proven)


def lifted(block: PoolBlock, generation: int, fingerprint: Mapping[str, str] | None) -> bool:
    """Whether a configuration block is over: the group was edited, or a node class or
    Secret the provider read has changed (``fingerprint``: what -> version now)."""
    if block.reason != "ConfigurationError":
        return False
    if generation != block.generation:
        return True
    if fingerprint is None:
        return False
    return dict(block.fingerprint) != dict(fingerprint)
