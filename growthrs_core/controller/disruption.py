"""Executes consolidation, expiry and drift: NodeRemoval records, taints, evictions, deletes.

Every choice is made in :mod:`growthrs_core.decisions` (``consolidation`` picks
the nodes, ``drain`` steps each removal); this module keeps the NodeRemoval
watch cache, creates replacements and records, and carries out each step:
taint, evict (through the shared :class:`~.eviction.Evictor`), delete the
instance, then the finalizer, then the Node, and writes each record's status
with Events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from growthrs_core.cluster import GroupView
from growthrs_core.controller.cache import WatchCache
from growthrs_core.controller.calls import ProviderCalls
from growthrs_core.controller.events import EventRecorder, ObjectRef
from growthrs_core.controller.eviction import Evictor, release_node, taint_for_drain, untaint
from growthrs_core.controller.kube import Kube, KubeError
from growthrs_core.controller.providers import ProviderHub
from growthrs_core.controller.state import Caches
from growthrs_core.controller.writes import ApiWrites
from growthrs_core.crd.models import (
    API_VERSION,
    GROUP,
    VERSION,
    NodeRemovalSpec,
    NodeRemovalStatus,
    PodRef,
)
from growthrs_core.decisions.consolidation import Batch, DisruptionDecision, Move
from growthrs_core.decisions.deletes import next_delete_retry
from growthrs_core.decisions.disruption import RemovalView, parse_removal
from growthrs_core.decisions.drain import RemovalPlan, RemovalStep, after_terminate
from growthrs_core.decisions.memory import CallKey, LoopMemory
from growthrs_core.decisions.snapshot import Snapshot
from growthrs_core.domain import NodeId
from growthrs_core.labels import (
    NODE_GROUP_LABEL,
    REMOVAL_FINALIZER,
    TEMPLATE_HASH_ANNOTATION,
)

log = logging.getLogger(__name__)

REMOVALS_PATH = f"/apis/{GROUP}/{VERSION}/noderemovals"
CONSOLIDATION_INTERVAL = 10.0
"""Seconds between two consolidation passes at most (each runs the planner per move)."""

DISRUPTIONS = Counter(
    "growthrs_disruptions_total",
    "Nodes GrowthRS decided to drain and remove, and how that ended",
    ["group", "reason", "result"],
)


def removal_path(name: str = "") -> str:
    return REMOVALS_PATH + (f"/{name}" if name else "")


def removal_ref(r: RemovalView) -> ObjectRef:
    return ObjectRef("NodeRemoval", r.name, "", r.uid, API_VERSION)


class Disrupter:
    """The NodeRemoval cache, and the execution of what the decisions say about them."""

    def __init__(
        self,
        *,
        kube: Kube,
        caches: Caches,
        writes: ApiWrites,
        evictor: Evictor,
        hub: ProviderHub,
        calls: ProviderCalls,
        memory: LoopMemory,
        events: EventRecorder,
        clock: Callable[[], datetime],
        wake: threading.Event,
        relist_interval: float = 600.0,
        interval: float = CONSOLIDATION_INTERVAL,
    ) -> None:
        self.kube = kube
        self.writes = writes
        self.evictor = evictor
        self.hub = hub
        self.calls = calls
        self.memory = memory
        self.events = events
        self.clock = clock
        self.wake = wake
        self.interval = interval
        self.cache: WatchCache[RemovalView] = WatchCache(
            kube,
            "noderemovals",
            REMOVALS_PATH,
            parse_removal,
            on_change=lambda *_: wake.set(),
            relist_interval=relist_interval,
        )
        caches.all.append(self.cache)  # started, synced and stopped with the others
        self._next = 0.0
        self._last_waiting = ""

    def removals(self) -> list[RemovalView]:
        return self.cache.snapshot()

    # -- choosing nodes ------------------------------------------------------------------

    def due(self, moment: float | None = None) -> bool:
        """Whether a consolidation pass is due (at most every ``interval`` seconds)."""
        moment = time.monotonic() if moment is None else moment
        if moment < self._next:
            return False
        self._next = moment + self.interval
        return True

    def start(self, decision: DisruptionDecision, snapshot: Snapshot) -> None:
        """Request the batch's replacements, then record and taint each node."""
        if decision.waiting and decision.waiting != self._last_waiting:
            log.info("consolidation waits: %s", decision.waiting)
        self._last_waiting = decision.waiting
        batch = decision.batch
        if batch is None:
            return
        groups = dict(snapshot.groups_by_name)
        replacements = self._replacements(batch, groups)
        if replacements is None:
            return
        share = batch.saving / len(batch.moves) if batch.saving is not None else None
        for move in batch.moves:
            self._record(move, batch, replacements + batch.waits_for, share, snapshot)

    def _replacements(self, batch: Batch, groups: dict[str, GroupView]) -> list[str] | None:
        """Create the batch's NodeRequests; ``None`` (and none left) if one cannot be."""
        now = self.clock()
        made: list[str] = []
        for planned in batch.replacements:
            group = groups.get(planned.group)
            view = (
                self.writes.create_node_request(planned, group, now) if group is not None else None
            )
            if view is None:
                log.warning("consolidation: cannot request a replacement; nothing is removed")
                for name in made:
                    self.writes.delete_node_request(name)
                return None
            made.append(view.name)
            log.info(
                "consolidation: NodeRequest %s (%s) will take %d pod(s) first",
                view.name,
                planned.offering.key,
                len(planned.pods),
            )
        return made

    def _record(
        self,
        move: Move,
        batch: Batch,
        replacements: list[str],
        saving: float | None,
        snapshot: Snapshot,
    ) -> None:
        node = move.node
        spec = NodeRemovalSpec(
            nodeName=node.name,
            nodeGroup=move.group,
            provider=move.provider,
            reason=move.reason,
            message=batch.message(move),
            savingPerHour=round(saving, 6) if saving is not None else None,
            pods=[PodRef(namespace=p.namespace, name=p.name, uid=p.uid) for p in move.pods],
            replacements=replacements,
        )
        body = {
            "apiVersion": API_VERSION,
            "kind": "NodeRemoval",
            "metadata": {
                "name": node.name,
                "labels": {NODE_GROUP_LABEL: move.group},
                "finalizers": [REMOVAL_FINALIZER],
            },
            "spec": spec.model_dump(exclude_none=True),
        }
        try:
            view = self.cache.put(self.kube.create(REMOVALS_PATH, body))
        except KubeError as exc:
            log.warning("cannot record the removal of node %s: %s", node.name, exc)
            return
        status = NodeRemovalStatus(
            phase="Candidate",
            message=(
                f"waiting for replacements: {', '.join(replacements)}"
                if replacements
                else "its pods fit on other nodes"
            ),
            lastTransitionTime=view.creation or "",
        )
        view = self._status(view, status) or view
        taint_for_drain(self.writes, snapshot.nodes_by_name.get(node.name) or node, finalizer=True)
        DISRUPTIONS.labels(move.group, move.reason, "started").inc()
        log.info("%s: node %s will be removed: %s", move.reason, node.name, spec.message)
        self.events.emit(removal_ref(view), "Normal", move.reason, spec.message)
        self.events.emit(
            ObjectRef("Node", node.name), "Normal", "DisruptionCandidate", spec.message
        )

    # -- stepping removals ---------------------------------------------------------------

    def apply(
        self, plan: RemovalPlan, stamps: Sequence[tuple[str, str]], snapshot: Snapshot
    ) -> None:
        for step in plan.steps:
            self._step(step, snapshot)
        for t in plan.terminations:
            self._terminate(t.node, t.provider, t.reason, None)
        for name in plan.stale:
            node = snapshot.nodes_by_name.get(name)
            if node is not None:
                log.info("node %s: no removal in progress; taking its drain taint off", name)
                untaint(self.writes, node)
        for name, value in stamps:
            self.writes.patch_node(
                name, {"metadata": {"annotations": {TEMPLATE_HASH_ANNOTATION: value}}}
            )
        stale = [k for k in self.memory.evictions_due if k not in snapshot.pods_by_key]
        self.evictor.forget(stale)

    def _step(self, step: RemovalStep, snapshot: Snapshot) -> None:
        r = step.removal
        node = snapshot.nodes_by_name.get(r.node)
        if step.taint and node is not None:
            taint_for_drain(self.writes, node, finalizer=True)
        if step.evict:
            granted = self.evictor.evict(step.evict)
            if granted:
                log.info("node %s: evicted %s", r.node, ", ".join(granted))
        for pod in step.force_delete:
            self._delete_pod(pod.namespace, pod.name)
        current = r
        if step.status is not None:
            current = self._status(r, step.status) or r
        if step.untaint and node is not None:
            untaint(self.writes, node)
        if step.terminate is not None:
            self._terminate(r.node, step.terminate, "the node is drained", r)
        for event in step.events:
            self.events.emit(removal_ref(r), event.type, event.reason, event.message)
            self.events.emit(ObjectRef("Node", r.node), event.type, event.reason, event.message)
        if step.status is not None and step.status.phase != r.phase:
            log.info(
                "NodeRemoval %s: %s -> %s: %s",
                r.name,
                r.phase,
                step.status.phase,
                step.status.message,
            )
            if step.status.phase == "Cancelled" and r.spec is not None:
                DISRUPTIONS.labels(r.spec.nodeGroup, r.spec.reason, "cancelled").inc()
                self.evictor.forget(f"{p.namespace}/{p.name}" for p in r.spec.pods)
        if step.release:
            self._finalizers(current, [f for f in current.finalizers if f != REMOVAL_FINALIZER])
        if step.delete_record:
            try:
                self.kube.delete(removal_path(r.name))
                self.cache.discard(r.name)
            except KubeError as exc:
                log.warning("cannot delete NodeRemoval %s: %s", r.name, exc)

    def _terminate(self, node: str, provider: str, reason: str, r: RemovalView | None) -> None:
        """Delete the instance, then take the finalizer off and delete the Node."""
        key = CallKey("delete", node)
        if self.calls.busy(key):
            return
        log.info("removing node %s (%s): %s", node, provider or "no provider", reason)

        def work() -> None:
            if provider and self.hub.installed(provider):
                self.hub.get(provider).delete(NodeId(node))
            release_node(self.writes, node)
            self.writes.delete_node(node)

        def done(result: Any) -> None:
            self.memory.removing.discard(node)
            if isinstance(result, Exception):
                again = next_delete_retry(
                    self.memory.delete_retries.get(node), provider, reason, result, self.clock()
                )
                self.memory.delete_retries[node] = again
                log.warning("removing %s failed (try %d): %s", node, again.failures, result)
                return
            self.memory.delete_retries.pop(node, None)
            if r is None:
                return
            fresh = self.cache.get(r.name) or r
            if fresh.phase == "Deleting":
                self._status(fresh, after_terminate(fresh, self.clock()))
                if fresh.spec is not None:
                    DISRUPTIONS.labels(fresh.spec.nodeGroup, fresh.spec.reason, "deleted").inc()
                self.events.emit(
                    removal_ref(fresh), "Normal", "Deleted", "instance and node deleted"
                )
            self.wake.set()

        self.memory.removing.add(node)
        self.calls.track(key, self.hub.submit(work, provider=provider), done)

    # -- writes ----------------------------------------------------------------------------

    def _status(self, r: RemovalView, status: NodeRemovalStatus) -> RemovalView | None:
        try:
            obj = self.kube.patch(
                removal_path(r.name) + "/status",
                {"status": status.model_dump(exclude_none=True)},
            )
        except KubeError as exc:
            if exc.status == 404:
                self.cache.discard(r.name)
            else:
                log.warning("cannot write the status of NodeRemoval %s: %s", r.name, exc)
            return None
        return self.cache.put(obj)

    def _finalizers(self, r: RemovalView, finalizers: list[str]) -> None:
        try:
            self.cache.put(
                self.kube.patch(removal_path(r.name), {"metadata": {"finalizers": finalizers}})
            )
        except KubeError as exc:
            if exc.status != 404:
                log.warning("cannot update the finalizers of NodeRemoval %s: %s", r.name, exc)

    def _delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod without the Eviction API (``onDrainTimeout: Force``), with its grace."""
        try:
            self.kube.delete(f"/api/v1/namespaces/{namespace}/pods/{name}")
            log.warning("drain timed out: deleted pod %s/%s without eviction", namespace, name)
        except KubeError as exc:
            log.warning("cannot delete pod %s/%s: %s", namespace, name, exc)


def listed_removals(kube: Kube) -> list[RemovalView]:
    """The NodeRemovals as ``growthrs plan`` sees them (none when the CRD is missing)."""
    try:
        return [parse_removal(o) for o in kube.list_all(REMOVALS_PATH)[0]]
    except KubeError as exc:
        if exc.status == 404:
            return []
        raise
