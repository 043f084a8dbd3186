"""The watch cache: its list parsed page by page without the cyclic GC, relists, and
when it lost sight of the cluster."""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping
from typing import Any

import pytest

from growthrs_core.controller.cache import WatchCache, gc_paused
from growthrs_core.controller.kube import Kube, KubeError


class PagedKube(Kube):
    """Answers list requests from fixed pages and records what is alive while parsing."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        super().__init__(api_client=None)
        self.pages = pages
        self.served = 0

    def request(
        self, method: str, path: str, *, query: Mapping[str, Any] | None = None, **_: Any
    ) -> Any:
        assert method == "GET" and query is not None and query["limit"] == 500
        index = int(query["continue"] or 0)
        self.served = index + 1
        last = index == len(self.pages) - 1
        return {
            "metadata": {"resourceVersion": "42", "continue": None if last else str(index + 1)},
            "items": self.pages[index],
        }


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name}}


def test_relist_parses_a_page_while_the_next_one_is_fetched() -> None:
    kube = PagedKube([[pod("a"), pod("b")], [pod("c")], [pod("d")]])
    page_of = {"a": 1, "b": 1, "c": 2, "d": 3}
    served_while_parsing: list[tuple[int, int]] = []

    def parse(obj: dict[str, Any]) -> str:
        name = str(obj["metadata"]["name"])
        page = page_of[name]
        # The next page is requested before this one is handed out; give the
        # prefetch a moment to land, then record how far the server got.
        deadline = time.monotonic() + 5
        while kube.served < min(page + 1, 3) and time.monotonic() < deadline:
            time.sleep(0.001)
        served_while_parsing.append((page, kube.served))
        return name.upper()

    changes: list[tuple[str, Any, Any]] = []
    cache: WatchCache[str] = WatchCache(
        kube,
        "pods",
        "/api/v1/pods",
        parse,
        on_change=lambda _k, key, old, new: changes.append((key, old, new)),
    )
    cache._relist()
    assert cache.items == {"ns/a": "A", "ns/b": "B", "ns/c": "C", "ns/d": "D"}
    # One page ahead, never two: at most two pages of raw JSON are alive.
    assert served_while_parsing == [(1, 2), (1, 2), (2, 3), (3, 3)]
    assert cache.resource_version == "42" and cache.synced.is_set()
    assert sorted(changes) == [
        ("ns/a", None, "A"),
        ("ns/b", None, "B"),
        ("ns/c", None, "C"),
        ("ns/d", None, "D"),
    ]


def test_list_all_still_returns_every_item_and_the_version() -> None:
    kube = PagedKube([[pod("a")], [pod("b")], []])
    items, rv = kube.list_all("/api/v1/pods")
    assert [i["metadata"]["name"] for i in items] == ["a", "b"] and rv == "42"


def test_gc_is_paused_while_parsing_and_restored_after_the_last_pause() -> None:
    enabled_while_parsing: list[bool] = []
    kube = PagedKube([[pod("a")]])
    cache: WatchCache[str] = WatchCache(
        kube, "pods", "/p", lambda o: enabled_while_parsing.append(gc.isenabled()) or "x"
    )
    assert gc.isenabled()
    with gc_paused():
        cache._relist()  # a nested pause (another cache relisting) keeps it off
        assert not gc.isenabled()
    assert enabled_while_parsing == [False]
    assert gc.isenabled()


def test_gc_paused_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


class QuietKube(Kube):
    """Lists the current objects; its watches deliver nothing and end only at their
    timeout, as a watch does whose apiserver stopped sending events."""

    def __init__(self) -> None:
        super().__init__(api_client=None)
        self.objects: list[dict[str, Any]] = [pod("a")]
        self.watch_timeouts: list[int] = []

    def request(
        self, method: str, path: str, *, query: Mapping[str, Any] | None = None, **_: Any
    ) -> Any:
        return {"metadata": {"resourceVersion": "1"}, "items": list(self.objects)}

    def watch(
        self, path: str, resource_version: str, query: Any = None, *, timeout_seconds: int = 300
    ) -> Any:
        self.watch_timeouts.append(timeout_seconds)
        time.sleep(min(timeout_seconds, 0.05))
        return iter(())


def test_a_quiet_watch_cannot_hide_changes_past_the_relist_interval() -> None:
    kube = QuietKube()
    cache: WatchCache[str] = WatchCache(
        kube, "pods", "/api/v1/pods", lambda o: str(o["metadata"]["name"]), relist_interval=0.3
    )
    cache.start()
    try:
        assert cache.synced.wait(5) and cache.snapshot() == ["a"]
        kube.objects.append(pod("b"))  # a change no watch event reports
        deadline = time.monotonic() + 5
        while sorted(cache.snapshot()) != ["a", "b"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sorted(cache.snapshot()) == ["a", "b"] and cache.relists >= 2
        # Watches are asked to end by the next relist, never later.
        assert all(t <= 1 for t in kube.watch_timeouts)
    finally:
        cache.stop()


def test_without_a_due_relist_the_watch_asks_for_its_full_timeout() -> None:
    kube = QuietKube()
    cache: WatchCache[str] = WatchCache(kube, "pods", "/api/v1/pods", str, relist_interval=3600)
    cache._relist()
    cache._watch_once()
    assert kube.watch_timeouts == [300] and cache.relists == 1


class FlakyKube(QuietKube):
    """Lists fine; its first ``breaks`` watches fail as a watch does when the apiserver
    goes away (the connection ends, or it answers 503)."""

    def __init__(self, errors: list[Exception]) -> None:
        super().__init__()
        self.errors = errors

    def watch(
        self, path: str, resource_version: str, query: Any = None, *, timeout_seconds: int = 300
    ) -> Any:
        if self.errors:
            raise self.errors.pop(0)
        return super().watch(path, resource_version, query, timeout_seconds=timeout_seconds)


@pytest.mark.parametrize(
    "error",
    [ConnectionError("Response ended prematurely"), KubeError(503, "apiserver is restarting")],
    ids=["connection-lost", "server-error"],
)
def test_a_cache_that_lost_its_watch_relists_and_says_since_when_it_sees_again(
    error: Exception,
) -> None:
    kube = FlakyKube([error])
    cache: WatchCache[str] = WatchCache(kube, "nodes", "/api/v1/nodes", str, relist_interval=3600)
    cache.start()
    try:
        assert cache.synced.wait(5)
        deadline = time.monotonic() + 5
        while cache.resumed_at is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cache.resumed_at is not None and cache.relists == 2
    finally:
        cache.stop()


def test_a_cache_that_never_lost_its_watch_has_no_resume_time() -> None:
    kube = QuietKube()
    cache: WatchCache[str] = WatchCache(kube, "nodes", "/api/v1/nodes", str, relist_interval=3600)
    cache._relist()
    cache._watch_once()
    cache._relist()  # a periodic relist is not a loss of sight
    assert cache.resumed_at is None
