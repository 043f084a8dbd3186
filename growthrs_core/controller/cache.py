"""List+watch caches that survive watch expiry and reconnects.

Each cache keeps parsed records (never the raw objects) keyed by
``namespace/name``. A watch that ends is resumed from the last resourceVersion
seen (bookmarks keep it fresh); ``410 Gone`` or an expired version triggers a
full relist, and so does every ``relist_interval`` (a watch can go quiet without
ending); connection errors back off and retry. ``on_change`` is called from
the watch thread for every change, so the controller can wake up.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

from growthrs_core.controller.kube import JSON, Kube, KubeError
from growthrs_core.timeutil import now

log = logging.getLogger(__name__)

T = TypeVar("T")


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a list is parsed (process-wide).

    Every page of raw JSON is ~150,000 container objects that live just long
    enough to be promoted, so a large list triggers dozens of full
    collections that find nothing: raw JSON has no cycles, reference counting
    frees it. For 30,000 pods that was a third of the relist (4 of 12 s).
    Nested and concurrent pauses (several caches relisting) end with the
    last one; a collector that was already off stays off.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def object_key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


class WatchCache(Generic[T]):
    """One resource kind kept in memory as parsed records."""

    def __init__(
        self,
        kube: Kube,
        name: str,
        path: str,
        parse: Callable[[JSON], T],
        *,
        on_change: Callable[[str, str, T | None, T | None], None] | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        watch_timeout: int = 300,
        relist_interval: float = 600.0,
    ) -> None:
        self.kube = kube
        self.name = name
        self.path = path
        self.parse = parse
        self.on_change = on_change
        self.query = {"fieldSelector": field_selector, "labelSelector": label_selector}
        self.watch_timeout = watch_timeout
        self.relist_interval = relist_interval
        """A full relist at least this often: a watch that silently stopped delivering
        (a stuck proxy, an apiserver that lost track) cannot leave the cache stale longer."""
        self._listed_at = 0.0
        self.items: dict[str, T] = {}
        self.lock = threading.Lock()
        self.synced = threading.Event()
        self.resource_version = ""
        self.relists = 0
        self.resumed_at: datetime | None = None
        """When the cache was relisted after its watch had broken or failed (``None``
        while it never has): until then it could not see changes, e.g. a node turning
        Ready, so waits that depend on seeing them restart from here."""
        self._lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading ---------------------------------------------------------------------

    def snapshot(self) -> list[T]:
        with self.lock:
            return list(self.items.values())

    def get(self, key: str) -> T | None:
        with self.lock:
            return self.items.get(key)

    def put(self, obj: JSON) -> T:
        """Record an object the controller itself just wrote, before its watch event."""
        record = self.parse(obj)
        key = object_key(obj)
        with self.lock:
            old = self.items.get(key)
            self.items[key] = record
        if self.on_change:
            self.on_change(self.name, key, old, record)
        return record

    def discard(self, key: str) -> None:
        with self.lock:
            old = self.items.pop(key, None)
        if old is not None and self.on_change:
            self.on_change(self.name, key, old, None)

    # -- running ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"watch-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _relist(self) -> None:
        # Parse page by page: only one page of raw JSON is alive at a time, so
        # the peak is the records plus a page, not the records plus every raw
        # object (for 30,000 pods: ~700 MB of dicts, never returned to the OS).
        fresh: dict[str, T] = {}
        rv = ""
        with gc_paused():
            for page, page_rv in self.kube.list_pages(self.path, self.query):
                rv = page_rv
                for obj in page:
                    fresh[object_key(obj)] = self.parse(obj)
        with self.lock:
            old = self.items
            self.items = fresh
            self.resource_version = rv
        self.relists += 1
        self._listed_at = time.monotonic()
        if self._lost:
            self.resumed_at, self._lost = now(), False
        if self.on_change:
            for key in old.keys() - fresh.keys():
                self.on_change(self.name, key, old[key], None)
            for key, record in fresh.items():
                self.on_change(self.name, key, old.get(key), record)
        self.synced.set()

    def _run(self) -> None:
        backoff = 0.5
        need_list = True
        while not self._stop.is_set():
            try:
                if need_list or time.monotonic() - self._listed_at >= self.relist_interval:
                    self._relist()
                    need_list = False
                self._watch_once()
                backoff = 0.5
            except _Expired:
                log.info("watch %s expired; relisting", self.name)
                need_list = True
            except KubeError as exc:
                if exc.status == 410:
                    need_list = True
                    continue
                log.warning("watch %s failed (%s); retrying in %.1fs", self.name, exc, backoff)
                # Relist, as client-go's reflector does: events may have been missed.
                need_list = True
                self._lost = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception as exc:  # noqa: BLE001 - the watch thread must never die
                log.warning(
                    "watch %s broke (%s: %s); relisting in %.1fs",
                    self.name,
                    type(exc).__name__,
                    exc,
                    backoff,
                )
                need_list = True
                self._lost = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _watch_once(self) -> None:
        # The server ends the watch by the next relist; a watch that hangs without
        # ending is cut by the client's read timeout (timeout + 30 s).
        until_relist = self.relist_interval - (time.monotonic() - self._listed_at)
        timeout = max(1, min(self.watch_timeout, int(until_relist) + 1))
        for event in self.kube.watch(
            self.path, self.resource_version, self.query, timeout_seconds=timeout
        ):
            if self._stop.is_set():
                return
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                code = obj.get("code")
                if code == 410 or obj.get("reason") in ("Expired", "Gone"):
                    raise _Expired()
                raise KubeError(int(code or 0), str(obj.get("message", "watch error")))
            rv = str((obj.get("metadata") or {}).get("resourceVersion", ""))
            if kind == "BOOKMARK":
                self.resource_version = rv or self.resource_version
                continue
            key = object_key(obj)
            if kind == "DELETED":
                with self.lock:
                    old = self.items.pop(key, None)
                    self.resource_version = rv or self.resource_version
                if self.on_change:
                    self.on_change(self.name, key, old, None)
                continue
            record = self.parse(obj)
            with self.lock:
                old = self.items.get(key)
                self.items[key] = record
                self.resource_version = rv or self.resource_version
            if self.on_change:
                self.on_change(self.name, key, old, record)


class _Expired(Exception):
    pass


def wait_synced(caches: list[WatchCache[Any]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    return all(c.synced.wait(max(0.0, deadline - time.monotonic())) for c in caches)
