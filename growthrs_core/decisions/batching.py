"""When to plan: the batch window, and which watch events open one.

New unschedulable pods are gathered for ``idle`` seconds without another, or
at most ``max`` seconds after the first, before one planning pass (Karpenter's
batcher has the same two windows) — and at most ``first_plan`` seconds after
the first, so a storm of arriving pods (the scheduler marks a thousand pods
over twenty seconds) does not hold the first node back for ``max``. While pods wait, a change to what they were
planned against opens a batch too: a pod bound or deleted, a node added or
changed, a NodeRequest that leaves flight or falls back to another offering.
Pods the last plan could not serve at all wait only for changes that may
unstick them (a group edited, a node or request gone); otherwise one stuck pod
would make every bind in a busy cluster plan again. A quiet cluster plans
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from growthrs_core.cluster import IN_FLIGHT_PHASES, NodeInfo, NodeRequestView, PodInfo


@dataclass
class BatchWindow:
    """The batch window on a monotonic clock the caller passes in."""

    idle: float
    max: float
    first_plan: float = 0.0
    """When set, a batch is planned at most this long after its first pod, even while
    pods keep arriving: nodes for the pods seen so far are on their way at once, and
    later pods fill their room or get more (their NodeRequests count as capacity)."""
    first: float | None = None
    last: float | None = None

    def trigger(self, moment: float) -> None:
        if self.first is None:
            self.first = moment
        self.last = moment

    @property
    def open(self) -> bool:
        return self.first is not None

    def deadline(self) -> float:
        """When the open batch is due; infinity when none is open."""
        if self.first is None or self.last is None:
            return float("inf")
        deadline = min(self.last + self.idle, self.first + self.max)
        if self.first_plan > 0:
            deadline = min(deadline, self.first + self.first_plan)
        return deadline

    def due(self, moment: float) -> bool:
        return moment >= self.deadline()

    def close(self) -> None:
        self.first = self.last = None


@dataclass
class WaitingPods:
    """The pods waiting for capacity, and whether a change should plan them again.

    Each ``on_*`` method takes one watch event and answers whether it opens a
    batch. Not thread-safe: the caller serialises the events.
    """

    waiting: set[str] = field(default_factory=set)
    """Unbound pods the scheduler marked Unschedulable."""
    stuck: frozenset[str] = frozenset()
    """Pods the last plan could not serve (no group, ambiguous, unplaceable, broken)."""
    open: set[str] = field(default_factory=set)
    """Waiting pods that are not stuck: their plan depends on nodes, pods and requests."""

    def on_pod(self, key: str, old: PodInfo | None, new: PodInfo | None) -> bool:
        if new is not None and new.unschedulable and not new.node_name:
            self.waiting.add(key)
            if key not in self.stuck:
                self.open.add(key)
            return old is None or not old.unschedulable
        self.waiting.discard(key)
        self.open.discard(key)
        if new is None or (old is not None and old.node_name != new.node_name):
            # Room was taken or freed: what the pods still waiting need may have changed.
            return self._replan()
        return False

    def on_node(self, old: NodeInfo | None, new: NodeInfo | None) -> bool:
        # Node status heartbeats parse to equal records and change nothing. A node
        # that is gone frees a place under maxNodes, which stuck pods may be after.
        if old != new:
            return self._replan(everyone=new is None)
        return False

    def on_node_request(self, old: NodeRequestView | None, new: NodeRequestView | None) -> bool:
        # A request that left flight (Ready, Unmet, gone) no longer covers its pods
        # (nor counts against maxNodes, if it ended without a node), and one that
        # fell back to another offering has other room. One this operator just
        # created changes nothing.
        if new is None or (
            old is not None and old.phase != new.phase and new.phase not in IN_FLIGHT_PHASES
        ):
            return self._replan(everyone=True)
        if old is not None and old.status.offering != new.status.offering:
            return self._replan()
        return False

    def on_group(self) -> bool:
        # A group that changed may serve pods it could not before.
        return self._replan(everyone=True)

    def on_placement(self) -> bool:
        """A claim bound, a volume or storage class changed, a namespace's labels
        changed: where pods may go changed, also for pods no plan could serve."""
        return self._replan(everyone=True)

    def remember_stuck(self, stuck: Iterable[str]) -> None:
        self.stuck = frozenset(stuck)
        self.open = {k for k in self.waiting if k not in self.stuck}

    def _replan(self, *, everyone: bool = False) -> bool:
        """Whether pods wait on the state that just changed.

        Pods the last plan could not serve at all only count when ``everyone``
        is set (a group changed, a node or request went away).
        """
        return bool(self.open or (everyone and self.waiting))
