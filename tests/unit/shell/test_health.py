"""The health endpoints: a standby is live and warm; /leader tells who acts."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from growthrs_core.controller.health import HealthServer


def status(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def state() -> Iterator[dict[str, bool]]:
    yield {"healthy": True, "ready": False, "leading": False}


@pytest.fixture
def server(state: dict[str, bool]) -> Iterator[HealthServer]:
    srv = HealthServer(
        0, lambda: state["healthy"], lambda: state["ready"], lambda: state["leading"]
    )
    srv.start()
    yield srv
    srv.stop()


def test_a_syncing_standby_is_live_not_ready_and_not_leading(server: HealthServer) -> None:
    assert status(server.port, "/healthz") == (200, "ok")
    assert status(server.port, "/readyz") == (503, "caches not synced")
    assert status(server.port, "/leader") == (503, "standby")


def test_a_warm_standby_is_ready_and_the_leader_says_so(
    server: HealthServer, state: dict[str, bool]
) -> None:
    state["ready"] = True
    assert status(server.port, "/readyz") == (200, "ok")
    state["leading"] = True
    assert status(server.port, "/leader") == (200, "leader")


def test_a_stalled_loop_fails_liveness(server: HealthServer, state: dict[str, bool]) -> None:
    state["healthy"] = False
    assert status(server.port, "/healthz") == (500, "loop stalled")
    assert status(server.port, "/nope")[0] == 404
    assert "growthrs_" in status(server.port, "/metrics")[1]
