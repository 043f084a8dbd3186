"""The operator loop (SPEC §4): watch, batch, plan, provision, scale down.

Level-triggered: every pass recomputes decisions from the watch caches with
the pure planner, state machine and scale-down code, then executes them.
Watch events only make the next pass come sooner.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from growthrs_core import planner
from growthrs_core.cluster import (
    NODE_GROUP_LABEL,
    NODE_REQUEST_LABEL,
    POOL_LABEL,
    SCALE_DOWN_AT_ANNOTATION,
    SCALE_DOWN_TAINT_KEY,
    DaemonSetInfo,
    GroupView,
    NodeInfo,
    NodeRequestView,
    PodInfo,
    parse_daemonset,
    parse_group,
    parse_node,
    parse_node_request,
    parse_pod,
)
from growthrs_core.controller.cache import WatchCache, wait_synced
from growthrs_core.controller.events import EventRecorder, ObjectRef
from growthrs_core.controller.health import (
    NODE_REQUESTS,
    NODE_REQUESTS_CREATED,
    NODES_REMOVED,
    PLAN_SECONDS,
    PROVIDER_ERRORS,
    UNSCHEDULABLE_PODS,
    HealthServer,
)
from growthrs_core.controller.kube import (
    JSON,
    Kube,
    KubeError,
    ngp_path,
    node_path,
    nr_path,
)
from growthrs_core.controller.leader import LeaderElector
from growthrs_core.controller.providers import ProviderHub
from growthrs_core.crd.models import (
    API_VERSION,
    PHASES,
    Condition,
    NodeGroupWithPriorityStatus,
    NodeRequestStatus,
    PoolStatus,
)
from growthrs_core.domain import CreateRequest, NodeId, Offering, Taint
from growthrs_core.errors import MissingConfig, ProviderError, ProviderInternal
from growthrs_core.node_request_machine import (
    Candidate,
    CreateInstance,
    DeleteInstance,
    DeleteNodeRequest,
    LabelNode,
    MachineConfig,
    Observation,
    Transition,
    node_name_for,
    on_create_result,
    step,
)
from growthrs_core.plugins.manager import PluginManager
from growthrs_core.scale_down import PROVIDER_LABEL, ScaleDownConfig, plan_scale_down
from growthrs_core.settings import Settings
from growthrs_core.strategies import Strategy
from growthrs_core.timeutil import format_time, now

log = logging.getLogger(__name__)

IN_FLIGHT = ("Pending", "Provisioning")
DELETE_RETRY_MAX = 60.0
"""Longest wait between two tries of a delete that nothing else would issue again."""


@dataclass
class _Pending:
    """A provider call whose answer the loop has not applied yet."""

    future: Future[Any]
    started: float
    apply: Callable[[Any], None]


@dataclass
class _DeleteRetry:
    """A failed delete of an instance no later pass would ask to remove again."""

    provider: str
    reason: str
    due: float
    failures: int


@dataclass
class ClusterState:
    """One consistent-enough read of all caches for a pass."""

    pods: list[PodInfo]
    nodes: list[NodeInfo]
    daemonsets: list[DaemonSetInfo]
    groups: list[GroupView]
    node_requests: list[NodeRequestView]
    nodes_by_name: dict[str, NodeInfo] = field(default_factory=dict)
    groups_by_name: dict[str, GroupView] = field(default_factory=dict)


def waiting_groups(node_requests: list[NodeRequestView], pods: list[PodInfo]) -> set[str]:
    """Groups whose planned pods have not landed yet: their empty nodes are about to be used.

    A node that just became Ready is empty until the scheduler binds its pods;
    marking it then would taint away the very capacity that was bought.
    """
    unbound = {p.key for p in pods if not p.node_name and not p.deleting and not p.terminal}
    groups: set[str] = set()
    for nr in node_requests:
        if nr.deleting or nr.spec is None or nr.phase == "Unmet":
            continue
        if nr.phase in IN_FLIGHT or any(f"{r.namespace}/{r.name}" in unbound for r in nr.spec.pods):
            groups.add(nr.group)
    return groups


def secret_reader(kube: Kube) -> Callable[[str, str, str], str]:
    def read(namespace: str, name: str, key: str) -> str:
        try:
            secret = kube.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except KubeError as exc:
            raise MissingConfig(f"cannot read Secret {namespace}/{name}: {exc}") from None
        data = (secret or {}).get("data") or {}
        if key not in data:
            raise MissingConfig(f"Secret {namespace}/{name} has no key {key!r}")
        return base64.b64decode(data[key]).decode()

    return read


class Controller:
    def __init__(
        self,
        settings: Settings,
        manager: PluginManager,
        api_client: Any,
        *,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.settings = settings
        self.manager = manager
        self.clock = clock
        self.kube = Kube(api_client)
        self.chain: list[Strategy] = manager.strategy_chain(settings.strategies)
        self.hub = ProviderHub(
            manager,
            cluster_name=settings.cluster_name,
            api_client=api_client,
            read_secret=secret_reader(self.kube),
            workers=settings.provider_workers,
            timeout=settings.provider_timeout,
        )
        self.events = EventRecorder(self.kube, namespace="default")
        self.machine_cfg = MachineConfig(
            readiness_wait=settings.readiness_wait,
            max_attempts=settings.max_attempts,
            ready_ttl=settings.ready_ttl,
            unmet_ttl=settings.unmet_ttl,
        )
        self.scale_down_cfg = ScaleDownConfig(
            enabled=settings.scale_down_enabled, new_node_grace=settings.scale_down_new_node_grace
        )
        self.wake = threading.Event()
        self.stop_event = threading.Event()
        self.results: queue.Queue[Callable[[], None]] = queue.Queue()
        self.pending_calls: dict[str, _Pending] = {}
        self.provider_status: dict[str, tuple[float, Any]] = {}
        self.backoff: dict[tuple[str, str], float] = {}
        self.orphans_seen: dict[tuple[str, str], float] = {}
        self.removing: set[str] = set()
        self.creating: dict[str, tuple[str, int]] = {}
        """NodeRequest name -> (group, pool index) of each create call in flight."""
        self.retry_at: dict[str, float] = {}
        """NodeRequest name -> monotonic time before which it is not asked for again, after
        a create failed with ``retry_after`` (e.g. a rate limit the provider did not sleep out)."""
        self.delete_retries: dict[str, _DeleteRetry] = {}
        """Node name -> the next try of a failed delete of a failed, orphaned or abandoned
        instance (scale-down removals are decided again every pass instead)."""
        self.usage: Counter[tuple[str, int]] = Counter()
        """Nodes per (group, pool), live or on the way; recomputed every tick."""
        self.batch_first: float | None = None
        self.batch_last: float | None = None
        self.waiting_pods: set[str] = set()
        """Unbound pods the scheduler marked Unschedulable (kept by the pod watch)."""
        self.stuck_pods: frozenset[str] = frozenset()
        """Pods the last plan could not serve (no group, ambiguous, unplaceable, broken)."""
        self.open_pods: set[str] = set()
        """Waiting pods that are not stuck: their plan depends on nodes, pods and requests."""
        self._waiting_lock = threading.Lock()
        self.last_loop = time.monotonic()
        self.last_plan: planner.Plan | None = None
        self.plans = 0
        self._group_status_written: dict[str, Any] = {}
        self._condition_times: dict[tuple[str, str], tuple[str, str]] = {}
        self.health: HealthServer | None = None
        self.elector: LeaderElector | None = None

        self.pods: WatchCache[PodInfo] = WatchCache(
            self.kube, "pods", "/api/v1/pods", parse_pod, on_change=self._on_pod
        )
        self.nodes: WatchCache[NodeInfo] = WatchCache(
            self.kube, "nodes", node_path(), parse_node, on_change=self._on_node
        )
        self.daemonsets: WatchCache[DaemonSetInfo] = WatchCache(
            self.kube, "daemonsets", "/apis/apps/v1/daemonsets", parse_daemonset
        )
        self.groups: WatchCache[GroupView] = WatchCache(
            self.kube, "groups", ngp_path(), parse_group, on_change=self._on_other
        )
        self.node_requests: WatchCache[NodeRequestView] = WatchCache(
            self.kube,
            "noderequests",
            nr_path(),
            parse_node_request,
            on_change=self._on_node_request,
        )
        self.caches: list[WatchCache[Any]] = [
            self.pods,
            self.nodes,
            self.daemonsets,
            self.groups,
            self.node_requests,
        ]

    # -- watch callbacks (watch threads) ------------------------------------------------

    def _on_pod(self, _kind: str, key: str, old: PodInfo | None, new: PodInfo | None) -> None:
        if new is not None and new.unschedulable and not new.node_name:
            with self._waiting_lock:
                self.waiting_pods.add(key)
                if key not in self.stuck_pods:
                    self.open_pods.add(key)
            if old is None or not old.unschedulable:
                self._batch_event()
                self.wake.set()
            return
        with self._waiting_lock:
            self.waiting_pods.discard(key)
            self.open_pods.discard(key)
        if new is None or (old is not None and old.node_name != new.node_name):
            # Room was taken or freed: what the pods still waiting need may have changed.
            self._replan_soon()
            self.wake.set()

    def _on_node(self, _kind: str, _key: str, old: NodeInfo | None, new: NodeInfo | None) -> None:
        # Node status heartbeats parse to equal records and change nothing. A node
        # that is gone frees a place under maxNodes, which stuck pods may be after.
        if old != new:
            self._replan_soon(everyone=new is None)
            self.wake.set()

    def _on_node_request(
        self, _kind: str, _key: str, old: NodeRequestView | None, new: NodeRequestView | None
    ) -> None:
        # A request that left flight (Ready, Unmet, gone) no longer covers its pods
        # (nor counts against maxNodes, if it ended without a node), and one that
        # fell back to another offering has other room. One this operator just
        # created changes nothing.
        if new is None or (
            old is not None and old.phase != new.phase and new.phase not in IN_FLIGHT
        ):
            self._replan_soon(everyone=True)
        elif old is not None and old.status.offering != new.status.offering:
            self._replan_soon()
        self.wake.set()

    def _on_other(self, _kind: str, _key: str, _old: Any, _new: Any) -> None:
        # A group that changed may serve pods it could not before.
        self._replan_soon(everyone=True)
        self.wake.set()

    def _batch_event(self) -> None:
        moment = time.monotonic()
        if self.batch_first is None:
            self.batch_first = moment
        self.batch_last = moment

    def _replan_soon(self, *, everyone: bool = False) -> None:
        """Open (or extend) a batch when pods wait on the state that just changed.

        Pods the last plan could not serve at all only count when ``everyone``
        is set (a group changed, a node or request went away); otherwise one
        unplaceable pod would have every bind in a busy cluster plan again.
        """
        if self.open_pods or (everyone and self.waiting_pods):
            self._batch_event()

    def _remember_stuck(self, plan: planner.Plan) -> None:
        stuck = plan.stuck()
        with self._waiting_lock:
            self.stuck_pods = stuck
            self.open_pods = {k for k in self.waiting_pods if k not in stuck}

    # -- lifecycle -----------------------------------------------------------------------

    def healthy(self) -> bool:
        return time.monotonic() - self.last_loop < max(60.0, 5 * self.settings.tick_interval)

    def ready(self) -> bool:
        return all(c.synced.is_set() for c in self.caches)

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()

    def run(self) -> None:
        """Run until :meth:`stop` is called (e.g. on SIGTERM)."""
        if self.settings.metrics_port:
            self.health = HealthServer(self.settings.metrics_port, self.healthy, self.ready)
            try:
                self.health.start()
            except OSError as exc:
                log.warning(
                    "cannot serve health/metrics on port %d: %s", self.settings.metrics_port, exc
                )
                self.health = None
        elector = None
        if self.settings.leader_election:
            elector = LeaderElector(self.kube, namespace=self.settings.namespace)
            log.info(
                "waiting to become leader (Lease %s/%s)", self.settings.namespace, elector.name
            )
            if not elector.acquire(self.stop_event):
                return self._shutdown()
            elector.keep(self.stop_event, self.stop)
        self.elector = elector
        self.events.start()
        for cache in self.caches:
            cache.start()
        log.info("waiting for caches to sync")
        while not wait_synced(self.caches, 5.0):
            if self.stop_event.is_set():
                return self._shutdown()
            log.info(
                "still waiting for caches: %s",
                [c.name for c in self.caches if not c.synced.is_set()],
            )
        log.info(
            "caches synced: %d pods, %d nodes, %d groups, %d node requests",
            len(self.pods.items),
            len(self.nodes.items),
            len(self.groups.items),
            len(self.node_requests.items),
        )
        next_tick = 0.0
        next_resync = 0.0
        while not self.stop_event.is_set():
            self.last_loop = moment = time.monotonic()
            self._drain_results()
            self._expire_calls(moment)
            resync = moment >= next_resync
            if resync or self._batch_due(moment):
                self.plan_once()
                next_resync = moment + self.settings.resync_interval if resync else next_resync
            if moment >= next_tick or self.wake.is_set():
                self.wake.clear()
                self.tick()
                next_tick = moment + self.settings.tick_interval
            if resync:
                self.collect_orphans()
            timeout = max(
                0.0, min(next_tick, next_resync, self._batch_deadline()) - time.monotonic()
            )
            self.wake.wait(timeout=min(timeout, self.settings.tick_interval))
        self._shutdown()

    def _shutdown(self) -> None:
        log.info("shutting down")
        for cache in self.caches:
            cache.stop()
        deadline = time.monotonic() + 10.0
        while self.pending_calls and time.monotonic() < deadline:
            self._drain_results(block=0.2)
            self._expire_calls(time.monotonic())
        self.hub.shutdown(wait=2.0)
        self.events.stop()
        if self.elector is not None:
            self.elector.release()
        if self.health:
            self.health.stop()

    # -- batching --------------------------------------------------------------------------

    def _batch_deadline(self) -> float:
        if self.batch_first is None or self.batch_last is None:
            return float("inf")
        return min(
            self.batch_last + self.settings.batch_idle, self.batch_first + self.settings.batch_max
        )

    def _batch_due(self, moment: float) -> bool:
        return moment >= self._batch_deadline()

    # -- reading state -----------------------------------------------------------------------

    def state(self) -> ClusterState:
        st = ClusterState(
            pods=self.pods.snapshot(),
            nodes=self.nodes.snapshot(),
            daemonsets=self.daemonsets.snapshot(),
            groups=self.groups.snapshot(),
            node_requests=self.node_requests.snapshot(),
        )
        st.nodes_by_name = {n.name: n for n in st.nodes}
        st.groups_by_name = {g.name: g for g in st.groups}
        return st

    def offerings_for(
        self, groups: list[GroupView], *, wait: bool = False
    ) -> dict[str, list[Offering]]:
        out: dict[str, list[Offering]] = {}
        for group in groups:
            if group.spec is None:
                continue
            for pool in group.spec.pools:
                if pool.provider in out or not self.hub.installed(pool.provider):
                    continue
                offers = self.hub.offerings(pool.provider, wait=wait)
                if offers is not None:
                    out[pool.provider] = offers
        return out

    def _unavailable(self) -> frozenset[tuple[str, str]]:
        moment = time.monotonic()
        self.backoff = {k: v for k, v in self.backoff.items() if v > moment}
        return frozenset(self.backoff)

    # -- planning ----------------------------------------------------------------------------

    def planning_input(self, st: ClusterState, *, wait: bool = True) -> planner.PlanningInput:
        return planner.PlanningInput(
            pods=st.pods,
            nodes=st.nodes,
            daemonsets=st.daemonsets,
            groups=st.groups,
            node_requests=st.node_requests,
            offerings=self.offerings_for(st.groups, wait=wait),
            strategies=self.chain,
            unavailable=self._unavailable(),
        )

    def plan_once(self) -> planner.Plan:
        self.batch_first = self.batch_last = None
        st = self.state()
        started = time.perf_counter()
        plan = planner.plan(self.planning_input(st))
        elapsed = time.perf_counter() - started
        PLAN_SECONDS.observe(elapsed)
        self.plans += 1
        self.last_plan = plan
        self._remember_stuck(plan)
        pods = {p.key: p for p in st.pods}
        UNSCHEDULABLE_PODS.set(sum(1 for p in st.pods if p.unschedulable and not p.node_name))
        if plan.new_nodes:
            log.info("plan: %d new node(s) in %.3fs", len(plan.new_nodes), elapsed)
        # Each NodeRequest is a create plus a status write; doing them side by side
        # keeps a large batch from delaying the first provisioning by seconds.
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="create-nr") as pool:
            created = list(pool.map(lambda p: self._create_node_request(p, st), plan.new_nodes))
        for planned, view in zip(plan.new_nodes, created, strict=True):
            if view is None:
                continue
            NODE_REQUESTS_CREATED.labels(planned.group).inc()
            self.events.emit(
                self._nr_ref(view),
                "Normal",
                "Pending",
                f"node for {len(planned.pods)} pod(s) needs cpu {planned.requirements.cpu}, "
                f"memory {planned.requirements.memory}; planned {planned.offering.key}",
            )
        for key, outcome in plan.outcomes.items():
            if outcome.kind == "planned":
                self._pod_event(pods.get(key), "Normal", "TriggeredScaleUp", outcome.message)
            elif outcome.kind == "cannot_serve":
                type_ = "Warning" if planner.is_warning(outcome.reason) else "Normal"
                self._pod_event(pods.get(key), type_, outcome.reason, outcome.message)
        return plan

    def _pod_event(self, pod: PodInfo | None, type_: str, reason: str, message: str) -> None:
        if pod is None:
            return
        self.events.emit(ObjectRef("Pod", pod.name, pod.namespace, pod.uid), type_, reason, message)

    def _create_node_request(
        self, planned: planner.PlannedNode, st: ClusterState
    ) -> NodeRequestView | None:
        """Create one NodeRequest (owned by its group) and mark it Pending."""
        group = st.groups_by_name.get(planned.group)
        if group is None:
            return None
        body: JSON = {
            "apiVersion": API_VERSION,
            "kind": "NodeRequest",
            "metadata": {
                "generateName": f"{planned.group}-",
                "labels": {NODE_GROUP_LABEL: planned.group},
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": "NodeGroupWithPriority",
                        "name": group.name,
                        "uid": group.uid,
                        "controller": True,
                        "blockOwnerDeletion": False,
                    }
                ],
            },
            "spec": {
                "nodeGroup": planned.group,
                "requirements": planned.requirements.model_dump(exclude_none=True),
                "pods": [
                    {"namespace": p.namespace, "name": p.name, "uid": p.uid} for p in planned.pods
                ],
                "plannedPool": planned.pool_index,
                "plannedOffering": planned.offering.key,
            },
        }
        try:
            created = self.kube.create(nr_path(), body)
        except KubeError as exc:
            log.error("cannot create NodeRequest for group %s: %s", planned.group, exc)
            return None
        view = self.node_requests.put(created)
        status = NodeRequestStatus(
            phase="Pending",
            lastTransitionTime=format_time(self.clock()),
            message=f"planned as {planned.offering.key} for {len(planned.pods)} pod(s)",
        )
        return self._write_nr_status(view, status) or view

    # -- NodeRequests ------------------------------------------------------------------------------

    def _nr_ref(self, nr: NodeRequestView) -> ObjectRef:
        return ObjectRef("NodeRequest", nr.name, "", nr.uid, API_VERSION)

    def _group_ref(self, group: GroupView) -> ObjectRef:
        return ObjectRef("NodeGroupWithPriority", group.name, "", group.uid, API_VERSION)

    def pool_usage(self, st: ClusterState) -> Counter[tuple[str, int]]:
        """Nodes each (group, pool) has or is getting: live nodes, Provisioning
        NodeRequests whose node has not registered yet, and create calls in flight."""
        usage: Counter[tuple[str, int]] = Counter()
        counted: set[str] = set()
        for node in st.nodes:
            pool = node.labels.get(POOL_LABEL, "")
            if node.node_group and not node.deleting and pool.isdigit():
                usage[(node.node_group, int(pool))] += 1
                counted.add(node.name)
        for nr in st.node_requests:
            if (
                nr.phase == "Provisioning"
                and nr.status.currentPool is not None
                and nr.status.nodeName not in counted
                and nr.name not in self.creating
            ):
                usage[(nr.group, nr.status.currentPool)] += 1
        usage.update(self.creating.values())
        return usage

    def candidates(
        self, nr: NodeRequestView, group: GroupView, offerings: dict[str, list[Offering]]
    ) -> tuple[list[Candidate], list[str]]:
        assert group.spec is not None and nr.spec is not None
        unavailable = self._unavailable()
        found: list[Candidate] = []
        unusable: list[str] = []
        # The planner keeps within maxNodes, but it plans pools, not instances: a
        # request planned for a lower pool may fit a higher one, which must then
        # still have room. Its own, already created node does not count against it.
        used = Counter({p: n for (g, p), n in self.usage.items() if g == group.name})
        own = self.nodes.get(node_name_for(nr.name, nr.status))
        if own is not None and own.node_group == group.name and not own.deleting:
            own_pool = own.labels.get(POOL_LABEL, "")
            if own_pool.isdigit():
                used[int(own_pool)] -= 1
        if group.spec.maxNodes is not None and used.total() >= group.spec.maxNodes:
            return [], [f"node group {group.name} has maxNodes {group.spec.maxNodes} nodes"]
        for index, pool in enumerate(group.spec.pools):
            label = f"pool {index} ({pool.provider} {','.join(pool.serverType)})"
            if pool.maxNodes is not None and used[index] >= pool.maxNodes:
                unusable.append(f"{label}: has maxNodes {pool.maxNodes} nodes")
                continue
            if not self.hub.installed(pool.provider):
                unusable.append(f"{label}: provider not installed")
                continue
            offers = offerings.get(pool.provider)
            if offers is None:
                err = self.hub.offerings_error(pool.provider) or "offerings not loaded yet"
                unusable.append(f"{label}: {err}")
                continue
            locations = group.spec.pool_locations(pool)
            matching = [
                o
                for o in offers
                if o.instance_type in pool.serverType
                and (locations is None or o.region in locations)
                and planner.offering_satisfies(o, nr.spec.requirements)
            ]
            usable = [o for o in matching if (pool.provider, o.key) not in unavailable]
            if not matching:
                unusable.append(f"{label}: no offering meets the requirements")
            elif not usable:
                unusable.append(f"{label}: every offering is backing off after a capacity error")
            found.extend(Candidate(index, pool, o) for o in usable)
        return found, unusable

    def tick(self) -> None:
        st = self.state()
        offerings = self.offerings_for(st.groups, wait=False)
        counts: dict[str, int] = dict.fromkeys(PHASES, 0)
        self.usage = self.pool_usage(st)
        moment = time.monotonic()
        self.retry_at = {k: v for k, v in self.retry_at.items() if v > moment}
        for name, retry in list(self.delete_retries.items()):
            if retry.due <= moment:
                self._start_delete(retry.provider, name, retry.reason, retry=True)
        for nr in st.node_requests:
            counts[nr.phase] = counts.get(nr.phase, 0) + 1
            if nr.name in self.pending_calls or nr.deleting or nr.spec is None:
                continue
            if nr.phase == "Pending" and nr.name in self.retry_at:
                continue  # the provider asked to wait before the next create
            group = st.groups_by_name.get(nr.group)
            if group is None or group.spec is None:
                continue
            self._step_nr(nr, group, st, offerings)
        for phase, count in counts.items():
            NODE_REQUESTS.labels(phase).set(count)
        self.scale_down(st)
        self.update_group_status(st)

    def _step_nr(
        self,
        nr: NodeRequestView,
        group: GroupView,
        st: ClusterState,
        offerings: dict[str, list[Offering]],
    ) -> None:
        node = st.nodes_by_name.get(nr.status.nodeName or "")
        candidates: list[Candidate] = []
        unusable: list[str] = []
        if nr.phase == "Pending":
            candidates, unusable = self.candidates(nr, group, offerings)
        provider_status = None
        if nr.phase == "Provisioning" and nr.status.nodeName:
            provider_status = self._poll_status(nr)
        obs = Observation(
            node=node, provider_status=provider_status, candidates=candidates, unusable=unusable
        )
        transition = step(nr, obs, self.clock(), self.machine_cfg, self.chain)
        self._apply(nr, transition, group, st)

    def _poll_status(self, nr: NodeRequestView) -> Any:
        """The provider's last answer for this instance; a fresh one is asked for every 5 s."""
        name = nr.status.nodeName or ""
        last = self.provider_status.get(name)
        key = f"status:{name}"
        if (last is None or time.monotonic() - last[0] > 5.0) and key not in self.pending_calls:
            provider = nr.status.attempts[-1].provider if nr.status.attempts else ""
            if provider and self.hub.installed(provider):
                future = self.hub.call(provider, "status", NodeId(name))

                def record(result: Any, name: str = name) -> None:
                    if not isinstance(result, Exception):
                        self.provider_status[name] = (time.monotonic(), result)

                self._track(key, future, record)
        return last[1] if last else None

    def _apply(
        self, nr: NodeRequestView, t: Transition, group: GroupView | None, st: ClusterState | None
    ) -> None:
        if t.status is not None:
            written = self._write_nr_status(nr, t.status)
            if written is not None:
                nr = written
            if t.status.phase == "Unmet" and nr.spec is not None:
                pods = {p.key: p for p in self.pods.snapshot()}
                for ref in nr.spec.pods:
                    self._pod_event(
                        pods.get(f"{ref.namespace}/{ref.name}"),
                        "Normal",
                        "NotTriggerScaleUp",
                        f"NodeRequest {nr.name} is Unmet: {t.status.message}",
                    )
        for event in t.events:
            self.events.emit(self._nr_ref(nr), event.type, event.reason, event.message)
            if group is not None and event.type == "Warning":
                # Without the NodeRequest's name, the same failure across many
                # requests is one Event on the group, not one per request.
                self.events.emit(self._group_ref(group), event.type, event.reason, event.message)
        for action in t.actions:
            if isinstance(action, CreateInstance):
                self._start_create(nr, action, group, st)
            elif isinstance(action, DeleteInstance):
                self._start_delete(
                    action.provider,
                    action.node_name,
                    f"NodeRequest {nr.name}: {action.reason}",
                    retry=True,
                )
            elif isinstance(action, LabelNode):
                self._label_node(nr, action, group)
            elif isinstance(action, DeleteNodeRequest):
                try:
                    self.kube.delete(nr_path(nr.name))
                    self.node_requests.discard(nr.name)
                except KubeError as exc:
                    log.warning("cannot delete NodeRequest %s: %s", nr.name, exc)

    def _start_create(
        self,
        nr: NodeRequestView,
        action: CreateInstance,
        group: GroupView | None,
        st: ClusterState | None,
    ) -> None:
        if group is None or group.spec is None:
            return
        pool = group.spec.pools[action.pool_index]
        labels = planner.new_node_labels(group, action.pool_index, action.offering)
        labels[NODE_REQUEST_LABEL] = nr.name
        labels[PROVIDER_LABEL] = action.provider
        ref = pool.nodeClassRef or group.spec.nodeClassRef
        node_class: dict[str, object] = {}
        if ref is not None:
            node_class = self._node_class(ref.kind, ref.name, ref.apiVersion)
        request = CreateRequest(
            node_name=action.node_name,
            offering=action.offering,
            labels=labels,
            taints=tuple(Taint(t.key, t.value, t.effect) for t in group.spec.taints),
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
        )
        future = self.hub.call(action.provider, "create", request)
        self.creating[nr.name] = (group.name, action.pool_index)
        self.usage[(group.name, action.pool_index)] += 1

        def done(result: Any) -> None:
            self.creating.pop(nr.name, None)
            fresh = self.node_requests.get(nr.name)
            if fresh is None:
                if not isinstance(result, Exception):
                    log.warning(
                        "NodeRequest %s vanished while creating; removing %s",
                        nr.name,
                        action.node_name,
                    )
                    self._start_delete(
                        action.provider, action.node_name, "its NodeRequest is gone", retry=True
                    )
                return
            if isinstance(result, ProviderError):
                PROVIDER_ERRORS.labels(action.provider, type(result).__name__).inc()
                if result.retryable and result.retry_after:
                    self.retry_at[nr.name] = time.monotonic() + result.retry_after
                    log.info(
                        "NodeRequest %s: %s asked to wait %.1fs before the next create",
                        nr.name,
                        action.provider,
                        result.retry_after,
                    )
                if not result.retryable or type(result).__name__ == "OfferingUnavailable":
                    self.backoff[(action.provider, action.offering.key)] = (
                        time.monotonic() + self.settings.offering_backoff
                    )
            elif isinstance(result, Exception):
                result = ProviderInternal(f"{type(result).__name__}: {result}")
            t = on_create_result(fresh, action, result, self.clock())
            self._apply(fresh, t, group, None)
            self.wake.set()

        self._track(nr.name, future, done)

    def _node_class(self, kind: str, name: str, api_version: str) -> dict[str, object]:
        plural = kind.lower() + ("es" if kind.lower().endswith("s") else "s")
        try:
            obj = self.kube.get(f"/apis/{api_version}/{plural}/{name}")
        except KubeError as exc:
            log.warning("cannot read %s %s: %s", kind, name, exc)
            return {}
        spec = (obj or {}).get("spec") or {}
        return dict(spec)

    def _start_delete(
        self, provider: str, node_name: str, reason: str, *, retry: bool = False
    ) -> None:
        """Delete the instance, then its Node. With ``retry`` a failure is tried again
        (1 s, 2 s, 4 s ... up to DELETE_RETRY_MAX) until it succeeds."""
        key = f"delete:{node_name}"
        if key in self.pending_calls:
            return
        log.info("removing node %s (%s): %s", node_name, provider or "no provider", reason)

        def work() -> None:
            if provider and self.hub.installed(provider):
                self.hub.get(provider).delete(NodeId(node_name))
            self.kube.delete(node_path(node_name))

        future = self.hub.submit(work)

        def done(result: Any) -> None:
            self.removing.discard(node_name)
            if not isinstance(result, Exception):
                self.delete_retries.pop(node_name, None)
                return
            if not retry:  # a scale-down removal: the next pass decides again
                log.warning("removing %s failed (will retry): %s", node_name, result)
                return
            previous = self.delete_retries.get(node_name)
            failures = (previous.failures if previous else 0) + 1
            wait = 2.0 ** (failures - 1)
            hint = getattr(result, "retry_after", None)
            if isinstance(hint, int | float):
                wait = max(wait, float(hint))
            wait = min(wait, DELETE_RETRY_MAX)
            self.delete_retries[node_name] = _DeleteRetry(
                provider, reason, time.monotonic() + wait, failures
            )
            log.warning(
                "removing %s failed (try %d; again in %.0fs): %s", node_name, failures, wait, result
            )

        self.removing.add(node_name)
        self._track(key, future, done)

    def _label_node(self, nr: NodeRequestView, action: LabelNode, group: GroupView | None) -> None:
        if group is None or group.spec is None:
            return
        offers = self.hub.offerings(group.spec.pools[action.pool_index].provider) or []
        offering = next((o for o in offers if o.key == action.offering_key), None)
        labels: dict[str, str] = {NODE_GROUP_LABEL: group.name, NODE_REQUEST_LABEL: nr.name}
        if offering is not None:
            labels.update(planner.new_node_labels(group, action.pool_index, offering))
        labels[PROVIDER_LABEL] = group.spec.pools[action.pool_index].provider
        try:
            self.kube.patch(node_path(action.node_name), {"metadata": {"labels": labels}})
        except KubeError as exc:
            log.warning("cannot label node %s: %s", action.node_name, exc)

    def _write_nr_status(
        self, nr: NodeRequestView, status: NodeRequestStatus
    ) -> NodeRequestView | None:
        """Write the status subresource; on a resourceVersion conflict re-read and retry."""
        rv = nr.resource_version
        body_status = status.model_dump(exclude_none=True)
        for _ in range(5):
            patch = {"metadata": {"resourceVersion": rv}, "status": body_status}
            try:
                obj = self.kube.patch(nr_path(nr.name) + "/status", patch)
                return self.node_requests.put(obj)
            except KubeError as exc:
                if exc.status == 404:
                    self.node_requests.discard(nr.name)
                    return None
                if exc.status != 409:
                    log.warning("cannot write status of NodeRequest %s: %s", nr.name, exc)
                    return None
                try:
                    fresh = self.kube.get(nr_path(nr.name))
                except KubeError:
                    return None
                rv = str((fresh.get("metadata") or {}).get("resourceVersion", ""))
        log.warning("gave up writing status of NodeRequest %s after conflicts", nr.name)
        return None

    # -- async plumbing -------------------------------------------------------------------------

    def _track(self, key: str, future: Future[Any], apply: Callable[[Any], None]) -> None:
        self.pending_calls[key] = _Pending(future, time.monotonic(), apply)

        def finished(f: Future[Any]) -> None:
            try:
                result = f.result()
            except Exception as exc:  # noqa: BLE001 - errors are results here
                result = exc

            def deliver() -> None:
                pending = self.pending_calls.get(key)
                if pending is not None and pending.future is f:
                    del self.pending_calls[key]
                    apply(result)

            self.results.put(deliver)
            self.wake.set()

        future.add_done_callback(finished)

    def _drain_results(self, block: float = 0.0) -> None:
        try:
            item = self.results.get(timeout=block) if block else self.results.get_nowait()
        except queue.Empty:
            return
        while True:
            try:
                item()
            except Exception:
                log.exception("applying a provider result failed")
            try:
                item = self.results.get_nowait()
            except queue.Empty:
                return

    def _expire_calls(self, moment: float) -> None:
        for key, pending in list(self.pending_calls.items()):
            if moment - pending.started > self.settings.provider_timeout:
                del self.pending_calls[key]
                log.warning(
                    "provider call %s timed out after %.0fs", key, self.settings.provider_timeout
                )
                pending.apply(
                    ProviderInternal(f"timed out after {self.settings.provider_timeout:.0f}s")
                )

    # -- scale-down ----------------------------------------------------------------------------------

    def scale_down(self, st: ClusterState) -> None:
        pods_by_node: dict[str, list[PodInfo]] = {}
        for pod in st.pods:
            if pod.node_name:
                pods_by_node.setdefault(pod.node_name, []).append(pod)
        waiting = frozenset(waiting_groups(st.node_requests, st.pods))
        decision = plan_scale_down(
            nodes=[n for n in st.nodes if n.name not in self.removing],
            pods_by_node=pods_by_node,
            groups=st.groups,
            groups_with_waiting_pods=waiting,
            now=self.clock(),
            cfg=self.scale_down_cfg,
        )
        for mark in decision.marks:
            node = st.nodes_by_name[mark.node]
            taints = [t.to_dict() for t in node.taints if t.key != SCALE_DOWN_TAINT_KEY]
            taints.append({"key": SCALE_DOWN_TAINT_KEY, "effect": "NoSchedule"})
            self._patch_node(
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
            node = st.nodes_by_name[unmark.node]
            taints = [t.to_dict() for t in node.taints if t.key != SCALE_DOWN_TAINT_KEY]
            self._patch_node(
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
            NODES_REMOVED.labels(removal.group).inc()
            self.events.emit(
                ObjectRef("Node", removal.node),
                "Normal",
                "ScaleDown",
                f"removing empty node: {removal.reason}",
            )
            self._start_delete(removal.provider, removal.node, removal.reason)

    def _patch_node(self, name: str, patch: JSON) -> None:
        try:
            self.nodes.put(self.kube.patch(node_path(name), patch))
        except KubeError as exc:
            log.warning("cannot update node %s: %s", name, exc)

    # -- groups -----------------------------------------------------------------------------------------

    def update_group_status(self, st: ClusterState) -> None:
        for group in st.groups:
            status = self._group_status(group, st)
            status = status.model_copy(
                update={
                    "conditions": [
                        self._keep_transition_time(group.name, c) for c in status.conditions
                    ]
                }
            )
            dump = status.model_dump(exclude_none=True)
            comparable = {
                **dump,
                "conditions": [
                    {k: v for k, v in c.items() if k != "lastTransitionTime"}
                    for c in dump["conditions"]
                ],
            }
            if self._group_status_written.get(group.name) == comparable:
                continue
            try:
                self.kube.patch(ngp_path(group.name) + "/status", {"status": dump})
                self._group_status_written[group.name] = comparable
            except KubeError as exc:
                log.warning("cannot write status of group %s: %s", group.name, exc)
                continue
            for cond in status.conditions:
                if cond.type == "ProviderUnknown" and cond.status == "True":
                    self.events.emit(
                        self._group_ref(group), "Warning", "ProviderUnknown", cond.message
                    )
                if cond.type == "Ready" and cond.status == "False" and cond.reason == "InvalidSpec":
                    self.events.emit(self._group_ref(group), "Warning", "InvalidSpec", cond.message)

    def _keep_transition_time(self, group: str, cond: Condition) -> Condition:
        """A condition's lastTransitionTime changes only when its status does."""
        key = (group, cond.type)
        previous = self._condition_times.get(key)
        if previous is not None and previous[0] == cond.status:
            return cond.model_copy(update={"lastTransitionTime": previous[1]})
        self._condition_times[key] = (cond.status, cond.lastTransitionTime)
        return cond

    def _group_status(self, group: GroupView, st: ClusterState) -> NodeGroupWithPriorityStatus:
        stamp = format_time(self.clock())
        if group.spec is None:
            return NodeGroupWithPriorityStatus(
                observedGeneration=group.generation,
                conditions=[
                    Condition(
                        type="Ready",
                        status="False",
                        reason="InvalidSpec",
                        message=group.error or "",
                        lastTransitionTime=stamp,
                    )
                ],
            )
        members = [n for n in st.nodes if n.node_group == group.name]
        pools = []
        for index, pool in enumerate(group.spec.pools):
            mine = [n for n in members if n.labels.get("growthrs.io/pool") == str(index)]
            pools.append(
                PoolStatus(
                    index=index,
                    provider=pool.provider,
                    nodes=len(mine),
                    ready=sum(1 for n in mine if n.ready),
                )
            )
        missing = sorted(
            {p.provider for p in group.spec.pools if not self.hub.installed(p.provider)}
        )
        conditions = []
        if missing:
            installed = ", ".join(self.manager.providers) or "none"
            msg = f"pools name provider(s) not installed: {', '.join(missing)} (installed: {installed})"
            conditions.append(
                Condition(
                    type="ProviderUnknown",
                    status="True",
                    reason="UnknownProvider",
                    message=msg,
                    lastTransitionTime=stamp,
                )
            )
        else:
            conditions.append(
                Condition(
                    type="ProviderUnknown",
                    status="False",
                    reason="AllInstalled",
                    lastTransitionTime=stamp,
                )
            )
        usable = len(missing) < len({p.provider for p in group.spec.pools})
        conditions.append(
            Condition(
                type="Ready",
                status="True" if usable else "False",
                reason="Ready" if usable else "NoUsablePool",
                message="" if usable else "no pool has an installed provider",
                lastTransitionTime=stamp,
            )
        )
        return NodeGroupWithPriorityStatus(
            observedGeneration=group.generation,
            nodes=len(members),
            pools=pools,
            conditions=conditions,
        )

    # -- orphans ------------------------------------------------------------------------------------------

    def collect_orphans(self) -> None:
        """Remove provider instances no NodeRequest or Node accounts for, after a grace period."""
        st = self.state()
        known = set(st.nodes_by_name) | self.removing
        for nr in st.node_requests:
            known.add(node_name_for(nr.name, nr.status))
            if nr.status.nodeName:
                known.add(nr.status.nodeName)
        for key in self.pending_calls:
            known.add(key.split(":", 1)[-1])
        for name in self.hub.instantiated():
            call_key = f"orphans:{name}"
            if call_key in self.pending_calls:
                continue
            future = self.hub.call(name, "list_nodes")

            def got(result: Any, provider: str = name) -> None:
                if isinstance(result, Exception):
                    return
                moment = time.monotonic()
                current = {(provider, str(i)) for i in result}
                self.orphans_seen = {
                    k: v for k, v in self.orphans_seen.items() if k[0] != provider or k in current
                }
                for _, node_id in sorted(current):
                    if node_id in known:
                        self.orphans_seen.pop((provider, node_id), None)
                        continue
                    first = self.orphans_seen.setdefault((provider, node_id), moment)
                    if moment - first >= self.settings.orphan_grace:
                        self._start_delete(
                            provider,
                            node_id,
                            "orphaned instance: no NodeRequest or Node",
                            retry=True,
                        )
                        self.orphans_seen.pop((provider, node_id), None)

            self._track(call_key, future, got)
