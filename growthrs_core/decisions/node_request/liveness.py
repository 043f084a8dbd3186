"""Liveness: when to give up on a node that does not join, and when a record is done.

A Provisioning instance that failed, vanished before it joined, or is not
ready for pods within ``readiness_wait`` is deleted and the request goes back
to Pending to try again (the attempt counts against its pool, and the offering
backs off for every request, as after a failed create). A node that is Ready
outweighs a ``Failed`` from the provider: the machine evidently runs, and
pods may already be bound there, so it is left to join (or to scale-down). Ready and
Unmet requests are deleted after their TTL; a Ready one whose node is gone
goes early.
"""

from __future__ import annotations

from datetime import datetime

from growthrs_core.cluster import NodeInfo, NodeRequestView
from growthrs_core.crd.models import AttemptResult
from growthrs_core.decisions.node_request.types import (
    NOTHING,
    DeleteInstance,
    DeleteNodeRequest,
    Event,
    MachineConfig,
    Observation,
    OfferingFailure,
    Transition,
    add_attempt,
    last_created,
    with_changes,
    with_conditions,
)
from growthrs_core.domain import Failed, NodeId, NotFound
from growthrs_core.timeutil import age_seconds


def _join_timeout_message(node_name: str, node: NodeInfo | None, since: float) -> str:
    if node is not None and node.ready:
        return (
            f"node {node_name} is Ready but still tainted {', '.join(node.startup_taints)}"
            f" after {int(since)}s"
        )
    return f"node {node_name} not Ready after {int(since)}s"


def check_provisioning(
    nr: NodeRequestView, obs: Observation, now: datetime, cfg: MachineConfig
) -> Transition:
    """Fail the attempt (delete the instance, back to Pending) when it cannot succeed."""
    status = nr.status
    created = last_created(status)
    node_name = status.nodeName or ""
    pool = status.currentPool if status.currentPool is not None else -1
    provider = created.provider if created else ""
    node = obs.node
    since = age_seconds(created.timestamp if created else status.lastTransitionTime, now) or 0.0
    waited = since
    if obs.visible_since is not None:
        # The join clock restarts when the operator could see Nodes again.
        waited = min(since, max((now - obs.visible_since).total_seconds(), 0.0))
    failure: tuple[AttemptResult, str] | None = None
    if isinstance(obs.provider_status, Failed) and not (node is not None and node.ready):
        failure = ("Failed", f"instance failed: {obs.provider_status.reason}")
    elif waited >= cfg.readiness_wait:
        failure = ("JoinTimeout", _join_timeout_message(node_name, node, since))
    elif (
        isinstance(obs.provider_status, NotFound)
        and node is None
        and since >= cfg.instance_gone_grace
    ):
        failure = ("Failed", f"instance {node_name} disappeared before it joined")
    if failure is None:
        return NOTHING
    result, message = failure
    attempts = add_attempt(
        status,
        now,
        pool=pool,
        provider=provider,
        offering=status.offering or "",
        result=result,
        message=message,
        node_name=node_name,
    )
    new = with_changes(
        status,
        now,
        phase="Pending",
        attempts=attempts,
        nodeName=None,
        providerID=None,
        message=message,
    )
    new = with_conditions(
        new,
        now,
        Launched=(False, result, message),
        Registered=(False, result, message),
        Ready=(False, result, message),
    )
    return Transition(
        status=new,
        actions=(DeleteInstance(provider, NodeId(node_name), node_name, message),),
        events=(
            Event("Warning", result, message + "; the instance is removed and another is tried"),
        ),
        failed_offering=OfferingFailure(provider, status.offering or "", message)
        if provider and status.offering
        else None,
    )


def expire(nr: NodeRequestView, obs: Observation, now: datetime, cfg: MachineConfig) -> Transition:
    """Delete a finished (Ready or Unmet) request after its TTL, or a Ready one whose node is gone."""
    status = nr.status
    ttl = cfg.ready_ttl if status.phase == "Ready" else cfg.unmet_ttl
    age = age_seconds(status.lastTransitionTime or nr.creation, now)
    if (
        status.phase == "Ready"
        and obs.node is None
        and age is not None
        and age >= cfg.node_gone_grace
    ):
        # The node was scaled away (or deleted by hand): the record has served its purpose.
        return Transition(actions=(DeleteNodeRequest(f"node {status.nodeName} is gone"),))
    if age is not None and age >= ttl:
        return Transition(actions=(DeleteNodeRequest(f"{status.phase} for {int(age)}s"),))
    return NOTHING
