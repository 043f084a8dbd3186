"""Thin raw access to the Kubernetes API through the official client.

Requests go through ``kubernetes.client.ApiClient`` (auth, TLS and kubeconfig
handling are the official client's), but bodies are read as JSON with orjson
instead of being deserialised into model objects: for tens of thousands of pods
that is the difference between seconds and minutes, and hundreds of MB.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import orjson
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from growthrs_core.crd.models import GROUP, VERSION
from growthrs_core.errors import GrowthrsError

log = logging.getLogger(__name__)

JSON = dict[str, Any]

NGP_PATH = f"/apis/{GROUP}/{VERSION}/nodegroupwithpriorities"
NR_PATH = f"/apis/{GROUP}/{VERSION}/noderequests"


class KubeError(GrowthrsError):
    """An API call failed; ``status`` is the HTTP status (0 when unreachable)."""

    def __init__(self, status: int, message: str, reason: str = "", server: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.server = server
        """The API server's address, for errors that never got an answer."""


def load_api_client(kubeconfig: str | None) -> Any:
    """An ``ApiClient`` from a kubeconfig path, in-cluster config, or ~/.kube/config."""
    try:
        if kubeconfig:
            return config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            return client.ApiClient()
        except config.ConfigException:
            return config.new_client_from_config()  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError, TypeError, ValueError) as exc:
        where = kubeconfig or "in-cluster config or ~/.kube/config"
        raise GrowthrsError(f"cannot load Kubernetes credentials from {where}: {exc}") from None


def _reason(exc: Exception) -> str:
    """The innermost cause of a connection error, in a few words (urllib3 nests them)."""
    cause: BaseException = exc
    while getattr(cause, "reason", None) is not None and isinstance(cause.reason, BaseException):  # type: ignore[attr-defined]
        cause = cause.reason  # type: ignore[attr-defined]
    text = str(cause).split(": ")[-1] or type(cause).__name__
    return f"{type(cause).__name__}: {text}"


def _error(status: int, body: bytes, fallback: str) -> KubeError:
    try:
        parsed = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        parsed = {}
    message = parsed.get("message") if isinstance(parsed, dict) else None
    reason = parsed.get("reason", "") if isinstance(parsed, dict) else ""
    return KubeError(status, str(message or fallback), str(reason or ""))


class Kube:
    """Raw JSON requests with the official client's authentication."""

    def __init__(self, api_client: Any, *, timeout: float = 30.0) -> None:
        self.api_client = api_client
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        stream: bool = False,
        timeout: float | tuple[float, float] | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        raw_body = None
        if body is not None:
            headers["Content-Type"] = content_type
            raw_body = body  # the client serialises JSON bodies itself
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        method_, url, headers_, _, _ = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=params,
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        try:
            resp = self.api_client.call_api(
                method_,
                url,
                header_params=headers_,
                body=raw_body,
                _request_timeout=timeout if timeout is not None else self.timeout,
            )
        except ApiException as exc:
            raise KubeError(exc.status or 0, f"{method} {path}: {exc.reason}") from None
        except Exception as exc:  # noqa: BLE001 - urllib3 raises many kinds of connection errors
            server = str(getattr(getattr(self.api_client, "configuration", None), "host", ""))
            raise KubeError(0, f"{method} {path}: {_reason(exc)}", server=server) from None
        raw = resp.response
        if raw.status >= 400:
            data = raw.data if not stream else raw.read()
            raise _error(raw.status, data, f"{method} {path}: HTTP {raw.status}")
        if stream:
            return raw
        data = raw.data
        return orjson.loads(data) if data else None

    # -- convenience -----------------------------------------------------------------

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def list_pages(
        self, path: str, query: Mapping[str, Any] | None = None, *, page_size: int = 500
    ) -> Iterator[tuple[list[JSON], str]]:
        """Yield each page of a paginated list with the list's resourceVersion.

        A caller that keeps only what it derives from each page holds about one
        page of raw JSON at a time instead of the whole list. The next page is
        requested before the current one is yielded, so the apiserver encodes it
        while the caller parses this one (on a 30,000-pod list that overlap is
        most of a second core).
        """

        def fetch(cont: str | None) -> Any:
            return self.request(
                "GET", path, query={**(query or {}), "limit": page_size, "continue": cont}
            )

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="list-prefetch") as prefetch:
            page = fetch(None)
            while True:
                meta = page.get("metadata") or {}
                cont = meta.get("continue")
                following = prefetch.submit(fetch, cont) if cont else None
                try:
                    yield page.get("items") or [], str(meta.get("resourceVersion", ""))
                except GeneratorExit:
                    if following is not None:
                        following.cancel()
                    raise
                if following is None:
                    return
                page = following.result()

    def list_all(
        self, path: str, query: Mapping[str, Any] | None = None, *, page_size: int = 500
    ) -> tuple[list[JSON], str]:
        """List every item (paginated) and return them with the list's resourceVersion."""
        items: list[JSON] = []
        rv = ""
        for page, page_rv in self.list_pages(path, query, page_size=page_size):
            items.extend(page)
            rv = page_rv
        return items, rv

    def watch(
        self,
        path: str,
        resource_version: str,
        query: Mapping[str, Any] | None = None,
        *,
        timeout_seconds: int = 300,
    ) -> Iterator[JSON]:
        """Yield watch events (``{"type": ..., "object": ...}``) until the server closes."""
        resp = self.request(
            "GET",
            path,
            query={
                **(query or {}),
                "watch": "true",
                "resourceVersion": resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": timeout_seconds,
            },
            stream=True,
            timeout=(10.0, timeout_seconds + 30.0),
        )
        buffer = b""
        try:
            for chunk in resp.stream(65536, decode_content=True):
                buffer += chunk
                while True:
                    line, sep, rest = buffer.partition(b"\n")
                    if not sep:
                        break
                    buffer = rest
                    if line.strip():
                        yield orjson.loads(line)
            if buffer.strip():
                yield orjson.loads(buffer)
        finally:
            resp.release_conn()

    def create(self, path: str, body: JSON, **query: Any) -> JSON:
        result: JSON = self.request("POST", path, query=query, body=body)
        return result

    def replace(self, path: str, body: JSON) -> JSON:
        result: JSON = self.request("PUT", path, body=body)
        return result

    def patch(self, path: str, body: Any, *, kind: str = "merge") -> JSON:
        content_type = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }[kind]
        result: JSON = self.request("PATCH", path, body=body, content_type=content_type)
        return result

    def delete(self, path: str, *, missing_ok: bool = True, **query: Any) -> None:
        try:
            self.request("DELETE", path, query=query)
        except KubeError as exc:
            if not (missing_ok and exc.status == 404):
                raise


def node_path(name: str = "") -> str:
    return "/api/v1/nodes" + (f"/{quote(name)}" if name else "")


def nr_path(name: str = "") -> str:
    return NR_PATH + (f"/{quote(name)}" if name else "")


def ngp_path(name: str = "") -> str:
    return NGP_PATH + (f"/{quote(name)}" if name else "")
