"""The per-provider request budget."""

from __future__ import annotations

import pytest

from growthrs_core.decisions.budget import TokenBucket


class Clock:
    t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_burst_goes_at_once_then_calls_queue_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3.0, clock=clock)
    waits = [bucket.reserve() for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0.5, 1.0, 1.5])


def test_tokens_come_back_over_time_up_to_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=1.0, burst=2.0, clock=clock)
    assert [bucket.reserve() for _ in range(2)] == [0, 0]
    clock.t += 1.0
    assert bucket.reserve() == 0 and bucket.reserve() == pytest.approx(1.0)
    clock.t += 3600
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0, 0, 1.0])


def test_a_hundred_failing_deletes_cannot_exceed_the_budget() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=1.0, burst=5.0, clock=clock)
    waits = [bucket.reserve() for _ in range(100)]
    # Sent at clock.t + wait: in any 10 s window at most burst + 10 calls.
    sent = sorted(clock.t + w for w in waits)
    for i, start in enumerate(sent):
        in_window = sum(1 for s in sent[i:] if s < start + 10)
        assert in_window <= 5 + 10
