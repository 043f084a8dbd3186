"""Executes what :mod:`growthrs_core.decisions.dissolve` decided for deleted groups.

Finalizers on and off, a deleted group's NodeRequests (and their instances)
deleted, its nodes cordoned, drained through the Eviction API and removed, or
released.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from growthrs_core.controller.events import EventRecorder, ObjectRef
from growthrs_core.controller.eviction import Evictor, taint_for_drain
from growthrs_core.controller.metrics import NODES_REMOVED
from growthrs_core.controller.removal import Remover
from growthrs_core.controller.writes import ApiWrites
from growthrs_core.decisions.dissolve import Dissolution
from growthrs_core.decisions.memory import LoopMemory
from growthrs_core.decisions.snapshot import Snapshot
from growthrs_core.labels import (
    GROUP_FINALIZER,
    MANAGED_PREFIX,
    RELEASED_ANNOTATION,
    SCALE_DOWN_AT_ANNOTATION,
    SCALE_DOWN_TAINT_KEY,
)
from growthrs_core.timeutil import format_time

log = logging.getLogger(__name__)


class Dissolver:
    def __init__(
        self,
        *,
        writes: ApiWrites,
        remover: Remover,
        memory: LoopMemory,
        events: EventRecorder,
        clock: Callable[[], datetime],
        evictor: Evictor | None = None,
    ) -> None:
        self.writes = writes
        self.remover = remover
        self.memory = memory
        self.events = events
        self.clock = clock
        self.evictor = evictor or Evictor(writes, memory, clock)

    def apply(self, decided: Dissolution, snapshot: Snapshot) -> None:
        self.memory.unowned_nodes = dict(decided.unowned_seen)
        groups = snapshot.groups_by_name
        for name in decided.add_finalizer:
            group = groups[name]
            self.writes.group_finalizers(group, [*group.finalizers, GROUP_FINALIZER])
        for nr, provider, instance in decided.delete_requests:
            if instance and provider:
                self.remover.start_delete(provider, instance, f"its group {nr.group} was deleted")
            self.writes.delete_node_request(nr.name)
        now = self.clock()
        for exit_ in decided.drain:
            node = snapshot.nodes_by_name.get(exit_.node)
            if node is None:
                continue
            if not exit_.evict:
                self.events.emit(ObjectRef("Node", node.name), "Normal", "Removed", exit_.reason)
                NODES_REMOVED.labels(node.node_group, "group-deleted").inc()
                self.remover.start_delete(exit_.provider, node.name, exit_.reason)
                continue
            if not any(t.key == SCALE_DOWN_TAINT_KEY for t in node.taints):
                taint_for_drain(self.writes, node)
                self.events.emit(
                    ObjectRef("Node", node.name), "Normal", "Draining", f"{exit_.reason}; draining"
                )
            self.evictor.evict(exit_.evict)
        for node, why in decided.release:
            labels = {k: None for k in node.labels if k.startswith(MANAGED_PREFIX)}
            taints = [t.to_dict() for t in node.taints if t.key != SCALE_DOWN_TAINT_KEY]
            self.writes.patch_node(
                node.name,
                {
                    "metadata": {
                        "labels": labels,
                        "annotations": {
                            RELEASED_ANNOTATION: f"{why} at {format_time(now)}; no longer managed by GrowthRS",
                            SCALE_DOWN_AT_ANNOTATION: None,
                        },
                    },
                    "spec": {"taints": taints or None},
                },
            )
            self.events.emit(ObjectRef("Node", node.name), "Normal", "Released", why)
        for name in decided.remove_finalizer:
            group = groups[name]
            log.info("group %s: its nodes are gone; letting it go", name)
            self.writes.group_finalizers(
                group, [f for f in group.finalizers if f != GROUP_FINALIZER]
            )
