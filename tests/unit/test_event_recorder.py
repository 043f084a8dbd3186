"""Events (and their log lines) are said once per repeat window, then again."""

from __future__ import annotations

import logging

import pytest

from growthrs_core.controller import events as events_module
from growthrs_core.controller.events import EventRecorder, ObjectRef


def test_a_repeated_event_is_logged_and_queued_once_per_window(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr(events_module.time, "monotonic", lambda: clock[0])
    recorder = EventRecorder(None, namespace="default", repeat_after=600.0)
    pod = ObjectRef("Pod", "web-1", "shop", "uid-1")
    with caplog.at_level(logging.INFO, logger=events_module.__name__):
        for _ in range(3):
            recorder.emit(pod, "Normal", "NotTriggerScaleUp", "no node group matches")
        recorder.emit(pod, "Normal", "NotTriggerScaleUp", "reached maxNodes 3")
        clock[0] += 600.0
        recorder.emit(pod, "Normal", "NotTriggerScaleUp", "no node group matches")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Pod shop/web-1: NotTriggerScaleUp: no node group matches",
        "Pod shop/web-1: NotTriggerScaleUp: reached maxNodes 3",
        "Pod shop/web-1: NotTriggerScaleUp: no node group matches",
    ]
    assert recorder._queue.qsize() == 3
