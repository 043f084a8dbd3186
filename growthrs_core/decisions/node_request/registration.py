"""Registration and initialisation: a Provisioning request's node joins (SPEC §4 step 6).

The request turns Ready when its node is Ready *and* free of the start-up
taints: until then the scheduler binds nothing there, so its room still
counts as in flight. The node is then labelled with its group and request.
"""

from __future__ import annotations

from datetime import datetime

from growthrs_core.cluster import GroupView, NodeRequestView
from growthrs_core.decisions.node_request.types import (
    Event,
    LabelNode,
    Observation,
    Transition,
    last_created,
    with_changes,
    with_conditions,
)
from growthrs_core.domain import Offering
from growthrs_core.labels import NODE_GROUP_LABEL, NODE_REQUEST_LABEL, POOL_LABEL, PROVIDER_LABEL
from growthrs_core.planner.matching import new_node_labels


def registered(nr: NodeRequestView, obs: Observation, now: datetime) -> Transition | None:
    """``Registered`` once the node object exists (it may not accept pods yet)."""
    node = obs.node
    if node is None or node.deleting:
        return None
    if any(c.type == "Registered" and c.status == "True" for c in nr.status.conditions):
        return None
    name = nr.status.nodeName or node.name
    message = f"node {name} registered; waiting for it to accept pods"
    if node.startup_taints:
        message += f" (still tainted {', '.join(node.startup_taints)})"
    return Transition(
        status=with_conditions(nr.status, now, Registered=(True, "Registered", message))
    )


def joined(nr: NodeRequestView, obs: Observation, now: datetime) -> Transition | None:
    """``Ready`` with the node labelled, when the node accepts pods (or the scheduler
    has already bound pods to it, which may be seen before its Ready); else ``None``."""
    node = obs.node
    if node is None or node.deleting or not (node.accepts_pods or obs.workload > 0):
        return None
    status = nr.status
    node_name = status.nodeName or ""
    pool = status.currentPool if status.currentPool is not None else -1
    new = with_changes(
        status,
        now,
        phase="Ready",
        providerID=node.provider_id or status.providerID,
        message=f"node {node_name} is Ready",
    )
    new = with_conditions(
        new,
        now,
        Registered=(True, "Registered", f"node {node_name} registered"),
        Ready=(True, "Ready", f"node {node_name} is Ready and accepts pods"),
    )
    return Transition(
        status=new,
        actions=(LabelNode(node_name, pool, status.offering or ""),),
        events=(Event("Normal", "Ready", f"node {node_name} joined and is Ready"),),
    )


def ready_labels(
    nr: NodeRequestView, group: GroupView | None, offering: Offering | None
) -> dict[str, str]:
    """The labels a node gets when its request turns Ready (SPEC §4 step 6).

    Everything comes from the request's own record (its status and last created
    attempt), never from the group's current pool list, which may have changed
    since: a node keeps the identity it was created with.
    """
    created = last_created(nr.status)
    pool = nr.status.currentPool if nr.status.currentPool is not None else -1
    labels = {NODE_GROUP_LABEL: nr.group, NODE_REQUEST_LABEL: nr.name}
    if offering is not None and group is not None:
        labels.update(new_node_labels(group, pool, offering))
        if pool < 0:
            del labels[POOL_LABEL]
    if created is not None and created.provider:
        labels[PROVIDER_LABEL] = created.provider
    return labels
