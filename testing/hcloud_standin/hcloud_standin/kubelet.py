"""A companion that plays the machines the stand-in "boots".

``python -m hcloud_standin.kubelet --standin URL --kubeconfig PATH``

For every server the stand-in reports ``running`` it registers a Kubernetes
``Node`` the way a kubelet would after cloud-init ran: named after the server,
``providerID: hcloud://<id>``, the labels and taints the user data passes to
the kubelet (``--node-label``/``--node-taint`` for k3s, ``node-labels`` /
``register-with-taints`` for kubeadm), the well-known instance-type, region,
zone and arch labels, capacity from the server type, and the annotation
``kwok.x-k8s.io/node: fake`` so a kwok controller keeps it Ready and runs its
pods. When the server disappears (or is being deleted), the Node goes too.

The decisions are pure functions (:func:`parse_user_data`, :func:`node_manifest`,
:func:`plan`), so they are tested without a cluster; :class:`FakeKubelet` only
reads the stand-in, writes Nodes and sleeps.
"""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import requests
import yaml

from hcloud_standin.server import DEFAULT_TOKEN

log = logging.getLogger("hcloud_standin.kubelet")

MANAGED_ANNOTATION = "hcloud-standin.growthrs.io/server-id"
"""Marks Nodes this companion created (value: the server ID); others are never touched."""
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
ARCH = {"x86": "amd64", "arm": "arm64"}
EVICTION_RESERVE_MIB = 100
"""The kubelet's default ``memory.available<100Mi`` eviction threshold: capacity minus this
is allocatable, as on a k3s node."""
MAX_PODS = 110

_FLAG = re.compile(
    r"--(node-label|node-taint|node-labels|register-with-taints)[= ]+(\"[^\"]*\"|'[^']*'|\S+)"
)


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str

    def to_dict(self) -> dict[str, str]:
        out = {"key": self.key, "effect": self.effect}
        if self.value:
            out["value"] = self.value
        return out


def parse_taint(text: str) -> Taint | None:
    """``key=value:Effect`` or ``key:Effect``."""
    body, sep, effect = text.rpartition(":")
    if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        return None
    key, _, value = body.partition("=")
    return Taint(key, value, effect) if key else None


def _unquote(raw: str) -> str:
    try:
        parts = shlex.split(raw)
    except ValueError:
        return raw
    return parts[0] if parts else ""


def _add(labels: dict[str, str], taints: list[Taint], kind: str, value: str) -> None:
    if kind == "node-label":
        key, _, val = value.partition("=")
        if key:
            labels[key] = val
    elif kind == "node-labels":
        for item in filter(None, value.split(",")):
            _add(labels, taints, "node-label", item)
    else:
        for item in filter(None, value.split(",") if kind == "register-with-taints" else [value]):
            taint = parse_taint(item)
            if taint is not None:
                taints.append(taint)


def _kubeadm_args(user_data: str) -> Iterable[tuple[str, str]]:
    """``kubeletExtraArgs`` of a kubeadm JoinConfiguration written by cloud-init."""
    try:
        config = yaml.safe_load(user_data)
    except yaml.YAMLError:
        return
    if not isinstance(config, dict):
        return
    for entry in config.get("write_files") or []:
        content = entry.get("content") if isinstance(entry, dict) else None
        if not isinstance(content, str) or "JoinConfiguration" not in content:
            continue
        try:
            doc = yaml.safe_load(content)
        except yaml.YAMLError:
            continue
        args = ((doc or {}).get("nodeRegistration") or {}).get("kubeletExtraArgs") or []
        if isinstance(args, dict):  # kubeadm v1beta3
            args = [{"name": k, "value": v} for k, v in args.items()]
        for arg in args:
            if isinstance(arg, dict) and arg.get("name") in ("node-labels", "register-with-taints"):
                yield str(arg["name"]), str(arg.get("value") or "")


def parse_user_data(user_data: str) -> tuple[dict[str, str], list[Taint]]:
    """Labels and taints the user data hands to the kubelet (k3s flags or kubeadm config)."""
    labels: dict[str, str] = {}
    taints: list[Taint] = []
    for match in _FLAG.finditer(user_data):
        _add(labels, taints, match.group(1), _unquote(match.group(2)))
    for name, value in _kubeadm_args(user_data):
        _add(labels, taints, name, value)
    return labels, taints


