"""Leader election with client-go's semantics, over an in-memory Lease and fake clocks."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from growthrs_core.controller.kube import KubeError
from growthrs_core.controller.leader import LeaderElector, LeaseRecord


@dataclass
class MemoryLease:
    record: LeaseRecord | None = None
    version: int = 0
    fail: bool = False
    race: bool = False
    """Someone else writes between the next read and write."""
    writes: list[str] = field(default_factory=list)

    def get(self) -> tuple[LeaseRecord, str] | None:
        if self.fail:
            raise KubeError(0, "apiserver unreachable")
        return None if self.record is None else (self.record, str(self.version))

    def create(self, record: LeaseRecord) -> bool:
        if self.fail or self.record is not None:
            return False
        self.record, self.version = record, 1
        self.writes.append(record.holder)
        return True

    def update(self, record: LeaseRecord, resource_version: str) -> bool:
        if self.race:
            self.race, self.version = False, self.version + 1
        if self.fail or resource_version != str(self.version):
            return False
        self.record, self.version = record, self.version + 1
        self.writes.append(record.holder)
        return True


class Clock:
    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def elector(
    store: MemoryLease, name: str, clock: Clock, wall: datetime | None = None
) -> LeaderElector:
    moment = wall or datetime(2026, 11, 30, tzinfo=UTC)
    return LeaderElector(
        store,
        identity=name,
        lease_duration=15,
        renew_deadline=10,
        retry_period=2,
        clock=clock,
        wall=lambda: moment,
    )


def test_the_first_replica_creates_the_lease_and_leads() -> None:
    store, clock = MemoryLease(), Clock()
    a = elector(store, "a", clock)
    assert a.try_acquire_or_renew() and a.leading()
    assert store.record is not None and store.record.holder == "a" and store.record.transitions == 0


def test_a_follower_waits_while_the_leader_renews() -> None:
    store = MemoryLease()
    ca, cb = Clock(), Clock(5000.0)  # unrelated clocks
    a, b = elector(store, "a", ca), elector(store, "b", cb)
    assert a.try_acquire_or_renew()
    for _ in range(20):
        assert not b.try_acquire_or_renew()
        ca.advance(2)
        cb.advance(2)
        assert a.try_acquire_or_renew()
    assert not b.leading() and store.record is not None and store.record.holder == "a"


@pytest.mark.parametrize("skew", [timedelta(hours=-1), timedelta(0), timedelta(hours=1)])
def test_takeover_is_measured_on_the_followers_clock_whatever_the_holders_says(
    skew: timedelta,
) -> None:
    store = MemoryLease()
    clock = Clock()
    base = datetime(2026, 11, 30, tzinfo=UTC)
    a = elector(store, "a", Clock(), wall=base + skew)  # its renewTime is off by `skew`
    b = elector(store, "b", clock, wall=base)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # first sight of the lease
    clock.advance(14.9)
    assert not b.try_acquire_or_renew()
    clock.advance(0.2)  # 15.1 s unchanged, as b saw it
    assert b.try_acquire_or_renew() and b.leading()
    assert store.record is not None and store.record.holder == "b" and store.record.transitions == 1


def test_the_leader_stops_acting_before_anyone_may_take_over() -> None:
    store = MemoryLease()
    clock = Clock()  # both see the same time passing (as on one machine)
    a, b = elector(store, "a", clock), elector(store, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    store.fail = True  # a cannot renew from now on
    moments_a_leads = []
    for _ in range(160):
        clock.advance(0.1)
        if a.leading():
            moments_a_leads.append(clock())
    store.fail = False
    clock.advance(0.1)
    assert b.try_acquire_or_renew()
    # a stopped at the renew deadline (10 s), b took over after the lease (15 s): no overlap.
    assert max(moments_a_leads) < 1000 + 10 <= 1000 + 15 <= clock()
    assert not a.leading()


def test_a_lost_race_or_an_unreachable_apiserver_is_a_failed_attempt() -> None:
    store, clock = MemoryLease(), Clock()
    a = elector(store, "a", clock)
    assert a.try_acquire_or_renew()
    store.race = True
    assert not a.try_acquire_or_renew()
    store.fail = True
    assert not elector(store, "c", clock).try_acquire_or_renew()


def test_release_hands_over_at_once() -> None:
    store, clock = MemoryLease(), Clock()
    a, b = elector(store, "a", clock), elector(store, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    a.release()
    assert not a.leading()
    assert store.record is not None and store.record.holder == ""
    assert b.try_acquire_or_renew()  # no wait for the lease duration


def test_renew_deadline_must_be_shorter_than_the_lease() -> None:
    with pytest.raises(ValueError):
        LeaderElector(MemoryLease(), lease_duration=10, renew_deadline=10, retry_period=2)
    with pytest.raises(ValueError):
        LeaderElector(MemoryLease(), lease_duration=15, renew_deadline=10, retry_period=10)


def test_keep_calls_on_lost_once_renewal_is_overdue() -> None:
    store = MemoryLease()
    a = LeaderElector(
        store, identity="a", lease_duration=0.3, renew_deadline=0.2, retry_period=0.02
    )
    assert a.try_acquire_or_renew()
    lost = threading.Event()
    stop = threading.Event()
    a.keep(stop, lost.set)
    assert not lost.wait(0.3), "renewing fine: never lost"
    store.fail = True
    assert lost.wait(5.0)
    assert not a.leading()
    stop.set()
