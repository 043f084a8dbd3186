"""Event aggregation, as client-go's recorder does it: one Event object per
(object, reason, type) and window, whose ``count`` grows with each repeat.

An unplaceable pod is re-examined on every plan, and a failing create can
repeat for many requests: posting each would flood the API and ``kubectl
describe``. The first occurrence in a window posts an Event; repeats within the
window (even with a different message) raise its count and message, sent as an
update at most once per ``update_every``; after the window a new Event starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from growthrs_core.timeutil import parse_time

EventKey = tuple[str, str, str]
"""(object, reason, type)."""


@dataclass
class EventSeries:
    """Everything said about one key in the current window."""

    first: float
    """When its Event was posted (monotonic seconds)."""
    count: int
    message: str
    sent_count: int
    sent_at: float
    name: str = ""
    """The Event object's name, once the apiserver answered the post."""


@dataclass(frozen=True)
class Post:
    """Create a new Event object (count 1)."""


@dataclass(frozen=True)
class Update:
    """Raise the existing Event's count to ``count`` and show ``message``."""

    count: int
    message: str


def on_occurrence(
    series: EventSeries | None,
    message: str,
    now: float,
    *,
    window: float = 600.0,
    update_every: float = 60.0,
) -> tuple[EventSeries, Post | Update | None]:
    """The series after one more occurrence, and what to send now (if anything)."""
    if series is None or now - series.first >= window:
        return EventSeries(now, 1, message, 1, now), Post()
    series.count += 1
    series.message = message
    if series.name and now - series.sent_at >= update_every:
        series.sent_count, series.sent_at = series.count, now
        return series, Update(series.count, message)
    return series, None


def due_updates(
    series: Iterable[tuple[EventKey, EventSeries]], now: float, *, update_every: float = 60.0
) -> list[tuple[EventKey, Update]]:
    """Counts raised since the last update, now old enough to send (a repeat that
    came too soon after an update is sent here instead of being lost)."""
    out = []
    for key, s in series:
        if s.name and s.count > s.sent_count and now - s.sent_at >= update_every:
            s.sent_count, s.sent_at = s.count, now
            out.append((key, Update(s.count, s.message)))
    return out


COMPONENT = "growthrs"
"""``source.component`` and ``reportingComponent`` of every Event GrowthRS posts."""


def event_key(kind: str, namespace: str, name: str, uid: str, reason: str, type_: str) -> EventKey:
    """The aggregation key of an Event about an object (its UID when it has one)."""
    return (uid or f"{kind}/{namespace}/{name}", reason, type_)


def resume_series(
    posted: Iterable[Mapping[str, Any]],
    wall_now: datetime,
    now: float,
    *,
    window: float = 600.0,
) -> dict[EventKey, EventSeries]:
    """The series behind Events GrowthRS posted in the last ``window`` (``posted``: Event
    objects as the apiserver lists them), so a restarted operator, or a new leader,
    raises their counts instead of posting each one again.

    ``now`` is the recorder's monotonic clock; ages come from the wall clock. Events
    of other components, or without a name or timestamp, are left alone; of two
    Events for one key the newer one continues.
    """
    series: dict[EventKey, EventSeries] = {}
    for event in posted:
        if (event.get("reportingComponent") or (event.get("source") or {}).get("component")) != (
            COMPONENT
        ):
            continue
        meta = event.get("metadata") or {}
        involved = event.get("involvedObject") or {}
        first = parse_time(event.get("firstTimestamp") or event.get("eventTime"))
        last = parse_time(event.get("lastTimestamp")) or first
        name = str(meta.get("name") or "")
        if first is None or last is None or not name:
            continue
        age = (wall_now - first).total_seconds()
        if age >= window:
            continue
        key = event_key(
            str(involved.get("kind") or ""),
            str(involved.get("namespace") or ""),
            str(involved.get("name") or ""),
            str(involved.get("uid") or ""),
            str(event.get("reason") or ""),
            str(event.get("type") or ""),
        )
        count = max(1, int(event.get("count") or 1))
        resumed = EventSeries(
            first=now - max(age, 0.0),
            count=count,
            message=str(event.get("message") or ""),
            sent_count=count,
            sent_at=now - max((wall_now - last).total_seconds(), 0.0),
            name=name,
        )
        current = series.get(key)
        if current is None or resumed.first > current.first:
            series[key] = resumed
    return series
