"""One trial: a world of its own in a shared cluster, the operator, and the counts.

A :class:`Trial` gives a scenario its own namespace, node groups (named after
the trial), cluster identity (so provider instances of other trials are never
its business), a :class:`~reliability.recorder.Recorder` watching everything,
the operator as a child process (started, SIGKILLed and restarted on demand),
and optionally a Hetzner stand-in world. The scenario drives it and says what
the end state must be (:meth:`Trial.settle`); :meth:`Trial.evaluate` then
counts and checks the bounds (see ``RELIABILITY.md``), and :meth:`Trial.cleanup`
removes everything the trial made.
"""

from __future__ import annotations

import contextlib
import math
import random
import re
import secrets
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from growthrs_core.controller.kube import Kube, KubeError, ngp_path, node_path, nr_path
from growthrs_core.plugins.manager import PluginManager
from growthrs_core.provider import ProviderContext, provider_settings_from_env
from growthrs_testkit.kube import create_namespace, deployment_body, group_body
from growthrs_testkit.operator import TEST_FLAGS, Operator
from reliability.hetzner import HetznerWorld
from reliability.recorder import Recorder

CLUSTER_LABEL = "growthrs.io/cluster"
PROVIDER_LABEL = "growthrs.io/provider"
GROUP_LABEL = "growthrs.io/node-group"
FINALIZER = "growthrs.io/nodes"

OPERATOR_FLAGS: dict[str, Any] = {
    **TEST_FLAGS,
    # A leaked instance must show up in the count, not be tidied away by orphan collection.
    "orphan_grace": 3600,
}
SETTLE_TIMEOUT = 180.0
"""Seconds a trial's world may take to settle after its last disturbance (the
machine is shared: two cores, other test runs)."""

_CREATE = re.compile(r"NodeRequest (\S+): creating (\S+) with (\S+) \(pool")
_DELETE = re.compile(r"removing node (\S+) \((\S+)\)")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def backoff_steps(seconds: float, base: float, cap: float = 3600.0) -> int:
    """How many tries an offering gets in ``seconds`` when the wait doubles from ``base``
    up to ``cap`` (the operator's jitter only stretches waits, so this is an upper bound)."""
    if base <= 0:
        return 10**6
    steps, at, wait = 1, 0.0, base
    while at + wait < seconds:
        at, wait, steps = at + wait, min(wait * 2, cap), steps + 1
    return steps


def per_node(
    provider: str, instance_type: str, env: dict[str, str], cpu_m: int, mem_mi: int
) -> int:
    """How many pods of ``cpu_m``/``mem_mi`` one ``instance_type`` node of ``provider`` holds."""
    manager = PluginManager()
    instance = manager.providers[provider](
        ProviderContext(name=provider, settings=provider_settings_from_env(provider, env))
    )
    offering = next(o for o in instance.offerings(None) if o.instance_type == instance_type)
    return max(
        1,
        min(
            offering.resources.cpu_millis // cpu_m,
            offering.resources.memory_mib // mem_mi,
            offering.max_pods,
        ),
    )


@dataclass
class Env:
    """What every trial of a run shares."""

    kube: Kube
    kubeconfig: str
    cluster: str | None
    """The local control plane's name when this run started it (apiserver trials need it)."""
    log_dir: Path
    quick: bool = False


@dataclass
class TrialResult:
    category: str
    name: str
    seed: int
    ok: bool = True
    failures: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    duplicates: int = 0
    leaked: int = 0
    busy_removed: int = 0
    crashes: int = 0
    pods: int = 0
    pods_never_running: int = 0
    needed_nodes: int = 0
    creates: int = 0
    deletes: int = 0
    api_calls_per_node: float = 0.0
    events: int = 0
    events_per_pod: float = 0.0
    max_events_per_pod_reason: int = 0
    recovery_s: float | None = None
    kills: int = 0
    restarts: int = 0
    token_hits: int | None = None
    creates_by_offering: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        rec = "-" if self.recovery_s is None else f"{self.recovery_s:.1f}s"
        tokens = "" if self.token_hits is None else f" token_hits={self.token_hits}"
        return (
            f"dup={self.duplicates} leaks={self.leaked} busy_removed={self.busy_removed} "
            f"crashes={self.crashes} never_running={self.pods_never_running}/{self.pods} "
            f"calls/node={self.api_calls_per_node:.2f} ({self.creates}c+{self.deletes}d / "
            f"{self.needed_nodes}) events/pod={self.events_per_pod:.2f} "
            f"max/pod/reason={self.max_events_per_pod_reason} recovery={rec}{tokens}"
        )