def node_manifest(server: dict[str, Any], user_data: str) -> dict[str, Any]:
    """The Node a kubelet on ``server`` would register, marked for kwok and for us."""
    server_type = server["server_type"]
    arch = ARCH.get(server_type.get("architecture", "x86"), "amd64")
    labels, taints = parse_user_data(user_data)
    labels.update(
        {
            "kubernetes.io/hostname": server["name"],
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": arch,
            "beta.kubernetes.io/arch": arch,
            "beta.kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": server_type["name"],
            "topology.kubernetes.io/region": server["location"]["name"],
            "topology.kubernetes.io/zone": server["datacenter"]["name"],
            "type": "kwok",
        }
    )
    memory_mib = round(float(server_type["memory"]) * 1024)
    capacity = {
        "cpu": str(int(server_type["cores"])),
        "memory": f"{memory_mib}Mi",
        "ephemeral-storage": f"{int(server_type['disk'])}Gi",
        "pods": str(MAX_PODS),
    }
    allocatable = {**capacity, "memory": f"{memory_mib - EVICTION_RESERVE_MIB}Mi"}
    addresses = [{"type": "Hostname", "address": server["name"]}]
    ipv4 = (server.get("public_net") or {}).get("ipv4")
    if ipv4:
        addresses.append({"type": "ExternalIP", "address": ipv4["ip"]})
    for private in server.get("private_net") or []:
        addresses.append({"type": "InternalIP", "address": private["ip"]})
    spec: dict[str, Any] = {"providerID": f"hcloud://{server['id']}"}
    if taints:
        spec["taints"] = [t.to_dict() for t in taints]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": server["name"],
            "labels": labels,
            "annotations": {KWOK_ANNOTATION: "fake", MANAGED_ANNOTATION: str(server["id"])},
        },
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "addresses": addresses,
            "nodeInfo": {
                "architecture": arch,
                "operatingSystem": "linux",
                "kubeletVersion": "v0.0.0-hcloud-standin",
                "osImage": (server.get("image") or {}).get("description") or "",
                "containerRuntimeVersion": "fake://0",
                "kernelVersion": "",
                "kubeProxyVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    }


@dataclass(frozen=True)
class Plan:
    create: list[dict[str, Any]]
    """Running servers without a Node."""
    delete: list[str]
    """Nodes we created whose server is gone or going."""


def plan(servers: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> Plan:
    """What to do so that Nodes mirror running servers. ``nodes`` are Node dicts."""
    node_names = {n["metadata"]["name"] for n in nodes}
    live = {str(s["id"]) for s in servers if s["status"] != "deleting"}
    create = [s for s in servers if s["status"] == "running" and s["name"] not in node_names]
    delete = []
    for node in nodes:
        server_id = (node["metadata"].get("annotations") or {}).get(MANAGED_ANNOTATION)
        if server_id is not None and server_id not in live:
            delete.append(node["metadata"]["name"])
    return Plan(create=create, delete=sorted(delete))


class FakeKubelet:
    """Mirrors the stand-in's running servers as Nodes, one sync at a time."""

    def __init__(
        self,
        standin: str,
        core_v1: Any,
        *,
        token: str = DEFAULT_TOKEN,
        label_selector: str | None = None,
        http: requests.Session | None = None,
    ) -> None:
        base = standin.rstrip("/")
        base = base.removesuffix("/v1")
        self.api_url = base + "/v1"
        self.control_url = base + "/__standin"
        self.core_v1 = core_v1
        self.label_selector = label_selector
        self.http = http or requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self._user_data: dict[int, str] = {}

    def servers(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page: int | None = 1
        while page:
            params: dict[str, Any] = {"page": page, "per_page": 50}
            if self.label_selector:
                params["label_selector"] = self.label_selector
            answer = self.http.get(f"{self.api_url}/servers", params=params, timeout=10)
            answer.raise_for_status()
            body = answer.json()
            found.extend(body["servers"])
            page = body["meta"]["pagination"]["next_page"]
        return found

    def user_data(self, server_id: int) -> str:
        if server_id not in self._user_data:
            answer = self.http.get(f"{self.control_url}/metadata/{server_id}/userdata", timeout=10)
            answer.raise_for_status()
            self._user_data[server_id] = answer.text
        return self._user_data[server_id]

    def nodes(self) -> list[dict[str, Any]]:
        listing = self.core_v1.list_node()
        out = []
        for node in listing.items:
            out.append(
                {
                    "metadata": {
                        "name": node.metadata.name,
                        "annotations": dict(node.metadata.annotations or {}),
                    }
                }
            )
        return out

    def sync_once(self) -> Plan:
        todo = plan(self.servers(), self.nodes())
        for server in todo.create:
            manifest = node_manifest(server, self.user_data(int(server["id"])))
            try:
                self.core_v1.create_node(manifest)
                log.info("registered node %s (hcloud://%s)", server["name"], server["id"])
            except Exception as exc:
                if getattr(exc, "status", None) != 409:
                    raise
        for name in todo.delete:
            try:
                self.core_v1.delete_node(name)
                log.info("removed node %s: its server is gone", name)
            except Exception as exc:
                if getattr(exc, "status", None) != 404:
                    raise
        return todo

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.sync_once()
            except Exception as exc:  # noqa: BLE001 - keep playing; log and try again
                log.warning("sync failed: %s: %s", type(exc).__name__, exc)
            stop.wait(interval)


def core_v1_from_kubeconfig(path: str) -> Any:
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=path)  # type: ignore[no-untyped-call]
    return client.CoreV1Api(api_client)


def main(
    argv: list[str] | None = None,
    *,
    core_v1_factory: Callable[[str], Any] = core_v1_from_kubeconfig,
) -> int:
    parser = argparse.ArgumentParser(
        prog="hcloud_standin.kubelet", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--standin", required=True, help="stand-in URL, e.g. http://127.0.0.1:8080/v1"
    )
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument(
        "--label-selector",
        default=None,
        help="only play servers matching this Hetzner label selector",
    )
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--once", action="store_true", help="sync once and exit")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    kubelet = FakeKubelet(
        args.standin,
        core_v1_factory(args.kubeconfig),
        token=args.token,
        label_selector=args.label_selector,
    )
    if args.once:
        kubelet.sync_once()
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    kubelet.run(stop, args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
