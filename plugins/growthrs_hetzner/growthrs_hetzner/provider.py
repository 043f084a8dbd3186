"""The Hetzner Cloud provider: GrowthRS's five provider calls on the ``hcloud`` client.

Design points, each with its reason:

* The node ID is the server name (= node name): a retried ``create`` finds the
  server it made before, and nothing has to be remembered across restarts.
* A server is ours only with this cluster's label *and* the managed marker
  (:func:`growthrs_hetzner.labels.is_owned`). ``list_nodes``, ``status``, ``delete``
  and adoption on ``create`` look at nothing else, so a project shared with
  other clusters (or with hand-made servers) is safe; ``delete`` looks the server
  up by name, checks it, and deletes it by ID.
* ``create`` returns as soon as Hetzner accepted the server; ``status`` reads the
  server and its running/failed actions, so no worker thread waits on a boot.
  A failed create/start action deletes the server and reports ``Failed``.
* hcloud's own retry loop (up to five sleeps of up to 60 s, blind to rate-limit
  headers) is switched off; :meth:`_call` retries rate limits, 5xx answers and
  network errors a bounded number of times, waiting what Hetzner's headers say,
  and hands longer waits to the controller as ``ProviderInternal(retry_after=)``.
* The token comes from the environment or a Secret; it lives only inside the
  hcloud client's headers and is never put into messages or logs.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar

import hcloud
import requests
from hcloud import APIException
from hcloud.firewalls import Firewall
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.networks import Network
from hcloud.placement_groups import PlacementGroup
from hcloud.server_types import ServerType
from hcloud.servers import BoundServer, ServerCreatePublicNetwork
from hcloud.ssh_keys import SSHKey

from growthrs_core import (
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
    ProviderError,
    ProviderInternal,
    ProviderStatus,
    Removing,
    Running,
)
from growthrs_hetzner import labels as hlabels
from growthrs_hetzner import userdata, validation
from growthrs_hetzner.api_errors import is_auth, is_retried, to_provider_error
from growthrs_hetzner.nodeclass import KIND, HetznerNodeClassSpec, ImageRef, parse_node_class
from growthrs_hetzner.offerings import (
    HETZNER_ARCH,
    ServerTypeInfo,
    TypeLocation,
    build_offerings,
)
from growthrs_hetzner.settings import HetznerSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
SecretReader = Callable[[str, str, str], str]
ConfigMapReader = Callable[[str, str, str], str]
"""``read_config_map(namespace, name, key)`` returns the value of a ConfigMap key."""

CREATION_COMMANDS = frozenset(
    {
        "create_server",
        "start_server",
        "attach_to_network",
        "add_to_placement_group",
        "apply_firewall",
    }
)
"""Actions that are part of bringing a new server up; one failing means the server failed."""
PROVIDER_ID_PREFIX = "hcloud://"
"""hcloud-cloud-controller-manager's providerID format: ``hcloud://<server id>``."""


def _version() -> str:
    try:
        return metadata.version("growthrs-hetzner")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0"


def _no_config_maps(namespace: str, name: str, key: str) -> str:
    raise MissingConfig(f"cannot read ConfigMap {namespace}/{name} key {key!r}: no cluster access")


def _no_secrets(namespace: str, name: str, key: str) -> str:
    raise MissingConfig(f"cannot read Secret {namespace}/{name} key {key!r}: no cluster access")


@dataclass(frozen=True)
class _Catalog:
    """What ``/server_types`` and ``/locations`` said, when."""

    fetched_at: float
    types: dict[str, ServerTypeInfo]
    locations: frozenset[str]
    offerings: list[Offering]


