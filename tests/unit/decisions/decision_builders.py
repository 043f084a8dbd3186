"""Small builders for the decision-layer tests: groups, nodes, requests, snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from growthrs_core.cluster import (
    GroupView,
    NodeInfo,
    NodeRequestView,
    PodInfo,
    parse_group,
    parse_node_request,
)
from growthrs_core.decisions.snapshot import Snapshot, build_snapshot
from growthrs_core.domain import InstanceType, Offering, Region, Resources, Zone
from growthrs_core.timeutil import format_time

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def ago(seconds: float, now: datetime = NOW) -> str:
    return format_time(now - timedelta(seconds=seconds))


def offering(
    name: str,
    cpu: int = 4000,
    mem: int = 8192,
    region: str = "fsn1",
    zone: str | None = None,
    cost: float = 0.01,
) -> Offering:
    return Offering(
        instance_type=InstanceType(name),
        resources=Resources(cpu_millis=cpu, memory_mib=mem),
        cost_per_hour=cost,
        region=Region(region),
        zone=Zone(zone) if zone else None,
    )


def group(name: str = "g", pools: Sequence[dict[str, Any]] | None = None, **spec: Any) -> GroupView:
    body = {
        "metadata": {"name": name, "uid": f"uid-{name}", "generation": 1},
        "spec": {
            "pools": list(
                pools
                or [
                    {"provider": "kwok", "serverType": ["cx32"], "priority": 90},
                    {"provider": "kwok", "serverType": ["cpx31"], "priority": 50},
                ]
            ),
            **spec,
        },
    }
    return parse_group(body)


def node(
    name: str,
    group_name: str = "g",
    *,
    pool: int | None = 0,
    provider: str | None = "kwok",
    instance_type: str = "cx32",
    region: str = "fsn1",
    ready: bool = True,
    deleting: bool = False,
    age: float = 3600,
    **labels: str,
) -> NodeInfo:
    all_labels = {
        "growthrs.io/node-group": group_name,
        "node.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/region": region,
        **labels,
    }
    if pool is not None:
        all_labels["growthrs.io/pool"] = str(pool)
    if provider is not None:
        all_labels["growthrs.io/provider"] = provider
    return NodeInfo(
        name=name,
        labels=all_labels,
        ready=ready,
        deleting=deleting,
        creation=ago(age),
        allocatable=Resources(cpu_millis=4000, memory_mib=8192),
    )


def request(
    name: str = "g-abc",
    phase: str = "Pending",
    group_name: str = "g",
    *,
    attempts: Sequence[dict[str, Any]] = (),
    pods: Sequence[str] = (),
    plannedPool: int | None = None,
    plannedOffering: str | None = None,
    **status: Any,
) -> NodeRequestView:
    return parse_node_request(
        {
            "metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": ago(100)},
            "spec": {
                "nodeGroup": group_name,
                "requirements": {"cpu": "1", "memory": "1Gi"},
                "pods": [{"namespace": p.split("/")[0], "name": p.split("/")[1]} for p in pods],
                "plannedPool": plannedPool,
                "plannedOffering": plannedOffering,
            },
            "status": {"phase": phase, "attempts": list(attempts), **status},
        }
    )


def created(
    pool: int = 0, offering_key: str = "cx32@fsn1", node_name: str = "g-abc", at: float = 10
) -> dict[str, Any]:
    return {
        "pool": pool,
        "provider": "kwok",
        "offering": offering_key,
        "result": "Created",
        "nodeName": node_name,
        "timestamp": ago(at),
    }


CATALOGUE = {
    "kwok": [
        offering("cx32", cost=0.02),
        offering("cpx31", cost=0.03),
        offering("cx32", region="nbg1", cost=0.02),
    ]
}


def snapshot(
    *,
    groups: Sequence[GroupView] = (),
    nodes: Sequence[NodeInfo] = (),
    node_requests: Sequence[NodeRequestView] = (),
    pods: Sequence[PodInfo] = (),
    offerings: dict[str, list[Offering]] | None = None,
    installed: Sequence[str] = ("kwok",),
    now: datetime = NOW,
    offering_errors: dict[str, str] | None = None,
) -> Snapshot:
    return build_snapshot(
        pods=pods,
        nodes=nodes,
        daemonsets=(),
        groups=groups,
        node_requests=node_requests,
        offerings=CATALOGUE if offerings is None else offerings,
        installed=installed,
        now=now,
        offering_errors=offering_errors,
    )
