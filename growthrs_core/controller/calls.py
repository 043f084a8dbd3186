"""Provider calls in flight: started on worker threads, answered on the loop's thread.

At most one call per :class:`~growthrs_core.decisions.memory.CallKey` runs at
a time. A result is applied by the loop, never by the worker, so decisions
and their memory are only ever touched from one thread. A call that outlives
the timeout is answered with an error (a late success is caught by orphan
collection).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from growthrs_core.decisions.memory import CallKey, LoopMemory
from growthrs_core.errors import ProviderInternal

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    future: Future[Any]
    started: float
    apply: Callable[[Any], None]


class ProviderCalls:
    def __init__(self, memory: LoopMemory, *, timeout: float, wake: threading.Event) -> None:
        self.memory = memory
        self.timeout = timeout
        self.wake = wake
        self.pending: dict[CallKey, _Pending] = {}
        self._results: queue.Queue[Callable[[], None]] = queue.Queue()

    def busy(self, key: CallKey) -> bool:
        return key in self.pending

    def track(self, key: CallKey, future: Future[Any], apply: Callable[[Any], None]) -> None:
        """Apply ``future``'s result (or its exception) with ``apply`` on the loop thread."""
        self.pending[key] = _Pending(future, time.monotonic(), apply)
        self.memory.calls.add(key)

        def finished(f: Future[Any]) -> None:
            try:
                result = f.result()
            except Exception as exc:  # noqa: BLE001 - errors are results here
                result = exc

            def deliver() -> None:
                pending = self.pending.get(key)
                if pending is not None and pending.future is f:
                    self._forget(key)
                    apply(result)

            self._results.put(deliver)
            self.wake.set()

        future.add_done_callback(finished)

    def _forget(self, key: CallKey) -> None:
        del self.pending[key]
        self.memory.calls.discard(key)

    def drain(self, block: float = 0.0) -> None:
        """Apply every result that arrived (waiting up to ``block`` seconds for the first)."""
        try:
            item = self._results.get(timeout=block) if block else self._results.get_nowait()
        except queue.Empty:
            return
        while True:
            try:
                item()
            except Exception:
                log.exception("applying a provider result failed")
            try:
                item = self._results.get_nowait()
            except queue.Empty:
                return

    def expire(self, moment: float) -> None:
        for key, pending in list(self.pending.items()):
            if moment - pending.started > self.timeout:
                self._forget(key)
                log.warning(
                    "provider call %s %s timed out after %.0fs", key.kind, key.name, self.timeout
                )
                pending.apply(ProviderInternal(f"timed out after {self.timeout:.0f}s"))

    def settle(self, wait: float) -> None:
        """On shutdown: apply what finishes within ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while self.pending and time.monotonic() < deadline:
            self.drain(block=0.2)
            self.expire(time.monotonic())
