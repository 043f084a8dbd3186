"""Injectable failures, so tests can drive a provider through every error path.

A :class:`Fault` matches requests (method, path, and for server creation the
server type and location) and either answers with a Hetzner error body or
changes the actions the request starts (slow or failing). ``times=1`` is
one-shot, ``times=None`` sticky.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

ERROR_STATUS: dict[str, int] = {
    "json_error": 400,
    "unauthorized": 401,
    "token_readonly": 401,
    "forbidden": 403,
    "maintenance": 403,
    "resource_limit_exceeded": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "uniqueness_error": 409,
    "conflict": 409,
    "resource_unavailable": 412,
    "invalid_input": 422,
    "placement_error": 422,
    "service_error": 422,
    "locked": 423,
    "rate_limit_exceeded": 429,
    "server_error": 500,
    "bad_gateway": 502,
    "unavailable": 503,
    "timeout": 504,
}
"""HTTP status of each Hetzner error code (from the API description's error table)."""

ACTION_FAULTS = frozenset({"slow_actions", "failing_actions"})
CREATE_FAULTS = frozenset(
    {"resource_unavailable", "placement_error", "resource_limit_exceeded", *ACTION_FAULTS}
)
"""Faults that by default only hit ``POST /servers``."""

DEFAULT_MESSAGES = {
    "resource_unavailable": "server type {server_type} is currently unavailable in {location}",
    "placement_error": "could not place server: no host in {location} can take {server_type}",
    "resource_limit_exceeded": "server limit exceeded",
    "rate_limit_exceeded": "limit of 3600 requests per hour reached",
    "server_error": "internal server error",
    "bad_gateway": "bad gateway",
    "unavailable": "service unavailable",
    "timeout": "request timeout",
}


@dataclass
class Fault:
    """One injected failure.

    ``code`` is a Hetzner error code (``resource_unavailable``, ``rate_limit_exceeded``,
    ``server_error`` ...) or ``slow_actions`` / ``failing_actions``. ``path`` is a
    regular expression matched against the path below ``/v1`` (``/servers``,
    ``/servers/\\d+``); ``None`` uses the code's default (``POST /servers`` for
    creation faults, any request otherwise).
    """

    code: str
    method: str | None = None
    path: str | None = None
    server_type: str | None = None
    location: str | None = None
    times: int | None = 1
    status: int | None = None
    message: str | None = None
    details: dict[str, Any] | None = None
    reset_in: float = 1.0
    """rate_limit_exceeded: ``RateLimit-Reset`` is now plus this many seconds."""
    retry_after: float | None = None
    """rate_limit_exceeded: also send ``Retry-After`` with this many seconds."""
    delay: float | None = None
    """slow_actions: how long the started actions run."""
    command: str = "create_server"
    """failing_actions: which action ends in ``error`` (``create_server`` or ``start_server``)."""
    action_error: str = "action_failed"
    hits: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.code not in ERROR_STATUS and self.code not in ACTION_FAULTS:
            raise ValueError(f"unknown fault code {self.code!r}")
        if self.code in CREATE_FAULTS:
            self.method = self.method or "POST"
            self.path = self.path or "/servers"
        if self.path is not None:
            re.compile(self.path)

    @property
    def is_error(self) -> bool:
        return self.code not in ACTION_FAULTS

    @property
    def http_status(self) -> int:
        return self.status or ERROR_STATUS[self.code]

    @property
    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, path: str, body: Any) -> bool:
        if self.spent:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        if self.path and not re.fullmatch(self.path, path):
            return False
        if self.server_type or self.location:
            if not isinstance(body, dict):
                return False
            if self.server_type and str(body.get("server_type")) != self.server_type:
                return False
            if self.location and str(body.get("location")) != self.location:
                return False
        return True

    def error_message(self, body: Any) -> str:
        if self.message:
            return self.message
        fill = {"server_type": "?", "location": "?"}
        if isinstance(body, dict):
            fill.update({k: str(body.get(k) or "?") for k in fill})
        template = DEFAULT_MESSAGES.get(self.code, self.code.replace("_", " "))
        return template.format(**fill)

    def error_details(self) -> dict[str, Any] | None:
        if self.details is not None:
            return self.details
        if self.code == "resource_limit_exceeded":
            return {"limits": [{"name": "server_limit"}]}
        if self.code == "invalid_input":
            return {"fields": [{"name": "server_type", "messages": ["is invalid"]}]}
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)} - {"hits"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)
