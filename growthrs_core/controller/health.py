"""``/healthz``, ``/readyz`` and Prometheus ``/metrics`` on one small HTTP server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from growthrs_core.controller import metrics  # noqa: F401 - /metrics serves what it defines

log = logging.getLogger(__name__)


class HealthServer:
    """``/healthz``: the process works (a standby waiting for the lease does).
    ``/readyz``: its caches are synced (a warm standby is ready to take over).
    ``/leader``: 200 on the replica that leads, 503 on a standby."""

    def __init__(
        self,
        port: int,
        healthy: Callable[[], bool],
        ready: Callable[[], bool],
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self.port = port
        self._healthy = healthy
        self._ready = ready
        self._leading = leading
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        healthy, ready, leading = self._healthy, self._ready, self._leading

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    self._answer(200 if healthy() else 500, b"ok" if healthy() else b"loop stalled")
                elif self.path == "/readyz":
                    self._answer(
                        200 if ready() else 503, b"ok" if ready() else b"caches not synced"
                    )
                elif self.path == "/leader":
                    self._answer(200 if leading() else 503, b"leader" if leading() else b"standby")
                elif self.path == "/metrics":
                    self._answer(200, generate_latest(), CONTENT_TYPE_LATEST)
                else:
                    self._answer(404, b"not found")

            def _answer(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("0.0.0.0", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="health", daemon=True).start()
        log.info("serving /healthz, /readyz and /metrics on port %d", self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