class HetznerProvider:
    """Creates, watches and removes Hetzner Cloud servers for one cluster."""

    def __init__(
        self,
        settings: HetznerSettings,
        *,
        cluster_name: str = "growthrs",
        read_secret: SecretReader = _no_secrets,
        read_config_map: ConfigMapReader = _no_config_maps,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.cluster_name = cluster_name
        self._read_secret_fn = read_secret
        self._read_config_map = read_config_map
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._hc: hcloud.Client | None = None
        self._local = threading.local()
        self._rate_limit_remaining: int | None = None
        self._catalog: _Catalog | None = None
        self._lookups: dict[tuple[str, ...], tuple[float, Any]] = {}

    def __repr__(self) -> str:
        return (
            f"HetznerProvider(cluster={self.cluster_name!r}, endpoint={self.settings.endpoint!r})"
        )

    # -- the API client ----------------------------------------------------------------

    def _token(self) -> str:
        if self.settings.token is not None:
            return self.settings.token.get_secret_value().strip()
        ref = self.settings.token_secret_ref()
        if ref is None:
            raise MissingConfig(
                "no Hetzner API token: set GROWTHRS_HETZNER_TOKEN, or "
                "GROWTHRS_HETZNER_TOKEN_SECRET=namespace/name/key"
            )
        token = self._read_secret(*ref).strip()
        if not token:
            raise MissingConfig(
                f"Secret {ref[0]}/{ref[1]} key {ref[2]!r} holds an empty Hetzner token"
            )
        return token

    def _client(self) -> hcloud.Client:
        with self._lock:
            if self._hc is None:
                client = hcloud.Client(
                    token=self._token(),
                    api_endpoint=self.settings.endpoint,
                    application_name="growthrs",
                    application_version=_version(),
                    timeout=self.settings.request_timeout,
                )
                self._take_over_retries(client)
                self._hc = client
            return self._hc

    def _take_over_retries(self, client: hcloud.Client) -> None:
        """Switch hcloud's blind retries off and watch response headers instead.

        These are private attributes of ``hcloud``'s request layer (checked against
        the tested range); if a release renames them, hcloud keeps retrying on its
        own and only the header-aware waits are lost.
        """
        for holder in (client, getattr(client, "_client", None)):
            if holder is None:
                continue
            if hasattr(holder, "_retry_max_retries"):
                holder._retry_max_retries = 0
            session = getattr(holder, "_session", None) or getattr(
                holder, "_requests_session", None
            )
            if isinstance(session, requests.Session):
                session.hooks["response"].append(self._remember_headers)

    def _remember_headers(
        self, response: requests.Response, *args: Any, **kwargs: Any
    ) -> requests.Response:
        self._local.headers = response.headers
        remaining = response.headers.get("RateLimit-Remaining")
        if remaining is not None:
            with contextlib.suppress(ValueError):
                self._rate_limit_remaining = int(remaining)
        return response

    def rate_limit_remaining(self) -> int | None:
        """Requests Hetzner's budget had left at the last answer (``RateLimit-Remaining``)."""
        return self._rate_limit_remaining

    def _forget_client(self) -> None:
        """After ``unauthorized``: read the token again next time (it may have been rotated)."""
        with self._lock:
            self._hc = None

    def _read_secret(self, namespace: str, name: str, key: str) -> str:
        """A Secret value; a Secret that is missing or cannot be read is ``MissingConfig``
        (configuration to fix), named by its reference and never by the reader's text."""
        try:
            return self._read_secret_fn(namespace, name, key)
        except MissingConfig:
            raise
        except LookupError:
            raise MissingConfig(f"Secret {namespace}/{name} has no key {key!r}") from None
        except Exception as exc:  # noqa: BLE001 - any reader failure, without its text
            raise MissingConfig(
                f"cannot read Secret {namespace}/{name} key {key!r}: {type(exc).__name__}"
            ) from None

    def _backoff(self, attempt: int) -> float:
        return float(min(self.settings.max_retry_wait, 0.5 * 2**attempt))

    def _retry_wait(self, attempt: int, *, rate_limited: bool) -> float:
        """Seconds to wait before retrying, from the last response's headers if it has any.

        ``Retry-After`` wins. Otherwise ``RateLimit-Reset`` (a UNIX time, measured
        against the response's ``Date`` so clock skew does not matter) bounds the
        wait; as Hetzner refills the budget one request every ``3600 / limit``
        seconds, one refill is enough to retry once.
        """
        headers: Mapping[str, str] = getattr(self._local, "headers", None) or {}
        retry_after = headers.get("Retry-After")
        if retry_after:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                when = email.utils.parsedate_to_datetime(retry_after)
                return max(0.0, when.timestamp() - time.time())
        reset = headers.get("RateLimit-Reset")
        if reset and rate_limited:  # on other answers the header only reports the budget
            try:
                server_now = email.utils.parsedate_to_datetime(headers["Date"]).timestamp()
            except (KeyError, TypeError, ValueError):
                server_now = time.time()
            wait = max(0.0, float(reset) - server_now)
            limit = headers.get("RateLimit-Limit")
            if limit and float(limit) > 0:
                wait = min(wait, 3600.0 / float(limit))
            return wait
        return self._backoff(attempt)

    def _call(
        self,
        fn: Callable[[hcloud.Client], T],
        *,
        operation: str,
        subject: str,
        passthrough: frozenset[str] = frozenset(),
    ) -> T:
        """Run one API call with bounded, header-aware retries; map failures to provider errors.

        Error codes in ``passthrough`` are re-raised as ``APIException`` for the caller.
        """
        attempt = 0
        while True:
            client = self._client()
            self._local.headers = None
            try:
                return fn(client)
            except APIException as exc:
                if isinstance(exc.code, str) and exc.code in passthrough:
                    raise
                if is_auth(exc):
                    self._forget_client()
                if not is_retried(exc):
                    raise to_provider_error(exc, operation=operation, subject=subject) from exc
                wait = self._retry_wait(
                    attempt, rate_limited=exc.code in ("rate_limit_exceeded", 429)
                )
                if attempt >= self.settings.max_retries or wait > self.settings.max_retry_wait:
                    raise to_provider_error(
                        exc, operation=operation, subject=subject, retry_after=wait
                    ) from exc
                what = f"{exc.code}"
            except requests.RequestException as exc:
                wait = self._backoff(attempt)
                if attempt >= self.settings.max_retries:
                    raise ProviderInternal(
                        f"Hetzner API: {operation} {subject}: cannot reach "
                        f"{self.settings.endpoint} ({type(exc).__name__})",
                        retryable=True,
                        retry_after=wait,
                    ) from exc
                what = type(exc).__name__
            attempt += 1
            log.warning(
                "Hetzner API %s %s: %s; retry %d/%d in %.1fs",
                operation,
                subject,
                what,
                attempt,
                self.settings.max_retries,
                wait,
            )
            self._sleep(wait)

    def _cached(self, key: tuple[str, ...], load: Callable[[], T]) -> T:
        now = self._clock()
        hit = self._lookups.get(key)
        if hit is not None and now - hit[0] < self.settings.offerings_ttl:
            value: T = hit[1]
            return value
        value = load()
        self._lookups[key] = (now, value)
        return value

    # -- offerings ------------------------------------------------------------------------

    def offerings(self, region: str | None) -> list[Offering]:
        """Server types per location, from ``/server_types`` and ``/locations``; cached for
        ``offerings_ttl``."""
        return [o for o in self._fresh_catalog().offerings if region is None or o.region == region]

    def _fresh_catalog(self) -> _Catalog:
        """Server types (and the offerings made of them), read again after ``offerings_ttl``."""
        with self._lock:
            cached = self._catalog
        now = self._clock()
        if cached is None or now - cached.fetched_at >= self.settings.offerings_ttl:
            types = self._call(
                lambda c: c.server_types.get_all(), operation="list", subject="server types"
            )
            infos = [_type_info(t) for t in types]
            locations = self._locations()
            fresh = build_offerings(
                infos,
                locations=locations,
                price=self.settings.price,
                reserved_memory_mib=self.settings.reserved_memory_mib,
                reserved_cpu_millis=self.settings.reserved_cpu_millis,
            )
            cached = _Catalog(now, {i.name: i for i in infos}, locations, fresh)
            with self._lock:
                self._catalog = cached
        return cached

    def _locations(self) -> frozenset[str]:
        """Names of the locations the project can use, from ``/locations`` (cached)."""

        def load() -> frozenset[str]:
            found = self._call(
                lambda c: c.locations.get_all(), operation="list", subject="locations"
            )
            return frozenset(str(loc.name) for loc in found)

        return self._cached(("locations",), load)

    # -- lookups ----------------------------------------------------------------------------

    def _find(self, name: str) -> BoundServer | None:
        """The server named ``name`` (names are unique in a project), whoever it belongs to."""
        page = self._call(
            lambda c: c.servers.get_list(name=name), operation="read", subject=f"server {name}"
        )
        return page.servers[0] if page.servers else None

    def _owns(self, server: BoundServer) -> bool:
        return hlabels.is_owned(server.labels, self.cluster_name)

    def _find_owned(self, name: str) -> BoundServer | None:
        """The server named ``name`` if it is this cluster's and GrowthRS's, else None."""
        server = self._find(name)
        return server if server is not None and self._owns(server) else None

    def _not_ours(self, server: BoundServer) -> str:
        """Why ``server`` is not ours, in words (its labels are no secret; no token here)."""
        labels = server.labels or {}
        wanted = ", ".join(f"{k}={v}" for k, v in hlabels.owner_labels(self.cluster_name).items())
        carries = ", ".join(
            f"{k}={labels[k]}" if k in labels else f"no {k}"
            for k in hlabels.owner_labels(self.cluster_name)
        )
        return f"it carries {carries}, not {wanted}: it is not this cluster's GrowthRS server"

    def provider_id(self, node_id: str) -> str | None:
        """``hcloud://<server id>`` for our server named ``node_id``, None if there is none."""
        server = self._find_owned(node_id)
        return None if server is None else f"{PROVIDER_ID_PREFIX}{server.id}"

    # -- create -----------------------------------------------------------------------------

    def create(self, request: CreateRequest) -> NodeId:
        """Create the server for ``request`` (or find the one a previous attempt created)."""
        nc_name, nc = parse_node_class(request.node_class)
        offering = request.offering
        name = request.node_name
        subject = f"server {name} ({offering.key})"
        if nc.locations is not None:
            unknown = sorted(set(nc.locations) - self._locations())
            if unknown:
                raise MissingConfig(
                    f"HetznerNodeClass {nc_name}: unknown location {', '.join(unknown)} "
                    f"(field locations; Hetzner has {', '.join(sorted(self._locations()))})"
                )
        if nc.locations is not None and offering.region not in nc.locations:
            raise OfferingUnavailable(
                f"HetznerNodeClass {nc_name} allows locations {', '.join(nc.locations)}, "
                f"not {offering.region}"
            )
        hetzner_arch = HETZNER_ARCH.get(offering.arch)
        if hetzner_arch is None:
            raise CreationFailed(f"Hetzner has no {offering.arch} servers", retryable=False)
        image_ref = nc.image_for(offering.arch)
        if image_ref is None:
            raise MissingConfig(
                f"HetznerNodeClass {nc_name}: no image for {offering.arch} (field image.{offering.arch})"
            )
        server_labels = hlabels.server_labels(
            cluster_name=self.cluster_name,
            node_group=request.node_group,
            node_request=request.node_request,
            extra=dict(nc.labels),
        )
        user_data = self._user_data(nc_name, nc, request)  # before any Hetzner call

        existing = self._find(name)
        if existing is not None:
            return self._adopt(existing)

        image = self._image(nc_name, image_ref, offering.arch, hetzner_arch)
        networks = [
            Network(id=self._resolve("network", r, nc_name, "networks")) for r in nc.networks
        ]
        firewalls = [
            Firewall(id=self._resolve("firewall", r, nc_name, "firewalls")) for r in nc.firewalls
        ]
        placement_group = (
            PlacementGroup(
                id=self._resolve("placement_group", nc.placementGroup, nc_name, "placementGroup")
            )
            if nc.placementGroup
            else None
        )
        try:
            response = self._call(
                lambda c: c.servers.create(
                    name=name,
                    server_type=ServerType(name=offering.instance_type),
                    image=image,
                    location=Location(name=offering.region),
                    labels=server_labels,
                    user_data=user_data,
                    networks=networks or None,
                    firewalls=firewalls or None,
                    placement_group=placement_group,
                    # Names (or IDs as text): the API documents ssh_keys as strings.
                    ssh_keys=[SSHKey(name=k) for k in nc.sshKeys] or None,
                    public_net=ServerCreatePublicNetwork(
                        enable_ipv4=nc.publicNet.ipv4, enable_ipv6=nc.publicNet.ipv6
                    ),
                    start_after_create=True,
                ),
                operation="create",
                subject=subject,
                passthrough=frozenset({"uniqueness_error"}),
            )
        except APIException as exc:  # uniqueness_error: a concurrent or earlier attempt won
            log.info("server %s already exists (%s); adopting it", name, exc.code)
            existing = self._find(name)
            if existing is None:
                raise CreationFailed(
                    f"Hetzner API: create {subject}: name is taken but no server has it: {exc.message}",
                    retryable=True,
                ) from exc
            return self._adopt(existing)
        log.info(
            "created Hetzner server %s (id %s, %s, action %s)",
            name,
            response.server.id,
            offering.key,
            response.action.id if response.action else "-",
        )
        return NodeId(name)

    def _adopt(self, server: BoundServer) -> NodeId:
        """A server with the node's name exists: it is ours only if it carries our cluster
        label and the managed marker; anything else is never adopted."""
        if not self._owns(server):
            raise CreationFailed(
                f"a Hetzner server named {server.name} (id {server.id}) exists, but "
                f"{self._not_ours(server)}; it is not GrowthRS's to use",
                retryable=False,
            )
        if server.status == "deleting":
            raise CreationFailed(
                f"Hetzner server {server.name} is still being deleted",
                retryable=True,
                retry_after=5.0,
            )
        return NodeId(str(server.name))

    def _user_data(
        self, nc_name: str, nc: HetznerNodeClassSpec, request: CreateRequest
    ) -> str | None:
        if nc.userData is None:
            return None
        if nc.userData.kind == "custom":
            ref = nc.userData.templateRef
            assert ref is not None  # the model guarantees it
            source = f"ConfigMap {ref.namespace}/{ref.name} key {ref.key}"
            template = self._read_config_map(ref.namespace, ref.name, ref.key)
        else:
            source = f"built-in {nc.userData.kind} template"
            template = userdata.builtin_template(nc.userData.kind)
        required, optional = userdata.secret_keys(template)
        secret: dict[str, str] = {}
        if required or optional:
            if nc.joinSecretRef is None:
                raise MissingConfig(f"HetznerNodeClass {nc_name}: the {source} needs joinSecretRef")
            ns, sname = nc.joinSecretRef.namespace, nc.joinSecretRef.name
            for key in sorted(required):
                secret[key] = self._read_secret(ns, sname, key)
            for key in sorted(optional):
                with contextlib.suppress(MissingConfig):
                    secret[key] = self._read_secret(ns, sname, key)
            if nc.userData.kind != "custom":  # e.g. no k3s version: refused, never guessed
                secret = userdata.builtin_join_values(
                    nc.userData.kind,
                    secret,
                    where=f"{KIND} {nc_name}: joinSecretRef: Secret {ns}/{sname}",
                )
        offering = request.offering
        values = userdata.node_values(
            node_name=request.node_name,
            cluster_name=self.cluster_name,
            node_group=request.node_group,
            node_request=request.node_request,
            instance_type=offering.instance_type,
            region=offering.region,
            arch=offering.arch,
            labels=request.labels,
            taints=request.taints,
        )
        text = userdata.render(template, values, secret, source=source)
        userdata.check_size(text, source=source)
        return text

    def _image(self, nc_name: str, ref: ImageRef, arch: str, hetzner_arch: str) -> Image:
        # Names and IDs go as text: the API documents ``image`` as "ID or name", a string.
        if ref.name is not None:
            return Image(name=ref.name)
        if ref.id is not None:
            return Image(name=str(ref.id))
        selector = ref.labelSelector
        assert selector is not None

        def newest() -> int | None:
            images = self._call(
                lambda c: c.images.get_all(
                    type=["snapshot"],
                    architecture=[hetzner_arch],
                    label_selector=selector,
                    sort=["created:desc"],
                ),
                operation="read",
                subject=f"snapshots matching {selector!r}",
            )
            usable = [i for i in images if i.status == "available"]
            if not usable:
                return None
            best = max(usable, key=lambda i: (i.created, i.id))
            return int(str(best.id))

        image_id = self._cached(("snapshot", hetzner_arch, selector), newest)
        if image_id is None:
            self._lookups.pop(("snapshot", hetzner_arch, selector), None)
            raise MissingConfig(
                f"HetznerNodeClass {nc_name}: no available {hetzner_arch} snapshot matches "
                f"labelSelector {selector!r} (field image.{arch}.labelSelector)"
            )
        return Image(name=str(image_id))

    def _resolve(self, kind: str, ref: str, nc_name: str, field: str) -> int:
        """The ID of a network, firewall or placement group given by name or ID."""
        if ref.isdigit():
            return int(ref)

        def lookup() -> int | None:
            def get(c: hcloud.Client) -> Any:
                if kind == "network":
                    return c.networks.get_by_name(ref)
                if kind == "firewall":
                    return c.firewalls.get_by_name(ref)
                return c.placement_groups.get_by_name(ref)

            found = self._call(get, operation="read", subject=f"{kind.replace('_', ' ')} {ref}")
            return None if found is None else int(found.id)

        found_id = self._cached((kind, ref), lookup)
        if found_id is None:
            self._lookups.pop((kind, ref), None)
            raise MissingConfig(
                f"HetznerNodeClass {nc_name}: {kind.replace('_', ' ')} {ref!r} not found (field {field})"
            )
        return found_id

    # -- status, delete, list ------------------------------------------------------------------

    def status(self, node_id: NodeId) -> ProviderStatus:
        """``Creating`` while the create/start actions run, ``Running`` after; a failed action
        deletes the server and gives ``Failed(reason)``."""
        server = self._find_owned(node_id)  # another cluster's server is never adopted
        if server is None:
            return NotFound()
        if server.status == "deleting":
            return Removing()
        page = self._call(
            lambda c: c.servers.get_actions_list(server, status=["running", "error"], per_page=50),
            operation="read",
            subject=f"actions of server {node_id}",
        )
        failed = [a for a in page.actions if a.status == "error" and a.command in CREATION_COMMANDS]
        if failed:
            action = failed[0]
            error: Mapping[str, object] = action.error or {}
            reason = (
                f"Hetzner action {action.command} failed: "
                f"{error.get('message', 'no message')} ({error.get('code', 'error')})"
            )
            log.warning("server %s: %s; deleting it", node_id, reason)
            try:
                self._delete_server(server, node_id)
            except ProviderError as exc:
                log.warning("server %s: delete after failure did not go through: %s", node_id, exc)
            return Failed(reason)
        running = any(a.status == "running" for a in page.actions)
        if server.status == "running" and not running:
            return Running()
        if server.status in ("off", "stopping") and not running:
            return Failed(f"Hetzner server {node_id} is {server.status}")
        return Creating()

    def delete(self, node_id: NodeId) -> None:
        """Delete our server named ``node_id`` by its ID; one that is gone (or going) is success.

        A server with that name that is not ours (another cluster's, or one without the
        managed marker) is never deleted: that is a :class:`DeletionFailed` refusal.
        """
        server = self._find(node_id)
        if server is None:
            return
        if not self._owns(server):
            raise DeletionFailed(
                f"refusing to delete Hetzner server {node_id} (id {server.id}): "
                f"{self._not_ours(server)}",
                retryable=False,
            )
        if server.status == "deleting":
            return
        self._delete_server(server, node_id)

    def _delete_server(self, server: BoundServer, node_id: str) -> None:
        try:
            self._call(
                lambda c: c.servers.delete(server),
                operation="delete",
                subject=f"server {node_id}",
                passthrough=frozenset({"not_found"}),
            )
        except APIException:  # not_found: already gone
            return
        log.info("deleting Hetzner server %s (id %s)", node_id, server.id)

    def list_nodes(self) -> list[NodeId]:
        """Every server carrying this cluster's label and the managed marker (all pages),
        except those being deleted."""
        selector = hlabels.owned_selector(self.cluster_name)
        servers = self._call(
            lambda c: c.servers.get_all(label_selector=selector),
            operation="list",
            subject=f"servers with {selector}",
        )
        return sorted(
            NodeId(str(s.name)) for s in servers if s.status != "deleting" and self._owns(s)
        )

    # -- pool checks ---------------------------------------------------------------------------

    def validate_pool(self, check: PoolCheck) -> list[str]:
        """What would keep this pool's servers from being created or from joining, in words;
        ``[]`` when nothing does (see :mod:`growthrs_hetzner.validation`).

        Reads only: the token, the node class's template and join Secret (values are
        never put into a problem), and the catalogue cached for ``offerings_ttl``. What
        it finds is returned, never raised; an API failure is a "cannot check" problem.
        """
        problems, nc_name, spec = validation.node_class(check)
        catalog, catalog_problems = self._catalog_for_checks()
        if spec is not None:
            needed = validation.arches_needed(
                check, spec, catalog.types if catalog is not None else None
            )
            problems += validation.images(nc_name, spec, needed)
            problems += self._join_problems(nc_name, spec)
        problems += catalog_problems
        if catalog is not None:
            problems += validation.catalogue(check, nc_name, spec, catalog.types, catalog.locations)
        return problems

    def _catalog_for_checks(self) -> tuple[_Catalog | None, list[str]]:
        """The catalogue, or why the pool's server types and locations cannot be checked.

        An outdated catalogue is better than none: when reading it again fails, the
        last one answers (server types and locations change rarely).
        """
        try:
            self._token()
        except ProviderError as exc:
            reason = exc.message
            if not reason.startswith("no Hetzner API token"):
                reason = f"no Hetzner API token: {reason}"
            return None, [reason]
        try:
            return self._fresh_catalog(), []
        except ProviderError as exc:
            with self._lock:
                stale = self._catalog
            if stale is not None:
                log.warning("pool check uses the server types read before: %s", exc)
                return stale, []
            return None, [f"cannot check the pool's server types and locations: {exc.message}"]

    def _join_problems(self, nc_name: str, nc: HetznerNodeClassSpec) -> list[str]:
        """The user data template and the join Secret keys it needs."""
        what = f"{KIND} {nc_name}"
        if nc.userData is None:
            return []
        if nc.userData.kind == "custom":
            ref = nc.userData.templateRef
            assert ref is not None  # the model guarantees it
            source = f"ConfigMap {ref.namespace}/{ref.name} key {ref.key}"
            try:
                template = self._read_config_map(ref.namespace, ref.name, ref.key)
            except ProviderError as exc:
                return [f"{what}: userData: {exc.message}: {validation.NOT_JOIN}"]
            except Exception as exc:  # noqa: BLE001 - any reader failure, without its text
                return [
                    f"{what}: userData: cannot read {source}: {type(exc).__name__}: "
                    f"{validation.NOT_JOIN}"
                ]
        else:
            source = f"built-in {nc.userData.kind} template"
            template = userdata.builtin_template(nc.userData.kind)
        required, optional = userdata.secret_keys(template)
        problems = []
        values = userdata.node_values(
            node_name="check",
            cluster_name=self.cluster_name,
            node_group="check",
            node_request="check",
            instance_type="check",
            region="check",
            arch="amd64",
            labels={},
            taints=(),
        )
        try:
            userdata.render(template, values, dict.fromkeys(required | optional, ""), source=source)
        except MissingConfig as exc:
            problems.append(f"{what}: {exc.message}: {validation.NOT_JOIN}")
        if not required:
            return problems
        if nc.joinSecretRef is None:
            problems.append(
                f"{what}: the {source} needs joinSecretRef (Secret keys "
                f"{', '.join(sorted(required))}): {validation.NOT_JOIN}"
            )
            return problems
        ns, sname = nc.joinSecretRef.namespace, nc.joinSecretRef.name
        builtin = nc.userData.kind != "custom"
        # A built-in template's values are checked (versions, interface name): matched
        # against patterns, never put into a problem, dropped on return.
        join_values: dict[str, str] = {}
        for key in sorted(required | optional if builtin else required):
            try:
                join_values[key] = self._read_secret(ns, sname, key)
            except ProviderError as exc:
                if key in required:
                    problems.append(f"{what}: joinSecretRef: {exc.message}: {validation.NOT_JOIN}")
        if builtin:
            problems += userdata.builtin_join_problems(
                nc.userData.kind, join_values, where=f"{what}: joinSecretRef: Secret {ns}/{sname}"
            )
        return problems


def _type_info(server_type: Any) -> ServerTypeInfo:
    """The offering-relevant part of an hcloud ``BoundServerType`` (no deprecated properties)."""
    hourly = {
        str(p["location"]): (float(p["price_hourly"]["net"]), float(p["price_hourly"]["gross"]))
        for p in server_type.prices or []
    }
    locations: tuple[TypeLocation, ...]
    if server_type.locations:
        locations = tuple(
            TypeLocation(
                name=str(loc.location.name),
                available=bool(loc.available),
                deprecated=loc.deprecation is not None,
            )
            for loc in server_type.locations
        )
    else:  # an API answer without per-location data: every priced location
        locations = tuple(TypeLocation(name, True, False) for name in hourly)
    return ServerTypeInfo(
        name=str(server_type.name),
        cores=float(server_type.cores),
        memory_gb=float(server_type.memory),
        disk_gb=float(server_type.disk),
        architecture=str(server_type.architecture),
        locations=locations,
        hourly=hourly,
    )
