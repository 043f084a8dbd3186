"""Kubernetes Events, posted from a background thread and aggregated like client-go's.

The loop never waits on an Event write. What to post, update or leave out is
decided by :mod:`growthrs_core.decisions.events`: one Event per object, reason
and type in a 10-minute window, its ``count`` raised by repeats.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from growthrs_core.controller.kube import Kube, KubeError
from growthrs_core.decisions.events import (
    COMPONENT,
    EventKey,
    EventSeries,
    Post,
    Update,
    due_updates,
    event_key,
    on_occurrence,
    resume_series,
)
from growthrs_core.timeutil import format_time, format_time_micro, now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectRef:
    kind: str
    name: str
    namespace: str = ""
    uid: str = ""
    api_version: str = "v1"


@dataclass(frozen=True)
class _Send:
    key: EventKey
    ref: ObjectRef
    type: str
    reason: str
    message: str
    stamp: datetime
    update: Update | None = None


FIELD_OF_KIND = {
    "Pod": "pod",
    "NodeRequest": "noderequest",
    "NodeGroupWithPriority": "group",
    "Node": "node",
}


def object_fields(ref: ObjectRef) -> dict[str, str]:
    """The structured log field naming the object an Event is about."""
    name = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
    field = FIELD_OF_KIND.get(ref.kind)
    return {field: name} if field else {}


class EventRecorder:
    def __init__(
        self,
        kube: Kube | None,
        *,
        namespace: str,
        repeat_after: float = 600.0,
        update_every: float = 60.0,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.repeat_after = repeat_after
        self.update_every = update_every
        self._series: dict[EventKey, EventSeries] = {}
        self._refs: dict[EventKey, tuple[ObjectRef, str, str]] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Send | None] = queue.Queue(maxsize=10000)
        self._instance = socket.gethostname()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.resume()
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._thread.start()

    def resume(self) -> None:
        """Continue the Events GrowthRS posted in the last window (before a restart, or
        by the previous leader): their repeats raise counts rather than post again."""
        if self.kube is None:
            return
        try:
            posted, _ = self.kube.list_all(
                "/api/v1/events", {"fieldSelector": f"source={COMPONENT}"}
            )
        except KubeError as exc:
            log.warning("cannot list earlier events (repeats will post anew): %s", exc)
            return
        resumed = resume_series(posted, now(), time.monotonic(), window=self.repeat_after)
        with self._lock:
            for key, series in resumed.items():
                self._series.setdefault(key, series)
        log.debug("continuing %d events posted in the last %.0fs", len(resumed), self.repeat_after)

    def stop(self, timeout: float = 2.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)

    def emit(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        """Record one occurrence; the first in its window is logged and posted."""
        key = event_key(ref.kind, ref.namespace, ref.name, ref.uid, reason, type_)
        moment = time.monotonic()
        with self._lock:
            series, action = on_occurrence(
                self._series.get(key),
                message,
                moment,
                window=self.repeat_after,
                update_every=self.update_every,
            )
            self._series[key] = series
            self._refs[key] = (ref, type_, reason)
            if len(self._series) > 50000:
                self._forget_before(moment - self.repeat_after)
        if action is None:
            return
        if isinstance(action, Post):
            log.log(
                logging.WARNING if type_ == "Warning" else logging.INFO,
                "%s %s/%s: %s: %s",
                ref.kind,
                ref.namespace or "-",
                ref.name,
                reason,
                message,
                extra={**object_fields(ref), "reason": reason},
            )
        # Stamped now, not when sent: a backlog must not make events look late.
        self._send(
            _Send(
                key,
                ref,
                type_,
                reason,
                message,
                now(),
                action if isinstance(action, Update) else None,
            )
        )

    def _forget_before(self, cutoff: float) -> None:
        for key in [k for k, s in self._series.items() if s.first < cutoff]:
            del self._series[key]
            self._refs.pop(key, None)

    def _send(self, item: _Send) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            log.warning("event queue full; dropped %s %s", item.reason, item.ref.name)

    def flush(self) -> None:
        """Send the counts raised since the last update (called every few seconds)."""
        with self._lock:
            updates = due_updates(
                self._series.items(), time.monotonic(), update_every=self.update_every
            )
            pending = [(k, u, self._refs.get(k)) for k, u in updates]
        for key, update, known in pending:
            if known is not None:
                ref, type_, reason = known
                self._send(_Send(key, ref, type_, reason, update.message, now(), update))

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=5.0)
            except queue.Empty:
                self.flush()
                continue
            if item is None:
                return
            if self.kube is None:
                continue
            namespace = item.ref.namespace or self.namespace
            try:
                if item.update is None:
                    self._post(item, namespace)
                else:
                    self._update(item, namespace, item.update)
            except KubeError as exc:
                log.debug("could not send event %s: %s", item.reason, exc)

    def _post(self, item: _Send, namespace: str) -> None:
        assert self.kube is not None
        ref = item.ref
        involved = {
            "kind": ref.kind,
            "name": ref.name,
            "namespace": ref.namespace or None,
            "uid": ref.uid or None,
            "apiVersion": ref.api_version,
        }
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{ref.name}.", "namespace": namespace},
            "involvedObject": {k: v for k, v in involved.items() if v},
            "reason": item.reason,
            "message": item.message[:1024],
            "type": item.type,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": format_time(item.stamp),
            "lastTimestamp": format_time(item.stamp),
            "eventTime": format_time_micro(item.stamp),
            "action": item.reason,
            "count": 1,
        }
        created = self.kube.create(f"/api/v1/namespaces/{namespace}/events", body)
        with self._lock:
            series = self._series.get(item.key)
            if series is not None:
                series.name = str((created.get("metadata") or {}).get("name", ""))

    def _update(self, item: _Send, namespace: str, update: Update) -> None:
        assert self.kube is not None
        with self._lock:
            series = self._series.get(item.key)
            name = series.name if series is not None else ""
        if not name:
            return
        self.kube.patch(
            f"/api/v1/namespaces/{namespace}/events/{name}",
            {
                "count": update.count,
                "message": update.message[:1024],
                "lastTimestamp": format_time(item.stamp),
            },
        )
