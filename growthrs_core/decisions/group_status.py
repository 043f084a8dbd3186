"""A group's status: node counts per pool, conditions, and what it is backing off from.

Computed from the snapshot; a condition keeps its ``lastTransitionTime`` while
its status stays the same, and the shell writes the status only when it
differs from what the group already shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from growthrs_core.cluster import GroupView
from growthrs_core.crd.models import Condition, NodeGroupWithPriorityStatus, PoolStatus
from growthrs_core.decisions.backoff import Backoff
from growthrs_core.decisions.identity import current_pool
from growthrs_core.decisions.memory import OfferingRef, status_backoffs
from growthrs_core.decisions.node_request import Event
from growthrs_core.decisions.snapshot import Snapshot
from growthrs_core.timeutil import format_time


@dataclass(frozen=True)
class GroupStatusUpdate:
    group: str
    status: NodeGroupWithPriorityStatus
    events: tuple[Event, ...]
    """Announced when the status is written (the condition just turned so)."""


def compute_status(
    group: GroupView,
    snapshot: Snapshot,
    backoffs: Mapping[OfferingRef, Backoff],
    installed_names: str,
) -> NodeGroupWithPriorityStatus:
    """What ``group``'s status should say now (transition times not yet carried over)."""
    stamp = format_time(snapshot.now)
    if group.spec is None:
        return NodeGroupWithPriorityStatus(
            observedGeneration=group.generation,
            conditions=[
                Condition(
                    type="Ready",
                    status="False",
                    reason="InvalidSpec",
                    message=group.error or "",
                    lastTransitionTime=stamp,
                )
            ],
        )
    spec = group.spec
    members = [n for n in snapshot.nodes if n.node_group == group.name]
    counts = [0] * len(spec.pools)
    ready = [0] * len(spec.pools)
    for node in members:
        index = current_pool(node.identity, spec)
        if index is not None:
            counts[index] += 1
            ready[index] += 1 if node.ready else 0
    pools = [
        PoolStatus(index=i, provider=p.provider, nodes=counts[i], ready=ready[i])
        for i, p in enumerate(spec.pools)
    ]
    missing = sorted({p.provider for p in spec.pools if p.provider not in snapshot.installed})
    conditions = []
    if missing:
        msg = f"pools name provider(s) not installed: {', '.join(missing)} (installed: {installed_names})"
        conditions.append(
            Condition(
                type="ProviderUnknown",
                status="True",
                reason="UnknownProvider",
                message=msg,
                lastTransitionTime=stamp,
            )
        )
    else:
        conditions.append(
            Condition(
                type="ProviderUnknown",
                status="False",
                reason="AllInstalled",
                lastTransitionTime=stamp,
            )
        )
    usable = len(missing) < len({p.provider for p in spec.pools})
    conditions.append(
        Condition(
            type="Ready",
            status="True" if usable else "False",
            reason="Ready" if usable else "NoUsablePool",
            message="" if usable else "no pool has an installed provider",
            lastTransitionTime=stamp,
        )
    )
    pool_offerings = {
        p.provider: [
            o.key for o in snapshot.offerings.get(p.provider, ()) if o.instance_type in p.serverType
        ]
        for p in spec.pools
    }
    return NodeGroupWithPriorityStatus(
        observedGeneration=group.generation,
        nodes=len(members),
        pools=pools,
        conditions=conditions,
        backoffs=status_backoffs(backoffs, pool_offerings, snapshot.now),
    )


def carry_transition_times(
    new: NodeGroupWithPriorityStatus, old: NodeGroupWithPriorityStatus
) -> NodeGroupWithPriorityStatus:
    """A condition's lastTransitionTime changes only when its status does."""
    before = {c.type: c for c in old.conditions}
    conditions = []
    for cond in new.conditions:
        prior = before.get(cond.type)
        if prior is not None and prior.status == cond.status and prior.lastTransitionTime:
            cond = cond.model_copy(update={"lastTransitionTime": prior.lastTransitionTime})
        conditions.append(cond)
    return new.model_copy(update={"conditions": conditions})


def turned_on(
    new: NodeGroupWithPriorityStatus, old: NodeGroupWithPriorityStatus
) -> tuple[Event, ...]:
    """Warnings for conditions that just became true (or changed message)."""
    before = {(c.type, c.status, c.message) for c in old.conditions}
    events = []
    for cond in new.conditions:
        if (cond.type, cond.status, cond.message) in before:
            continue
        if cond.type == "ProviderUnknown" and cond.status == "True":
            events.append(Event("Warning", "ProviderUnknown", cond.message))
        if cond.type == "Ready" and cond.status == "False" and cond.reason == "InvalidSpec":
            events.append(Event("Warning", "InvalidSpec", cond.message))
    return tuple(events)


def status_updates(
    snapshot: Snapshot, backoffs: Mapping[OfferingRef, Backoff], installed_names: str
) -> list[GroupStatusUpdate]:
    """The groups whose status must be written, with what to write and announce."""
    updates = []
    for group in snapshot.groups:
        status = carry_transition_times(
            compute_status(group, snapshot, backoffs, installed_names), group.status
        )
        if status == group.status:
            continue
        updates.append(GroupStatusUpdate(group.name, status, turned_on(status, group.status)))
    return updates
