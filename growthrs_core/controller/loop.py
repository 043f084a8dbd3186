"""The operator loop (SPEC §4): watch, batch, plan, provision, scale down.

Level-triggered: every pass takes a snapshot of the watch caches, asks the
decision layer (:mod:`growthrs_core.decisions`) what to do, and executes the
answer. Watch events only make the next pass come sooner.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from growthrs_core.controller.calls import ProviderCalls
from growthrs_core.controller.config import ConfigVersions, PoolConfiguration
from growthrs_core.controller.disruption import Disrupter
from growthrs_core.controller.dissolution import Dissolver
from growthrs_core.controller.events import EventRecorder
from growthrs_core.controller.eviction import Evictor
from growthrs_core.controller.health import HealthServer
from growthrs_core.controller.kube import Kube
from growthrs_core.controller.leader import KubeLeaseStore, LeaderElector
from growthrs_core.controller.metrics import (
    IS_LEADER,
    LAST_LOOP,
    PLAN_DURATION,
    UNSCHEDULABLE_PODS,
    report,
)
from growthrs_core.controller.providers import ProviderHub
from growthrs_core.controller.provisioning import Provisioner, group_ref
from growthrs_core.controller.removal import Remover
from growthrs_core.controller.state import Caches, cached_snapshot, secret_reader
from growthrs_core.controller.writes import ApiWrites
from growthrs_core.decisions.backoff import BackoffPolicy
from growthrs_core.decisions.batching import BatchWindow, WaitingPods
from growthrs_core.decisions.consolidation import ConsolidationConfig
from growthrs_core.decisions.failures import FailurePolicy
from growthrs_core.decisions.memory import LoopMemory, seed_from_groups
from growthrs_core.decisions.node_request import MachineConfig
from growthrs_core.decisions.reconcile import DecisionConfig, disruption, plan_pass, tick
from growthrs_core.decisions.scale_down import ScaleDownConfig
from growthrs_core.decisions.snapshot import Snapshot
from growthrs_core.plugins.manager import PluginManager
from growthrs_core.settings import Settings
from growthrs_core.timeutil import now

log = logging.getLogger(__name__)


def decision_config(settings: Settings) -> DecisionConfig:
    return DecisionConfig(
        machine=MachineConfig(
            readiness_wait=settings.readiness_wait,
            max_attempts=settings.max_attempts,
            ready_ttl=settings.ready_ttl,
            unmet_ttl=settings.unmet_ttl,
        ),
        scale_down=ScaleDownConfig(
            enabled=settings.scale_down_enabled, new_node_grace=settings.scale_down_new_node_grace
        ),
        failures=FailurePolicy(
            capacity=BackoffPolicy(settings.offering_backoff, settings.backoff_max),
            failure=BackoffPolicy(settings.failure_backoff, settings.backoff_max),
            group=BackoffPolicy(settings.group_backoff, settings.backoff_max),
        ),
        orphan_grace=settings.orphan_grace,
        consolidation=ConsolidationConfig(enabled=settings.scale_down_enabled),
    )


class Controller:
    def __init__(
        self,
        settings: Settings,
        manager: PluginManager,
        api_client: Any,
        *,
        clock: Callable[[], datetime] = now,
    ) -> None:
        if not settings.cluster_name:
            raise ValueError(
                "resolve the cluster identity first (controller.state.cluster_identity)"
            )
        self.settings = settings
        self.manager = manager
        self.clock = clock
        self.kube = Kube(api_client)
        self.chain = manager.strategy_chain(settings.strategies)
        self.cfg = decision_config(settings)
        self.hub = ProviderHub(
            manager,
            cluster_name=settings.cluster_name,
            api_client=api_client,
            read_secret=secret_reader(self.kube),
            workers=settings.provider_workers,
            timeout=settings.provider_timeout,
            qps=settings.provider_qps,
            burst=settings.provider_burst,
        )
        self.events = EventRecorder(self.kube, namespace=settings.events_namespace)
        self.memory = LoopMemory()
        self.wake = threading.Event()
        self.stop_event = threading.Event()
        self.batch = BatchWindow(settings.batch_idle, settings.batch_max, settings.batch_first_plan)
        self.waiting = WaitingPods()
        self._waiting_lock = threading.Lock()
        self.caches = Caches(
            self.kube,
            on_pod=self._on_pod,
            on_node=self._on_node,
            on_node_request=self._on_node_request,
            on_group=self._on_group,
            on_placement=self._on_placement,
            relist_interval=settings.relist_interval,
        )
        self.calls = ProviderCalls(self.memory, timeout=settings.provider_timeout, wake=self.wake)
        self.writes = ApiWrites(self.kube, self.caches)
        self.versions = ConfigVersions(self.kube, self.writes)
        self.hub.secrets_for = self.versions.reader_for
        self.pool_config = PoolConfiguration(
            hub=self.hub,
            calls=self.calls,
            memory=self.memory,
            versions=self.versions,
            writes=self.writes,
            clock=clock,
        )
        self.remover = Remover(
            hub=self.hub,
            calls=self.calls,
            memory=self.memory,
            writes=self.writes,
            events=self.events,
            clock=clock,
            orphan_grace=settings.orphan_grace,
            wake=self.wake,
        )
        self.provisioner = Provisioner(
            hub=self.hub,
            calls=self.calls,
            memory=self.memory,
            writes=self.writes,
            caches=self.caches,
            events=self.events,
            remover=self.remover,
            failures=self.cfg.failures,
            versions=self.versions,
            clock=clock,
            wake=self.wake,
            workers=settings.api_workers,
        )
        self.evictor = Evictor(self.writes, self.memory, clock)
        self.dissolver = Dissolver(
            writes=self.writes,
            remover=self.remover,
            memory=self.memory,
            events=self.events,
            clock=clock,
            evictor=self.evictor,
        )
        self.disrupter = Disrupter(
            kube=self.kube,
            caches=self.caches,
            writes=self.writes,
            evictor=self.evictor,
            hub=self.hub,
            calls=self.calls,
            memory=self.memory,
            events=self.events,
            clock=clock,
            wake=self.wake,
            relist_interval=settings.relist_interval,
            interval=min(settings.resync_interval, 10.0),
        )
        self.last_loop = time.monotonic()
        self.health: HealthServer | None = None
        self.elector: LeaderElector | None = None

    # -- watch callbacks (watch threads) ------------------------------------------------

    def _on_pod(self, _kind: str, key: str, old: Any, new: Any) -> None:
        if self._decide(lambda: self.waiting.on_pod(key, old, new)):
            self.wake.set()

    def _on_node(self, _kind: str, _key: str, old: Any, new: Any) -> None:
        if old != new:  # status heartbeats parse to equal records
            self._decide(lambda: self.waiting.on_node(old, new))
            self.wake.set()

    def _on_node_request(self, _kind: str, _key: str, old: Any, new: Any) -> None:
        self._decide(lambda: self.waiting.on_node_request(old, new))
        self.wake.set()

    def _on_group(self, *_: Any) -> None:
        self._decide(self.waiting.on_group)
        self.wake.set()

    def _on_placement(self, _kind: str, _key: str, old: Any, new: Any) -> None:
        if old != new:
            self._decide(self.waiting.on_placement)

    def _decide(self, opens_batch: Callable[[], bool]) -> bool:
        """Apply one watch event to the waiting pods (watch threads share them with
        the loop); open the batch window if the event asks for a plan."""
        with self._waiting_lock:
            if not opens_batch():
                return False
            self.batch.trigger(time.monotonic())
            return True

    # -- lifecycle -----------------------------------------------------------------------

    def healthy(self) -> bool:
        return time.monotonic() - self.last_loop < max(60.0, 5 * self.settings.tick_interval)

    def ready(self) -> bool:
        return self.caches.synced()

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()

    def run(self, *, once: bool = False) -> None:
        """Run until :meth:`stop` is called (e.g. on SIGTERM); ``once``: one pass, then stop."""
        if self.settings.metrics_port:
            self.health = HealthServer(
                self.settings.metrics_port, self.healthy, self.ready, self.leading
            )
            try:
                self.health.start()
            except OSError as exc:
                log.warning(
                    "cannot serve health/metrics on port %d: %s", self.settings.metrics_port, exc
                )
                self.health = None
        # Caches first, also on a standby: it is then ready to take over at once,
        # and ready for a rolling update (see /leader for who leads).
        self.caches.start()
        log.info("waiting for caches to sync")
        while not self.caches.wait_synced(5.0):
            self.last_loop = time.monotonic()
            if self.stop_event.is_set():
                return self._shutdown()
            log.info("still waiting for caches: %s", self.caches.unsynced())
        log.info(
            "caches synced: %d pods, %d nodes, %d groups, %d node requests",
            len(self.caches.pods.items),
            len(self.caches.nodes.items),
            len(self.caches.groups.items),
            len(self.caches.node_requests.items),
        )
        IS_LEADER.set(0 if self.settings.leader_election else 1)
        if self.settings.leader_election and not self._become_leader():
            return self._shutdown()
        self.events.start()
        seed_from_groups(self.memory, self.caches.groups.snapshot())
        if once:
            self.plan_once()
            self.tick()
            self.calls.settle(self.settings.provider_timeout)
            return self._shutdown()
        self._loop()
        self._shutdown()

    def _become_leader(self) -> bool:
        """Wait (live, as a standby) until this replica leads; ``False`` if stopped first."""
        store = KubeLeaseStore(self.kube, namespace=self.settings.namespace)
        self.elector = LeaderElector(
            store,
            lease_duration=self.settings.leader_lease_duration,
            renew_deadline=self.settings.leader_renew_deadline,
            retry_period=self.settings.leader_retry_period,
        )
        log.info(
            "waiting to become leader (Lease %s/%s) as %s",
            store.namespace,
            store.name,
            self.elector.identity,
        )
        while not self.stop_event.is_set():
            self.last_loop = time.monotonic()
            if self.elector.try_acquire_or_renew():
                log.info("leader election: %s leads", self.elector.identity)
                IS_LEADER.set(1)
                self.elector.keep(self.stop_event, self.stop)
                return True
            self.stop_event.wait(self.elector.retry_period)
        return False

    def leading(self) -> bool:
        return self.elector is None or self.elector.leading()

    def _loop(self) -> None:
        next_tick = 0.0
        next_resync = 0.0
        while not self.stop_event.is_set():
            if not self.leading():
                # Renewal is overdue (a pause, a partition): another replica may lead
                # soon, so act no more; the process exits and restarts as a follower.
                log.error("leader election: the lease was not renewed in time; stopping")
                self.stop()
                break
            self.last_loop = moment = time.monotonic()
            LAST_LOOP.set_to_current_time()
            self.calls.drain()
            self.calls.expire(moment)
            resync = moment >= next_resync
            if resync or self.batch.due(moment):
                snapshot = self.plan_once()
                next_resync = moment + self.settings.resync_interval if resync else next_resync
                if resync:
                    self.remover.collect_orphans(snapshot)
                    groups = dict(snapshot.groups_by_name)
                    self.pool_config.lift_blocks(groups)
                    self.pool_config.check_pools(groups)
            if moment >= next_tick or self.wake.is_set():
                self.wake.clear()
                self.tick()
                next_tick = moment + self.settings.tick_interval
            with self._waiting_lock:
                deadline = self.batch.deadline()
            timeout = max(0.0, min(next_tick, next_resync, deadline) - time.monotonic())
            self.wake.wait(timeout=min(timeout, self.settings.tick_interval))

    def _shutdown(self) -> None:
        log.info("shutting down")
        self.caches.stop()
        self.calls.settle(10.0)
        self.hub.shutdown(wait=2.0)
        self.events.stop()
        if self.elector is not None:
            self.elector.release()
        if self.health:
            self.health.stop()

    # -- one pass --------------------------------------------------------------------------

    def snapshot(self, *, wait: bool) -> Snapshot:
        return cached_snapshot(self.caches, self.hub, self.clock(), wait=wait)

    def plan_once(self) -> Snapshot:
        with self._waiting_lock:
            self.batch.close()
        snapshot = self.snapshot(wait=True)
        started = time.perf_counter()
        plan = plan_pass(snapshot, self.memory, self.chain)
        elapsed = time.perf_counter() - started
        PLAN_DURATION.observe(elapsed)
        with self._waiting_lock:
            self.waiting.remember_stuck(plan.stuck())
        UNSCHEDULABLE_PODS.set(sum(1 for p in snapshot.pods if p.unschedulable and not p.node_name))
        if plan.new_nodes:
            log.info("plan: %d new node(s) in %.3fs", len(plan.new_nodes), elapsed)
        self.provisioner.create_requests(plan, dict(snapshot.groups_by_name))
        self.provisioner.pod_events(plan, snapshot)
        return snapshot

    def tick(self) -> None:
        snapshot = self.snapshot(wait=False)
        self.memory.forget_expired(snapshot.now, snapshot.nodes_by_name)
        decided = tick(
            snapshot,
            self.memory,
            self.cfg,
            installed_names=", ".join(self.manager.providers) or "none",
            removals=self.disrupter.removals(),
        )
        for name, retry in decided.retry_deletes:
            self.remover.start_delete(retry.provider, name, retry.reason)
        for poll in decided.polls:
            self.provisioner.poll_status(poll)
        for step in decided.steps:
            self.provisioner.apply(step.nr, step.transition, step.group)
        report(snapshot, decided.phases, self.hub)
        self.remover.scale_down(decided.scale_down, snapshot)
        self.dissolver.apply(decided.dissolution, snapshot)
        self.disrupter.apply(decided.removals, decided.stamps, snapshot)
        if self.disrupter.due():
            removals = self.disrupter.removals()
            chosen = disruption(snapshot, self.memory, self.cfg, self.chain, removals)
            self.disrupter.start(chosen, snapshot)
        for update in decided.group_statuses:
            group = snapshot.groups_by_name[update.group]
            if self.writes.group_status(update.group, update.status):
                for event in update.events:
                    self.events.emit(group_ref(group), event.type, event.reason, event.message)
