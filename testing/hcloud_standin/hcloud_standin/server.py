"""The HTTP face of the stand-in: Hetzner Cloud API routes on ``/v1`` plus a control API.

``/v1/...`` answers like ``https://api.hetzner.cloud/v1`` (bearer token,
pagination, label selectors, rate-limit headers, error bodies); every exchange
is recorded so a test can check it against the official OpenAPI description.
``/__standin/...`` is outside the official API: fault injection, the clock,
snapshots, availability, recorded exchanges and a per-server metadata service.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import re
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hcloud_standin import catalog
from hcloud_standin.faults import Fault
from hcloud_standin.world import ApiError, Clock, World, invalid_input, not_found, selector

log = logging.getLogger(__name__)

API_PREFIX = "/v1"
CONTROL_PREFIX = "/__standin"
DEFAULT_TOKEN = "standin-token"

Query = dict[str, list[str]]
Handler = Callable[["StandIn", re.Match[str], Query, Any], tuple[int, Any]]


@dataclass(frozen=True)
class Exchange:
    """One request the stand-in answered on the official API, as sent and received."""

    method: str
    path: str
    query: dict[str, list[str]]
    request_body: Any
    status: int
    response_body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "request_body": self.request_body,
            "status": self.status,
            "response_body": self.response_body,
            "headers": self.headers,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Exchange:
        return cls(**data)


class RateLimiter:
    """Hetzner's budget: ``limit`` requests per hour, refilled one by one."""

    def __init__(self, limit: int | None, clock: Clock) -> None:
        self.limit = limit
        self.clock = clock
        self.remaining = float(limit or 0)
        self.stamp = clock.now()
        self.lock = threading.Lock()

    def take(self) -> tuple[bool, dict[str, str]]:
        if self.limit is None:
            return True, {}
        with self.lock:
            now = self.clock.now()
            rate = self.limit / 3600.0
            self.remaining = min(float(self.limit), self.remaining + (now - self.stamp) * rate)
            self.stamp = now
            allowed = self.remaining >= 1
            if allowed:
                self.remaining -= 1
            return allowed, self.headers(now)

    def headers(self, now: float) -> dict[str, str]:
        assert self.limit is not None
        missing = self.limit - self.remaining
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(int(self.remaining)),
            "RateLimit-Reset": str(math.ceil(now + missing * 3600.0 / self.limit)),
        }


# -- helpers --------------------------------------------------------------------


