"""Exponential backoff with jitter, as a pure function of the failures so far.

Jitter is derived from the key and the failure count instead of a random
generator: two offerings that fail together come back at different moments,
yet the same inputs always give the same wait, so a test can state it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

JITTER = 0.2
"""Waits are stretched by up to this fraction, different per key."""


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    base: float
    """Seconds to wait after the first failure."""
    cap: float
    """Longest wait, however many failures came before."""

    def wait(self, failures: int, key: str = "") -> float:
        """Seconds to wait after ``failures`` failures in a row (``failures >= 1``)."""
        if failures <= 0 or self.base <= 0:
            return 0.0
        exponent = min(failures - 1, 30)
        plain = min(self.cap, self.base * (2.0**exponent))
        return min(self.cap, plain * (1.0 + JITTER * jitter_fraction(key, failures)))


def jitter_fraction(key: str, failures: int) -> float:
    """A stable number in [0, 1) for ``key`` after ``failures`` failures."""
    return (zlib.crc32(f"{key}#{failures}".encode()) % 10_000) / 10_000


@dataclass(frozen=True, slots=True)
class Backoff:
    """Something skipped until ``until`` after ``failures`` failures in a row."""

    until: datetime
    failures: int = 1
    reason: str = ""
    hard: bool = True
    """A hard backoff (no capacity, a failure a retry will not fix) takes the thing out
    of planning and fallback; a soft one (a transient failure, a rate limit) only makes
    requests wait for it."""

    def active(self, now: datetime) -> bool:
        return now < self.until


def next_backoff(
    previous: Backoff | None,
    policy: BackoffPolicy,
    now: datetime,
    key: str,
    reason: str,
    *,
    hard: bool = True,
) -> Backoff:
    """The backoff after one more failure: the wait doubles with each failure in a row.

    A failure long after the previous backoff ran out starts over: the thing
    recovered in between (or nobody asked), and a stale count would punish it.
    """
    failures = 1
    if previous is not None:
        quiet = (now - previous.until).total_seconds()
        failures = previous.failures + 1 if quiet < policy.cap else 1
    wait = policy.wait(failures, key)
    return Backoff(until=now + timedelta(seconds=wait), failures=failures, reason=reason, hard=hard)
