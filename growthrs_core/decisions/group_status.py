"""A group's status: node counts per pool, conditions, and what it is backing off from.

Computed from the snapshot; a condition keeps its ``lastTransitionTime`` while
its status stays the same, and the shell writes the status only when it
differs from what the group already shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from growthrs_core.cluster import GroupView
from growthrs_core.crd.models import (
    Condition,
    NodeGroupWithPriorityStatus,
    PoolBlockStatus,
    PoolStatus,
)
from growthrs_core.decisions.identity import current_pool
from growthrs_core.decisions.memory import LoopMemory, PoolBlock, status_backoffs
from growthrs_core.decisions.node_request import Event
from growthrs_core.decisions.snapshot import Snapshot
from growthrs_core.timeutil import format_time


@dataclass(frozen=True)
class GroupStatusUpdate:
    group: str
    status: NodeGroupWithPriorityStatus
    events: tuple[Event, ...]
    """Announced when the status is written (the condition just turned so)."""


@dataclass(frozen=True)
class Problem:
    reason: str
    message: str


def _condition(
    type_: str, problem: Problem | None, stamp: str, ok: str, ok_message: str = ""
) -> Condition:
    if problem is None:
        return Condition(
            type=type_,
            status="False" if type_ != "Ready" else "True",
            reason=ok,
            message=ok_message,
            lastTransitionTime=stamp,
        )
    return Condition(
        type=type_,
        status="True" if type_ != "Ready" else "False",
        reason=problem.reason,
        message=problem.message[:1000],
        lastTransitionTime=stamp,
    )


def pool_problems(group: GroupView, snapshot: Snapshot, memory: LoopMemory) -> dict[int, Problem]:
    """Why each pool of ``group`` that cannot create a node now cannot."""
    spec = group.spec
    assert spec is not None
    out: dict[int, Problem] = {}
    for index, pool in enumerate(spec.pools):
        label = f"pool {index} ({pool.provider} {','.join(pool.serverType)})"
        block = memory.pool_blocks.get((group.name, index))
        offers = snapshot.offerings.get(pool.provider)
        locations = spec.pool_locations(pool)
        if block is not None:
            out[index] = Problem(block.reason, f"{label}: {block.message}")
        elif pool.provider not in snapshot.installed:
            out[index] = Problem("UnknownProvider", f"{label}: provider not installed")
        elif offers is None:
            why = snapshot.offering_errors.get(pool.provider) or "offerings not loaded yet"
            out[index] = Problem("OfferingsUnavailable", f"{label}: {why}")
        elif pool.maxNodes == 0:
            out[index] = Problem("MaxNodesZero", f"{label}: maxNodes is 0")
        else:
            types = {str(o.instance_type) for o in offers}
            regions = {str(o.region) for o in offers}
            unknown_types = sorted(t for t in pool.serverType if t not in types)
            unknown_places = sorted(loc for loc in locations or () if loc not in regions)
            usable = [
                o
                for o in offers
                if o.instance_type in pool.serverType
                and (locations is None or o.region in locations)
            ]
            if unknown_types and len(unknown_types) == len(pool.serverType):
                out[index] = Problem(
                    "UnknownServerType",
                    f"{label}: {pool.provider} offers no {', '.join(unknown_types)}",
                )
            elif unknown_places and len(unknown_places) == len(locations or ()):
                out[index] = Problem(
                    "UnknownLocation",
                    f"{label}: {pool.provider} has no location {', '.join(unknown_places)}",
                )
            elif not usable:
                out[index] = Problem(
                    "NoOfferings", f"{label}: no offering of these types in these locations"
                )
            elif all(
                (pool.provider, o.key) in memory.offering_backoffs
                and memory.offering_backoffs[(pool.provider, o.key)].hard
                and memory.offering_backoffs[(pool.provider, o.key)].active(snapshot.now)
                for o in usable
            ):
                last = memory.offering_backoffs[(pool.provider, usable[0].key)]
                out[index] = Problem(
                    "BackingOff",
                    f"{label}: every offering is backing off after failures (last: {last.reason})",
                )
    return out


def group_problem(group: GroupView, snapshot: Snapshot, memory: LoopMemory) -> Problem | None:
    """Why ``group`` as a whole can create nothing now, or ``None``."""
    spec = group.spec
    assert spec is not None
    if spec.maxNodes == 0:
        return Problem("MaxNodesZero", f"node group {group.name} has maxNodes 0")
    backoff = memory.group_backoffs.get(group.name)
    if backoff is not None and backoff.active(snapshot.now):
        return Problem(
            "BackingOff",
            f"a NodeRequest went Unmet ({backoff.reason}); no creates until "
            f"{format_time(backoff.until)} ({backoff.failures} in a row)",
        )
    return None


def _block_status(block: PoolBlock | None) -> PoolBlockStatus | None:
    if block is None:
        return None
    return PoolBlockStatus(
        reason=block.reason,
        message=block.message[:500],
        since=format_time(block.since),
        generation=block.generation,
        fingerprint=[f"{what}={version}" for what, version in block.fingerprint],
    )


def compute_status(
    group: GroupView,
    snapshot: Snapshot,
    memory: LoopMemory,
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
        PoolStatus(
            index=i,
            provider=p.provider,
            nodes=counts[i],
            ready=ready[i],
            block=_block_status(memory.pool_blocks.get((group.name, i))),
        )
        for i, p in enumerate(spec.pools)
    ]
    missing = sorted({p.provider for p in spec.pools if p.provider not in snapshot.installed})
    unknown = None
    if missing:
        unknown = Problem(
            "UnknownProvider",
            f"pools name provider(s) not installed: {', '.join(missing)} (installed: {installed_names})",
        )
    problems = pool_problems(group, snapshot, memory)
    whole = group_problem(group, snapshot, memory)
    blocked = whole
    if blocked is None and problems:
        first = problems[min(problems)]
        blocked = Problem(first.reason, "; ".join(p.message for _, p in sorted(problems.items())))
    not_ready = whole
    if not_ready is None and len(problems) == len(spec.pools):
        assert blocked is not None
        not_ready = Problem(blocked.reason, "no pool can create a node: " + blocked.message)
    conditions = [
        _condition("ProviderUnknown", unknown, stamp, "AllInstalled"),
        _condition("ScaleUpBlocked", blocked, stamp, "ScaleUpPossible"),
        _condition("Ready", not_ready, stamp, "Ready"),
    ]
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
        backoffs=status_backoffs(memory.offering_backoffs, pool_offerings, snapshot.now),
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


ANNOUNCED = {"ProviderUnknown": "True", "ScaleUpBlocked": "True"}
"""Conditions announced with a Warning event when they turn to this status."""


def turned_on(
    new: NodeGroupWithPriorityStatus, old: NodeGroupWithPriorityStatus
) -> tuple[Event, ...]:
    """Warnings for conditions that just became true (or changed message)."""
    before = {(c.type, c.status, c.message) for c in old.conditions}
    events = []
    for cond in new.conditions:
        if (cond.type, cond.status, cond.message) in before:
            continue
        if ANNOUNCED.get(cond.type) == cond.status:
            text = (
                cond.message if cond.type == "ProviderUnknown" else f"{cond.reason}: {cond.message}"
            )
            events.append(Event("Warning", cond.type, text))
        if cond.type == "Ready" and cond.status == "False" and cond.reason == "InvalidSpec":
            events.append(Event("Warning", "InvalidSpec", cond.message))
    return tuple(events)


def status_updates(
    snapshot: Snapshot, memory: LoopMemory, installed_names: str
) -> list[GroupStatusUpdate]:
    """The groups whose status must be written, with what to write and announce."""
    updates = []
    for group in snapshot.groups:
        status = carry_transition_times(
            compute_status(group, snapshot, memory, installed_names), group.status
        )
        if status == group.status:
            continue
        updates.append(GroupStatusUpdate(group.name, status, turned_on(status, group.status)))
    return updates


def node_states(snapshot: Snapshot) -> dict[tuple[str, str, str], int]:
    """Managed nodes by (group, current pool or "none", state): ``ready``, ``not_ready``
    or ``marked`` (for scale-down), for the ``growthrs_nodes`` metric."""
    specs = {g.name: g.spec for g in snapshot.groups}
    counts: dict[tuple[str, str, str], int] = {}
    for node in snapshot.nodes:
        identity = node.identity
        if not identity.managed:
            continue
        index = current_pool(identity, specs.get(identity.group))
        state = "marked" if node.scale_down_at else "ready" if node.ready else "not_ready"
        key = (identity.group, "none" if index is None else str(index), state)
        counts[key] = counts.get(key, 0) + 1
    return counts
