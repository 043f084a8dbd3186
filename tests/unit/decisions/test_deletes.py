"""When a failed delete is tried again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from decision_builders import NOW

from growthrs_core.decisions.deletes import DELETE_RETRY_MAX, due_deletes, next_delete_retry
from growthrs_core.errors import DeletionFailed


def test_waits_double_up_to_the_maximum() -> None:
    waits = []
    previous = None
    for _ in range(9):
        previous = next_delete_retry(previous, "kwok", "scale-down", DeletionFailed("busy"), NOW)
        waits.append((previous.due - NOW).total_seconds())
    assert waits == [1, 2, 4, 8, 16, 32, DELETE_RETRY_MAX, DELETE_RETRY_MAX, DELETE_RETRY_MAX]
    assert previous is not None and previous.failures == 9 and previous.provider == "kwok"


@pytest.mark.parametrize(("hint", "wait"), [(30, 30.0), (0.5, 1.0), (600, DELETE_RETRY_MAX)])
def test_the_providers_hint_is_honoured_within_the_maximum(hint: float, wait: float) -> None:
    retry = next_delete_retry(None, "hetzner", "x", DeletionFailed("429", retry_after=hint), NOW)
    assert (retry.due - NOW).total_seconds() == wait


def test_due_deletes() -> None:
    early = next_delete_retry(None, "kwok", "a", DeletionFailed("x"), NOW)
    late = next_delete_retry(None, "kwok", "b", DeletionFailed("x", retry_after=30), NOW)
    retries = {"a": early, "b": late}
    assert due_deletes(retries, NOW) == []
    assert due_deletes(retries, NOW + timedelta(seconds=1)) == [("a", early)]
    assert [n for n, _ in due_deletes(retries, NOW + timedelta(seconds=30))] == ["a", "b"]
