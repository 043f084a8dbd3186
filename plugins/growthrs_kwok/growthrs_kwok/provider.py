"""The KWOK provider: a "machine" is a Node object that a kwok controller keeps Ready.

Every call is one or two plain API requests; all state is on the Node, so the
provider is safe to call from several worker threads and across restarts.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from growthrs_core import (
    CLUSTER_LABEL,
    PROVIDER_LABEL,
    CreateRequest,
    Creating,
    CreationFailed,
    DeletionFailed,
    Failed,
    MissingConfig,
    NodeId,
    NotFound,
    Offering,
    OfferingUnavailable,
    PoolCheck,
    ProviderContext,
    ProviderError,
    ProviderInternal,
    ProviderStatus,
    Removing,
    Running,
)
from growthrs_kwok import manifest, offerings
from growthrs_kwok.faults import (
    CONFIGMAP_NAME,
    DEFAULT_NAMESPACE,
    FaultConfigError,
    Faults,
    FaultSource,
    parse_duration,
    parse_faults,
)

log = logging.getLogger(__name__)

_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")


class KwokProvider:
    """Creates fake Nodes with the capacity of a Hetzner-like offering.

    ``api_client`` is a ``kubernetes.client.ApiClient``; ``None`` is fine for
    :meth:`offerings` and makes every cluster call raise :class:`MissingConfig`.
    """

    def __init__(
        self,
        *,
        cluster_name: str,
        api_client: Any = None,
        faults: FaultSource | None = None,
        request_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not _LABEL_VALUE.match(cluster_name):
            raise MissingConfig(
                f"kwok: cluster name {cluster_name!r} must be a valid label value "
                "(letters, digits, '-', '_', '.'; at most 63)"
            )
        self.cluster_name = cluster_name
        self._api_client = api_client
        self._faults = faults or FaultSource()
        self._timeout = request_timeout
        self._clock = clock

    # -- the Provider protocol ------------------------------------------------------

    def offerings(self, region: str | None) -> list[Offering]:
        return offerings.catalogue(region)

    def validate_pool(self, check: PoolCheck) -> list[str]:
        """Instance types and locations the catalogue does not have (``ValidatesPools``)."""
        return offerings.pool_problems(check.instance_types, check.locations)

    def create(self, request: CreateRequest) -> NodeId:
        name = request.node_name
        o = request.offering
        type_, location = str(o.instance_type), str(o.region)
        server = offerings.server_type(type_)
        if server is None or not any(
            x.instance_type == o.instance_type for x in offerings.catalogue(location)
        ):
            raise CreationFailed(
                f"kwok sells no server type {type_!r} in {location!r} "
                "(see `growthrs offerings --provider kwok`)",
                retryable=False,
            )
        api = self._api()
        faults = self._faults.current()
        for kind in ("unavailable", "create_error"):
            target = faults.hits(kind, type_, location)
            if target is None:
                continue
            existing = self._read(api, name)
            if existing is not None and manifest.is_ours(existing, self.cluster_name):
                return NodeId(name)  # created before the fault was set: still idempotent
            if kind == "unavailable":
                raise OfferingUnavailable(
                    f"kwok: no capacity for {type_} in {location} "
                    f"(simulated fault 'unavailable: {target}')"
                )
            raise CreationFailed(
                f"kwok: creating {name} ({type_} in {location}) failed "
                f"(simulated fault 'create_error: {target}')"
            )
        delayed = faults.delay > 0 or faults.hits("never_ready", type_, location) is not None
        body = manifest.build_node(
            request, self.cluster_name, ready_at=self._clock() + faults.delay if delayed else None
        )
        try:
            api.create_node(body=body, _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status == 409:
                return self._adopt(api, name)
            raise _api_error(exc, f"creating Node {name}", CreationFailed) from None
        except HTTPError as exc:
            raise ProviderInternal(f"kwok: creating Node {name}: {exc}") from None
        log.info(
            "kwok: created Node %s (%s in %s%s)",
            name,
            type_,
            location,
            f", ready after {faults.delay:g}s" if delayed else "",
        )
        return NodeId(name)

    def delete(self, node_id: NodeId) -> None:
        api = self._api()
        node = self._read(api, node_id, error=DeletionFailed)
        if node is None:
            return
        if not manifest.is_ours(node, self.cluster_name):
            raise DeletionFailed(
                f"kwok: refusing to delete Node {node_id}: it is not a kwok node of cluster "
                f"{self.cluster_name!r}",
                retryable=False,
            )
        if manifest.is_deleting(node):
            return
        uid = (node.get("metadata") or {}).get("uid")
        try:
            api.delete_node(
                node_id,
                body={"preconditions": {"uid": uid}} if uid else None,
                _request_timeout=self._timeout,
            )
        except ApiException as exc:
            if exc.status == 404:
                return
            raise _api_error(exc, f"deleting Node {node_id}", DeletionFailed) from None
        except HTTPError as exc:
            raise DeletionFailed(f"kwok: deleting Node {node_id}: {exc}") from None
        log.info("kwok: deleted Node %s", node_id)

    def status(self, node_id: NodeId) -> ProviderStatus:
        api = self._api()
        node = self._read(api, node_id)
        if node is None or not manifest.is_ours(node, self.cluster_name):
            return NotFound()
        if manifest.is_deleting(node):
            return Removing()
        type_, location = manifest.placement(node)
        reason = manifest.annotations_of(node).get(manifest.FAILED_ANNOTATION)
        faults = self._faults.current()
        target = faults.hits("failed", type_, location)
        if reason is None and target is not None:
            reason = f"simulated fault 'failed: {target}'"
        if reason is not None:
            return Failed(reason or "marked failed")
        if manifest.is_ready(node):
            return Running()
        if not manifest.handed_to_kwok(node):
            self._maybe_boot(api, node, faults)
        return Creating()

    def list_nodes(self) -> list[NodeId]:
        api = self._api()
        selector = (
            f"{PROVIDER_LABEL}={manifest.PROVIDER_NAME},"
            f"{CLUSTER_LABEL}={self.cluster_name}"
        )
        names: list[NodeId] = []
        token: str | None = None
        while True:
            try:
                resp = api.list_node(
                    label_selector=selector,
                    limit=500,
                    _continue=token,
                    _preload_content=False,
                    _request_timeout=self._timeout,
                )
            except ApiException as exc:
                raise _api_error(exc, "listing Nodes", ProviderInternal) from None
            except HTTPError as exc:
                raise ProviderInternal(f"kwok: listing Nodes: {exc}") from None
            page = json.loads(resp.data)
            names.extend(NodeId(n["metadata"]["name"]) for n in page.get("items") or ())
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return sorted(names)

    # -- helpers --------------------------------------------------------------------------

    def _api(self) -> Any:
        if self._api_client is None:
            raise MissingConfig("kwok: no cluster access (api_client); cannot manage Nodes")
        return k8s.CoreV1Api(self._api_client)

    def _read(
        self, api: Any, name: str, error: type[ProviderError] = ProviderInternal
    ) -> dict[str, Any] | None:
        try:
            resp = api.read_node(name, _preload_content=False, _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _api_error(exc, f"reading Node {name}", error) from None
        except HTTPError as exc:
            raise error(f"kwok: reading Node {name}: {exc}") from None
        node: dict[str, Any] = json.loads(resp.data)
        return node

    def _adopt(self, api: Any, name: str) -> NodeId:
        """A Node of this name exists: it is ours (a retried create) or a clash."""
        node = self._read(api, name, error=CreationFailed)
        if node is not None and manifest.is_ours(node, self.cluster_name):
            return NodeId(name)
        raise CreationFailed(
            f"kwok: a Node named {name} already exists and is not a kwok node of cluster "
            f"{self.cluster_name!r}",
            retryable=node is None,  # gone meanwhile: trying again may work
        )

    def _maybe_boot(self, api: Any, node: Mapping[str, Any], faults: Faults) -> None:
        """Hand a delayed node to the kwok controller once its boot time has passed.

        The kwok controller (v0.8, with node leases) only takes on a Node it sees
        *created* with its annotation; annotating an existing Node is ignored. So
        the booting Node is replaced by an identical one that carries it: the
        name, labels, taints and capacity stay, the UID changes.
        """
        type_, location = manifest.placement(node)
        if faults.hits("never_ready", type_, location) is not None:
            return
        due = manifest.ready_at(node)
        if due is not None and due > self._clock():
            return
        meta = node["metadata"]
        name = meta["name"]
        try:
            api.delete_node(
                name,
                body={"preconditions": {"uid": meta.get("uid")}},
                _request_timeout=self._timeout,
            )
        except ApiException as exc:
            if exc.status in (404, 409):
                return  # gone, or already replaced by a concurrent call
            raise _api_error(exc, f"booting Node {name}", ProviderInternal) from None
        except HTTPError as exc:
            raise ProviderInternal(f"kwok: booting Node {name}: {exc}") from None
        try:
            api.create_node(body=manifest.booted_node(node), _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status != 409:
                raise _api_error(exc, f"booting Node {name}", ProviderInternal) from None
        except HTTPError as exc:
            raise ProviderInternal(f"kwok: booting Node {name}: {exc}") from None
        log.info("kwok: Node %s booted (handed to the kwok controller)", name)


def _api_error(exc: ApiException, doing: str, kind: type[ProviderError]) -> ProviderError:
    """An API failure as a provider error; 5xx, 429 and timeouts are worth a retry."""
    status = exc.status or 0
    message = _api_message(exc)
    retryable = status in (0, 408, 429) or status >= 500
    if status in (401, 403):
        return MissingConfig(f"kwok: {doing}: not allowed ({status}): {message}")
    return kind(f"kwok: {doing}: HTTP {status}: {message}", retryable=retryable)


def _api_message(exc: ApiException) -> str:
    raw: Any = exc.body
    try:
        body = json.loads(raw) if isinstance(raw, str | bytes) else raw
        return str(body.get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason or "")


def configmap_reader(
    api_client: Any, namespace: str, name: str, timeout: float
) -> Callable[[], Mapping[str, str] | None]:
    """Reads the faults ConfigMap's data; ``None`` when it does not exist."""

    def read() -> Mapping[str, str] | None:
        api: Any = k8s.CoreV1Api(api_client)
        try:
            resp = api.read_namespaced_config_map(
                name, namespace, _preload_content=False, _request_timeout=timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise RuntimeError(f"HTTP {exc.status}: {_api_message(exc)}") from None
        data: Mapping[str, str] = json.loads(resp.data).get("data") or {}
        return data

    return read


def from_context(context: ProviderContext) -> KwokProvider:
    """The provider factory registered as ``kwok``; see the README for the settings."""
    settings = context.settings
    try:
        base = parse_faults(settings)
        refresh = parse_duration("faults_refresh", settings.get("faults_refresh", "1"))
        timeout = parse_duration("request_timeout", settings.get("request_timeout", "30"))
    except FaultConfigError as exc:
        raise MissingConfig(f"kwok settings (GROWTHRS_KWOK_*): {exc}") from None
    reader = None
    if context.api_client is not None:
        reader = configmap_reader(
            context.api_client,
            settings.get("faults_namespace", DEFAULT_NAMESPACE),
            settings.get("faults_configmap", CONFIGMAP_NAME),
            timeout,
        )
    return KwokProvider(
        cluster_name=context.cluster_name,
        api_client=context.api_client,
        faults=FaultSource(base=base, reader=reader, refresh=refresh),
        request_timeout=timeout,
    )
