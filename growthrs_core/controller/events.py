"""Kubernetes Events, posted from a background thread and de-duplicated.

The loop must never wait on an Event write, and an unplaceable pod re-examined
every resync must not get a fresh Event each time: the same (object, reason,
message) is posted at most once per ``repeat_after`` seconds.
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
from growthrs_core.timeutil import format_time, format_time_micro, now

log = logging.getLogger(__name__)

COMPONENT = "growthrs"


@dataclass(frozen=True)
class ObjectRef:
    kind: str
    name: str
    namespace: str = ""
    uid: str = ""
    api_version: str = "v1"


class EventRecorder:
    def __init__(self, kube: Kube | None, *, namespace: str, repeat_after: float = 600.0) -> None:
        self.kube = kube
        self.namespace = namespace
        self.repeat_after = repeat_after
        self._seen: dict[tuple[str, str, str, str], float] = {}
        self._queue: queue.Queue[tuple[ObjectRef, str, str, str, datetime] | None] = queue.Queue(
            maxsize=10000
        )
        self._instance = socket.gethostname()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)

    def emit(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        """Log and post an Event, once per ``repeat_after`` for the same object and text.

        Every plan restates what it cannot do for a pod; the log would otherwise
        repeat it on each pass, like the Events would.
        """
        key = (ref.uid or f"{ref.kind}/{ref.namespace}/{ref.name}", reason, message, type_)
        moment = time.monotonic()
        last = self._seen.get(key)
        if last is not None and moment - last < self.repeat_after:
            return
        self._seen[key] = moment
        if len(self._seen) > 50000:
            cutoff = moment - self.repeat_after
            self._seen = {k: v for k, v in self._seen.items() if v >= cutoff}
        log.log(
            logging.WARNING if type_ == "Warning" else logging.INFO,
            "%s %s/%s: %s: %s",
            ref.kind,
            ref.namespace or "-",
            ref.name,
            reason,
            message,
        )
        try:
            # Stamped now, not when posted: a backlog must not make events look late.
            self._queue.put_nowait((ref, type_, reason, message, now()))
        except queue.Full:
            log.warning("event queue full; dropped %s %s", reason, ref.name)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.kube is None:
                continue
            ref, type_, reason, message, stamp = item
            namespace = ref.namespace or self.namespace
            body = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"generateName": f"{ref.name}.", "namespace": namespace},
                "involvedObject": {
                    "kind": ref.kind,
                    "name": ref.name,
                    "namespace": ref.namespace or None,
                    "uid": ref.uid or None,
                    "apiVersion": ref.api_version,
                },
                "reason": reason,
                "message": message[:1024],
                "type": type_,
                "source": {"component": COMPONENT},
                "reportingComponent": COMPONENT,
                "reportingInstance": self._instance,
                "firstTimestamp": format_time(stamp),
                "lastTimestamp": format_time(stamp),
                "eventTime": format_time_micro(stamp),
                "action": reason,
                "count": 1,
            }
            body["involvedObject"] = {k: v for k, v in body["involvedObject"].items() if v}  # type: ignore[attr-defined]
            try:
                self.kube.create(f"/api/v1/namespaces/{namespace}/events", body)
            except KubeError as exc:
                log.debug("could not post event %s: %s", reason, exc)
