"""The stand-in's state: servers, actions and the resources servers refer to.

Everything is computed lazily from a clock, so an action is ``running`` until its
duration has passed and then ``success`` (or ``error`` when a fault said so);
a server is ``initializing`` → ``starting`` → ``running`` along its create and
start actions, and disappears once its delete action has finished. Tests move
time with :meth:`Clock.advance` instead of sleeping.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from hcloud_standin import catalog, labelselector
from hcloud_standin.catalog import ImageSpec, LocationSpec, ServerTypeSpec
from hcloud_standin.faults import ERROR_STATUS, Fault

USER_DATA_LIMIT = 32 * 1024
"""Hetzner rejects ``user_data`` above 32 KiB."""
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
)
PLACEMENT_SPREAD_MAX = 10
"""A spread placement group holds at most ten servers."""


class ApiError(Exception):
    """An error answer in Hetzner's shape: ``{"error": {code, message, details}}``."""

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details
        self.status = status or ERROR_STATUS.get(code, 422)
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def invalid_input(field_name: str, message: str) -> ApiError:
    return ApiError(
        "invalid_input",
        f"invalid input in field '{field_name}': {message}",
        {"fields": [{"name": field_name, "messages": [message]}]},
    )


def not_found(kind: str) -> ApiError:
    return ApiError("not_found", f"{kind} not found")


