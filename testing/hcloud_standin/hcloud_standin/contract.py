"""Check exchanges against Hetzner's official OpenAPI description.

The stand-in is only worth something if it answers like the real API, so every
request and response it serves can be checked here: the path and method must
exist, query parameters must be declared and well typed, request bodies must
match the request schema and responses must match the schema of their status
code (``4xx``/``5xx`` ranges included). The check is strict by default: objects
may not carry properties the description does not declare, which catches typos
and invented fields that a lenient check would let through.

The description (OpenAPI 3.0.3, ~66k lines of YAML) is found through
``HCLOUD_OPENAPI_SPEC`` or next to the repository (``shared/reference/``) and
parsed once; a JSON copy keyed by the file's hash is cached under
``$GROWTHRS_CACHE`` (default ``~/.cache/growthrs``).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hcloud_standin.server import Exchange

SPEC_ENV = "HCLOUD_OPENAPI_SPEC"
SPEC_NAME = "hetzner-cloud-openapi.yml"
_COMPOSITION = ("allOf", "oneOf", "anyOf")


class ContractError(RuntimeError):
    """The OpenAPI description cannot be found or read."""


def find_spec() -> Path:
    """``$HCLOUD_OPENAPI_SPEC``, else the copy shipped in this package, else
    ``shared/reference/`` in a parent directory."""
    env = os.environ.get(SPEC_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise ContractError(f"{SPEC_ENV}={env} is not a file")
        return path
    here = Path(__file__).resolve()
    shipped = here.parent / "reference" / SPEC_NAME
    if shipped.is_file():
        return shipped
    for parent in here.parents:
        for candidate in (
            parent / "shared" / "reference" / SPEC_NAME,
            parent / "reference" / SPEC_NAME,
        ):
            if candidate.is_file():
                return candidate
    raise ContractError(
        f"cannot find {SPEC_NAME}: set {SPEC_ENV} to the Hetzner Cloud OpenAPI description"
    )


def _cache_dir() -> Path:
    return Path(os.environ.get("GROWTHRS_CACHE") or Path.home() / ".cache" / "growthrs")


@functools.cache
def load_spec(path: str | None = None) -> dict[str, Any]:
    """The parsed description; parsed from YAML once per machine, then read from JSON."""
    source = Path(path) if path else find_spec()
    raw = source.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:16]
    cached = _cache_dir() / f"hcloud-openapi-{digest}.json"
    if cached.is_file():
        try:
            data: dict[str, Any] = json.loads(cached.read_text())
            return data
        except ValueError:
            pass  # a torn write: parse again below
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(raw, Loader=loader)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=cached.parent, delete=False, suffix=".tmp") as fh:
            json.dump(data, fh)
        os.replace(fh.name, cached)
    except OSError:
        pass  # caching is an optimisation only
    return data


def strict_schema(schema: Any, *, strict: bool = True) -> Any:
    """A copy fit for validation: closed objects (when strict) and nullable enums.

    OpenAPI 3.0 objects are open unless ``additionalProperties`` says otherwise;
    closing them makes an invented or misspelt field a violation. A nullable enum
    also accepts ``null`` (the description's intent, left implicit in 3.0.3).
    """
    if isinstance(schema, list):
        return [strict_schema(s, strict=strict) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        k: strict_schema(v, strict=strict)
        for k, v in schema.items()
        if k not in ("example", "examples", "description")
    }
    if "properties" in schema:
        out["properties"] = {
            k: strict_schema(v, strict=strict) for k, v in schema["properties"].items()
        }
    if (
        strict
        and "properties" in schema
        and "additionalProperties" not in schema
        and not any(k in schema for k in _COMPOSITION)
    ):
        out["additionalProperties"] = False
    if schema.get("nullable") and "enum" in schema and None not in schema["enum"]:
        out["enum"] = [*schema["enum"], None]
    return out


@dataclass(frozen=True)
class Operation:
    template: str
    method: str
    spec: dict[str, Any]


class Contract:
    """Validates :class:`~hcloud_standin.server.Exchange` records against the description."""

    def __init__(self, spec: dict[str, Any], *, strict: bool = True) -> None:
        from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator

        self.spec = spec
        self.strict = strict
        self._read = OAS30ReadValidator
        self._write = OAS30WriteValidator
        self._paths: list[tuple[re.Pattern[str], str]] = []
        for template in sorted(spec["paths"], key=lambda t: (t.count("{"), t)):
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            self._paths.append((re.compile(pattern + "$"), template))
        self._validators: dict[tuple[str, str, str, str], Any] = {}
        self._seen: dict[tuple[str, str, str, str], list[str]] = {}

    @classmethod
    def load(cls, path: str | None = None, *, strict: bool = True) -> Contract:
        return _contract(path, strict)

    def operation(self, method: str, path: str) -> Operation | None:
        for pattern, template in self._paths:
            if pattern.match(path):
                op = self.spec["paths"][template].get(method.lower())
                if op is not None:
                    return Operation(template, method.upper(), op)
        return None

    def _validator(self, op: Operation, kind: str, key: str, schema: dict[str, Any]) -> Any:
        cache_key = (op.template, op.method, kind, key)
        validator = self._validators.get(cache_key)
        if validator is None:
            cls = self._write if kind == "request" else self._read
            validator = cls(
                strict_schema(schema, strict=self.strict), format_checker=cls.FORMAT_CHECKER
            )
            self._validators[cache_key] = validator
        return validator

    @staticmethod
    def response_key(responses: dict[str, Any], status: int) -> str | None:
        for key in (str(status), f"{status // 100}xx", f"{status // 100}XX", "default"):
            if key in responses:
                return key
        return None

    def check(self, exchange: Exchange, *, requests: bool = True) -> list[str]:
        """Every way ``exchange`` departs from the description, as readable lines.

        ``requests=False`` checks only the answer (for tests that send bad requests
        on purpose).
        """
        where = f"{exchange.method} {exchange.path} -> {exchange.status}"
        op = self.operation(exchange.method, exchange.path)
        if op is None:
            if exchange.status in (404, 405, 401, 429) or exchange.status >= 500:
                return self._check_error_shape(where, exchange)
            return [f"{where}: no operation {exchange.method} {exchange.path} in the description"]
        problems = []
        if requests:
            problems += self._check_query(where, op, exchange)
            problems += self._check_request(where, op, exchange)
        problems += self._check_response(where, op, exchange)
        return problems

    def check_all(self, exchanges: Iterable[Exchange], *, requests: bool = True) -> list[str]:
        problems: list[str] = []
        for exchange in exchanges:
            problems.extend(self.check(exchange, requests=requests))
        return problems

    def _errors(self, validator: Any, instance: Any) -> list[str]:
        found = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [f"{_json_path(e.absolute_path)}: {e.message}" for e in found[:5]]

    def _check_query(self, where: str, op: Operation, exchange: Exchange) -> list[str]:
        params = {p["name"]: p for p in op.spec.get("parameters", []) if p.get("in") == "query"}
        problems = []
        for name, values in exchange.query.items():
            param = params.get(name)
            if param is None:
                problems.append(f"{where}: query parameter {name!r} is not declared")
                continue
            schema = param.get("schema", {})
            if schema.get("type") != "array" and len(values) > 1:
                problems.append(f"{where}: query parameter {name!r} given {len(values)} times")
            item_schema = schema.get("items", {}) if schema.get("type") == "array" else schema
            validator = self._validator(op, "query", name, item_schema)
            for value in values:
                for err in self._errors(validator, _coerce(value, item_schema)):
                    problems.append(f"{where}: query parameter {name}={value!r}: {err}")
        return problems

    def _check_request(self, where: str, op: Operation, exchange: Exchange) -> list[str]:
        body_spec = op.spec.get("requestBody")
        if body_spec is None:
            if exchange.request_body is not None:
                return [f"{where}: sent a body to an operation that takes none"]
            return []
        if exchange.request_body is None:
            return [f"{where}: request body missing"] if body_spec.get("required") else []
        schema = body_spec.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return []
        validator = self._validator(op, "request", "body", schema)
        return [f"{where}: request {err}" for err in self._errors(validator, exchange.request_body)]

    def _check_response(self, where: str, op: Operation, exchange: Exchange) -> list[str]:
        responses = op.spec.get("responses", {})
        key = self.response_key(responses, exchange.status)
        if key is None:
            return [
                f"{where}: status {exchange.status} is not documented (documented: {', '.join(responses)})"
            ]
        content = responses[key].get("content")
        if not content:
            if exchange.response_body not in (None, ""):
                return [f"{where}: response has a body but the description has none"]
            return []
        schema = content.get("application/json", {}).get("schema")
        if schema is None:
            return []
        validator = self._validator(op, "response", key, schema)
        return [
            f"{where}: response {err}" for err in self._errors(validator, exchange.response_body)
        ]

    def _check_error_shape(self, where: str, exchange: Exchange) -> list[str]:
        """Answers outside any operation (unknown path, 401 ...) still use the error body."""
        body = exchange.response_body
        error = body.get("error") if isinstance(body, dict) else None
        if (
            not isinstance(error, dict)
            or not isinstance(error.get("code"), str)
            or not isinstance(error.get("message"), str)
        ):
            return [f"{where}: error answer without an error object"]
        return []


@functools.cache
def _contract(path: str | None, strict: bool) -> Contract:
    return Contract(load_spec(path), strict=strict)


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    """Query strings are text; give the validator the type the schema expects."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


def _json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def check_exchanges(exchanges: Iterable[Exchange], *, strict: bool = True) -> list[str]:
    """Convenience: validate ``exchanges`` with the default description."""
    return Contract.load(strict=strict).check_all(exchanges)


def dump_schema(method: str, path: str, status: int) -> dict[str, Any]:
    """The response schema a given exchange is checked against (for debugging)."""
    contract = Contract.load()
    op = contract.operation(method, path)
    if op is None:
        raise KeyError(f"{method} {path}")
    key = Contract.response_key(op.spec["responses"], status)
    if key is None:
        raise KeyError(f"{method} {path} {status}")
    schema: dict[str, Any] = copy.deepcopy(
        op.spec["responses"][key]["content"]["application/json"]["schema"]
    )
    return schema
