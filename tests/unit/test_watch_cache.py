"""The watch cache's initial list: parsed page by page, without the cyclic GC."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any

from growthrs_core.controller.cache import WatchCache, gc_paused
from growthrs_core.controller.kube import Kube


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


def test_relist_parses_each_page_before_fetching_the_next() -> None:
    kube = PagedKube([[pod("a"), pod("b")], [pod("c")]])
    pages_fetched_when_parsed: list[int] = []

    def parse(obj: dict[str, Any]) -> str:
        pages_fetched_when_parsed.append(kube.served)
        return str(obj["metadata"]["name"]).upper()

    changes: list[tuple[str, Any, Any]] = []
    cache: WatchCache[str] = WatchCache(
        kube,
        "pods",
        "/api/v1/pods",
        parse,
        on_change=lambda _k, key, old, new: changes.append((key, old, new)),
    )
    cache._relist()
    assert cache.items == {"ns/a": "A", "ns/b": "B", "ns/c": "C"}
    assert pages_fetched_when_parsed == [1, 1, 2]
    assert cache.resource_version == "42" and cache.synced.is_set()
    assert sorted(changes) == [("ns/a", None, "A"), ("ns/b", None, "B"), ("ns/c", None, "C")]


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
