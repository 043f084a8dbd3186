"""When a failed delete is tried again.

A delete that fails (the cloud is down, rate-limited, or refuses for now) is
tried again 1 s, 2 s, 4 s ... later, up to :data:`DELETE_RETRY_MAX`, or later
when the provider says how long to wait (``retry_after``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from growthrs_core.decisions.memory import DeleteRetry

DELETE_RETRY_MAX = 60.0
"""Longest wait between two tries of a delete that nothing else would issue again."""


def next_delete_retry(
    previous: DeleteRetry | None,
    provider: str,
    reason: str,
    error: BaseException,
    now: datetime,
) -> DeleteRetry:
    failures = (previous.failures if previous else 0) + 1
    wait = 2.0 ** (failures - 1)
    hint = getattr(error, "retry_after", None)
    if isinstance(hint, int | float):
        wait = max(wait, float(hint))
    wait = min(wait, DELETE_RETRY_MAX)
    return DeleteRetry(provider, reason, now + timedelta(seconds=wait), failures)


def due_deletes(retries: Mapping[str, DeleteRetry], now: datetime) -> list[tuple[str, DeleteRetry]]:
    """The retries whose time has come, by node name."""
    return sorted((name, r) for name, r in retries.items() if r.due <= now)
