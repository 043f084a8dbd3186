"""Events are aggregated as client-go does: one Event per object, reason and type in a
window, whose count grows with each repeat; log lines follow the posts."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from growthrs_core.controller import events as events_module
from growthrs_core.controller.events import EventRecorder, ObjectRef
from growthrs_core.controller.kube import Kube
from growthrs_core.decisions.events import EventSeries, Post, Update, due_updates, on_occurrence


def test_the_first_occurrence_posts_and_repeats_raise_the_count() -> None:
    series, action = on_occurrence(None, "no group", 0.0)
    assert isinstance(action, Post) and series.count == 1
    series.name = "web-1.abc"  # the apiserver answered the post
    series, action = on_occurrence(series, "no group", 10.0)
    assert action is None and series.count == 2  # too soon after the post to update
    series, action = on_occurrence(series, "maxNodes reached", 61.0)
    assert action == Update(3, "maxNodes reached") and series.sent_count == 3
    series, action = on_occurrence(series, "maxNodes reached", 600.0)
    assert isinstance(action, Post) and series.count == 1  # a new window, a new Event


def test_counts_raised_too_soon_are_sent_later() -> None:
    s = EventSeries(first=0.0, count=5, message="m", sent_count=2, sent_at=30.0, name="e")
    quiet = EventSeries(first=0.0, count=2, message="m", sent_count=2, sent_at=0.0, name="q")
    unposted = EventSeries(first=0.0, count=3, message="m", sent_count=1, sent_at=0.0)
    items = [
        (("a", "R", "Normal"), s),
        (("b", "R", "Normal"), quiet),
        (("c", "R", "Normal"), unposted),
    ]
    assert due_updates(items, 60.0) == []
    assert due_updates(items, 90.0) == [(("a", "R", "Normal"), Update(5, "m"))]
    assert due_updates(items, 200.0) == []  # sent already


class RecordingKube(Kube):
    def __init__(self) -> None:
        super().__init__(api_client=None)
        self.calls: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> Any:
        self.calls.append((method, path, body))
        return {"metadata": {"name": f"event-{len(self.calls)}"}}


def test_a_pod_gets_one_event_per_reason_per_window_with_a_growing_count(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr(events_module.time, "monotonic", lambda: clock[0])
    kube = RecordingKube()
    recorder = EventRecorder(kube, namespace="default", repeat_after=600.0, update_every=60.0)
    pod = ObjectRef("Pod", "web-1", "shop", "uid-1")
    with caplog.at_level(logging.INFO, logger=events_module.__name__):
        recorder.emit(pod, "Normal", "NotTriggerScaleUp", "no node group matches")
        recorder._post(recorder._queue.get_nowait(), "shop")  # the thread's work, inline
        for _ in range(3):
            recorder.emit(pod, "Normal", "NotTriggerScaleUp", "no node group matches")
        recorder.emit(pod, "Normal", "NotTriggerScaleUp", "reached maxNodes 3")
        recorder.emit(pod, "Warning", "InvalidPodSpec", "bad quantity")  # another reason: its own
        clock[0] += 61.0
        recorder.flush()
        clock[0] += 600.0
        recorder.emit(pod, "Normal", "NotTriggerScaleUp", "no node group matches")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Pod shop/web-1: NotTriggerScaleUp: no node group matches",
        "Pod shop/web-1: InvalidPodSpec: bad quantity",
        "Pod shop/web-1: NotTriggerScaleUp: no node group matches",
    ]
    queued = []
    while not recorder._queue.empty():
        item = recorder._queue.get_nowait()
        assert item is not None
        queued.append((item.reason, item.update))
    assert queued == [
        ("InvalidPodSpec", None),
        ("NotTriggerScaleUp", Update(5, "reached maxNodes 3")),
        ("NotTriggerScaleUp", None),
    ]
    [(method, path, body)] = kube.calls
    assert method == "POST" and path == "/api/v1/namespaces/shop/events" and body["count"] == 1


def test_an_update_patches_the_posted_event() -> None:
    kube = RecordingKube()
    recorder = EventRecorder(kube, namespace="default", update_every=0.0)
    node = ObjectRef("Node", "n1")
    recorder.emit(node, "Normal", "ScaleDown", "removing")
    recorder._post(recorder._queue.get_nowait(), "default")
    recorder.emit(node, "Normal", "ScaleDown", "removing again")
    item = recorder._queue.get_nowait()
    assert item is not None and item.update == Update(2, "removing again")
    recorder._update(item, "default", item.update)
    method, path, body = kube.calls[-1]
    assert method == "PATCH" and path == "/api/v1/namespaces/default/events/event-1"
    assert body["count"] == 2 and body["message"] == "removing again"