def _one(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _int_param(query: Query, name: str, default: int) -> int:
    raw = _one(query, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_input(name, "must be an integer") from None
    if value < 1:
        raise invalid_input(name, "must be at least 1")
    return value


def _sorted(items: list[dict[str, Any]], query: Query) -> list[dict[str, Any]]:
    for spec in reversed(query.get("sort", [])):
        key, _, order = spec.partition(":")
        if order not in ("", "asc", "desc"):
            raise invalid_input("sort", f"invalid sort order {order!r}")
        items = sorted(
            items,
            key=lambda item: (item.get(key) is None, item.get(key) or 0),
            reverse=order == "desc",
        )
    return items


def _filter(
    items: list[dict[str, Any]], query: Query, *, labels: bool = True
) -> list[dict[str, Any]]:
    name = _one(query, "name")
    if name is not None:
        items = [i for i in items if i.get("name") == name]
    if labels:
        predicate = selector(_one(query, "label_selector"))
        items = [i for i in items if predicate(i.get("labels") or {})]
    return items


def _page(
    api: StandIn, key: str, items: list[dict[str, Any]], query: Query, **extra: Any
) -> tuple[int, Any]:
    """Hetzner pagination: ``page``/``per_page`` in, ``meta.pagination`` out."""
    items = _sorted(items, query)
    page = _int_param(query, "page", 1)
    per_page = min(_int_param(query, "per_page", 25), api.max_per_page)
    total = len(items)
    last = max(1, math.ceil(total / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    body = {
        key: chunk,
        **extra,
        "meta": {
            "pagination": {
                "page": page,
                "per_page": per_page,
                "previous_page": page - 1 if page > 1 else None,
                "next_page": page + 1 if page < last else None,
                "last_page": last,
                "total_entries": total,
            }
        },
    }
    return 200, body


def _id(match: re.Match[str]) -> int:
    return int(match.group(1))


# -- official API handlers -------------------------------------------------------


def list_server_types(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    with api.world.lock:
        items = [api.world.server_type_dict(s) for s in api.world.server_types]
    return _page(api, "server_types", _filter(items, q, labels=False), q)


def get_server_type(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    spec = api.world.find_server_type(_id(m))
    if spec is None:
        raise not_found("server type")
    with api.world.lock:
        return 200, {"server_type": api.world.server_type_dict(spec)}


def list_locations(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    items = [World.location_dict(loc) for loc in catalog.LOCATIONS]
    return _page(api, "locations", _filter(items, q, labels=False), q)


def get_location(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    loc = next((c for c in catalog.LOCATIONS if c.id == _id(m)), None)
    if loc is None:
        raise not_found("location")
    return 200, {"location": World.location_dict(loc)}


def list_datacenters(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    with api.world.lock:
        items = [api.world.datacenter_dict(loc) for loc in catalog.LOCATIONS]
    return _page(
        api,
        "datacenters",
        _filter(items, q, labels=False),
        q,
        recommendation=catalog.LOCATIONS[0].datacenter_id,
    )


def get_datacenter(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    loc = next((c for c in catalog.LOCATIONS if c.datacenter_id == _id(m)), None)
    if loc is None:
        raise not_found("datacenter")
    with api.world.lock:
        return 200, {"datacenter": api.world.datacenter_dict(loc)}


def list_images(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    with api.world.lock:
        items = [World.image_dict(i) for i in api.world.images]
    types = q.get("type")
    if types:
        items = [i for i in items if i["type"] in types]
    statuses = q.get("status")
    if statuses:
        items = [i for i in items if i["status"] in statuses]
    arch = q.get("architecture")
    if arch:
        items = [i for i in items if i["architecture"] in arch]
    if _one(q, "include_deprecated") not in ("true", "True", "1"):
        items = [i for i in items if not i["deprecated"]]
    return _page(api, "images", _filter(items, q), q)


def get_image(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    with api.world.lock:
        image = next((i for i in api.world.images if i.id == _id(m)), None)
        if image is None:
            raise not_found("image")
        return 200, {"image": World.image_dict(image)}


def list_servers(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    items = api.world.list_servers(
        name=_one(q, "name"), label_selector=_one(q, "label_selector"), status=q.get("status")
    )
    return _page(api, "servers", items, q)


def create_server(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    return 201, api.world.create_server(body, getattr(api._local, "action_faults", []))


def get_server(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    with api.world.lock:
        return 200, {"server": api.world.server_dict(api.world.get_server(_id(m)))}


def delete_server(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    return 200, {"action": api.world.delete_server(_id(m))}


def list_server_actions(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    items = api.world.server_actions(_id(m), q.get("status"))
    return _page(api, "actions", items, q)


def list_actions(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    try:
        ids = [int(i) for i in q.get("id", [])]
    except ValueError:
        raise invalid_input("id", "must be integers") from None
    if not ids:
        raise invalid_input("id", "at least one action ID is required")
    return _page(api, "actions", api.world.list_actions(ids), q)


def get_action(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
    return 200, {"action": api.world.get_action(_id(m))}


def _named_routes(
    plural: str, singular: str, table: str, render: str, create: str
) -> list[tuple[str, str, Handler]]:
    def listing(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
        with api.world.lock:
            items = [getattr(api.world, render)(i) for i in getattr(api.world, table).values()]
        return _page(api, plural, _filter(items, q), q)

    def getting(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
        with api.world.lock:
            item = getattr(api.world, table).get(_id(m))
            if item is None:
                raise not_found(singular.replace("_", " "))
            return 200, {singular: getattr(api.world, render)(item)}

    def creating(api: StandIn, m: re.Match[str], q: Query, body: Any) -> tuple[int, Any]:
        created = getattr(api.world, create)(body)
        answer: dict[str, Any] = {singular: created}
        if singular == "firewall":
            answer["actions"] = []
        elif singular == "placement_group":
            answer["action"] = None
        return 201, answer

    return [
        ("GET", f"/{plural}", listing),
        ("POST", f"/{plural}", creating),
        ("GET", rf"/{plural}/(\d+)", getting),
    ]


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/server_types", list_server_types),
    ("GET", r"/server_types/(\d+)", get_server_type),
    ("GET", "/locations", list_locations),
    ("GET", r"/locations/(\d+)", get_location),
    ("GET", "/datacenters", list_datacenters),
    ("GET", r"/datacenters/(\d+)", get_datacenter),
    ("GET", "/images", list_images),
    ("GET", r"/images/(\d+)", get_image),
    ("GET", "/servers", list_servers),
    ("POST", "/servers", create_server),
    ("GET", r"/servers/(\d+)", get_server),
    ("DELETE", r"/servers/(\d+)", delete_server),
    ("GET", r"/servers/(\d+)/actions", list_server_actions),
    ("GET", "/actions", list_actions),
    ("GET", r"/actions/(\d+)", get_action),
    *_named_routes("networks", "network", "networks", "network_dict", "create_network"),
    *_named_routes("firewalls", "firewall", "firewalls", "firewall_dict", "create_firewall"),
    *_named_routes(
        "placement_groups",
        "placement_group",
        "placement_groups",
        "placement_group_dict",
        "create_placement_group",
    ),
    *_named_routes("ssh_keys", "ssh_key", "ssh_keys", "ssh_key_dict", "create_ssh_key"),
]
_COMPILED = [(method, re.compile(pattern + "$"), handler) for method, pattern, handler in ROUTES]


# -- the HTTP server ---------------------------------------------------------------


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hcloud-standin"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes; without NODELAY, delayed ACKs add ~40 ms each.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The stand-in's clock, which tests may have advanced: Date and RateLimit-Reset agree.
        return email.utils.formatdate(
            self.server.standin.world.now() if timestamp is None else timestamp, usegmt=True
        )

    def log_message(self, format: str, *args: Any) -> None:
        # The request line only: headers (and so the bearer token) are never logged.
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> tuple[Any, ApiError | None]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None, None
        try:
            return json.loads(raw), None
        except ValueError:
            return None, ApiError("json_error", "request body is not valid JSON")

    def _send(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        *,
        text: str | None = None,
    ) -> None:
        payload = (text if text is not None else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if text is not None else "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Correlation-Id", uuid.uuid4().hex[:16])
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _dispatch(self, method: str) -> None:
        api = self.server.standin
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        body, body_error = self._read_body()
        if parts.path.startswith(CONTROL_PREFIX):
            status, answer, text = api._control(
                method, parts.path[len(CONTROL_PREFIX) :], query, body
            )
            self._send(status, answer, text=text)
            return
        if not parts.path.startswith(API_PREFIX + "/"):
            self._send(404, ApiError("not_found", "no such endpoint").body())
            return
        path = parts.path[len(API_PREFIX) :]
        status, answer, headers = api._serve(
            method, path, query, body, body_error, self.headers.get("Authorization")
        )
        api._record(Exchange(method, path, query, body, status, answer, headers))
        self._send(status, answer, headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    standin: StandIn


class StandIn:
    """A stateful fake of the Hetzner Cloud API on localhost.

    >>> with StandIn() as api:
    ...     client = hcloud.Client(token=api.token, api_endpoint=api.url)

    ``action_delay`` is how long create/delete actions run (the start action runs
    twice as long); move time with :meth:`advance` or :meth:`finish_actions`.
    ``rate_limit`` is the per-hour request budget (None: unlimited); ``server_limit``
    the project's server quota; ``record_limit`` caps the recorded exchanges.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        action_delay: float = 1.0,
        max_per_page: int = 50,
        rate_limit: int | None = 3600,
        server_limit: int = 100,
        record_limit: int | None = None,
    ) -> None:
        self.token = token
        self.record_limit = record_limit
        """Keep only the newest exchanges (a long-running process); None keeps all."""
        self.host = host
        self.port = port
        self.max_per_page = max_per_page
        self.world = World(action_delay=action_delay, server_limit=server_limit)
        self.limiter = RateLimiter(rate_limit, self.world.clock)
        self.faults: list[Fault] = []
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._local = threading.local()

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> StandIn:
        httpd = _Server((self.host, self.port), _RequestHandler)
        httpd.standin = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.05,), name="hcloud-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The ``api_endpoint`` for ``hcloud.Client``."""
        return self.base + API_PREFIX

    @property
    def control_url(self) -> str:
        return self.base + CONTROL_PREFIX

    # -- Python control API -------------------------------------------------------------

    def inject(self, fault: Fault | None = None, /, **kwargs: Any) -> Fault:
        """Add a fault: ``api.inject(code="resource_unavailable", server_type="cx22", location="fsn1")``."""
        fault = fault if fault is not None else Fault(**kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def advance(self, seconds: float) -> None:
        self.world.clock.advance(seconds)

    def finish_actions(self) -> None:
        """Move the clock past the end of every running action."""
        with self.world.lock:
            now = self.world.now()
            pending = [a.done_at() - now for a in self.world.actions.values() if a.done_at() > now]
        if pending:
            self.advance(max(pending) + 0.001)

    def add_image(self, **kwargs: Any) -> dict[str, Any]:
        """Add a snapshot: ``api.add_image(description="k8s", architecture="arm", labels={...})``."""
        return self.world.add_image(**kwargs)

    def set_available(self, server_type: str, location: str, available: bool) -> None:
        """Mark a server type (un)available in a location, in listings and on create."""
        with self.world.lock:
            key = (server_type, location)
            if available:
                self.world.unavailable.discard(key)
            else:
                self.world.unavailable.add(key)

    def create_network(
        self, name: str, ip_range: str = "10.0.0.0/16", **extra: Any
    ) -> dict[str, Any]:
        return self.world.create_network({"name": name, "ip_range": ip_range, **extra})

    def create_firewall(self, name: str, **extra: Any) -> dict[str, Any]:
        return self.world.create_firewall({"name": name, **extra})

    def create_placement_group(self, name: str, **extra: Any) -> dict[str, Any]:
        return self.world.create_placement_group({"name": name, "type": "spread", **extra})

    def create_ssh_key(self, name: str, public_key: str, **extra: Any) -> dict[str, Any]:
        return self.world.create_ssh_key({"name": name, "public_key": public_key, **extra})

    def servers(self) -> list[dict[str, Any]]:
        return self.world.list_servers()

    def server(self, name: str) -> dict[str, Any] | None:
        found = self.world.list_servers(name=name)
        return found[0] if found else None

    def user_data(self, name: str) -> str | None:
        with self.world.lock:
            server = next((s for s in self.world.servers.values() if s.name == name), None)
            return None if server is None else server.user_data

    def requests(self, method: str | None = None, path: str | None = None) -> list[Exchange]:
        """Recorded exchanges, optionally filtered by method and path regex."""
        with self._lock:
            found = list(self.exchanges)
        return [
            e
            for e in found
            if (method is None or e.method == method)
            and (path is None or re.fullmatch(path, e.path))
        ]

    # -- serving ----------------------------------------------------------------------

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)
            if self.record_limit is not None and len(self.exchanges) > self.record_limit:
                del self.exchanges[: len(self.exchanges) - self.record_limit]

    def _take_fault(self, method: str, path: str, body: Any) -> tuple[Fault | None, list[Fault]]:
        """The first matching error fault, or the matching action faults."""
        error: Fault | None = None
        actions: list[Fault] = []
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path, body):
                    if fault.is_error:
                        error = fault
                        break
                    actions.append(fault)
            for fault in [error] if error else actions:
                fault.hits += 1
            self.faults = [f for f in self.faults if not f.spent]
        return (error, []) if error else (None, actions)

    def _by_name(self, body: Any) -> Any:
        """A create body with server type and location as names, so faults match IDs too."""
        if not isinstance(body, dict):
            return body
        out = dict(body)
        spec = self.world.find_server_type(body.get("server_type") or "")
        if spec is not None:
            out["server_type"] = spec.name
        loc = catalog.location(body.get("location") or "")
        if loc is not None:
            out["location"] = loc.name
        return out

    def _serve(
        self,
        method: str,
        path: str,
        query: Query,
        body: Any,
        body_error: ApiError | None,
        auth: str | None,
    ) -> tuple[int, Any, dict[str, str]]:
        allowed, headers = self.limiter.take()
        if auth != f"Bearer {self.token}":
            return 401, ApiError("unauthorized", "unable to authenticate").body(), headers
        if not allowed:
            return (
                429,
                ApiError("rate_limit_exceeded", "limit of requests per hour reached").body(),
                headers,
            )
        try:
            if body_error is not None:
                raise body_error
            seen = self._by_name(body) if (method, path) == ("POST", "/servers") else body
            fault, action_faults = self._take_fault(method, path, seen)
            if fault is not None:
                raise self._fault_error(fault, seen, headers)
            for route_method, pattern, handler in _COMPILED:
                match = pattern.match(path)
                if match is None:
                    continue
                if route_method != method:
                    continue
                self._local.action_faults = action_faults
                status, answer = handler(self, match, query, body)
                return status, answer, headers
            if any(p.match(path) for _, p, _ in _COMPILED):
                raise ApiError("method_not_allowed", f"method {method} is not allowed here")
            raise ApiError("not_found", f"no such endpoint {path}")
        except ApiError as err:
            return err.status, err.body(), {**headers, **err.headers}
        except Exception:
            log.exception("stand-in handler failed for %s %s", method, path)
            return 500, ApiError("server_error", "stand-in handler failed").body(), headers

    def _fault_error(self, fault: Fault, body: Any, headers: dict[str, str]) -> ApiError:
        extra: dict[str, str] = {}
        if fault.code == "rate_limit_exceeded":
            now = self.world.now()
            extra = {
                "RateLimit-Limit": headers.get("RateLimit-Limit", "3600"),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(math.ceil(now + fault.reset_in)),
            }
            if fault.retry_after is not None:
                extra["Retry-After"] = str(math.ceil(fault.retry_after))
        return ApiError(
            fault.code,
            fault.error_message(body),
            fault.error_details(),
            status=fault.http_status,
            headers=extra,
        )

    # -- control API over HTTP ------------------------------------------------------------

    def _control(
        self, method: str, path: str, query: Query, body: Any
    ) -> tuple[int, Any, str | None]:
        try:
            if path == "/health":
                return 200, {"ok": True, "url": self.url}, None
            if path == "/faults":
                if method == "GET":
                    with self._lock:
                        return 200, {"faults": [f.to_dict() for f in self.faults]}, None
                if method == "DELETE":
                    self.clear_faults()
                    return 200, {"faults": []}, None
                if method == "POST":
                    items = body if isinstance(body, list) else [body]
                    added = [self.inject(Fault.from_dict(item)) for item in items]
                    return 201, {"faults": [f.to_dict() for f in added]}, None
            if path == "/clock" and method == "POST":
                if isinstance(body, dict) and body.get("finish_actions"):
                    self.finish_actions()
                else:
                    self.advance(float((body or {}).get("advance", 0)))
                return 200, {"now": self.world.now()}, None
            if path == "/images" and method == "POST":
                return 201, {"image": self.add_image(**(body or {}))}, None
            if path == "/availability" and method == "POST":
                self.set_available(body["server_type"], body["location"], bool(body["available"]))
                return 200, {"ok": True}, None
            if path == "/exchanges" and method == "GET":
                with self._lock:
                    return 200, {"exchanges": [e.to_dict() for e in self.exchanges]}, None
            if m := re.fullmatch(r"/metadata/(\d+)(?:/([a-z0-9-]+))?", path):
                data = self.world.metadata(int(m.group(1)))
                if m.group(2) is None:
                    return 200, data, None
                if m.group(2) not in data:
                    return 404, {"error": "no such metadata key"}, None
                return 200, None, data[m.group(2)]
            return 404, {"error": f"no control endpoint {method} {path}"}, None
        except ApiError as err:
            return err.status, err.body(), None
        except (TypeError, ValueError, KeyError) as exc:
            return 400, {"error": f"bad control request: {exc}"}, None
