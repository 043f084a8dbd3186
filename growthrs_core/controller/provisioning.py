"""Executes scale-up: creates the planned NodeRequests and carries out their transitions.

Every choice was made in :mod:`growthrs_core.decisions`; this module turns a
:class:`~growthrs_core.planner.Plan` into NodeRequest objects and each
:class:`~growthrs_core.decisions.node_request.Transition` into status writes,
provider calls, node labels and Events.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from growthrs_core import planner
from growthrs_core.cluster import GroupView, NodeRequestView, PodInfo
from growthrs_core.controller.calls import ProviderCalls
from growthrs_core.controller.config import ConfigVersions, node_class_of
from growthrs_core.controller.events import EventRecorder, ObjectRef
from growthrs_core.controller.metrics import LAST_SCALE_UP, NODE_REQUESTS_CREATED, SCALE_UP_FAILURES
from growthrs_core.controller.providers import ProviderHub
from growthrs_core.controller.removal import Remover
from growthrs_core.controller.state import Caches
from growthrs_core.controller.writes import ApiWrites
from growthrs_core.crd.models import API_VERSION
from growthrs_core.decisions.failures import (
    FailurePolicy,
    after_create_error,
    remember_create_failure,
    remember_create_success,
    remember_node_failure,
    remember_unmet,
)
from growthrs_core.decisions.memory import CallKey, CreateCall, LoopMemory
from growthrs_core.decisions.node_request import (
    CreateInstance,
    DeleteInstance,
    DeleteNodeRequest,
    LabelNode,
    Transition,
    on_create_result,
)
from growthrs_core.decisions.node_request.launch import creation_labels
from growthrs_core.decisions.node_request.registration import ready_labels
from growthrs_core.decisions.node_request.types import last_created
from growthrs_core.decisions.reconcile import StatusPoll
from growthrs_core.decisions.snapshot import Snapshot
from growthrs_core.domain import CreateRequest, NodeId, Taint
from growthrs_core.errors import MissingConfig, ProviderError, ProviderInternal
from growthrs_core.logfields import fields

log = logging.getLogger(__name__)


FAILURE_REASONS = frozenset(
    {"OfferingUnavailable", "CreationFailed", "JoinTimeout", "Failed", "Unmet"}
)
"""Lifecycle events that count as a failed scale-up in ``growthrs_scale_up_failures_total``."""


def nr_ref(nr: NodeRequestView) -> ObjectRef:
    return ObjectRef("NodeRequest", nr.name, "", nr.uid, API_VERSION)


def group_ref(group: GroupView) -> ObjectRef:
    return ObjectRef("NodeGroupWithPriority", group.name, "", group.uid, API_VERSION)


def pod_ref(pod: PodInfo) -> ObjectRef:
    return ObjectRef("Pod", pod.name, pod.namespace, pod.uid)


class Provisioner:
    def __init__(
        self,
        *,
        hub: ProviderHub,
        calls: ProviderCalls,
        memory: LoopMemory,
        writes: ApiWrites,
        caches: Caches,
        events: EventRecorder,
        remover: Remover,
        failures: FailurePolicy,
        versions: ConfigVersions,
        clock: Callable[[], datetime],
        wake: threading.Event,
        workers: int,
    ) -> None:
        self.hub = hub
        self.calls = calls
        self.memory = memory
        self.writes = writes
        self.caches = caches
        self.events = events
        self.remover = remover
        self.failures = failures
        self.versions = versions
        self.clock = clock
        self.wake = wake
        self.workers = workers

    # -- a plan becomes NodeRequests ---------------------------------------------------

    def create_requests(
        self, plan: planner.Plan, groups: dict[str, GroupView]
    ) -> list[NodeRequestView | None]:
        """Each NodeRequest is a create plus a status write; doing them side by side
        keeps a large batch from delaying the first provisioning by seconds."""
        if not plan.new_nodes:
            return []
        now = self.clock()

        def create(planned: planner.PlannedNode) -> NodeRequestView | None:
            group = groups.get(planned.group)
            return None if group is None else self.writes.create_node_request(planned, group, now)

        workers = max(1, min(self.workers, len(plan.new_nodes)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="create-nr") as pool:
            created = list(pool.map(create, plan.new_nodes))
        for planned, view in zip(plan.new_nodes, created, strict=True):
            if view is None:
                continue
            NODE_REQUESTS_CREATED.labels(planned.group).inc()
            LAST_SCALE_UP.labels(planned.group).set_to_current_time()
            self.events.emit(
                nr_ref(view),
                "Normal",
                "Pending",
                f"node for {len(planned.pods)} pod(s) needs cpu {planned.requirements.cpu}, "
                f"memory {planned.requirements.memory}; planned {planned.offering.key}",
            )
        return created

    def pod_events(self, plan: planner.Plan, snapshot: Snapshot) -> None:
        """Tell each pending pod what the plan does for it: ``TriggeredScaleUp``, or an
        Event whose reason is the rule that keeps it from being served."""
        for key, outcome in plan.outcomes.items():
            pod = snapshot.pods_by_key.get(key)
            if pod is None:
                continue
            if outcome.kind == "planned":
                self.events.emit(pod_ref(pod), "Normal", "TriggeredScaleUp", outcome.message)
            elif outcome.kind == "cannot_serve":
                type_ = "Warning" if planner.is_warning(outcome.reason) else "Normal"
                self.events.emit(pod_ref(pod), type_, outcome.reason, outcome.message)

    # -- transitions ---------------------------------------------------------------------

    def apply(self, nr: NodeRequestView, t: Transition, group: GroupView | None) -> None:
        if t.status is not None:
            written = self.writes.node_request_status(nr, t.status)
            if written is not None:
                nr = written
            if t.status.phase == "Unmet" and group is not None:
                remember_unmet(
                    self.memory, group.name, t.status.message or "", self.failures, self.clock()
                )
            if t.status.phase == "Unmet" and nr.spec is not None:
                for ref in nr.spec.pods:
                    pod = self.caches.pods.get(f"{ref.namespace}/{ref.name}")
                    if pod is not None:
                        self.events.emit(
                            pod_ref(pod),
                            "Normal",
                            "NotTriggerScaleUp",
                            f"NodeRequest {nr.name} is Unmet: {t.status.message}",
                        )
        if t.failed_offering is not None:
            failure = t.failed_offering
            remember_node_failure(
                self.memory,
                (failure.provider, failure.offering),
                self.failures,
                self.clock(),
                failure.message,
            )
        for event in t.events:
            self.events.emit(nr_ref(nr), event.type, event.reason, event.message)
            if event.reason in FAILURE_REASONS:
                SCALE_UP_FAILURES.labels(nr.group, event.reason).inc()
            if group is not None and event.type == "Warning":
                # Without the NodeRequest's name, the same failure across many
                # requests is one Event on the group, not one per request.
                self.events.emit(group_ref(group), event.type, event.reason, event.message)
        for action in t.actions:
            if isinstance(action, CreateInstance):
                if group is not None:
                    self.start_create(nr, action, group)
            elif isinstance(action, DeleteInstance):
                self.remover.start_delete(
                    action.provider,
                    action.node_name,
                    f"NodeRequest {nr.name}: {action.reason}",
                )
            elif isinstance(action, LabelNode):
                self.label_node(nr, action, group)
            elif isinstance(action, DeleteNodeRequest):
                self.writes.delete_node_request(nr.name)

    def start_create(self, nr: NodeRequestView, action: CreateInstance, group: GroupView) -> None:
        spec = group.spec
        if spec is None or not 0 <= action.pool_index < len(spec.pools):
            return
        pool = spec.pools[action.pool_index]
        ref = pool.nodeClassRef or spec.nodeClassRef
        node_class = self.writes.node_class(ref.kind, ref.name, ref.apiVersion) if ref else {}
        request = CreateRequest(
            node_name=action.node_name,
            offering=action.offering,
            labels=creation_labels(nr, group, action),
            taints=tuple(Taint(t.key, t.value, t.effect) for t in spec.taints),
            node_class=node_class,
            node_group=group.name,
            node_request=nr.name,
        )
        log.info(
            "NodeRequest %s: creating %s with %s (pool %d)",
            nr.name,
            action.offering.key,
            action.provider,
            action.pool_index,
            extra=fields(noderequest=nr.name, group=group.name, provider=action.provider),
        )
        future = self.hub.call(action.provider, "create", request)
        self.memory.creating[nr.name] = CreateCall(
            group.name, action.pool_index, action.provider, action.offering.key
        )

        def done(result: Any) -> None:
            self.memory.creating.pop(nr.name, None)
            fresh = self.caches.node_requests.get(nr.name)
            if fresh is None:
                if not isinstance(result, Exception):
                    log.warning(
                        "NodeRequest %s vanished while creating; removing %s",
                        nr.name,
                        action.node_name,
                    )
                    self.remover.start_delete(
                        action.provider, action.node_name, "its NodeRequest is gone"
                    )
                return
            if isinstance(result, Exception) and not isinstance(result, ProviderError):
                result = ProviderInternal(f"{type(result).__name__}: {result}")
            if isinstance(result, ProviderError):
                self._remember_failure(nr.name, action, result, group)
            else:
                remember_create_success(
                    self.memory, (action.provider, action.offering.key), group.name
                )
            self.apply(fresh, on_create_result(fresh, action, result, self.clock()), group)
            self.wake.set()

        self.calls.track(CallKey("create", nr.name), future, done)

    def _remember_failure(
        self, name: str, action: CreateInstance, error: ProviderError, group: GroupView
    ) -> None:
        offering = (action.provider, action.offering.key)
        now = self.clock()
        fingerprint: tuple[tuple[str, str], ...] = ()
        if isinstance(error, MissingConfig):
            found = self.versions.fingerprint(
                action.provider, node_class_of(group, action.pool_index)
            )
            fingerprint = tuple(sorted(found.items()))
        failure = after_create_error(
            error,
            offering,
            self.memory.offering_backoffs.get(offering),
            self.failures,
            now,
            generation=group.generation,
            fingerprint=fingerprint,
        )
        remember_create_failure(
            self.memory, failure, name, offering, (group.name, action.pool_index)
        )
        if failure.retry_at is not None:
            log.info(
                "NodeRequest %s: %s asked to wait %.1fs before the next create",
                name,
                action.provider,
                (failure.retry_at - now).total_seconds(),
                extra=fields(noderequest=name, group=group.name, provider=action.provider),
            )
        if failure.block is not None:
            log.warning(
                "group %s pool %d creates nothing until its configuration changes: %s",
                group.name,
                action.pool_index,
                failure.block.message,
                extra=fields(group=group.name, provider=action.provider),
            )

    def label_node(self, nr: NodeRequestView, action: LabelNode, group: GroupView | None) -> None:
        created = last_created(nr.status)
        offers = (self.hub.offerings(created.provider) or []) if created else []
        offering = next((o for o in offers if o.key == action.offering_key), None)
        self.writes.patch_node(
            action.node_name, {"metadata": {"labels": ready_labels(nr, group, offering)}}
        )

    # -- provider status of instances being created ----------------------------------------

    def poll_status(self, poll: StatusPoll) -> None:
        key = CallKey("status", poll.node_name)
        if self.calls.busy(key) or not self.hub.installed(poll.provider):
            return
        future = self.hub.call(poll.provider, "status", NodeId(poll.node_name))

        def record(result: Any) -> None:
            if not isinstance(result, Exception):
                self.memory.provider_status[poll.node_name] = (self.clock(), result)

        self.calls.track(key, future, record)
