"""Draining a node: the NoSchedule taint, and evictions through the Eviction API.

Shared by every drain the operator does: a deleted group's nodes
(:mod:`.dissolution`) and consolidation, expiry and drift (:mod:`.disruption`).
Evictions honour PodDisruptionBudgets: a refused one (429) is asked again after
a backoff that doubles per pod, and at most :data:`EVICTIONS_PER_SECOND` are
asked for in any second, whatever the passes decide at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from growthrs_core.cluster import NodeInfo, PodInfo
from growthrs_core.controller.kube import KubeError, node_path
from growthrs_core.controller.writes import ApiWrites
from growthrs_core.decisions.memory import LoopMemory
from growthrs_core.labels import SCALE_DOWN_TAINT_KEY, TERMINATION_FINALIZER

log = logging.getLogger(__name__)

EVICTIONS_PER_SECOND = 50
"""Evictions asked for in one second at most; the rest follow on the next passes."""
EVICTION_RETRY = 2.0
"""Seconds before a pod whose eviction a PodDisruptionBudget refused is asked again;
doubling with each refusal in a row, up to :data:`EVICTION_RETRY_MAX`."""
EVICTION_RETRY_MAX = 60.0


def eviction_backoff(refusals: int) -> float:
    """Seconds to wait after the ``refusals``-th refusal in a row."""
    return min(EVICTION_RETRY * 2.0 ** max(0, refusals - 1), EVICTION_RETRY_MAX)


class Evictor:
    """Asks the Eviction API to evict pods, paced, remembering budget refusals.

    When the next try of a refused pod is due lives in the loop's memory
    (``evictions_due``), which the drain decisions read.
    """

    def __init__(
        self,
        writes: ApiWrites,
        memory: LoopMemory,
        clock: Callable[[], datetime],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.writes = writes
        self.memory = memory
        self.clock = clock
        self.monotonic = monotonic
        self.refusals: dict[str, int] = {}
        self._second = -1
        self._asked = 0

    def evict(self, pods: Iterable[PodInfo]) -> list[str]:
        """Evict the pods whose turn it is; the keys of those the API granted (or gone)."""
        now = self.clock()
        granted: list[str] = []
        for pod in pods:
            due = self.memory.evictions_due.get(pod.key)
            if due is not None and due > now:
                continue
            second = int(self.monotonic())
            if second != self._second:
                self._second, self._asked = second, 0
            if self._asked >= EVICTIONS_PER_SECOND:
                break
            self._asked += 1
            status = self.writes.evict(pod.namespace, pod.name)
            if status in (201, 404):
                self.memory.evictions_due.pop(pod.key, None)
                self.refusals.pop(pod.key, None)
                granted.append(pod.key)
                continue
            refusals = self.refusals.get(pod.key, 0) + 1
            self.refusals[pod.key] = refusals
            wait = eviction_backoff(refusals)
            self.memory.evictions_due[pod.key] = now + timedelta(seconds=wait)
            log.info(
                "eviction of %s refused (HTTP %d, %s in a row); again in %.0fs",
                pod.key,
                status,
                refusals,
                wait,
            )
        return granted

    def forget(self, keys: Iterable[str]) -> None:
        """Drop the backoff of pods no drain will ask for again."""
        for key in keys:
            self.memory.evictions_due.pop(key, None)
            self.refusals.pop(key, None)


def taints_with(node: NodeInfo) -> list[dict[str, str]]:
    """The node's taints plus the drain taint (once)."""
    taints = [t.to_dict() for t in node.taints if t.key != SCALE_DOWN_TAINT_KEY]
    taints.append({"key": SCALE_DOWN_TAINT_KEY, "effect": "NoSchedule"})
    return taints


def taints_without(node: NodeInfo) -> list[dict[str, str]] | None:
    """The node's taints without the drain taint (``None``: no taints left)."""
    return [t.to_dict() for t in node.taints if t.key != SCALE_DOWN_TAINT_KEY] or None


def taint_for_drain(writes: ApiWrites, node: NodeInfo, *, finalizer: bool = False) -> None:
    """Put the NoSchedule drain taint on ``node``; ``finalizer``: also the termination
    finalizer, so the Node outlives its instance whoever deletes it."""
    patch: dict[str, Any] = {"spec": {"taints": taints_with(node)}}
    if finalizer:
        patch["metadata"] = {"finalizers": [TERMINATION_FINALIZER]}
    _strategic(writes, node.name, patch)


def untaint(writes: ApiWrites, node: NodeInfo) -> None:
    """Take the drain taint and the termination finalizer off ``node``."""
    _strategic(
        writes,
        node.name,
        {
            "metadata": {"$deleteFromPrimitiveList/finalizers": [TERMINATION_FINALIZER]},
            "spec": {"taints": taints_without(node)},
        },
    )


def release_node(writes: ApiWrites, name: str) -> None:
    """Take the termination finalizer off (the instance is gone); missing is fine."""
    try:
        writes.kube.patch(
            node_path(name),
            {"metadata": {"$deleteFromPrimitiveList/finalizers": [TERMINATION_FINALIZER]}},
            kind="strategic",
        )
    except KubeError as exc:
        if exc.status != 404:
            raise


def _strategic(writes: ApiWrites, name: str, patch: dict[str, Any]) -> None:
    """A strategic merge patch: finalizers merge with (or are deleted from) the node's
    own list instead of replacing what other controllers put there."""
    try:
        writes.caches.nodes.put(writes.kube.patch(node_path(name), patch, kind="strategic"))
    except KubeError as exc:
        log.warning("cannot update node %s: %s", name, exc)