class Clock:
    """Wall time plus an offset tests can advance."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass
class Action:
    id: int
    command: str
    resources: list[tuple[int, str]]
    started: float
    duration: float
    error: tuple[str, str] | None = None

    def done_at(self) -> float:
        return self.started + self.duration

    def status(self, now: float) -> str:
        if now < self.done_at():
            return "running"
        return "error" if self.error else "success"

    def to_dict(self, now: float) -> dict[str, Any]:
        status = self.status(now)
        if status == "running":
            progress = int(100 * (now - self.started) / self.duration) if self.duration else 0
        else:
            progress = 100
        return {
            "id": self.id,
            "command": self.command,
            "status": status,
            "progress": max(0, min(progress, 100 if status != "running" else 99)),
            "started": iso(self.started),
            "finished": None if status == "running" else iso(self.done_at()),
            "resources": [{"id": rid, "type": rtype} for rid, rtype in self.resources],
            "error": (
                {"code": self.error[0], "message": self.error[1]}
                if self.error and status == "error"
                else None
            ),
        }


@dataclass
class Server:
    id: int
    name: str
    type: ServerTypeSpec
    location: LocationSpec
    image: ImageSpec
    labels: dict[str, str]
    user_data: str
    created: float
    create_action: Action
    start_action: Action | None
    networks: list[int] = field(default_factory=list)
    firewalls: list[int] = field(default_factory=list)
    placement_group: int | None = None
    ssh_keys: list[int] = field(default_factory=list)
    ipv4: bool = True
    ipv6: bool = True
    delete_action: Action | None = None

    def status(self, now: float) -> str:
        if self.delete_action is not None:
            return "deleting"
        create = self.create_action.status(now)
        if create == "running":
            return "initializing"
        if create == "error":
            return "off"
        if self.start_action is None:
            return "off"
        start = self.start_action.status(now)
        if start == "running":
            return "starting"
        return "off" if start == "error" else "running"


@dataclass
class Named:
    """A network, firewall, placement group or SSH key: the fields servers need."""

    id: int
    name: str
    labels: dict[str, str]
    created: float
    extra: dict[str, Any] = field(default_factory=dict)


F = TypeVar("F", bound=Callable[..., Any])


def _locked(method: F) -> F:
    """Run a World method under the world's lock (it is re-entrant)."""

    @functools.wraps(method)
    def wrapper(self: World, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class World:
    """All stand-in state behind one lock; every method returns JSON-ready dicts."""

    def __init__(
        self, *, clock: Clock | None = None, action_delay: float = 1.0, server_limit: int = 100
    ) -> None:
        self.clock = clock or Clock()
        self.action_delay = action_delay
        self.server_limit = server_limit
        self.lock = threading.RLock()
        self._ids: dict[str, int] = {
            "server": 4_200_000,
            "action": 9_000_000,
            "image": 200_000_000,
            "network": 1_000,
            "firewall": 2_000,
            "placement_group": 3_000,
            "ssh_key": 5_000,
        }
        self.server_types = list(catalog.SERVER_TYPES)
        self.unavailable: set[tuple[str, str]] = set()
        self.images: list[ImageSpec] = catalog.system_images()
        self.servers: dict[int, Server] = {}
        self.actions: dict[int, Action] = {}
        self.networks: dict[int, Named] = {}
        self.firewalls: dict[int, Named] = {}
        self.placement_groups: dict[int, Named] = {}
        self.ssh_keys: dict[int, Named] = {}
        self.user_data: dict[int, str] = {}

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def now(self) -> float:
        return self.clock.now()

    def settle(self) -> None:
        """Remove servers whose delete action has finished."""
        now = self.now()
        for sid in [
            s.id
            for s in self.servers.values()
            if s.delete_action and s.delete_action.status(now) != "running"
        ]:
            del self.servers[sid]

    # -- catalog ---------------------------------------------------------------

    def server_type_dict(self, spec: ServerTypeSpec) -> dict[str, Any]:
        deprecation = (
            {
                "announced": "2024-06-06T00:00:00+00:00",
                "unavailable_after": "2030-09-06T00:00:00+00:00",
            }
            if spec.deprecated
            else None
        )
        locations = []
        for name in spec.locations:
            loc = catalog.location(name)
            assert loc is not None
            locations.append(
                {
                    "id": loc.id,
                    "name": loc.name,
                    "deprecation": deprecation,
                    "recommended": not spec.deprecated and name in catalog.EU,
                    "available": (spec.name, name) not in self.unavailable,
                }
            )
        return {
            "id": spec.id,
            "name": spec.name,
            "description": spec.name.upper(),
            "category": spec.category,
            "cores": spec.cores,
            "memory": spec.memory_gb,
            "disk": spec.disk_gb,
            "deprecated": spec.deprecated,
            "deprecation": deprecation,
            "prices": [catalog.price_for(spec, name) for name in spec.locations],
            "storage_type": spec.storage_type,
            "cpu_type": spec.cpu_type,
            "architecture": spec.architecture,
            "locations": locations,
        }

    def find_server_type(self, id_or_name: str | int) -> ServerTypeSpec | None:
        for spec in self.server_types:
            if str(spec.id) == str(id_or_name) or spec.name == id_or_name:
                return spec
        return None

    @staticmethod
    def location_dict(loc: LocationSpec) -> dict[str, Any]:
        return {
            "id": loc.id,
            "name": loc.name,
            "description": loc.description,
            "country": loc.country,
            "city": loc.city,
            "latitude": loc.latitude,
            "longitude": loc.longitude,
            "network_zone": loc.network_zone,
        }

    def datacenter_dict(self, loc: LocationSpec) -> dict[str, Any]:
        supported = [s.id for s in self.server_types if loc.name in s.locations]
        available = [
            s.id
            for s in self.server_types
            if loc.name in s.locations and (s.name, loc.name) not in self.unavailable
        ]
        return {
            "id": loc.datacenter_id,
            "name": loc.datacenter,
            "description": f"{loc.city} DC {loc.datacenter.split('-dc')[-1]}",
            "location": self.location_dict(loc),
            "server_types": {
                "supported": supported,
                "available": available,
                "available_for_migration": available,
            },
        }

    @staticmethod
    def image_dict(image: ImageSpec) -> dict[str, Any]:
        return {
            "id": image.id,
            "type": image.type,
            "status": image.status,
            "name": image.name,
            "description": image.description,
            "image_size": image.image_size,
            "disk_size": image.disk_size,
            "created": image.created,
            "created_from": image.created_from,
            "bound_to": None,
            "os_flavor": image.os_flavor,
            "os_version": image.os_version,
            "rapid_deploy": image.type == "system",
            "protection": {"delete": False},
            "deprecated": image.deprecated,
            "deleted": None,
            "labels": dict(image.labels),
            "architecture": image.architecture,
        }

    @_locked
    def add_image(
        self,
        *,
        description: str,
        architecture: str = "x86",
        labels: dict[str, str] | None = None,
        created: float | str | None = None,
        type: str = "snapshot",
        name: str | None = None,
        status: str = "available",
    ) -> dict[str, Any]:
        """Add a snapshot (the API can only make one from a server, which tests need not do)."""
        if architecture not in ("x86", "arm"):
            raise invalid_input("architecture", "must be x86 or arm")
        with self.lock:
            when = (
                created
                if isinstance(created, str)
                else iso(created if created is not None else self.now())
            )
            image = ImageSpec(
                id=self._next("image"),
                name=name,
                description=description,
                architecture=architecture,
                type=type,
                os_flavor="ubuntu",
                os_version=None,
                created=when,
                disk_size=20,
                image_size=1.5,
                labels=dict(labels or {}),
                status=status,
                created_from={"id": 1, "name": "image-builder"} if type == "snapshot" else None,
            )
            self.images.append(image)
            return self.image_dict(image)

    def find_image(self, id_or_name: str | int, architecture: str) -> ImageSpec | None:
        for image in self.images:
            if str(image.id) == str(id_or_name):
                return image
        for image in self.images:
            if image.name == id_or_name and image.architecture == architecture:
                return image
        return None

    # -- servers ---------------------------------------------------------------

    @_locked
    def server_dict(self, server: Server) -> dict[str, Any]:
        now = self.now()
        octet = server.id % 250 + 2
        public_net: dict[str, Any] = {
            "ipv4": (
                {
                    "id": server.id + 10_000_000,
                    "ip": f"203.0.113.{octet}",
                    "blocked": False,
                    "dns_ptr": f"static.{octet}.113.0.203.clients.your-server.de",
                }
                if server.ipv4
                else None
            ),
            "ipv6": (
                {
                    "id": server.id + 20_000_000,
                    "ip": f"2001:db8:{server.id % 65536:x}::/64",
                    "blocked": False,
                    "dns_ptr": [],
                }
                if server.ipv6
                else None
            ),
            "floating_ips": [],
            "firewalls": [{"id": fid, "status": "applied"} for fid in server.firewalls],
        }
        private_net = []
        for net_id in server.networks:
            net = self.networks.get(net_id)
            base = (
                ipaddress.ip_network(net.extra["ip_range"])
                if net
                else ipaddress.ip_network("10.0.0.0/16")
            )
            private_net.append(
                {
                    "network": net_id,
                    "ip": str(base.network_address + 2 + server.id % 60000),
                    "alias_ips": [],
                    "mac_address": "86:00:00:"
                    + ":".join(
                        f"{b:02x}"
                        for b in hashlib.sha1(f"{server.id}/{net_id}".encode()).digest()[:3]
                    ),
                }
            )
        pg = self.placement_groups.get(server.placement_group) if server.placement_group else None
        return {
            "id": server.id,
            "name": server.name,
            "status": server.status(now),
            "created": iso(server.created),
            "public_net": public_net,
            "private_net": private_net,
            "server_type": self.server_type_dict(server.type),
            "datacenter": self.datacenter_dict(server.location),
            "location": self.location_dict(server.location),
            "image": self.image_dict(server.image),
            "iso": None,
            "rescue_enabled": False,
            "locked": False,
            "backup_window": None,
            "outgoing_traffic": 0,
            "ingoing_traffic": 0,
            "included_traffic": catalog.price_for(server.type, server.location.name)[
                "included_traffic"
            ],
            "protection": {"delete": False, "rebuild": False},
            "labels": dict(server.labels),
            "volumes": [],
            "load_balancers": [],
            "primary_disk_size": server.type.disk_gb,
            "placement_group": self.placement_group_dict(pg) if pg else None,
        }

    def _action(
        self,
        command: str,
        resources: list[tuple[int, str]],
        *,
        started: float,
        duration: float,
        error: tuple[str, str] | None = None,
    ) -> Action:
        action = Action(self._next("action"), command, resources, started, duration, error)
        self.actions[action.id] = action
        return action

    def create_server(self, body: Any, faults: Iterable[Fault] = ()) -> dict[str, Any]:
        """``POST /servers``: validate like Hetzner, then start create and start actions."""
        with self.lock:
            return self._create_server(body, faults)

    def _create_server(self, body: Any, faults: Iterable[Fault]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError("json_error", "request body must be a JSON object")
        name = body.get("name")
        if not isinstance(name, str) or not _HOSTNAME.match(name):
            raise invalid_input("name", "must be a valid hostname (RFC 1123)")
        for required in ("server_type", "image"):
            if body.get(required) in (None, ""):
                raise invalid_input(required, "is required")
        spec = self.find_server_type(body["server_type"])
        if spec is None:
            raise invalid_input("server_type", f"server type {body['server_type']!r} not found")
        if body.get("datacenter") is not None and body.get("location") is not None:
            raise invalid_input("location", "must not be used together with datacenter")
        if body.get("location") is not None:
            loc = catalog.location(body["location"])
            if loc is None:
                raise invalid_input("location", f"location {body['location']!r} not found")
        elif body.get("datacenter") is not None:
            loc = next(
                (
                    c
                    for c in catalog.LOCATIONS
                    if c.datacenter == body["datacenter"]
                    or str(c.datacenter_id) == str(body["datacenter"])
                ),
                None,
            )
            if loc is None:
                raise invalid_input("datacenter", f"datacenter {body['datacenter']!r} not found")
        else:
            loc = catalog.location(spec.locations[0])
            assert loc is not None
        if loc.name not in spec.locations:
            raise invalid_input(
                "location", f"server type {spec.name} is not supported in {loc.name}"
            )
        image = self.find_image(body["image"], spec.architecture)
        if image is None:
            raise invalid_input(
                "image", f"image {body['image']!r} not found for architecture {spec.architecture}"
            )
        if image.architecture != spec.architecture:
            raise invalid_input(
                "image",
                f"image architecture {image.architecture} does not match server type {spec.architecture}",
            )
        labels = body.get("labels") or {}
        check_labels(labels)
        user_data = body.get("user_data") or ""
        if not isinstance(user_data, str):
            raise invalid_input("user_data", "must be a string")
        if len(user_data.encode()) > USER_DATA_LIMIT:
            raise invalid_input("user_data", "is too long (maximum is 32768 bytes)")
        networks = [self._ref(self.networks, n, "networks") for n in body.get("networks") or []]
        firewalls = []
        for entry in body.get("firewalls") or []:
            if not isinstance(entry, dict) or "firewall" not in entry:
                raise invalid_input("firewalls", "each entry needs a firewall ID")
            firewalls.append(self._ref(self.firewalls, entry["firewall"], "firewalls"))
        ssh_keys = [
            self._ref(self.ssh_keys, k, "ssh_keys", by_name=True)
            for k in body.get("ssh_keys") or []
        ]
        pg_id = None
        if body.get("placement_group") is not None:
            pg_id = self._ref(self.placement_groups, body["placement_group"], "placement_group")
        public = body.get("public_net") or {}
        ipv4, ipv6 = bool(public.get("enable_ipv4", True)), bool(public.get("enable_ipv6", True))
        if not ipv4 and not ipv6 and not networks:
            raise invalid_input(
                "networks", "a server without public IPs needs at least one network"
            )
        with self.lock:
            self.settle()
            if any(s.name == name for s in self.servers.values()):
                raise ApiError(
                    "uniqueness_error",
                    "server name is already used",
                    {"fields": [{"name": "name"}]},
                )
            if (spec.name, loc.name) in self.unavailable:
                raise ApiError(
                    "resource_unavailable",
                    f"server type {spec.name} is currently unavailable in {loc.name}",
                )
            if len(self.servers) >= self.server_limit:
                raise ApiError(
                    "resource_limit_exceeded",
                    "server limit exceeded",
                    {"limits": [{"name": "server_limit"}]},
                )
            if pg_id is not None:
                members = [s for s in self.servers.values() if s.placement_group == pg_id]
                if len(members) >= PLACEMENT_SPREAD_MAX:
                    raise ApiError(
                        "placement_error",
                        "placement group is full: a spread group holds at most 10 servers",
                    )
            now = self.now()
            duration = self.action_delay
            create_error = start_error = None
            for fault in faults:
                if fault.code == "slow_actions" and fault.delay is not None:
                    duration = fault.delay
                if fault.code == "failing_actions":
                    err = (fault.action_error, fault.message or f"{fault.command} failed")
                    if fault.command == "start_server":
                        start_error = err
                    else:
                        create_error = err
            sid = self._next("server")
            create = self._action(
                "create_server",
                [(sid, "server")],
                started=now,
                duration=duration,
                error=create_error,
            )
            start = None
            if body.get("start_after_create", True):
                start = self._action(
                    "start_server",
                    [(sid, "server")],
                    started=now,
                    duration=2 * duration,
                    error=start_error,
                )
            server = Server(
                id=sid,
                name=name,
                type=spec,
                location=loc,
                image=image,
                labels=dict(labels),
                user_data=user_data,
                created=now,
                create_action=create,
                start_action=start,
                networks=networks,
                firewalls=firewalls,
                placement_group=pg_id,
                ssh_keys=ssh_keys,
                ipv4=ipv4,
                ipv6=ipv6,
            )
            self.servers[sid] = server
            self.user_data[sid] = user_data
            return {
                "server": self.server_dict(server),
                "action": create.to_dict(now),
                "next_actions": [start.to_dict(now)] if start else [],
                "root_password": None if ssh_keys else "standin-root-password",
            }

    def _ref(
        self, table: dict[int, Named], ref: Any, field_name: str, *, by_name: bool = False
    ) -> int:
        for item in table.values():
            if str(item.id) == str(ref) or (by_name and item.name == ref):
                return item.id
        raise invalid_input(
            field_name, f"{field_name.rstrip('s').replace('_', ' ')} {ref!r} not found"
        )

    def get_server(self, sid: int) -> Server:
        with self.lock:
            self.settle()
            server = self.servers.get(sid)
            if server is None:
                raise not_found("server")
            return server

    def list_servers(
        self,
        *,
        name: str | None = None,
        label_selector: str | None = None,
        status: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        with self.lock:
            self.settle()
            predicate = selector(label_selector)
            now = self.now()
            return [
                self.server_dict(s)
                for s in sorted(self.servers.values(), key=lambda s: s.id)
                if (name is None or s.name == name)
                and predicate(s.labels)
                and (not status or s.status(now) in status)
            ]

    def delete_server(self, sid: int) -> dict[str, Any]:
        with self.lock:
            server = self.get_server(sid)
            now = self.now()
            if server.delete_action is None:
                server.delete_action = self._action(
                    "delete_server", [(sid, "server")], started=now, duration=self.action_delay
                )
            return server.delete_action.to_dict(now)

    def server_actions(self, sid: int, status: list[str] | None = None) -> list[dict[str, Any]]:
        with self.lock:
            self.get_server(sid)
            now = self.now()
            found = [a for a in self.actions.values() if any(rid == sid for rid, _ in a.resources)]
            return [a.to_dict(now) for a in found if not status or a.status(now) in status]

    def get_action(self, aid: int) -> dict[str, Any]:
        with self.lock:
            action = self.actions.get(aid)
            if action is None:
                raise not_found("action")
            return action.to_dict(self.now())

    def list_actions(self, ids: list[int]) -> list[dict[str, Any]]:
        with self.lock:
            now = self.now()
            return [self.actions[i].to_dict(now) for i in ids if i in self.actions]

    @_locked
    def metadata(self, sid: int) -> dict[str, str]:
        """What the server would see at 169.254.169.254/hetzner/v1/metadata."""
        with self.lock:
            server = self.get_server(sid)
            data = self.server_dict(server)
            ipv4 = data["public_net"]["ipv4"]
            return {
                "hostname": server.name,
                "instance-id": str(server.id),
                "public-ipv4": ipv4["ip"] if ipv4 else "",
                "availability-zone": server.location.datacenter,
                "region": server.location.network_zone,
                "userdata": self.user_data.get(sid, ""),
            }

    # -- networks, firewalls, placement groups, SSH keys -------------------------

    def _create_named(
        self, table: dict[int, Named], kind: str, body: Any, extra: dict[str, Any]
    ) -> Named:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise invalid_input("name", "is required")
        labels = body.get("labels") or {}
        check_labels(labels)
        with self.lock:
            if any(item.name == body["name"] for item in table.values()):
                raise ApiError(
                    "uniqueness_error",
                    f"{kind.replace('_', ' ')} name is already used",
                    {"fields": [{"name": "name"}]},
                )
            item = Named(self._next(kind), body["name"], dict(labels), self.now(), extra)
            table[item.id] = item
            return item

    @_locked
    def create_network(self, body: Any) -> dict[str, Any]:
        ip_range = body.get("ip_range") if isinstance(body, dict) else None
        try:
            ipaddress.ip_network(ip_range or "")
        except ValueError:
            raise invalid_input("ip_range", "must be a CIDR network such as 10.0.0.0/16") from None
        subnets = body.get("subnets") or [
            {"type": "cloud", "ip_range": ip_range, "network_zone": "eu-central"}
        ]
        return self.network_dict(
            self._create_named(
                self.networks, "network", body, {"ip_range": ip_range, "subnets": subnets}
            )
        )

    def network_dict(self, item: Named) -> dict[str, Any]:
        servers = [s.id for s in self.servers.values() if item.id in s.networks]
        subnets = []
        for sub in item.extra["subnets"]:
            net = ipaddress.ip_network(sub.get("ip_range") or item.extra["ip_range"])
            subnets.append(
                {
                    "type": sub.get("type", "cloud"),
                    "ip_range": str(net),
                    "network_zone": sub.get("network_zone", "eu-central"),
                    "gateway": str(net.network_address + 1),
                    "vswitch_id": None,
                }
            )
        return {
            "id": item.id,
            "name": item.name,
            "ip_range": item.extra["ip_range"],
            "subnets": subnets,
            "routes": [],
            "servers": servers,
            "load_balancers": [],
            "protection": {"delete": False},
            "labels": dict(item.labels),
            "created": iso(item.created),
            "expose_routes_to_vswitch": False,
        }

    @_locked
    def create_firewall(self, body: Any) -> dict[str, Any]:
        rules = body.get("rules") if isinstance(body, dict) else None
        return self.firewall_dict(
            self._create_named(self.firewalls, "firewall", body, {"rules": rules or []})
        )

    def firewall_dict(self, item: Named) -> dict[str, Any]:
        rules = [
            {
                "description": r.get("description"),
                "direction": r.get("direction", "in"),
                "source_ips": r.get("source_ips", []),
                "destination_ips": r.get("destination_ips", []),
                "protocol": r.get("protocol", "tcp"),
                "port": r.get("port"),
            }
            for r in item.extra["rules"]
        ]
        applied = [
            {"type": "server", "server": {"id": s.id}}
            for s in self.servers.values()
            if item.id in s.firewalls
        ]
        return {
            "id": item.id,
            "name": item.name,
            "labels": dict(item.labels),
            "created": iso(item.created),
            "rules": rules,
            "applied_to": applied,
        }

    @_locked
    def create_placement_group(self, body: Any) -> dict[str, Any]:
        if isinstance(body, dict) and body.get("type") != "spread":
            raise invalid_input("type", "must be spread")
        return self.placement_group_dict(
            self._create_named(self.placement_groups, "placement_group", body, {})
        )

    def placement_group_dict(self, item: Named) -> dict[str, Any]:
        servers = [s.id for s in self.servers.values() if s.placement_group == item.id]
        return {
            "id": item.id,
            "name": item.name,
            "labels": dict(item.labels),
            "type": "spread",
            "created": iso(item.created),
            "servers": servers,
        }

    @_locked
    def create_ssh_key(self, body: Any) -> dict[str, Any]:
        key = body.get("public_key") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key.startswith(("ssh-", "ecdsa-")):
            raise invalid_input("public_key", "must be an OpenSSH public key")
        digest = hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()
        fingerprint = ":".join(digest[i : i + 2] for i in range(0, 32, 2))
        if any(k.extra["fingerprint"] == fingerprint for k in self.ssh_keys.values()):
            raise ApiError(
                "uniqueness_error",
                "SSH key with the same fingerprint already exists",
                {"fields": [{"name": "public_key"}]},
            )
        return self.ssh_key_dict(
            self._create_named(
                self.ssh_keys, "ssh_key", body, {"public_key": key, "fingerprint": fingerprint}
            )
        )

    def ssh_key_dict(self, item: Named) -> dict[str, Any]:
        return {
            "id": item.id,
            "name": item.name,
            "fingerprint": item.extra["fingerprint"],
            "public_key": item.extra["public_key"],
            "labels": dict(item.labels),
            "created": iso(item.created),
        }


def selector(text: str | None) -> labelselector.Predicate:
    try:
        return labelselector.parse(text) if text else (lambda labels: True)
    except labelselector.SelectorError as exc:
        raise invalid_input("label_selector", str(exc)) from None


def check_labels(labels: Any) -> None:
    """Hetzner's label rules; the ``hetzner.cloud/`` prefix is reserved."""
    if not isinstance(labels, dict):
        raise invalid_input("labels", "must be an object")
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if not _LABEL_NAME.match(name) or (prefix and not _DNS_SUBDOMAIN.match(prefix)):
            raise invalid_input("labels", f"label key {key!r} is invalid")
        if prefix == "hetzner.cloud":
            raise invalid_input("labels", "the hetzner.cloud/ prefix is reserved")
        if not isinstance(value, str) or not _LABEL_VALUE.match(value):
            raise invalid_input("labels", f"label value {value!r} is invalid")
