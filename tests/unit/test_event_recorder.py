"""Events are aggregated as client-go does: one Event per object, reason and type in a
window, whose count grows with each repeat; log lines follow the posts."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthrs_core.controller import events as events_module
from growthrs_core.controller.events import EventRecorder, ObjectRef
from growthrs_core.controller.kube import Kube, KubeError
from growthrs_core.decisions.events import (
    EventSeries,
    Post,
    Update,
    due_updates,
    on_occurrence,
    resume_series,
)
from growthrs_core.timeutil import format_time


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


# -- a restart continues the Events posted before it -----------------------------------------

WALL = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def posted(
    name: str,
    *,
    uid: str = "uid-1",
    reason: str = "NodeGroupNotFound",
    age: float = 60.0,
    last_age: float | None = None,
    count: int = 1,
    component: str = "growthrs",
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "shop"},
        "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "shop", "uid": uid},
        "reason": reason,
        "type": "Normal",
        "message": f"said {count} times",
        "count": count,
        "firstTimestamp": format_time(WALL - timedelta(seconds=age)),
        "lastTimestamp": format_time(
            WALL - timedelta(seconds=age if last_age is None else last_age)
        ),
        "source": {"component": component},
        "reportingComponent": component,
    }


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([], {}, id="nothing-posted"),
        pytest.param(
            [posted("web-1.a", age=120.0, last_age=30.0, count=3)],
            {("uid-1", "NodeGroupNotFound", "Normal"): (880.0, 3, 970.0, "web-1.a")},
            id="one-event-continues",
        ),
        pytest.param([posted("web-1.a", age=600.0)], {}, id="older-than-the-window"),
        pytest.param([posted("web-1.a", component="kubelet")], {}, id="another-component"),
        pytest.param(
            [posted("web-1.old", age=500.0), posted("web-1.new", age=100.0, count=2)],
            {("uid-1", "NodeGroupNotFound", "Normal"): (900.0, 2, 900.0, "web-1.new")},
            id="the-newest-of-one-key",
        ),
        pytest.param(
            [posted("web-1.a"), posted("web-1.b", reason="MaxNodesReached")],
            {
                ("uid-1", "NodeGroupNotFound", "Normal"): (940.0, 1, 940.0, "web-1.a"),
                ("uid-1", "MaxNodesReached", "Normal"): (940.0, 1, 940.0, "web-1.b"),
            },
            id="one-series-per-reason",
        ),
    ],
)
def test_resume_series_picks_up_events_of_the_last_window(
    events: list[dict[str, Any]],
    expected: dict[tuple[str, str, str], tuple[float, int, float, str]],
) -> None:
    series = resume_series(events, WALL, 1000.0, window=600.0)
    assert {k: (s.first, s.count, s.sent_at, s.name) for k, s in series.items()} == expected


class ListingKube(RecordingKube):
    def __init__(self, items: list[dict[str, Any]]) -> None:
        super().__init__()
        self.items = items

    def request(self, method: str, path: str, *, body: Any = None, **kw: Any) -> Any:
        if method == "GET":
            self.calls.append((method, path, kw.get("query")))
            return {"metadata": {"resourceVersion": "7"}, "items": self.items}
        return super().request(method, path, body=body, **kw)


def test_a_restarted_recorder_raises_the_count_instead_of_posting_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events_module, "now", lambda: WALL)
    monkeypatch.setattr(events_module.time, "monotonic", lambda: 1000.0)
    kube = ListingKube([posted("web-1.a", age=120.0, last_age=90.0, count=2)])
    recorder = EventRecorder(kube, namespace="default", update_every=60.0)
    recorder.resume()
    method, path, query = kube.calls[0]
    assert (method, path) == ("GET", "/api/v1/events")
    assert query["fieldSelector"] == "source=growthrs"
    pod = ObjectRef("Pod", "web-1", "shop", "uid-1")
    recorder.emit(pod, "Normal", "NodeGroupNotFound", "the group web is gone")
    item = recorder._queue.get_nowait()
    assert item is not None and item.update == Update(3, "the group web is gone")
    recorder._update(item, "shop", item.update)
    assert kube.calls[-1][:2] == ("PATCH", "/api/v1/namespaces/shop/events/web-1.a")
    assert [c for c in kube.calls if c[0] == "POST"] == []


def test_a_recorder_that_cannot_list_still_posts(monkeypatch: pytest.MonkeyPatch) -> None:
    class Forbidden(RecordingKube):
        def request(self, method: str, path: str, *, body: Any = None, **kw: Any) -> Any:
            if method == "GET":
                raise KubeError(403, "events is forbidden")
            return super().request(method, path, body=body, **kw)

    recorder = EventRecorder(Forbidden(), namespace="default")
    recorder.resume()
    recorder.emit(ObjectRef("Node", "n1"), "Normal", "ScaleDown", "removing")
    item = recorder._queue.get_nowait()
    assert item is not None and item.update is None
