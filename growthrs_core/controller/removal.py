"""Executes removals: scale-down marks and deletes, failed instances, orphans.

A node is always deleted through the provider recorded on it, the instance
first and then the Node object. What to remove, and when to try a failed
delete again, comes from :mod:`growthrs_core.decisions`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from growthrs_core.controller.calls import ProviderCalls
from growthrs_core.controller.events import EventRecorder, ObjectRef
from growthrs_core.controller.metrics import LAST_SCALE_DOWN, NODES_REMOVED
from growthrs_core.controller.providers import ProviderHub
from growthrs_core.controller.writes import ApiWrites
from growthrs_core.decisions.deletes import next_delete_retry
from growthrs_core.decisions.memory import CallKey, LoopMemory
from growthrs_core.decisions.orphans import accounted_instances, find_orphans
from growthrs_core.decisions.scale_down import ScaleDownPlan
from growthrs_core.decisions.snapshot import Snapshot
from growthrs_core.domain import NodeId
from growthrs_core.labels import SCALE_DOWN_AT_ANNOTATION, SCALE_DOWN_TAINT_KEY
from growthrs_core.logfields import fields

log = logging.getLogger(__name__)


class Remover:
    def __init__(
        self,
        *,
        hub: ProviderHub,
        calls: ProviderCalls,
        memory: LoopMemory,
        writes: ApiWrites,
        events: EventRecorder,
        clock: Callable[[], datetime],
        orphan_grace: float,
        wake: threading.Event,
    ) -> None:
        self.hub = hub
        self.calls = calls
        self.memory = memory
        self.writes = writes
        self.events = events
        self.clock = clock
        self.orphan_grace = orphan_grace
        self.wake = wake

    def start_delete(self, provider: str, node_name: str, reason: str) -> None:
        """Delete the instance, then its Node. A failure is tried again on the schedule
        of :func:`~growthrs_core.decisions.deletes.next_delete_retry`, never sooner."""
        key = CallKey("delete", node_name)
        if self.calls.busy(key):
            return
        log.info(
            "removing node %s (%s): %s",
            node_name,
            provider or "no provider",
            reason,
            extra=fields(node=node_name, provider=provider),
        )

        def work() -> None:
            if provider and self.hub.installed(provider):
                self.hub.get(provider).delete(NodeId(node_name))
            self.writes.delete_node(node_name)

        def done(result: Any) -> None:
            self.memory.removing.discard(node_name)
            if not isinstance(result, Exception):
                self.memory.delete_retries.pop(node_name, None)
                self.memory.removed[node_name] = self.clock()
                return
            again = next_delete_retry(
                self.memory.delete_retries.get(node_name), provider, reason, result, self.clock()
            )
            self.memory.delete_retries[node_name] = again
            log.warning(
                "removing %s failed (try %d; again at %s): %s",
                node_name,
                again.failures,
                again.due.isoformat(timespec="seconds"),
                result,
                extra=fields(node=node_name, provider=provider),
            )

        self.memory.removing.add(node_name)
        self.calls.track(key, self.hub.submit(work, provider=provider), done)

    # -- scale-down ---------------------------------------------------------------------------

    def scale_down(self, decision: ScaleDownPlan, snapshot: Snapshot) -> None:
        for mark in decision.marks:
            node = snapshot.nodes_by_name[mark.node]
            taints = [t.to_dict() for t in node.taints if t.key != SCALE_DOWN_TAINT_KEY]
            taints.append({"key": SCALE_DOWN_TAINT_KEY, "effect": "NoSchedule"})
            self.writes.patch_node(
                node.name,
                {
                    "metadata": {"annotations": {SCALE_DOWN_AT_ANNOTATION: mark.at}},
                    "spec": {"taints": taints},
                },
            )
            self.events.emit(
                ObjectRef("Node", node.name),
                "Normal",
                "ScaleDownCandidate",
                f"node is empty; removal at {mark.at}",
            )
        for unmark in decision.unmarks:
            node = snapshot.nodes_by_name[unmark.node]
            taints = [t.to_dict() for t in node.taints if t.key != SCALE_DOWN_TAINT_KEY]
            self.writes.patch_node(
                node.name,
                {
                    "metadata": {"annotations": {SCALE_DOWN_AT_ANNOTATION: None}},
                    "spec": {"taints": taints or None},
                },
            )
            self.events.emit(
                ObjectRef("Node", node.name), "Normal", "ScaleDownCancelled", unmark.reason
            )
        for removal in decision.removals:
            NODES_REMOVED.labels(removal.group, "empty").inc()
            LAST_SCALE_DOWN.labels(removal.group).set_to_current_time()
            self.events.emit(
                ObjectRef("Node", removal.node),
                "Normal",
                "ScaleDown",
                f"removing empty node: {removal.reason}",
            )
            self.start_delete(removal.provider, removal.node, removal.reason)

    # -- orphans --------------------------------------------------------------------------------

    def collect_orphans(self, snapshot: Snapshot) -> None:
        """Ask every provider in use what it has; remove what nothing accounts for."""
        accounted = accounted_instances(snapshot, self.memory)
        for name in self.hub.instantiated():
            key = CallKey("orphans", name)
            if self.calls.busy(key):
                continue

            def got(result: Any, provider: str = name) -> None:
                if isinstance(result, Exception):
                    return
                verdict = find_orphans(
                    provider,
                    (str(i) for i in result),
                    accounted,
                    self.memory.orphans_seen,
                    self.clock(),
                    self.orphan_grace,
                )
                self.memory.orphans_seen = verdict.seen
                for node_id in verdict.delete:
                    self.start_delete(
                        provider, node_id, "orphaned instance: no NodeRequest or Node"
                    )

            self.calls.track(key, self.hub.call(name, "list_nodes"), got)
