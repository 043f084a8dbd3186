"""Launch: a Pending NodeRequest asks a provider for its node (SPEC §4 step 5).

The request asks for the best candidate its attempts have not ruled out; the
provider's answer is recorded as an attempt. An offering that had no capacity
is not asked again by this request; a pool is given up after ``max_attempts``
failed creations or joins, or one failure that says a retry will not help.
With nothing left the request is Unmet.
"""

from __future__ import annotations

from datetime import datetime

from growthrs_core.cluster import GroupView, NodeRequestView
from growthrs_core.crd.models import NodeRequestStatus
from growthrs_core.decisions.candidates import choose_candidate
from growthrs_core.decisions.node_request.types import (
    NOTHING,
    CreateInstance,
    Event,
    MachineConfig,
    Observation,
    Transition,
    add_attempt,
    node_name_for,
    with_changes,
    with_conditions,
)
from growthrs_core.domain import NodeId
from growthrs_core.errors import OfferingUnavailable, ProviderError
from growthrs_core.labels import NODE_REQUEST_LABEL, PROVIDER_LABEL
from growthrs_core.planner.matching import new_node_labels


def excluded(status: NodeRequestStatus, max_attempts: int) -> tuple[set[int], set[tuple[int, str]]]:
    """Pools this request has given up on, and offerings that had no capacity for it."""
    failures: dict[int, int] = {}
    pools: set[int] = set()
    offerings: set[tuple[int, str]] = set()
    for a in status.attempts:
        if a.result == "Unavailable":
            offerings.add((a.pool, a.offering))
        elif a.result in ("Failed", "JoinTimeout"):
            failures[a.pool] = failures.get(a.pool, 0) + 1
            if not a.retryable or failures[a.pool] >= max_attempts:
                pools.add(a.pool)
    return pools, offerings


def step_pending(
    nr: NodeRequestView, obs: Observation, now: datetime, cfg: MachineConfig
) -> Transition:
    """Ask for the planned offering, else the best fallback; Unmet when none is left.

    A request whose group is backing off, or whose choice another request is
    probing, waits (stays Pending, covering its pods) instead.
    """
    status = nr.status
    if obs.hold:
        return NOTHING
    bad_pools, bad_offerings = excluded(status, cfg.max_attempts)
    usable = [
        c
        for c in obs.candidates
        if c.pool_index not in bad_pools and (c.pool_index, c.offering.key) not in bad_offerings
    ]
    chosen = choose_candidate(nr, usable)
    if chosen is None:
        message = unmet_message(status, obs, bad_pools, bad_offerings)
        new = with_changes(status, now, phase="Unmet", message=message, currentPool=None)
        new = with_conditions(
            new, now, Launched=(False, "Unmet", message), Ready=(False, "Unmet", message)
        )
        return Transition(status=new, events=(Event("Warning", "Unmet", message),))
    if (chosen.pool.provider, chosen.offering.key) in obs.probing:
        return NOTHING
    return Transition(
        actions=(
            CreateInstance(
                pool_index=chosen.pool_index,
                provider=chosen.pool.provider,
                offering=chosen.offering,
                node_name=node_name_for(nr.name, status),
            ),
        )
    )


def unmet_message(
    status: NodeRequestStatus,
    obs: Observation,
    bad_pools: set[int],
    bad_offerings: set[tuple[int, str]],
) -> str:
    reasons = list(obs.unusable)
    for pool in sorted(bad_pools):
        last = [a for a in status.attempts if a.pool == pool and a.result != "Created"]
        why = last[-1].message if last else "failed"
        reasons.append(f"pool {pool}: gave up ({why})")
    by_pool: dict[int, list[str]] = {}
    for pool, offering in sorted(bad_offerings):
        if pool not in bad_pools:
            by_pool.setdefault(pool, []).append(offering)
    for pool, offerings in by_pool.items():
        reasons.append(f"pool {pool}: no capacity for {', '.join(offerings)}")
    if not reasons:
        reasons.append("no pool has an offering that meets the requirements")
    return "no pool could provide the node: " + "; ".join(reasons)


def on_create_result(
    nr: NodeRequestView,
    action: CreateInstance,
    result: NodeId | ProviderError,
    now: datetime,
) -> Transition:
    """Record what the provider answered to a :class:`CreateInstance`."""
    status = nr.status
    offering = action.offering.key
    pool, provider = action.pool_index, action.provider
    if isinstance(result, OfferingUnavailable):
        attempts = add_attempt(
            status,
            now,
            pool=pool,
            provider=provider,
            offering=offering,
            result="Unavailable",
            message=result.message,
        )
        msg = f"{action.provider} has no capacity for {offering}: {result.message}"
        new = with_conditions(
            with_changes(status, now, attempts=attempts),
            now,
            Launched=(False, "OfferingUnavailable", msg),
        )
        return Transition(
            status=new,
            events=(Event("Warning", "OfferingUnavailable", msg),),
        )
    if isinstance(result, ProviderError):
        attempts = add_attempt(
            status,
            now,
            pool=pool,
            provider=provider,
            offering=offering,
            result="Failed",
            message=result.message,
            retryable=result.retryable,
        )
        msg = f"creating {offering} with {action.provider} failed: {result.message}"
        new = with_conditions(
            with_changes(status, now, attempts=attempts),
            now,
            Launched=(False, "CreationFailed", msg),
        )
        return Transition(
            status=new,
            events=(Event("Warning", "CreationFailed", msg),),
        )
    attempts = add_attempt(
        status,
        now,
        pool=pool,
        provider=provider,
        offering=offering,
        result="Created",
        message=f"instance {result}",
        node_name=action.node_name,
    )
    new = with_changes(
        status,
        now,
        phase="Provisioning",
        currentPool=action.pool_index,
        offering=offering,
        nodeName=action.node_name,
        attempts=attempts,
        message=f"creating {offering} with {action.provider}",
    )
    new = with_conditions(
        new,
        now,
        Launched=(
            True,
            "Created",
            f"{action.provider} is creating {action.node_name} ({offering})",
        ),
        Registered=(False, "Waiting", f"node {action.node_name} has not registered yet"),
        Ready=(False, "Waiting", f"node {action.node_name} is not ready yet"),
    )
    return Transition(
        status=new,
        events=(
            Event(
                "Normal",
                "Provisioning",
                f"creating node {action.node_name} ({offering}) with {action.provider}, pool {action.pool_index}",
            ),
        ),
    )


def creation_labels(
    nr: NodeRequestView, group: GroupView, action: CreateInstance
) -> dict[str, str]:
    """The labels a new node is created with: its group's, its offering's, and its identity
    (group, pool, request, provider), which it keeps whatever happens to the group later."""
    labels = new_node_labels(group, action.pool_index, action.offering)
    labels[NODE_REQUEST_LABEL] = nr.name
    labels[PROVIDER_LABEL] = action.provider
    return labels