class TrialFailed(AssertionError):
    """A scenario step could not be carried out (not a bound: those are counted)."""


class Trial:
    def __init__(self, env: Env, category: str, name: str, seed: int, index: int) -> None:
        self.env = env
        self.kube = env.kube
        self.category = category
        self.name = name
        self.seed = seed
        self.rng = random.Random(seed)
        self.prefix = f"rel{index:02d}-{secrets.token_hex(2)}"
        self.ns = self.prefix
        self.identity = f"rel-{self.prefix}"
        self.log_dir = env.log_dir / f"{index:02d}-{category}-{name}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.groups: set[str] = set()
        self.deleted_groups: set[str] = set()
        self.operators: list[Operator] = []
        self.killed: set[int] = set()
        self.op_env: dict[str, str] = {}
        self.op_flags: dict[str, Any] = {}
        self.hetzner: HetznerWorld | None = None
        self.recorder: Recorder | None = None
        self.expect_running: dict[str, int] = {}
        self.needed_nodes = 1
        self.restarted_at: float | None = None
        self.disturbed_at: float | None = None
        self.settled_at: float | None = None
        self.started = time.time()
        self.backoff_bounds: list[tuple[str, float, float, float | None, float]] = []
        """(provider:offering, base seconds, cap seconds, since, until wall time or None
        for the end): its creates in that window ≤ one per backoff step."""
        self.result = TrialResult(category, name, seed)
        self.faults_configmap = f"{self.prefix}-faults"
        self.extra_secrets: list[str] = []
        self.allow_idle = False
        self.cleanups: list[Callable[[], Any]] = []

    # -- setup ---------------------------------------------------------------------------

    def log(self, message: str) -> None:
        print(f"    [{time.strftime('%H:%M:%S')}] {message}", flush=True)

    def setup(self, *, hetzner: bool = False, action_delay: float = 1.0, **standin: Any) -> None:
        create_namespace(self.kube, self.ns)
        if hetzner:
            self.hetzner = HetznerWorld(
                self.kube,
                self.env.kubeconfig,
                self.identity,
                self.prefix,
                action_delay=action_delay,
            )
            self.hetzner.start()
            if standin.get("server_limit") is not None:
                assert self.hetzner.api is not None
                self.hetzner.api.world.server_limit = int(standin["server_limit"])
            self.op_env.update(self.hetzner.env())
        self.op_env.setdefault("GROWTHRS_KWOK_FAULTS_CONFIGMAP", self.faults_configmap)
        self.recorder = Recorder(self.kube, self.ns, secrets=self.secrets()).start()

    def secrets(self) -> list[str]:
        found = list(self.extra_secrets)
        if self.hetzner is not None:
            found += [self.hetzner.token, self.hetzner.join_token]
        return found

    def group(self, suffix: str, pools: list[dict[str, Any]], **spec: Any) -> str:
        name = f"{self.prefix}-{suffix}"
        spec.setdefault("locations", ["fsn1"])
        self.kube.create(ngp_path(), group_body(name, pools, **spec))
        self.groups.add(name)
        return name

    def edit_group(self, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        for _ in range(10):
            obj = self.kube.get(ngp_path(name))
            change(obj["spec"])
            try:
                self.kube.replace(ngp_path(name), obj)
                return
            except KubeError as exc:
                if exc.status != 409:
                    raise
        raise TrialFailed(f"could not edit group {name}: conflicts")

    def delete_group(self, name: str) -> None:
        self.kube.delete(ngp_path(name))
        self.deleted_groups.add(name)

    def bound_creates(
        self,
        offering: str,
        base: float,
        *,
        cap: float = 3600.0,
        since: float | None = None,
        until: float | None = None,
    ) -> int:
        """``offering`` (``provider:type@location``) may be asked at most once per
        backoff step (doubling from ``base`` up to ``cap``) between ``since`` and ``until``
        (or :meth:`close_bound`); returns the bound's index."""
        self.backoff_bounds.append((offering, base, cap, since or time.time(), until))
        return len(self.backoff_bounds) - 1

    def close_bound(self, index: int) -> None:
        """The fault behind bound ``index`` is lifted now: count no further."""
        offering, base, cap, since, _ = self.backoff_bounds[index]
        self.backoff_bounds[index] = (offering, base, cap, since, time.time())

    def kwok_faults(self, **faults: str) -> None:
        """The KWOK provider's live faults (a ConfigMap only this trial's operator reads)."""
        path = f"/api/v1/namespaces/kube-system/configmaps/{self.faults_configmap}"
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": self.faults_configmap, "namespace": "kube-system"},
            "data": dict(faults),
        }
        try:
            self.kube.replace(path, body)
        except KubeError as exc:
            if exc.status != 404:
                raise
            self.kube.create("/api/v1/namespaces/kube-system/configmaps", body)

    # -- the operator ----------------------------------------------------------------------

    def operator(
        self, env: dict[str, str] | None = None, *, kubeconfig: str | None = None, **flags: Any
    ) -> Operator:
        """Start the operator (remembering env and flags for restarts)."""
        self.op_env.update(env or {})
        self.op_flags = {**OPERATOR_FLAGS, "cluster_name": self.identity, **flags}
        return self._start(kubeconfig)

    def _start(self, kubeconfig: str | None = None) -> Operator:
        op = Operator(
            kubeconfig or self.env.kubeconfig,
            log_path=self.log_dir / f"operator-{len(self.operators)}.log",
            env=self.op_env,
            defaults={},
            die_with_parent=True,
            **self.op_flags,
        ).start()
        self.operators.append(op)
        return op

    @property
    def current(self) -> Operator:
        return self.operators[-1]

    def kill(self) -> None:
        """SIGKILL the running operator, as a node failure or OOM kill would."""
        op = self.current
        if not op.alive():
            raise TrialFailed(
                f"the operator was not running when it was to be killed: {op.exit_summary()}"
            )
        # Was the world still on its way (not yet what the scenario expects) when the
        # operator died? Only such a kill tests recovery of work in progress.
        assert self.recorder is not None
        state = self.state()
        busy = not self._settled(state, 0)
        self.killed.add(len(self.operators) - 1)
        op.stop(signal.SIGKILL)
        log = op.log()
        self.result.details.setdefault("at_kill", []).append(
            {
                "unsettled": busy,
                "in_flight": len(state["in_flight"]),
                "synced": "caches synced" in log,
                "creates_logged": len(_CREATE.findall(log)),
                "removals_logged": len(_DELETE.findall(log)),
            }
        )
        if busy:
            self.result.details["kill_hit_work"] = True
        self.result.kills += 1
        self.disturbed_at = time.time()

    def restart(self, kubeconfig: str | None = None) -> Operator:
        op = self._start(kubeconfig)
        self.restarted_at = time.time()
        self.result.restarts += 1
        return op

    def kill_and_restart(self, window: float, *, pause: tuple[float, float] = (0.0, 2.0)) -> float:
        """SIGKILL at a random moment within ``window`` seconds from now, then restart after
        a random pause; return the moment chosen (seconds)."""
        at = self.rng.uniform(0, window)
        wait = self.rng.uniform(*pause)
        self.log(f"SIGKILL in {at:.2f}s, restart {wait:.2f}s later (seed {self.seed})")
        time.sleep(at)
        self.kill()
        time.sleep(wait)
        self.restart()
        self.result.details["kill_at_s"] = round(at, 2)
        self.result.details["restart_pause_s"] = round(wait, 2)
        if self.rng.random() < 0.3:
            # A second crash while the restarted operator recovers (syncing, replaying).
            again = self.rng.uniform(0, 5.0)
            self.log(f"second SIGKILL {again:.2f}s after the restart")
            time.sleep(again)
            self.kill()
            time.sleep(self.rng.uniform(*pause))
            self.restart()
            self.result.details["second_kill_at_s"] = round(again, 2)
        return at

    # -- workloads ---------------------------------------------------------------------------

    def deploy(
        self,
        app: str,
        replicas: int,
        group: str,
        *,
        cpu: str = "1",
        memory: str = "1Gi",
        expect: int | None = None,
        **extra: Any,
    ) -> None:
        body = deployment_body(
            app,
            self.ns,
            replicas,
            cpu=cpu,
            memory=memory,
            node_selector={GROUP_LABEL: group},
            **extra,
        )
        self.kube.create(f"/apis/apps/v1/namespaces/{self.ns}/deployments", body)
        self.expect_running[app] = replicas if expect is None else expect

    def scale(self, app: str, replicas: int, *, expect: int | None = None) -> None:
        self.kube.patch(
            f"/apis/apps/v1/namespaces/{self.ns}/deployments/{app}",
            {"spec": {"replicas": replicas}},
        )
        self.expect_running[app] = replicas if expect is None else expect

    def running(self, app: str) -> tuple[int, int]:
        """(Running, all) pods of ``app`` that are not being deleted."""
        assert self.recorder is not None
        with self.recorder.lock:
            objs = [
                o
                for o in self.recorder.pod_objects.values()
                if (o["metadata"].get("labels") or {}).get("app") == app
                and not o["metadata"].get("deletionTimestamp")
            ]
        running = sum(1 for o in objs if (o.get("status") or {}).get("phase") == "Running")
        return running, len(objs)

    def group_nodes(self, group: str | None = None) -> list[dict[str, Any]]:
        assert self.recorder is not None
        names = {group} if group else self.groups
        with self.recorder.lock:
            return [
                n
                for n in self.recorder.node_objects.values()
                if (n["metadata"].get("labels") or {}).get(GROUP_LABEL) in names
            ]

    def wait_running(self, app: str, count: int, timeout: float = 150.0) -> float:
        started = time.monotonic()
        self.wait(
            f"{count} {app} pods Running", lambda: self.running(app) == (count, count), timeout
        )
        return time.monotonic() - started

    def wait(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            self._check_operator()
            with contextlib.suppress(KubeError):
                last = check()
                if last:
                    return last
            time.sleep(0.25)
        raise TrialFailed(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")

    def _check_operator(self) -> None:
        for i, op in enumerate(self.operators):
            if i not in self.killed and not op.alive() and op.proc is not None:
                raise TrialFailed(f"operator {i} {op.exit_summary()}")

    # -- settling ---------------------------------------------------------------------------

    def _pods_by_node(self) -> Counter[str]:
        assert self.recorder is not None
        with self.recorder.lock:
            return Counter(
                (o.get("spec") or {}).get("nodeName") or ""
                for o in self.recorder.pod_objects.values()
                if (o.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                and not o["metadata"].get("deletionTimestamp")
            )

    def state(self) -> dict[str, Any]:
        """What settling looks at, as a dict for messages."""
        assert self.recorder is not None
        live_groups = self.groups - self.deleted_groups
        by_node = self._pods_by_node()
        nodes = self.group_nodes()
        out: dict[str, Any] = {
            "running": {app: self.running(app) for app in self.expect_running},
            "in_flight": self.recorder.in_flight(self.groups),
            "idle": sorted(
                n["metadata"]["name"]
                for n in nodes
                if by_node[n["metadata"]["name"]] == 0
                and (n["metadata"].get("labels") or {}).get(GROUP_LABEL) in live_groups
            ),
            "nodes": len(nodes),
            "not_ready": sorted(
                n["metadata"]["name"]
                for n in nodes
                if not any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (n.get("status") or {}).get("conditions") or ()
                )
            ),
            "deleted_groups_left": sorted(
                g for g in self.deleted_groups if g in self.recorder.groups
            ),
            "deleted_group_nodes": sorted(
                n["metadata"]["name"]
                for n in nodes
                if (n["metadata"].get("labels") or {}).get(GROUP_LABEL) in self.deleted_groups
            ),
        }
        if self.hetzner is not None:
            servers = sorted(s["name"] for s in self.hetzner.servers())
            names = sorted(n["metadata"]["name"] for n in nodes)
            out["servers_without_node"] = sorted(set(servers) - set(names))
            out["nodes_without_server"] = sorted(
                n["metadata"]["name"]
                for n in nodes
                if str(n["spec"].get("providerID", "")).startswith("hcloud://")
                and n["metadata"]["name"] not in servers
            )
        return out

    def _settled(self, state: dict[str, Any], min_idle: int) -> bool:
        for app, want in self.expect_running.items():
            if state["running"][app][0] != want:
                return False
        if state["in_flight"] or state["deleted_groups_left"] or state["deleted_group_nodes"]:
            return False
        if not self.allow_idle and len(state["idle"]) > min_idle:
            return False
        return not state.get("servers_without_node") and not state.get("nodes_without_server")

    def settle(self, timeout: float = SETTLE_TIMEOUT, *, min_idle: int = 0) -> dict[str, Any]:
        """Wait until the world is what the scenario expects, twice a second apart:
        the expected pods Running, no NodeRequest in flight, no idle node beyond
        ``min_idle`` (unless idle nodes are allowed), deleted groups and their nodes
        gone, and (Hetzner) servers and Nodes agreeing."""
        deadline = time.monotonic() + timeout
        agreed = 0
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            self._check_operator()
            self._revive_control_plane()
            state = self.state()
            # Only a world the running operator has seen counts as settled by it.
            synced = bool(self.operators) and "caches synced" in self.current.log()
            state["operator_synced"] = synced
            agreed = agreed + 1 if synced and self._settled(state, min_idle) else 0
            if agreed >= 2:
                self.settled_at = time.time()
                return state
            time.sleep(1.0)
        self.result.failures.append(f"not settled within {timeout:.0f}s: {state}")
        self.settled_at = None
        return state

    def restart_control_plane(self, fresh: Sequence[str] = ()) -> list[str]:
        """Start again every control-plane component that is not running, having first
        stopped the ``fresh`` ones that still are; return the ones started.

        The apiserver's clients in this control plane do not always recover from its
        restart: kwok v0.8.0's controller (the stand-in for every kubelet) may keep a dead
        watch, and kube-scheduler has been seen alive but binding nothing. Real kubelets
        and schedulers reconnect, so scenarios name them in ``fresh``."""
        from growthrs_testkit import controlplane

        assert self.env.cluster is not None
        dead = controlplane.dead_components(self.env.cluster)
        for component in fresh:
            if component not in dead:
                controlplane.kill_component(self.env.cluster, component)
        return controlplane.restart_components(self.env.cluster)

    def _revive_control_plane(self) -> None:
        """Start again what of the control plane died meanwhile, as a node's supervisor
        would: kube-scheduler and the controller manager exit a while after an apiserver
        outage cost them their lease, and without a scheduler no pod binds, whatever the
        autoscaler does. The kwok controller is started afresh with them."""
        if self.env.cluster is None:
            return
        from growthrs_testkit import controlplane

        if not controlplane.dead_components(self.env.cluster):
            return
        restarted = self.restart_control_plane(fresh=("kwok-controller",))
        self.result.notes.append(f"restarted while settling: {restarted}")
        self.log(f"control plane: restarted {restarted} while settling")

    # -- counting ---------------------------------------------------------------------------

    def operator_logs(self) -> str:
        return "\n".join(op.log() for op in self.operators)

    def provider_calls(self) -> tuple[int, int, Counter[str], list[tuple[float, str]]]:
        """(creates, deletes, creates per offering, (wall time, offering) of every create),
        counting KWOK calls from the operators' logs and Hetzner calls at the stand-in."""
        creates = deletes = 0
        per_offering: Counter[str] = Counter()
        stamped: list[tuple[float, str]] = []
        for line in self.operator_logs().splitlines():
            m = _CREATE.search(line)
            if m and m.group(3) != "hetzner":
                creates += 1
                key = f"{m.group(3)}:{m.group(2).split('/')[0]}"  # type@location (no zone)
                per_offering[key] += 1
                stamped.append((_stamp(line), key))
            d = _DELETE.search(line)
            if d and d.group(2) not in ("hetzner",):
                deletes += 1
        if self.hetzner is not None and self.hetzner.api is not None:
            calls = self.hetzner.calls()
            creates += calls["creates"]
            deletes += calls["deletes"]
            with self.hetzner.api._lock:
                answered = list(self.hetzner.api.answered)
            for t, e in answered:
                if (e.method, e.path) == ("POST", "/servers"):
                    body = e.request_body if isinstance(e.request_body, dict) else {}
                    key = f"hetzner:{body.get('server_type')}@{body.get('location')}"
                    per_offering[key] += 1
                    stamped.append((t, key))
        return creates, deletes, per_offering, stamped

    def pod_events(self) -> list[dict[str, Any]]:
        items = self.kube.list_all(f"/api/v1/namespaces/{self.ns}/events")[0]
        return [
            e
            for e in items
            if (e.get("source") or {}).get("component") == "growthrs"
            or e.get("reportingComponent") == "growthrs"
        ]

    def leaks(self) -> list[str]:
        """Provider instances of this trial's identity that nothing accounts for."""
        assert self.recorder is not None
        live_groups = self.groups - self.deleted_groups
        requests = self.recorder.live_requests(self.groups)
        accounted = {
            n for r in requests if r.phase in ("Pending", "Provisioning") for n in r.node_names
        }
        found = []
        with self.recorder.lock:
            nodes = list(self.recorder.node_objects.values())
        for node in nodes:
            labels = node["metadata"].get("labels") or {}
            if labels.get(CLUSTER_LABEL) != self.identity or labels.get(PROVIDER_LABEL) != "kwok":
                continue
            name = node["metadata"]["name"]
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (node.get("status") or {}).get("conditions") or ()
            )
            if labels.get(GROUP_LABEL) not in live_groups:
                found.append(f"kwok node {name}: its group {labels.get(GROUP_LABEL)} is gone")
            elif not ready and name not in accounted:
                found.append(f"kwok node {name}: not Ready and no NodeRequest in flight for it")
        if self.hetzner is not None:
            node_names = {n["metadata"]["name"] for n in nodes}
            for server in self.hetzner.servers():
                if server["name"] not in node_names and server["name"] not in accounted:
                    found.append(
                        f"hetzner server {server['name']} ({server['status']}): no Node, "
                        "no NodeRequest in flight"
                    )
        return found

    def evaluate(self) -> TrialResult:
        r = self.result
        rec = self.recorder
        assert rec is not None
        r.duration_s = round(time.time() - self.started, 1)
        # Operators: each must be alive (then stop cleanly) or have been killed by us.
        for i, op in enumerate(self.operators):
            if i in self.killed:
                continue
            if not op.alive():
                r.crashes += 1
                r.failures.append(f"operator {i} {op.exit_summary()}")
                continue
            try:  # a SIGTERM before the handler is installed (Python still importing) kills
                op.wait_for_log("caches synced", 60)
            except (TimeoutError, OSError) as exc:
                r.failures.append(f"operator {i} never synced its caches: {exc}")
            code = op.stop(signal.SIGTERM)
            if code != 0:
                r.crashes += 1
                r.failures.append(f"operator {i} did not stop cleanly on SIGTERM: {op.ended}")
        for i, op in enumerate(self.operators):
            tracebacks = op.log().count("Traceback (most recent call last)")
            if tracebacks:
                r.crashes += 1
                r.failures.append(f"operator {i} logged {tracebacks} traceback(s): {op.log_path}")
        dup_requests = rec.duplicate_requests(self.groups)
        r.duplicates = len(dup_requests) + len(rec.duplicate_nodes)
        if r.duplicates:
            r.failures.append(
                f"duplicates: requests {dup_requests[:5]}, nodes {sorted(rec.duplicate_nodes)[:5]}"
            )
        busy = rec.busy_nodes_removed()
        r.busy_removed = len(busy)
        if busy:
            r.failures.append(f"busy nodes removed: {busy[:5]}")
        bound = rec.busy_nodes_removed(running=False)
        if bound:
            r.details["removed_with_pods_not_started"] = bound[:5]
        leaks = self.leaks()
        r.leaked = len(leaks)
        if leaks:
            r.failures.append(f"leaked: {leaks[:5]}")
        never = 0
        pods_total = 0
        for app, want in self.expect_running.items():
            running, _ = self.running(app)
            never += max(0, want - running)
        for pod in rec.pods.values():
            if pod.owner_kind != "DaemonSet":
                pods_total += 1
        r.pods = pods_total
        r.pods_never_running = never
        if never:
            r.failures.append(f"{never} pod(s) that could run are not Running")
        creates, deletes, per_offering, stamped = self.provider_calls()
        r.creates, r.deletes = creates, deletes
        r.creates_by_offering = dict(per_offering)
        r.needed_nodes = max(1, self.needed_nodes)
        r.api_calls_per_node = round((creates + deletes) / r.needed_nodes, 2)
        for offering, base, cap, since, end in self.backoff_bounds:
            # From the first failure of the offering on: the calls made before anyone
            # knew it fails (several requests at once) are not retries.
            until = end or time.time()
            first = rec.first_failure(offering, since)
            entry: dict[str, Any] = {"offering": offering, "base_s": base, "first_failure": first}
            r.details.setdefault("backoff", []).append(entry)
            if first is None or first > until:
                entry["creates_after_failure"] = 0
                continue
            made = sum(1 for t, key in stamped if key == offering and first < t <= until)
            bound = backoff_steps(until - first, base, cap) - 1
            entry.update(creates_after_failure=made, bound=bound, window_s=round(until - first, 1))
            if made > bound:
                r.failures.append(
                    f"{made} creates of {offering} in the {until - first:.0f}s after it first "
                    f"failed: more than one per backoff step from {base:.0f}s ({bound})"
                )
        try:
            events = self.pod_events()
        except KubeError as exc:
            events = []
            r.notes.append(f"could not list events: {exc}")
        r.events = len(events)
        r.events_per_pod = round(len(events) / max(1, pods_total), 2)
        per_key = Counter(
            (
                (e.get("involvedObject") or {}).get("uid")
                or (e.get("involvedObject") or {}).get("name"),
                e.get("reason"),
            )
            for e in events
        )
        r.max_events_per_pod_reason = max(per_key.values(), default=0)
        if r.max_events_per_pod_reason > 1:
            worst = [(k, v) for k, v in per_key.items() if v > 1][:5]
            r.failures.append(f"more than one Event object per pod and reason: {worst}")
        if self.settled_at is not None and self.restarted_at is not None:
            r.recovery_s = round(self.settled_at - self.restarted_at, 1)
        elif self.settled_at is not None and self.disturbed_at is not None:
            r.recovery_s = round(self.settled_at - self.disturbed_at, 1)
        if self.secrets():
            hits = self.token_search(events)
            r.token_hits = sum(hits.values())
            if hits:
                r.failures.append(f"a secret value appears in: {dict(hits)}")
        r.details["recorder_gaps"] = rec.gaps
        r.ok = not r.failures
        return r

    def token_search(self, pod_events: list[dict[str, Any]]) -> Counter[str]:
        """Every place a secret value appears in what the run wrote: operator logs,
        Events (all namespaces), group and NodeRequest statuses and node labels and
        annotations (as the recorder saw every version of them)."""
        hits: Counter[str] = Counter()
        values = self.secrets()
        for i, op in enumerate(self.operators):
            text = op.log()
            for value in values:
                if value in text:
                    hits[f"operator log {i}"] += text.count(value)
        try:
            events = self.kube.list_all("/api/v1/events")[0]
        except KubeError:
            events = pod_events
        for e in events:
            text = f"{e.get('message')} {e.get('reason')} {e.get('note')}"
            for value in values:
                if value in text:
                    hits[f"Event {e['metadata']['namespace']}/{e['metadata']['name']}"] += 1
        assert self.recorder is not None
        for where, count in self.recorder.secret_hits.items():
            hits[where] += count
        return hits

    # -- cleanup ---------------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        problems: list[str] = []
        for op in self.operators:
            if op.alive():
                op.stop(signal.SIGTERM)
        if self.recorder is not None:
            self.recorder.stop()
        for cleanup in self.cleanups:
            try:
                cleanup()
            except Exception as exc:  # noqa: BLE001 - report and go on cleaning
                problems.append(f"cleanup: {type(exc).__name__}: {exc}")
        with contextlib.suppress(KubeError):
            self.kube.delete(f"/api/v1/namespaces/{self.ns}")
        # Wait for the namespace (its pods) to be gone: the next trial's operator watches
        # every namespace and would otherwise plan for, and post Events about, these pods.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                self.kube.get(f"/api/v1/namespaces/{self.ns}")
            except KubeError as exc:
                if exc.status == 404:
                    break
            time.sleep(0.5)
        else:
            problems.append(f"namespace {self.ns} still there after 90s")
        with contextlib.suppress(KubeError):
            self.kube.delete(f"/api/v1/namespaces/kube-system/configmaps/{self.faults_configmap}")
        for name in sorted(self.groups):
            try:
                self.kube.delete(ngp_path(name))
                self.kube.patch(ngp_path(name), {"metadata": {"finalizers": None}})
            except KubeError as exc:
                if exc.status != 404:
                    problems.append(f"group {name}: {exc}")
        try:
            for nr in self.kube.list_all(nr_path())[0]:
                if nr["spec"].get("nodeGroup") in self.groups:
                    self.kube.delete(nr_path(nr["metadata"]["name"]))
        except KubeError as exc:
            problems.append(f"node requests: {exc}")
        if self.hetzner is not None:
            problems += self.hetzner.stop()
        try:
            for node in self.kube.list_all(node_path())[0]:
                labels = node["metadata"].get("labels") or {}
                name = node["metadata"]["name"]
                if (
                    name.startswith(self.prefix)
                    or labels.get(GROUP_LABEL) in self.groups
                    or labels.get(CLUSTER_LABEL) == self.identity
                ):
                    self.kube.delete(node_path(name))
        except KubeError as exc:
            problems.append(f"nodes: {exc}")
        return problems


def _stamp(line: str) -> float:
    m = _STAMP.match(line)
    if not m:
        return 0.0
    try:
        return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    except ValueError:
        return 0.0


@contextlib.contextmanager
def guarded(trial: Trial) -> Iterator[Trial]:
    """Run a scenario: a step that cannot be carried out fails the trial (with the
    operator's last lines), never the run."""
    try:
        yield trial
    except TrialFailed as exc:
        trial.result.failures.append(f"scenario: {exc}")
    except Exception as exc:  # noqa: BLE001 - one broken trial must not end the run
        trial.result.failures.append(
            f"scenario error: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
        )


def nodes_for(pods: int, per: int) -> int:
    return max(1, math.ceil(pods / per))
