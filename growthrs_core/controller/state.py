"""The watch caches, and the one snapshot builder both ``run`` and ``plan`` read through.

``growthrs run`` keeps list+watch caches and builds a snapshot from them on
every pass; ``growthrs plan`` lists each kind once. Either way the records go
through :func:`growthrs_core.decisions.snapshot.build_snapshot` with offerings
from the same provider hub, so the dry run sees what the operator sees.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from growthrs_core.cluster import (
    ClaimInfo,
    DaemonSetInfo,
    GroupView,
    NamespaceInfo,
    NodeInfo,
    NodeRequestView,
    PodInfo,
    StorageClassInfo,
    VolumeInfo,
    parse_claim,
    parse_daemonset,
    parse_group,
    parse_namespace,
    parse_node,
    parse_node_request,
    parse_pod,
    parse_storage_class,
    parse_volume,
)
from growthrs_core.controller.cache import WatchCache, wait_synced
from growthrs_core.controller.kube import Kube, KubeError, ngp_path, node_path, nr_path
from growthrs_core.controller.providers import ProviderHub
from growthrs_core.decisions.snapshot import Snapshot, build_snapshot, providers_in_use
from growthrs_core.domain import Offering
from growthrs_core.errors import MissingConfig

PODS_PATH = "/api/v1/pods"
DAEMONSETS_PATH = "/apis/apps/v1/daemonsets"
NAMESPACES_PATH = "/api/v1/namespaces"
CLAIMS_PATH = "/api/v1/persistentvolumeclaims"
VOLUMES_PATH = "/api/v1/persistentvolumes"
STORAGE_CLASSES_PATH = "/apis/storage.k8s.io/v1/storageclasses"

OnChange = Callable[[str, str, Any, Any], None]


class Caches:
    """One list+watch cache per kind the decisions read."""

    def __init__(
        self,
        kube: Kube,
        *,
        on_pod: OnChange | None = None,
        on_node: OnChange | None = None,
        on_node_request: OnChange | None = None,
        on_group: OnChange | None = None,
        on_placement: OnChange | None = None,
        relist_interval: float = 600.0,
    ) -> None:
        self.pods: WatchCache[PodInfo] = WatchCache(
            kube, "pods", PODS_PATH, parse_pod, on_change=on_pod, relist_interval=relist_interval
        )
        self.nodes: WatchCache[NodeInfo] = WatchCache(
            kube,
            "nodes",
            node_path(),
            parse_node,
            on_change=on_node,
            relist_interval=relist_interval,
        )
        self.daemonsets: WatchCache[DaemonSetInfo] = WatchCache(
            kube, "daemonsets", DAEMONSETS_PATH, parse_daemonset, relist_interval=relist_interval
        )
        self.groups: WatchCache[GroupView] = WatchCache(
            kube,
            "groups",
            ngp_path(),
            parse_group,
            on_change=on_group,
            relist_interval=relist_interval,
        )
        self.node_requests: WatchCache[NodeRequestView] = WatchCache(
            kube,
            "noderequests",
            nr_path(),
            parse_node_request,
            on_change=on_node_request,
            relist_interval=relist_interval,
        )
        self.namespaces: WatchCache[NamespaceInfo] = WatchCache(
            kube,
            "namespaces",
            NAMESPACES_PATH,
            parse_namespace,
            on_change=on_placement,
            relist_interval=relist_interval,
        )
        self.claims: WatchCache[ClaimInfo] = WatchCache(
            kube,
            "claims",
            CLAIMS_PATH,
            parse_claim,
            on_change=on_placement,
            relist_interval=relist_interval,
        )
        self.volumes: WatchCache[VolumeInfo] = WatchCache(
            kube,
            "volumes",
            VOLUMES_PATH,
            parse_volume,
            on_change=on_placement,
            relist_interval=relist_interval,
        )
        self.storage_classes: WatchCache[StorageClassInfo] = WatchCache(
            kube,
            "storageclasses",
            STORAGE_CLASSES_PATH,
            parse_storage_class,
            on_change=on_placement,
            relist_interval=relist_interval,
        )
        self.all: list[WatchCache[Any]] = [
            self.pods,
            self.nodes,
            self.daemonsets,
            self.groups,
            self.node_requests,
            self.namespaces,
            self.claims,
            self.volumes,
            self.storage_classes,
        ]

    def start(self) -> None:
        for cache in self.all:
            cache.start()

    def stop(self) -> None:
        for cache in self.all:
            cache.stop()

    def wait_synced(self, timeout: float) -> bool:
        return wait_synced(self.all, timeout)

    def synced(self) -> bool:
        return all(c.synced.is_set() for c in self.all)

    def unsynced(self) -> list[str]:
        return [c.name for c in self.all if not c.synced.is_set()]


def offerings_for(
    hub: ProviderHub, groups: Iterable[GroupView], *, wait: bool
) -> tuple[dict[str, list[Offering]], dict[str, str]]:
    """Loaded offerings of the installed providers the groups use, and why others have none."""
    offerings: dict[str, list[Offering]] = {}
    errors: dict[str, str] = {}
    for provider in providers_in_use(groups):
        if not hub.installed(provider):
            continue
        offers = hub.offerings(provider, wait=wait)
        if offers is not None:
            offerings[provider] = offers
        else:
            errors[provider] = hub.offerings_error(provider) or "offerings not loaded yet"
    return offerings, errors


def snapshot_of(
    *,
    pods: list[PodInfo],
    nodes: list[NodeInfo],
    daemonsets: list[DaemonSetInfo],
    groups: list[GroupView],
    node_requests: list[NodeRequestView],
    hub: ProviderHub,
    now: datetime,
    wait: bool,
    namespaces: list[NamespaceInfo],
    claims: list[ClaimInfo],
    volumes: list[VolumeInfo],
    storage_classes: list[StorageClassInfo],
    nodes_visible_since: datetime | None = None,
) -> Snapshot:
    offerings, errors = offerings_for(hub, groups, wait=wait)
    return build_snapshot(
        pods=pods,
        nodes=nodes,
        daemonsets=daemonsets,
        groups=groups,
        node_requests=node_requests,
        offerings=offerings,
        offering_errors=errors,
        installed=hub.manager.providers,
        now=now,
        namespaces=namespaces,
        claims=claims,
        volumes=volumes,
        storage_classes=storage_classes,
        nodes_visible_since=nodes_visible_since,
    )


def cached_snapshot(caches: Caches, hub: ProviderHub, now: datetime, *, wait: bool) -> Snapshot:
    """The snapshot ``growthrs run`` decides on: its watch caches, now."""
    return snapshot_of(
        pods=caches.pods.snapshot(),
        nodes=caches.nodes.snapshot(),
        daemonsets=caches.daemonsets.snapshot(),
        groups=caches.groups.snapshot(),
        node_requests=caches.node_requests.snapshot(),
        hub=hub,
        now=now,
        wait=wait,
        namespaces=caches.namespaces.snapshot(),
        claims=caches.claims.snapshot(),
        volumes=caches.volumes.snapshot(),
        storage_classes=caches.storage_classes.snapshot(),
        nodes_visible_since=caches.nodes.resumed_at,
    )


def listed_snapshot(kube: Kube, hub: ProviderHub, now: datetime) -> Snapshot:
    """The snapshot ``growthrs plan`` decides on: one list of each kind, now."""
    return snapshot_of(
        pods=[parse_pod(o) for o in kube.list_all(PODS_PATH)[0]],
        nodes=[parse_node(o) for o in kube.list_all(node_path())[0]],
        daemonsets=[parse_daemonset(o) for o in kube.list_all(DAEMONSETS_PATH)[0]],
        groups=[parse_group(o) for o in kube.list_all(ngp_path())[0]],
        node_requests=[parse_node_request(o) for o in kube.list_all(nr_path())[0]],
        hub=hub,
        now=now,
        wait=True,
        namespaces=[parse_namespace(o) for o in kube.list_all(NAMESPACES_PATH)[0]],
        claims=[parse_claim(o) for o in kube.list_all(CLAIMS_PATH)[0]],
        volumes=[parse_volume(o) for o in kube.list_all(VOLUMES_PATH)[0]],
        storage_classes=[parse_storage_class(o) for o in kube.list_all(STORAGE_CLASSES_PATH)[0]],
    )


def cluster_identity(kube: Kube, configured: str | None) -> str:
    """The cluster's identity: the configured one, else one derived from the UID of the
    ``kube-system`` namespace, which every cluster has and no two clusters share.

    Two clusters in one cloud account must never take each other's instances for
    orphans; a shared literal default would make them do exactly that.
    """
    if configured:
        return configured
    namespace = kube.get("/api/v1/namespaces/kube-system")
    uid = str((namespace.get("metadata") or {}).get("uid", "")).replace("-", "")
    if not uid:
        raise KubeError(0, "the kube-system namespace has no UID to derive the cluster identity")
    return f"k8s-{uid[:16]}"


def secret_reader(kube: Kube) -> Callable[[str, str, str], str]:
    """``read_secret(namespace, name, key)`` for providers, through the cluster's API."""

    def read(namespace: str, name: str, key: str) -> str:
        try:
            secret = kube.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except KubeError as exc:
            raise MissingConfig(f"cannot read Secret {namespace}/{name}: {exc}") from None
        data = (secret or {}).get("data") or {}
        if key not in data:
            raise MissingConfig(f"Secret {namespace}/{name} has no key {key!r}")
        return base64.b64decode(data[key]).decode()

    return read
