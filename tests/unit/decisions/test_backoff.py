"""Exponential backoff with stable jitter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from decision_builders import NOW

from growthrs_core.decisions.backoff import JITTER, Backoff, BackoffPolicy, next_backoff

POLICY = BackoffPolicy(base=10.0, cap=300.0)


@pytest.mark.parametrize(
    ("failures", "plain"), [(1, 10.0), (2, 20.0), (3, 40.0), (5, 160.0), (6, 300.0), (40, 300.0)]
)
def test_waits_double_up_to_the_cap_with_bounded_jitter(failures: int, plain: float) -> None:
    wait = POLICY.wait(failures, "kwok/cx22@fsn1")
    assert plain <= wait <= min(POLICY.cap, plain * (1 + JITTER))
    assert wait == POLICY.wait(failures, "kwok/cx22@fsn1"), "same inputs, same wait"


def test_jitter_differs_between_keys() -> None:
    waits = {POLICY.wait(1, f"kwok/type{i}@fsn1") for i in range(20)}
    assert len(waits) > 10


def test_no_failures_no_wait() -> None:
    assert POLICY.wait(0) == 0.0 and BackoffPolicy(0.0, 0.0).wait(3) == 0.0


def test_failures_in_a_row_count_up_and_a_long_quiet_resets() -> None:
    first = next_backoff(None, POLICY, NOW, "k", "no capacity")
    assert first.failures == 1 and first.reason == "no capacity"
    assert first.active(NOW) and not first.active(first.until)
    second = next_backoff(first, POLICY, first.until, "k", "again")
    assert second.failures == 2
    assert (second.until - first.until).total_seconds() >= 20
    much_later = second.until + timedelta(seconds=POLICY.cap + 1)
    assert next_backoff(second, POLICY, much_later, "k", "x").failures == 1


def test_a_failure_while_still_backing_off_counts_too() -> None:
    current = Backoff(until=NOW + timedelta(seconds=60), failures=3)
    assert next_backoff(current, POLICY, NOW, "k", "x").failures == 4
