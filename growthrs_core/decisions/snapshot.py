"""One read of the cluster, as every decision sees it.

``growthrs run`` builds a :class:`Snapshot` from its watch caches on every
pass; ``growthrs plan`` builds one from a single list of each kind. Both go
through :func:`build_snapshot`, so the dry run decides on exactly what the
operator would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

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
)
from growthrs_core.domain import Offering


@dataclass(frozen=True)
class Snapshot:
    pods: Sequence[PodInfo]
    nodes: Sequence[NodeInfo]
    daemonsets: Sequence[DaemonSetInfo]
    groups: Sequence[GroupView]
    node_requests: Sequence[NodeRequestView]
    offerings: Mapping[str, Sequence[Offering]]
    """Provider -> its offerings in every region, for providers whose offerings are loaded."""
    installed: frozenset[str]
    """Providers some installed plugin registered."""
    now: datetime
    offering_errors: Mapping[str, str] = field(default_factory=dict)
    """Provider -> why its offerings could not be loaded."""
    namespaces: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Namespace -> its labels (for ``namespaceSelector``)."""
    claims: Sequence[ClaimInfo] = ()
    volumes: Sequence[VolumeInfo] = ()
    storage_classes: Sequence[StorageClassInfo] = ()
    nodes_visible_since: datetime | None = None
    """When the operator saw Nodes again after losing its watch of them (an apiserver
    outage); ``None`` if it never lost it. Nothing could be seen turning Ready before."""
    nodes_by_name: Mapping[str, NodeInfo] = field(default_factory=dict)
    groups_by_name: Mapping[str, GroupView] = field(default_factory=dict)
    pods_by_node: Mapping[str, Sequence[PodInfo]] = field(default_factory=dict)
    pods_by_key: Mapping[str, PodInfo] = field(default_factory=dict)

    def offerings_of(self, provider: str) -> Sequence[Offering] | None:
        return self.offerings.get(provider)


def build_snapshot(
    *,
    pods: Iterable[PodInfo],
    nodes: Iterable[NodeInfo],
    daemonsets: Iterable[DaemonSetInfo],
    groups: Iterable[GroupView],
    node_requests: Iterable[NodeRequestView],
    offerings: Mapping[str, Sequence[Offering]],
    installed: Iterable[str],
    now: datetime,
    offering_errors: Mapping[str, str] | None = None,
    namespaces: Iterable[NamespaceInfo] = (),
    claims: Iterable[ClaimInfo] = (),
    volumes: Iterable[VolumeInfo] = (),
    storage_classes: Iterable[StorageClassInfo] = (),
    nodes_visible_since: datetime | None = None,
) -> Snapshot:
    """The snapshot, with the indexes every decision needs built once."""
    pod_list = list(pods)
    node_list = list(nodes)
    group_list = list(groups)
    by_node: dict[str, list[PodInfo]] = {}
    for pod in pod_list:
        if pod.node_name:
            by_node.setdefault(pod.node_name, []).append(pod)
    return Snapshot(
        pods=pod_list,
        nodes=node_list,
        daemonsets=list(daemonsets),
        groups=group_list,
        node_requests=list(node_requests),
        offerings=dict(offerings),
        installed=frozenset(installed),
        now=now,
        offering_errors=dict(offering_errors or {}),
        namespaces={n.name: n.labels for n in namespaces},
        claims=list(claims),
        volumes=list(volumes),
        storage_classes=list(storage_classes),
        nodes_visible_since=nodes_visible_since,
        nodes_by_name={n.name: n for n in node_list},
        groups_by_name={g.name: g for g in group_list},
        pods_by_node=by_node,
        pods_by_key={p.key: p for p in pod_list},
    )


def providers_in_use(groups: Iterable[GroupView]) -> list[str]:
    """Providers named by some valid group's pools, in first-use order."""
    seen: dict[str, None] = {}
    for group in groups:
        for pool in group.spec.pools if group.spec is not None else ():
            seen.setdefault(pool.provider, None)
    return list(seen)
