"""The shared eviction path: PDB refusals back off per pod, and evictions are paced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from growthrs_core.cluster import NodeInfo, PodInfo
from growthrs_core.controller.eviction import (
    EVICTIONS_PER_SECOND,
    Evictor,
    eviction_backoff,
    taints_with,
    taints_without,
)
from growthrs_core.decisions.memory import LoopMemory
from growthrs_core.domain import Taint

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class FakeWrites:
    """Answers evictions from a script: pod name -> HTTP statuses, in order."""

    def __init__(self, answers: dict[str, list[int]] | None = None) -> None:
        self.answers = answers or {}
        self.asked: list[str] = []

    def evict(self, namespace: str, name: str) -> int:
        self.asked.append(name)
        script = self.answers.get(name) or [201]
        return script.pop(0) if len(script) > 1 else script[0]


def pod(name: str) -> PodInfo:
    return PodInfo(namespace="ns", name=name, node_name="n", phase="Running")


def evictor(writes: FakeWrites, memory: LoopMemory, clock: list[datetime]) -> Evictor:
    return Evictor(writes, memory, lambda: clock[0], monotonic=lambda: 0.0)  # type: ignore[arg-type]


def test_backoff_doubles_to_a_cap() -> None:
    assert [eviction_backoff(n) for n in (1, 2, 3, 4, 10)] == [2.0, 4.0, 8.0, 16.0, 60.0]


def test_a_refused_eviction_waits_for_its_backoff_and_doubles() -> None:
    writes = FakeWrites({"web": [429, 429, 201]})
    memory = LoopMemory()
    clock = [NOW]
    ev = evictor(writes, memory, clock)
    assert ev.evict([pod("web")]) == []
    assert memory.evictions_due["ns/web"] == NOW + timedelta(seconds=2)
    assert ev.evict([pod("web")]) == [] and writes.asked == ["web"]  # not due yet
    clock[0] = NOW + timedelta(seconds=2)
    assert ev.evict([pod("web")]) == []
    assert memory.evictions_due["ns/web"] == clock[0] + timedelta(seconds=4)
    clock[0] += timedelta(seconds=4)
    assert ev.evict([pod("web")]) == ["ns/web"]
    assert "ns/web" not in memory.evictions_due and "ns/web" not in ev.refusals


def test_a_pod_already_gone_counts_as_evicted() -> None:
    ev = evictor(FakeWrites({"gone": [404]}), LoopMemory(), [NOW])
    assert ev.evict([pod("gone")]) == ["ns/gone"]


def test_evictions_are_paced_per_second() -> None:
    writes = FakeWrites()
    ev = evictor(writes, LoopMemory(), [NOW])
    granted = ev.evict([pod(f"p{i}") for i in range(EVICTIONS_PER_SECOND + 10)])
    assert len(granted) == EVICTIONS_PER_SECOND


def test_forgetting_drops_the_backoff() -> None:
    memory = LoopMemory()
    ev = evictor(FakeWrites({"web": [429]}), memory, [NOW])
    ev.evict([pod("web")])
    ev.forget(["ns/web"])
    assert memory.evictions_due == {} and ev.refusals == {}


def test_the_drain_taint_is_added_once_and_removed_alone() -> None:
    node: Any = NodeInfo(
        name="n", taints=(Taint("dedicated", "ci"), Taint("growthrs.io/scale-down"))
    )
    assert taints_with(node) == [
        {"key": "dedicated", "value": "ci", "effect": "NoSchedule"},
        {"key": "growthrs.io/scale-down", "effect": "NoSchedule"},
    ]
    assert taints_without(node) == [{"key": "dedicated", "value": "ci", "effect": "NoSchedule"}]
    assert taints_without(NodeInfo(name="m", taints=(Taint("growthrs.io/scale-down"),))) is None
