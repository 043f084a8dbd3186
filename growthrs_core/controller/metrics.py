"""Prometheus metrics: what each answers is in docs/metrics.md.

Names follow Prometheus conventions (``_total`` counters, ``_seconds`` units,
base units); prometheus_client's ``_created`` series are switched off, so a
counter is one series, not two.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram, Info, disable_created_metrics

from growthrs_core.decisions.group_status import node_states
from growthrs_core.provider import ReportsRateLimit

if TYPE_CHECKING:
    from growthrs_core.controller.providers import ProviderHub
    from growthrs_core.decisions.snapshot import Snapshot

disable_created_metrics()  # type: ignore[no-untyped-call]

PLAN_DURATION = Histogram(
    "growthrs_plan_duration_seconds",
    "Time one planning pass took.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
NODE_REQUESTS_CREATED = Counter(
    "growthrs_node_requests_created_total", "NodeRequests created, by group.", ["group"]
)
NODE_REQUESTS = Gauge("growthrs_node_requests", "NodeRequests by phase.", ["phase"])
UNSCHEDULABLE_PODS = Gauge(
    "growthrs_unschedulable_pods", "Pods the scheduler could not place, waiting for capacity."
)
NODES = Gauge(
    "growthrs_nodes",
    "Managed nodes by group, pool and state (ready, not_ready, marked for scale-down).",
    ["group", "pool", "state"],
)
GROUP_MIN = Gauge("growthrs_group_min_nodes", "A group's minNodes.", ["group"])
GROUP_MAX = Gauge("growthrs_group_max_nodes", "A group's maxNodes (-1: no limit).", ["group"])
SCALE_UP_FAILURES = Counter(
    "growthrs_scale_up_failures_total",
    "Failed attempts to add a node, by group and reason (OfferingUnavailable, CreationFailed, JoinTimeout, Failed, Unmet).",
    ["group", "reason"],
)
NODES_REMOVED = Counter(
    "growthrs_nodes_removed_total", "Nodes removed, by group and reason.", ["group", "reason"]
)
PROVIDER_CALL_DURATION = Histogram(
    "growthrs_provider_call_duration_seconds",
    "Time provider calls took, by provider and method.",
    ["provider", "method"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
PROVIDER_ERRORS = Counter(
    "growthrs_provider_errors_total",
    "Provider calls that failed, by provider, method and error kind.",
    ["provider", "method", "kind"],
)
PROVIDER_RATE_LIMIT_REMAINING = Gauge(
    "growthrs_provider_rate_limit_remaining",
    "Requests left in a provider API's budget at its last answer (providers that report it).",
    ["provider"],
)
LAST_SCALE_UP = Gauge(
    "growthrs_last_scale_up_timestamp_seconds",
    "When a node was last requested for a group (UNIX time).",
    ["group"],
)
LAST_SCALE_DOWN = Gauge(
    "growthrs_last_scale_down_timestamp_seconds",
    "When a node of a group was last removed (UNIX time).",
    ["group"],
)
LAST_LOOP = Gauge(
    "growthrs_last_loop_timestamp_seconds", "When the loop last ran a pass (UNIX time)."
)
IS_LEADER = Gauge("growthrs_is_leader", "1 on the replica that leads, 0 on a standby.")
BUILD = Info("growthrs_build", "The running version.")


def _version() -> str:
    try:
        return metadata.version("growthrs-core")
    except metadata.PackageNotFoundError:
        return "unknown"


BUILD.info({"version": _version(), "python": platform.python_version()})


def report(snapshot: Snapshot, phases: dict[str, int], hub: ProviderHub) -> None:
    """Set the gauges that describe the cluster as one pass saw it."""
    for phase, count in phases.items():
        NODE_REQUESTS.labels(phase).set(count)
    NODES.clear()
    for (group_name, pool, state), count in node_states(snapshot).items():
        NODES.labels(group_name, pool, state).set(count)
    GROUP_MIN.clear()
    GROUP_MAX.clear()
    for group in snapshot.groups:
        if group.spec is not None:
            GROUP_MIN.labels(group.name).set(group.spec.minNodes)
            limit = group.spec.maxNodes
            GROUP_MAX.labels(group.name).set(-1 if limit is None else limit)
    for name, provider in hub.instantiated().items():
        if isinstance(provider, ReportsRateLimit):
            remaining = provider.rate_limit_remaining()
            if remaining is not None:
                PROVIDER_RATE_LIMIT_REMAINING.labels(name).set(remaining)
