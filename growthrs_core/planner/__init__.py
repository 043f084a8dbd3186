"""The planner: pure functions from the watched cluster to the nodes to ask for.

``plan(PlanningInput) -> Plan`` is the whole API the controller needs; the
helpers below are shared with the NodeRequest state machine and the controller.
See ``docs/planner.md`` for the behaviour in prose.
"""

from __future__ import annotations

from growthrs_core.planner.fallback import fallback_offerings
from growthrs_core.planner.matching import new_node_labels, offering_satisfies
from growthrs_core.planner.outcome import REASONS, OutcomeKind, PodOutcome, is_warning
from growthrs_core.planner.planner import Plan, PlannedNode, PlanningInput, plan
from growthrs_core.planner.selection import unschedulable_pods
from growthrs_core.planner.volumes import TOPOLOGY_ALIASES

__all__ = [
    "REASONS",
    "TOPOLOGY_ALIASES",
    "OutcomeKind",
    "Plan",
    "PlannedNode",
    "PlanningInput",
    "PodOutcome",
    "fallback_offerings",
    "is_warning",
    "new_node_labels",
    "offering_satisfies",
    "plan",
    "unschedulable_pods",
]
