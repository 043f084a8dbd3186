"""The NodeRequest lifecycle (SPEC §4 steps 5-7), one module per phase.

- :mod:`.launch` — Pending: which offering to ask for, and recording the answer;
- :mod:`.registration` — Provisioning: the node joined and accepts pods;
- :mod:`.liveness` — Provisioning: giving up on a node that does not join;
  Ready and Unmet: when the record is deleted.
"""

from __future__ import annotations

from datetime import datetime

from growthrs_core.cluster import NodeRequestView
from growthrs_core.decisions.node_request.launch import excluded, on_create_result, step_pending
from growthrs_core.decisions.node_request.liveness import check_provisioning, expire
from growthrs_core.decisions.node_request.registration import joined, registered
from growthrs_core.decisions.node_request.types import (
    NOTHING,
    Action,
    CreateInstance,
    DeleteInstance,
    DeleteNodeRequest,
    Event,
    LabelNode,
    MachineConfig,
    Observation,
    OfferingFailure,
    Transition,
    node_name_for,
)


def failed(
    nr: NodeRequestView, obs: Observation, now: datetime, cfg: MachineConfig
) -> Transition | None:
    transition = check_provisioning(nr, obs, now, cfg)
    return None if transition is NOTHING else transition


def step(
    nr: NodeRequestView,
    obs: Observation,
    now: datetime,
    cfg: MachineConfig,
) -> Transition:
    """Advance one NodeRequest by what was observed. Idempotent: stepping twice on
    the same observation gives the same answer."""
    if nr.deleting or nr.spec is None:
        return NOTHING
    if nr.status.phase == "Pending":
        return step_pending(nr, obs, now, cfg)
    if nr.status.phase == "Provisioning":
        return (
            joined(nr, obs, now) or failed(nr, obs, now, cfg) or registered(nr, obs, now) or NOTHING
        )
    return expire(nr, obs, now, cfg)


__all__ = [
    "NOTHING",
    "Action",
    "CreateInstance",
    "DeleteInstance",
    "DeleteNodeRequest",
    "Event",
    "LabelNode",
    "MachineConfig",
    "Observation",
    "OfferingFailure",
    "Transition",
    "excluded",
    "node_name_for",
    "on_create_result",
    "step",
]
