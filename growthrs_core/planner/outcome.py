"""What a plan says about each pending pod: one :class:`PodOutcome` per pod.

Every pod the planner considered (an unschedulable pod nobody else is about to
place) ends in exactly one of four kinds:

- ``planned``: a new node of ``Plan.new_nodes[planned_node]`` is for it;
- ``fits_existing``: the free room of existing node ``node`` holds it, so it is
  left to the scheduler;
- ``in_flight``: NodeRequest ``node_request`` (Pending or Provisioning) will
  hold it: it lists the pod, or its offering has room left for it; or an Unmet
  NodeRequest lists it and holds it until it is deleted after ``unmet_ttl``;
- ``cannot_serve``: no plan can serve it now; ``reason`` is a machine-readable
  code (one of :data:`REASONS`) and ``message`` says in words which rule failed
  and what would change that.

The shell turns ``planned`` into a ``TriggeredScaleUp`` event and
``cannot_serve`` into an event whose reason is the code (a Warning when
:func:`is_warning`: the pod or a group needs fixing by a person).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

OutcomeKind = Literal["planned", "fits_existing", "in_flight", "cannot_serve"]

AMBIGUOUS_NODE_GROUP: Final = "AmbiguousNodeGroup"
"""Several node groups match the pod; none is chosen for it."""
NO_MATCHING_GROUP: Final = "NoMatchingGroup"
"""No node group's labels and taints accept the pod (or the group it is pinned to does not)."""
NODE_GROUP_NOT_FOUND: Final = "NodeGroupNotFound"
"""The pod is pinned (``growthrs.io/node-group``) to a group that does not exist."""
INVALID_NODE_GROUP: Final = "InvalidNodeGroup"
"""The pod is pinned to a group whose spec is invalid."""
VOLUME_TOPOLOGY: Final = "VolumeTopology"
"""A volume the pod mounts can only attach where its group creates no node."""
VOLUME_NOT_BOUND: Final = "VolumeNotBound"
"""A claim the pod mounts is unbound and binds immediately: the volume controller, not a
new node, must act first."""
MAX_NODES_REACHED: Final = "MaxNodesReached"
"""The group's (or every fitting pool's) ``maxNodes`` is used up."""
NO_OFFERING_FITS: Final = "NoOfferingFits"
"""No offering the pod may use is big enough (after DaemonSet overhead), or the group has none."""
UNSATISFIABLE: Final = "Unsatisfiable"
"""Pod (anti-)affinity, topology spread or host ports leave no place on any new node."""
INVALID_POD_SPEC: Final = "InvalidPodSpec"
"""The pod's spec cannot be read (say, a malformed quantity); it is skipped."""
SCALE_UP_BLOCKED: Final = "ScaleUpBlocked"
"""Only pools a provider said cannot work (no node class, a bad token, a missing Secret)
could serve the pod; ``PlanningInput.blocked_pools`` says why."""

REASONS: Final = (
    AMBIGUOUS_NODE_GROUP,
    NO_MATCHING_GROUP,
    NODE_GROUP_NOT_FOUND,
    INVALID_NODE_GROUP,
    VOLUME_TOPOLOGY,
    VOLUME_NOT_BOUND,
    MAX_NODES_REACHED,
    NO_OFFERING_FITS,
    UNSATISFIABLE,
    INVALID_POD_SPEC,
    SCALE_UP_BLOCKED,
)
"""Every reason code a ``cannot_serve`` outcome may carry."""

_WARNINGS: Final = frozenset(
    {
        AMBIGUOUS_NODE_GROUP,
        NODE_GROUP_NOT_FOUND,
        INVALID_NODE_GROUP,
        INVALID_POD_SPEC,
        VOLUME_TOPOLOGY,
        SCALE_UP_BLOCKED,
    }
)


def is_warning(reason: str) -> bool:
    """Whether a person must fix the pod, its volume or a group (a Warning event),
    rather than the cluster being short of something or the pod being meant for
    nodes GrowthRS does not manage (a Normal one)."""
    return reason in _WARNINGS


@dataclass(frozen=True, slots=True)
class PodOutcome:
    kind: OutcomeKind
    reason: str
    """Empty unless ``cannot_serve``: then one of :data:`REASONS`."""
    message: str
    """In words, for Events and ``growthrs plan``."""
    planned_node: int | None = None
    """Index into ``Plan.new_nodes`` when ``planned``."""
    node: str = ""
    """The existing node whose free room holds the pod, when ``fits_existing``."""
    node_request: str = ""
    """The NodeRequest that will hold the pod, when ``in_flight``."""

    @staticmethod
    def planned(index: int, message: str) -> PodOutcome:
        return PodOutcome("planned", "", message, planned_node=index)

    @staticmethod
    def fits(node: str) -> PodOutcome:
        return PodOutcome(
            "fits_existing",
            "",
            f"fits the free room of node {node}; left to the scheduler",
            node=node,
        )

    @staticmethod
    def in_flight(node_request: str, message: str = "") -> PodOutcome:
        return PodOutcome(
            "in_flight",
            "",
            message or f"waiting for NodeRequest {node_request}, already on its way",
            node_request=node_request,
        )

    @staticmethod
    def cannot_serve(reason: str, message: str) -> PodOutcome:
        assert reason in REASONS, reason
        return PodOutcome("cannot_serve", reason, message)
