"""A proxy in front of the kube-apiserver that can stop delivering watch events.

It listens on plain HTTP on localhost and forwards every request to the
apiserver over TLS with the kubeconfig's client certificate, so an operator
given :meth:`WatchProxy.kubeconfig` talks to the real apiserver through it.
While :attr:`WatchProxy.stale` is set, watch responses stay open but their
events are swallowed: a watch that silently stopped delivering, as behind a
stuck load balancer. Lists, gets and writes pass untouched, so only a relist
can tell the operator what changed.
"""

from __future__ import annotations

import base64
import http.client
import os
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "trailer"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _forward(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        query = parse_qs(urlsplit(self.path).query)
        watch = query.get("watch", [""])[0] in ("true", "1")
        conn = http.client.HTTPSConnection(
            proxy.host, proxy.port, context=proxy.context, timeout=None if watch else 60
        )
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            upstream = conn.getresponse()
        except OSError as exc:
            conn.close()
            message = f"proxy: upstream unreachable: {exc}".encode()
            self.send_response(502)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)
            return
        try:
            self.send_response(upstream.status, upstream.reason)
            for key, value in upstream.getheaders():
                if key.lower() not in HOP:
                    self.send_header(key, value)
            if not watch:
                data = upstream.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            with proxy.lock:
                proxy.watches += 1
            buffer = b""
            while True:
                chunk = upstream.read1(65536)
                if not chunk:
                    break
                buffer += chunk
                lines = buffer.split(b"\n")
                buffer = lines.pop()
                out = b""
                for line in lines:
                    if proxy.stale.is_set():
                        with proxy.lock:
                            proxy.swallowed += 1
                        continue
                    out += line + b"\n"
                if out:
                    self.wfile.write(f"{len(out):x}\r\n".encode() + out + b"\r\n")
                    self.wfile.flush()
            if buffer and not proxy.stale.is_set():
                self.wfile.write(f"{len(buffer):x}\r\n".encode() + buffer + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (OSError, http.client.HTTPException):
            self.close_connection = True
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: WatchProxy


class WatchProxy:
    """See the module docstring. ``start()``, ``stale.set()`` / ``stale.clear()``, ``stop()``."""

    def __init__(self, kubeconfig: str) -> None:
        config = yaml.safe_load(Path(kubeconfig).read_text())
        context_name = config.get("current-context")
        context = next(
            (c["context"] for c in config["contexts"] if c["name"] == context_name),
            config["contexts"][0]["context"],
        )
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        server = urlsplit(cluster["server"])
        self.host = server.hostname or "127.0.0.1"
        self.port = server.port or 443
        self._dir = tempfile.mkdtemp(prefix="watch-proxy-")
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE
        cert = self._materialise(user, "client-certificate", "client.crt")
        key = self._materialise(user, "client-key", "client.key")
        if cert and key:
            self.context.load_cert_chain(cert, key)
        self.stale = threading.Event()
        self.lock = threading.Lock()
        self.watches = 0
        self.swallowed = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.listen_port = 0

    def _materialise(self, user: dict[str, Any], key: str, filename: str) -> str | None:
        if user.get(f"{key}-data"):
            path = os.path.join(self._dir, filename)
            Path(path).write_bytes(base64.b64decode(user[f"{key}-data"]))
            os.chmod(path, 0o600)
            return path
        value = user.get(key)
        return str(value) if value else None

    def start(self) -> WatchProxy:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.proxy = self
        self.listen_port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.1,), name="watch-proxy", daemon=True
        )
        self._thread.start()
        return self

    def kubeconfig(self) -> str:
        """A kubeconfig that reaches the apiserver through this proxy (no credentials)."""
        path = os.path.join(self._dir, "kubeconfig.yaml")
        Path(path).write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "proxy",
                            "cluster": {"server": f"http://127.0.0.1:{self.listen_port}"},
                        }
                    ],
                    "users": [{"name": "proxy", "user": {}}],
                    "contexts": [
                        {"name": "proxy", "context": {"cluster": "proxy", "user": "proxy"}}
                    ],
                    "current-context": "proxy",
                }
            )
        )
        return path

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
