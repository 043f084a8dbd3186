"""What the demo observes: pods, NodeRequests, the group's nodes and the operator's Events.

Each poll makes a :class:`Snapshot`; the :class:`Tracker` accumulates what the
summary needs, because NodeRequests and nodes are deleted as the run goes on.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from growthrs_core.controller.kube import Kube, node_path, nr_path
from growthrs_core.quantity import count as quantity_count
from growthrs_core.quantity import cpu_millis, memory_mib

from .cluster import (
    DEPLOYMENT,
    GROUP_LABEL,
    INSTANCE_TYPE_LABEL,
    NAMESPACE,
    POOL_LABEL,
    REGION_LABEL,
    SCALE_DOWN_AT,
    SCALE_DOWN_TAINT,
    is_ready,
)


@dataclass
class NodeView:
    name: str
    pool: str
    instance_type: str
    region: str
    ready: bool
    marked: bool
    """Annotated growthrs.io/scale-down-at."""
    tainted: bool
    """Carries the growthrs.io/scale-down:NoSchedule taint."""
    deleting: bool
    fit: int
    """How many demo pods fit on this node, by its allocatable."""


@dataclass
class Snapshot:
    at: float
    pods_pending: int = 0
    pods_running: int = 0
    pods_total: int = 0
    nr_phases: Counter[str] = field(default_factory=Counter)
    nodes: list[NodeView] = field(default_factory=list)


@dataclass
class Tracker:
    """Everything observed during the run; NodeRequests and nodes are deleted as
    the run goes on, so what the summary needs is accumulated here."""

    group: str
    replicas: int
    pod_cpu_m: int
    pod_mem_mib: int
    pools: list[str]
    started: float = field(default_factory=time.monotonic)
    t_deploy: float | None = None
    t_first_nr: float | None = None
    t_first_ready_node: float | None = None
    t_all_running: float | None = None
    t_scale_in: float | None = None
    t_first_marked: float | None = None
    t_all_gone: float | None = None
    peak_nodes: int = 0
    nodes_seen: dict[str, NodeView] = field(default_factory=dict)
    attempts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    nr_seen: set[str] = field(default_factory=set)
    unmet: set[str] = field(default_factory=set)
    events: deque[str] = field(default_factory=lambda: deque(maxlen=6))
    events_seen: set[str] = field(default_factory=set)
    event_counts: Counter[str] = field(default_factory=Counter)
    unprinted: list[tuple[str, str]] = field(default_factory=list)
    """(reason, line) of events the plain output has not reported yet."""
    last: Snapshot = field(default_factory=lambda: Snapshot(at=time.monotonic()))
    phase: str = "setup"

    def since_deploy(self, moment: float | None) -> float | None:
        if moment is None or self.t_deploy is None:
            return None
        return moment - self.t_deploy

    def since_scale_in(self, moment: float | None) -> float | None:
        if moment is None or self.t_scale_in is None:
            return None
        return moment - self.t_scale_in


def fit_count(node: dict[str, Any], cpu_m: int, mem_mib: int) -> int:
    alloc = (node.get("status") or {}).get("allocatable") or {}
    try:
        return min(
            cpu_millis(alloc.get("cpu", "0")) // max(cpu_m, 1),
            memory_mib(alloc.get("memory", "0")) // max(mem_mib, 1),
            quantity_count(alloc.get("pods", "110")),
        )
    except Exception:  # noqa: BLE001 - a malformed quantity just means "unknown"
        return 0


def observe(kube: Kube, tr: Tracker, with_events: bool) -> Snapshot:
    """One poll of pods, NodeRequests, the group's nodes and operator events."""
    now = time.monotonic()
    snap = Snapshot(at=now)
    pods = kube.get(f"/api/v1/namespaces/{NAMESPACE}/pods", labelSelector=f"app={DEPLOYMENT}")
    for pod in pods["items"]:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        snap.pods_total += 1
        phase = (pod.get("status") or {}).get("phase")
        if phase == "Running":
            snap.pods_running += 1
        elif phase == "Pending":
            snap.pods_pending += 1
    nrs = kube.get(nr_path())
    for nr in nrs["items"]:
        if (nr.get("spec") or {}).get("nodeGroup") != tr.group:
            continue
        name = nr["metadata"]["name"]
        status = nr.get("status") or {}
        phase = status.get("phase", "Pending")
        snap.nr_phases[phase] += 1
        tr.nr_seen.add(name)
        tr.attempts[name] = status.get("attempts") or []
        if phase == "Unmet":
            tr.unmet.add(name)
        if tr.t_first_nr is None:
            tr.t_first_nr = now
    nodes = kube.get(node_path(), labelSelector=f"{GROUP_LABEL}={tr.group}")
    for node in nodes["items"]:
        meta = node["metadata"]
        labels = meta.get("labels") or {}
        view = NodeView(
            name=meta["name"],
            pool=labels.get(POOL_LABEL, "?"),
            instance_type=labels.get(INSTANCE_TYPE_LABEL, "?"),
            region=labels.get(REGION_LABEL, "?"),
            ready=is_ready(node),
            marked=SCALE_DOWN_AT in (meta.get("annotations") or {}),
            tainted=any(
                t.get("key") == SCALE_DOWN_TAINT
                for t in (node.get("spec") or {}).get("taints") or []
            ),
            deleting=bool(meta.get("deletionTimestamp")),
            fit=fit_count(node, tr.pod_cpu_m, tr.pod_mem_mib),
        )
        snap.nodes.append(view)
        tr.nodes_seen[view.name] = view
        if view.ready and tr.t_first_ready_node is None:
            tr.t_first_ready_node = now
        if view.marked and tr.t_scale_in is not None and tr.t_first_marked is None:
            tr.t_first_marked = now
    tr.peak_nodes = max(tr.peak_nodes, len(snap.nodes))
    if with_events:
        collect_events(kube, tr)
    tr.last = snap
    return snap


def collect_events(kube: Kube, tr: Tracker) -> None:
    """The operator's Events on NodeRequests, nodes and groups (posted to `default`)."""
    offset = time.time() - time.monotonic()  # monotonic -> wall clock
    started = tr.started + offset
    zero = (tr.t_deploy or tr.started) + offset
    events = kube.get(
        "/api/v1/namespaces/default/events", fieldSelector="reportingComponent=growthrs"
    )["items"]

    def stamp(ev: dict[str, Any]) -> str:
        return str(ev.get("eventTime") or ev.get("lastTimestamp") or "")

    for ev in sorted(events, key=stamp):
        uid = ev["metadata"]["uid"]
        if uid in tr.events_seen:
            continue
        tr.events_seen.add(uid)
        when = stamp(ev)
        try:
            moment = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
        if moment < started:
            continue  # from an earlier run on the same cluster
        obj = ev.get("involvedObject") or {}
        reason, message = str(ev.get("reason", "")), str(ev.get("message", ""))
        if obj.get("kind") == "NodeGroupWithPriority" and message.split(": ", 1)[0] in tr.nr_seen:
            continue  # the group's copy of a NodeRequest warning
        line = f"{moment - zero:6.1f}s {obj.get('kind', '?')} {obj.get('name', '?')}: {reason}: {message}"
        tr.events.append(line)
        tr.event_counts[reason] += 1
        tr.unprinted.append((reason, line))


def fallback_count(tr: Tracker) -> int:
    return sum(1 for atts in tr.attempts.values() for a in atts if a.get("result") == "Unavailable")
