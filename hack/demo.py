#!/usr/bin/env python3
"""`make demo`: GrowthRS autoscaling a real workload on a local control plane, live.

Steps: pick a cluster (``KUBECONFIG`` if it runs a kwok controller, otherwise a
fresh one from ``growthrs_testkit.controlplane`` named ``growthrs-demo``),
install the CRDs and ``examples/kwok-demo-group.yaml``, optionally make the
top pool's type "no capacity" (``--fallback``, the default), start
``growthrs run`` as its own process, create a Deployment that needs several
nodes, watch it scale out, scale the Deployment to zero, watch the nodes
leave, print a summary, and clean up (also on Ctrl-C and errors).

What it shows with the example group: the top pool (cax21, at most 4 nodes)
is tried first; with ``--fallback`` the kwok provider has no cax21 capacity
in fsn1, so those requests record an ``Unavailable`` attempt and get cax21 in
nbg1; pods beyond the top pool's 4 nodes go to the CX pool. Then empty nodes
are marked, tainted and removed after the group's ``unneededTime``.

``--ci`` prints plain timestamped lines instead of the live view and exits
non-zero, with a one-line reason, when the scenario misses its time bounds.

Is the ``KUBECONFIG`` cluster a KWOK cluster? Only a kwok controller turns a
Node without a kubelet Ready, so the demo creates a tainted probe Node
annotated ``kwok.x-k8s.io/node: fake``, waits up to 15 s for it to become
Ready and deletes it. It skips the probe (and starts its own cluster) when
the cluster's nodes are all real kubelets, so a production cluster is never
written to.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from growthrs_core.crd.models import parse_duration
from growthrs_core.quantity import count as quantity_count
from growthrs_core.quantity import cpu_millis, memory_mib

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "kwok-demo-group.yaml"

CLUSTER_NAME = "growthrs-demo"
NAMESPACE = "growthrs-demo"
DEPLOYMENT = "demo-workload"
FAULTS_NAMESPACE = "kube-system"
FAULTS_CONFIGMAP = "growthrs-kwok-faults"
PROBE_NODE = "growthrs-demo-kwok-probe"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
GROUP_LABEL = "growthrs.io/node-group"
POOL_LABEL = "growthrs.io/pool"
SCALE_DOWN_AT = "growthrs.io/scale-down-at"
SCALE_DOWN_TAINT = "growthrs.io/scale-down"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
REGION_LABEL = "topology.kubernetes.io/region"
CRD_GROUP, CRD_VERSION = "growthrs.io", "v1alpha1"
# A demo wants to see empty nodes go within a minute; the operator's default
# grace (60 s) keeps nodes that are seconds old from being marked at all.
NEW_NODE_GRACE = "5"

console = Console()


class DemoFailed(Exception):
    """The scenario did not complete; the message is the one-line reason."""


def cluster_module() -> ModuleType:
    """The local control plane, from the test kit."""
    from growthrs_testkit import controlplane

    return controlplane


def raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a kubernetes-client method and return parsed JSON, skipping model
    deserialisation (too slow to poll 40 pods four times a second on 2 cores)."""
    resp = call(*args, _preload_content=False, _request_timeout=10, **kwargs)
    return json.loads(resp.data)


def ignore_status(*codes: int) -> contextlib.AbstractContextManager[None]:
    """Swallow API errors with these HTTP codes (e.g. 404 on delete)."""

    @contextlib.contextmanager
    def guard() -> Iterator[None]:
        try:
            yield
        except ApiException as exc:
            if exc.status not in codes:
                raise

    return guard()


def is_ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def fmt_s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


# --------------------------------------------------------------------------- cluster


@dataclass
class Kube:
    """The API clients the demo uses, built from one kubeconfig."""

    kubeconfig: str

    def __post_init__(self) -> None:
        api = config.new_client_from_config(config_file=self.kubeconfig)  # type: ignore[no-untyped-call]
        # Typed as Any: the client accepts plain dicts for bodies, which keeps
        # the manifests here readable, but its annotations ask for V1* models.
        self.core: Any = client.CoreV1Api(api)
        self.apps: Any = client.AppsV1Api(api)
        self.custom: Any = client.CustomObjectsApi(api)
        self.ext: Any = client.ApiextensionsV1Api(api)


def runs_kwok(kube: Kube) -> tuple[bool, str]:
    """Whether a kwok controller serves this cluster (see the module docstring)."""
    try:
        nodes = raw(kube.core.list_node)["items"]
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        return False, f"cannot list nodes ({type(exc).__name__}: {str(exc)[:120]})"
    kwok_nodes = [
        n
        for n in nodes
        if KWOK_ANNOTATION in (n["metadata"].get("annotations") or {})
        or str((n.get("status") or {}).get("nodeInfo", {}).get("kubeletVersion", "")).startswith(
            "kwok"
        )
    ]
    if nodes and not kwok_nodes:
        return False, f"its {len(nodes)} node(s) are real kubelets, no kwok nodes"
    body = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": PROBE_NODE,
            "annotations": {KWOK_ANNOTATION: "fake"},
            "labels": {"type": "kwok", "growthrs.io/demo-probe": "true"},
        },
        "spec": {"taints": [{"key": "growthrs.io/demo-probe", "effect": "NoSchedule"}]},
    }
    try:
        with ignore_status(409):
            kube.core.create_node(body)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if is_ready(raw(kube.core.read_node, PROBE_NODE)):
                return True, "a kwok controller turned a probe node Ready"
            time.sleep(0.3)
        return False, "a probe node annotated kwok.x-k8s.io/node=fake did not turn Ready in 15s"
    except ApiException as exc:
        return False, f"cannot create a probe node ({exc.status} {exc.reason})"
    finally:
        with contextlib.suppress(Exception):
            kube.core.delete_node(PROBE_NODE, grace_period_seconds=0)


def install_crds(kube: Kube) -> list[str]:
    """Apply the manifests `growthrs crds` prints (core and installed plugins)."""
    out = subprocess.run(
        [sys.executable, "-m", "growthrs_core.cli", "crds"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise DemoFailed(f"`growthrs crds` failed: {out.stderr.strip()[-300:]}")
    names = []
    for manifest in yaml.safe_load_all(out.stdout):
        if not manifest:
            continue
        name = manifest["metadata"]["name"]
        names.append(name)
        try:
            kube.ext.create_custom_resource_definition(manifest)
        except ApiException as exc:
            if exc.status != 409:
                raise
            current = raw(kube.ext.read_custom_resource_definition, name)
            manifest["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            kube.ext.replace_custom_resource_definition(name, manifest)
    deadline = time.monotonic() + 30
    waiting = list(names)
    while waiting:
        crd = raw(kube.ext.read_custom_resource_definition, waiting[0])
        conditions = (crd.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            waiting.pop(0)
            continue
        if time.monotonic() > deadline:
            raise DemoFailed(f"CRD {waiting[0]} not Established after 30s")
        time.sleep(0.2)
    return names


def apply_group(kube: Kube, group: dict[str, Any]) -> None:
    """Create or replace the example NodeGroupWithPriority."""
    args = (CRD_GROUP, CRD_VERSION, "nodegroupwithpriorities")
    name = group["metadata"]["name"]
    try:
        kube.custom.create_cluster_custom_object(*args, group)
    except ApiException as exc:
        if exc.status != 409:
            raise
        current = raw(kube.custom.get_cluster_custom_object, *args, name)
        group = {**group, "metadata": {**group["metadata"]}}
        group["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        kube.custom.replace_cluster_custom_object(*args, name, group)


def deployment(replicas: int, cpu: str, memory: str, group: str) -> dict[str, Any]:
    """Pause pods pinned to the demo group; kwok "runs" them without pulling the image."""
    labels = {"app": DEPLOYMENT}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {GROUP_LABEL: group},
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {
                            "name": "pause",
                            "image": "registry.k8s.io/pause:3.10",
                            "resources": {
                                "requests": {"cpu": cpu, "memory": memory},
                                "limits": {"cpu": cpu, "memory": memory},
                            },
                        }
                    ],
                },
            },
        },
    }


# --------------------------------------------------------------------------- operator


class Operator:
    """`growthrs run` as a child process in its own session (Ctrl-C in the
    terminal reaches only the demo, which then stops the operator in order)."""

    def __init__(self, kubeconfig: str, log_path: Path, pid_path: Path) -> None:
        self.log_path = log_path
        self.pid_path = pid_path
        self.args = [
            "run",
            "--kubeconfig",
            kubeconfig,
            "--batch-idle",
            "0.5",
            "--batch-max",
            "3",
            "--tick-interval",
            "0.5",
            "--metrics-port",
            "0",
            "--cluster-name",
            CLUSTER_NAME,
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> str:
        return f"GROWTHRS_SCALE_DOWN_NEW_NODE_GRACE={NEW_NODE_GRACE} growthrs " + shlex.join(
            self.args
        )

    def start(self) -> None:
        env = {**os.environ, "GROWTHRS_SCALE_DOWN_NEW_NODE_GRACE": NEW_NODE_GRACE}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "growthrs_core.cli", *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.pid_path.write_text(f"{self.proc.pid}\n")

    def wait_synced(self, timeout: float = 60) -> None:
        """Return once the operator's caches are synced, i.e. it reacts to pods."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if "caches synced" in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise DemoFailed(
            f"the operator did not sync its caches in {timeout:.0f}s; see {self.log_path}"
        )

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.tail(20)
            errors = [line for line in tail if line.startswith("error:")]
            last = (errors or tail or ["no output"])[-1].strip()
            raise DemoFailed(
                f"the operator exited with code {self.proc.returncode}: {last} (log: {self.log_path})"
            )

    def tail(self, lines: int) -> list[str]:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()][-lines:]

    def stop(self, timeout: float = 20) -> str:
        """SIGTERM, then SIGKILL after *timeout*; returns how it ended."""
        if self.proc is None:
            return "not started"
        try:
            if self.proc.poll() is not None:
                return f"had exited with code {self.proc.returncode}"
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
                return f"stopped (exit code {self.proc.returncode})"
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                return f"killed after {timeout:.0f}s without exiting on SIGTERM"
        finally:
            self.pid_path.unlink(missing_ok=True)


def stop_stale_operator(pid_path: Path, say: Callable[[str], None]) -> None:
    """A `--keep` run leaves its operator running; stop it before starting another."""
    try:
        pid = int(pid_path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        pid_path.unlink(missing_ok=True)
        return
    if "growthrs_core.cli run" in cmdline and CLUSTER_NAME in cmdline:
        say(f"stopping the operator a previous --keep run left (pid {pid})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    pid_path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- observing


@dataclass
class NodeView:
    name: str
    pool: str
    instance_type: str
    region: str
    ready: bool
    marked: bool
    """Annotated growthrs.io/scale-down-at."""
    tainted: bool
    """Carries the growthrs.io/scale-down:NoSchedule taint."""
    deleting: bool
    fit: int
    """How many demo pods fit on this node, by its allocatable."""


@dataclass
class Snapshot:
    at: float
    pods_pending: int = 0
    pods_running: int = 0
    pods_total: int = 0
    nr_phases: Counter[str] = field(default_factory=Counter)
    nodes: list[NodeView] = field(default_factory=list)


@dataclass
class Tracker:
    """Everything observed during the run; NodeRequests and nodes are deleted as
    the run goes on, so what the summary needs is accumulated here."""

    group: str
    replicas: int
    pod_cpu_m: int
    pod_mem_mib: int
    pools: list[str]
    started: float = field(default_factory=time.monotonic)
    t_deploy: float | None = None
    t_first_nr: float | None = None
    t_first_ready_node: float | None = None
    t_all_running: float | None = None
    t_scale_in: float | None = None
    t_first_marked: float | None = None
    t_all_gone: float | None = None
    peak_nodes: int = 0
    nodes_seen: dict[str, NodeView] = field(default_factory=dict)
    attempts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    nr_seen: set[str] = field(default_factory=set)
    unmet: set[str] = field(default_factory=set)
    events: deque[str] = field(default_factory=lambda: deque(maxlen=6))
    events_seen: set[str] = field(default_factory=set)
    event_counts: Counter[str] = field(default_factory=Counter)
    unprinted: list[tuple[str, str]] = field(default_factory=list)
    """(reason, line) of events the plain output has not reported yet."""
    last: Snapshot = field(default_factory=lambda: Snapshot(at=time.monotonic()))
    phase: str = "setup"

    def since_deploy(self, moment: float | None) -> float | None:
        if moment is None or self.t_deploy is None:
            return None
        return moment - self.t_deploy

    def since_scale_in(self, moment: float | None) -> float | None:
        if moment is None or self.t_scale_in is None:
            return None
        return moment - self.t_scale_in


def fit_count(node: dict[str, Any], cpu_m: int, mem_mib: int) -> int:
    alloc = (node.get("status") or {}).get("allocatable") or {}
    try:
        return min(
            cpu_millis(alloc.get("cpu", "0")) // max(cpu_m, 1),
            memory_mib(alloc.get("memory", "0")) // max(mem_mib, 1),
            quantity_count(alloc.get("pods", "110")),
        )
    except Exception:  # noqa: BLE001 - a malformed quantity just means "unknown"
        return 0


def observe(kube: Kube, tr: Tracker, with_events: bool) -> Snapshot:
    """One poll of pods, NodeRequests, the group's nodes and operator events."""
    now = time.monotonic()
    snap = Snapshot(at=now)
    pods = raw(kube.core.list_namespaced_pod, NAMESPACE, label_selector=f"app={DEPLOYMENT}")
    for pod in pods["items"]:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        snap.pods_total += 1
        phase = (pod.get("status") or {}).get("phase")
        if phase == "Running":
            snap.pods_running += 1
        elif phase == "Pending":
            snap.pods_pending += 1
    nrs = raw(kube.custom.list_cluster_custom_object, CRD_GROUP, CRD_VERSION, "noderequests")
    for nr in nrs["items"]:
        if (nr.get("spec") or {}).get("nodeGroup") != tr.group:
            continue
        name = nr["metadata"]["name"]
        status = nr.get("status") or {}
        phase = status.get("phase", "Pending")
        snap.nr_phases[phase] += 1
        tr.nr_seen.add(name)
        tr.attempts[name] = status.get("attempts") or []
        if phase == "Unmet":
            tr.unmet.add(name)
        if tr.t_first_nr is None:
            tr.t_first_nr = now
    nodes = raw(kube.core.list_node, label_selector=f"{GROUP_LABEL}={tr.group}")
    for node in nodes["items"]:
        meta = node["metadata"]
        labels = meta.get("labels") or {}
        view = NodeView(
            name=meta["name"],
            pool=labels.get(POOL_LABEL, "?"),
            instance_type=labels.get(INSTANCE_TYPE_LABEL, "?"),
            region=labels.get(REGION_LABEL, "?"),
            ready=is_ready(node),
            marked=SCALE_DOWN_AT in (meta.get("annotations") or {}),
            tainted=any(
                t.get("key") == SCALE_DOWN_TAINT
                for t in (node.get("spec") or {}).get("taints") or []
            ),
            deleting=bool(meta.get("deletionTimestamp")),
            fit=fit_count(node, tr.pod_cpu_m, tr.pod_mem_mib),
        )
        snap.nodes.append(view)
        tr.nodes_seen[view.name] = view
        if view.ready and tr.t_first_ready_node is None:
            tr.t_first_ready_node = now
        if view.marked and tr.t_scale_in is not None and tr.t_first_marked is None:
            tr.t_first_marked = now
    tr.peak_nodes = max(tr.peak_nodes, len(snap.nodes))
    if with_events:
        collect_events(kube, tr)
    tr.last = snap
    return snap


def collect_events(kube: Kube, tr: Tracker) -> None:
    """The operator's Events on NodeRequests, nodes and groups (posted to `default`)."""
    offset = time.time() - time.monotonic()  # monotonic -> wall clock
    started = tr.started + offset
    zero = (tr.t_deploy or tr.started) + offset
    events = raw(
        kube.core.list_namespaced_event, "default", field_selector="reportingComponent=growthrs"
    )["items"]

    def stamp(ev: dict[str, Any]) -> str:
        return str(ev.get("eventTime") or ev.get("lastTimestamp") or "")

    for ev in sorted(events, key=stamp):
        uid = ev["metadata"]["uid"]
        if uid in tr.events_seen:
            continue
        tr.events_seen.add(uid)
        when = stamp(ev)
        try:
            moment = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
        if moment < started:
            continue  # from an earlier run on the same cluster
        obj = ev.get("involvedObject") or {}
        reason, message = str(ev.get("reason", "")), str(ev.get("message", ""))
        if obj.get("kind") == "NodeGroupWithPriority" and message.split(": ", 1)[0] in tr.nr_seen:
            continue  # the group's copy of a NodeRequest warning
        line = f"{moment - zero:6.1f}s {obj.get('kind', '?')} {obj.get('name', '?')}: {reason}: {message}"
        tr.events.append(line)
        tr.event_counts[reason] += 1
        tr.unprinted.append((reason, line))


# --------------------------------------------------------------------------- display


def node_rows(nodes: list[NodeView]) -> list[tuple[str, str, str, int, int, int, int]]:
    """(pool, type, location, nodes, ready, marked, tainted) per pool and instance type."""
    groups: dict[tuple[str, str, str], list[NodeView]] = {}
    for n in nodes:
        groups.setdefault((n.pool, n.instance_type, n.region), []).append(n)
    return [
        (
            pool,
            itype,
            region,
            len(ns),
            sum(n.ready for n in ns),
            sum(n.marked for n in ns),
            sum(n.tainted for n in ns),
        )
        for (pool, itype, region), ns in sorted(groups.items())
    ]


def render(tr: Tracker, title: str) -> Group:
    """The live view: counters, nodes by pool and type, recent operator events."""
    snap = tr.last
    elapsed = time.monotonic() - (tr.t_deploy or tr.started)
    head = Table.grid(padding=(0, 3))
    head.add_row(
        f"[bold]phase[/bold] {tr.phase}",
        f"[bold]elapsed[/bold] {elapsed:5.1f}s",
        f"[bold]pods[/bold] [green]{snap.pods_running} running[/green] / "
        f"[yellow]{snap.pods_pending} pending[/yellow] (of {snap.pods_total})",
        f"[bold]nodes[/bold] {len(snap.nodes)} (peak {tr.peak_nodes})",
    )
    phases = Table.grid(padding=(0, 3))
    phases.add_row(
        "[bold]NodeRequests[/bold]",
        *(f"{p} {snap.nr_phases.get(p, 0)}" for p in ("Pending", "Provisioning", "Ready", "Unmet")),
        f"fallbacks {fallback_count(tr)}",
    )
    nodes = Table("pool", "type", "location", "nodes", "ready", "marked / tainted for removal")
    for pool, itype, region, total, ready, marked, tainted in node_rows(snap.nodes):
        label = tr.pools[int(pool)] if pool.isdigit() and int(pool) < len(tr.pools) else pool
        nodes.add_row(
            label,
            itype,
            region,
            str(total),
            str(ready),
            f"{marked} / {tainted}" if marked or tainted else "",
        )
    if not snap.nodes:
        nodes.add_row("-", "-", "-", "0", "0", "")
    counts = " · ".join(f"{reason} {n}" for reason, n in tr.event_counts.items())
    events = Text(counts or "(none yet)", style="bold", overflow="ellipsis", no_wrap=True)
    for line in tr.events:
        events.append("\n" + line, style="")
    milestones = Table.grid(padding=(0, 3))
    milestones.add_row(
        f"first NodeRequest {fmt_s(tr.since_deploy(tr.t_first_nr))}",
        f"all Running {fmt_s(tr.since_deploy(tr.t_all_running))}",
        f"first marked {fmt_s(tr.since_scale_in(tr.t_first_marked))}",
        f"all nodes gone {fmt_s(tr.since_scale_in(tr.t_all_gone))}",
    )
    return Group(
        Panel(Group(head, phases, milestones), title=title, title_align="left"),
        nodes,
        Panel(events, title="operator events", title_align="left"),
    )


def plain_line(tr: Tracker) -> str:
    snap = tr.last
    elapsed = time.monotonic() - (tr.t_deploy or tr.started)
    by_pool = ", ".join(
        f"pool{pool} {itype}@{region}={total}"
        for pool, itype, region, total, *_ in node_rows(snap.nodes)
    )
    marked = sum(n.marked for n in snap.nodes)
    tainted = sum(n.tainted for n in snap.nodes)
    nr = "/".join(
        str(snap.nr_phases.get(p, 0)) for p in ("Pending", "Provisioning", "Ready", "Unmet")
    )
    return (
        f"[{elapsed:6.1f}s] {tr.phase}: pods {snap.pods_running} running, {snap.pods_pending} pending"
        f" | NodeRequests P/Pr/R/U {nr} | nodes {len(snap.nodes)} ({by_pool or 'none'}), marked/tainted {marked}/{tainted}"
    )


def fallback_count(tr: Tracker) -> int:
    return sum(1 for atts in tr.attempts.values() for a in atts if a.get("result") == "Unavailable")


# --------------------------------------------------------------------------- summary


def summary(tr: Tracker, fallback: bool, fault: str) -> list[tuple[str, str]]:
    created = Counter((n.pool, n.instance_type, n.region) for n in tr.nodes_seen.values())
    created_text = ", ".join(f"pool {p} {t}@{r}: {c}" for (p, t, r), c in sorted(created.items()))
    unavailable = Counter(
        f"pool {a.get('pool')} {a.get('offering')}"
        for atts in tr.attempts.values()
        for a in atts
        if a.get("result") == "Unavailable"
    )
    served_after = sum(
        1
        for atts in tr.attempts.values()
        if any(a.get("result") == "Unavailable" for a in atts)
        and any(a.get("result") == "Created" for a in atts)
    )
    fits = [n.fit for n in tr.nodes_seen.values() if n.fit > 0]
    best_fit = max(fits) if fits else 0
    lower = math.ceil(tr.replicas / best_fit) if best_fit else 0
    rows = [
        ("nodes created", f"{len(tr.nodes_seen)} ({created_text or 'none'})"),
        ("node requests", str(len(tr.nr_seen))),
        (
            "fallback",
            (
                f"fault 'unavailable: {fault}'; {sum(unavailable.values())} attempt(s) Unavailable"
                f" ({', '.join(f'{k}: {v}' for k, v in unavailable.items()) or 'none'}),"
                f" {served_after} request(s) then served by another offering"
            )
            if fallback
            else f"off; {sum(unavailable.values())} attempt(s) Unavailable",
        ),
        ("unmet node requests", str(len(tr.unmet))),
        ("time to first NodeRequest", fmt_s(tr.since_deploy(tr.t_first_nr))),
        ("time to first node Ready", fmt_s(tr.since_deploy(tr.t_first_ready_node))),
        ("time to all pods Running", fmt_s(tr.since_deploy(tr.t_all_running))),
        (
            "time to first node marked (after scale to 0)",
            fmt_s(tr.since_scale_in(tr.t_first_marked)),
        ),
        ("time to all nodes gone (after scale to 0)", fmt_s(tr.since_scale_in(tr.t_all_gone))),
        (
            "peak nodes vs. lower bound",
            f"{tr.peak_nodes} vs. {lower} (ceil({tr.replicas} pods / {best_fit} per node, the"
            " roomiest type used))",
        ),
    ]
    return rows


def summary_keys(tr: Tracker, fallback: bool) -> list[tuple[str, str]]:
    """The same numbers as stable `key: value` lines for CI logs."""
    created = Counter(f"pool{n.pool}/{n.instance_type}@{n.region}" for n in tr.nodes_seen.values())
    fits = [n.fit for n in tr.nodes_seen.values() if n.fit > 0]
    best_fit = max(fits) if fits else 0

    def num(x: float | None) -> str:
        return "none" if x is None else f"{x:.2f}"

    return [
        ("nodes_created", str(len(tr.nodes_seen))),
        ("nodes_by_pool", ",".join(f"{k}={v}" for k, v in sorted(created.items())) or "none"),
        ("node_requests", str(len(tr.nr_seen))),
        ("fallback_enabled", str(fallback).lower()),
        ("fallback_unavailable_attempts", str(fallback_count(tr))),
        ("unmet_node_requests", str(len(tr.unmet))),
        ("time_to_first_noderequest_s", num(tr.since_deploy(tr.t_first_nr))),
        ("time_to_first_node_ready_s", num(tr.since_deploy(tr.t_first_ready_node))),
        ("time_to_all_running_s", num(tr.since_deploy(tr.t_all_running))),
        ("time_to_first_marked_s", num(tr.since_scale_in(tr.t_first_marked))),
        ("time_to_all_nodes_gone_s", num(tr.since_scale_in(tr.t_all_gone))),
        ("peak_nodes", str(tr.peak_nodes)),
        ("min_nodes_lower_bound", str(math.ceil(tr.replicas / best_fit) if best_fit else 0)),
    ]


# --------------------------------------------------------------------------- the run


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.plain: bool = args.ci or not console.is_terminal
        self.cp = cluster_module()
        self.state_dir = Path(self.cp.cache_root()) / "demo"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for old_log in sorted(self.state_dir.glob("operator-*.log"))[:-9]:
            old_log.unlink(missing_ok=True)  # keep the last few runs' logs, not all
        self.own_cluster = False
        self.kube: Kube | None = None
        self.kubeconfig = ""
        self.operator: Operator | None = None
        self.saved_faults: dict[str, Any] | None = None
        self.touched_faults = False
        self.bounds: dict[str, float] = {}
        self.printed_reasons: set[str] = set()
        self.live: Live | None = None
        self.failure = ""
        self.group_doc: dict[str, Any] = yaml.safe_load(Path(args.group_file).read_text())
        self.group = self.group_doc["metadata"]["name"]
        spec = self.group_doc["spec"]
        self.pools = [
            f"pool {i} ({p['provider']} {','.join(p['serverType'])}, prio {p['priority']})"
            for i, p in enumerate(spec["pools"])
        ]
        top = spec["pools"][0]
        locations = top.get("locations") or spec.get("locations") or ["fsn1"]
        self.fault = args.fault or f"{top['serverType'][0]}@{locations[0]}"
        self.unneeded = parse_duration(spec.get("scaleDown", {}).get("unneededTime", "10m"))
        self.tracker = Tracker(
            group=self.group,
            replicas=args.replicas,
            pod_cpu_m=cpu_millis(args.cpu),
            pod_mem_mib=memory_mib(args.memory),
            pools=self.pools,
        )

    def say(self, msg: str) -> None:
        # The terminal may be gone (SIGHUP) while we clean up; cleaning up matters more.
        with contextlib.suppress(OSError):
            if self.plain:
                stamp = datetime.now().strftime("%H:%M:%S")
                print(f"{stamp} {msg}", flush=True)
            else:
                console.print(f"[bold cyan]>[/bold cyan] {msg}", highlight=False)

    # -- setup -------------------------------------------------------------------------

    def pick_cluster(self) -> None:
        stop_stale_operator(self.state_dir / "operator.pid", self.say)
        env = os.environ.get("KUBECONFIG", "")
        if env and not self.args.own_cluster:
            if os.pathsep in env:
                self.say(
                    f"KUBECONFIG lists several files; using its first, {env.split(os.pathsep)[0]}"
                )
                env = env.split(os.pathsep)[0]
            try:
                kube = Kube(env)
                ok, why = runs_kwok(kube)
            except Exception as exc:  # noqa: BLE001 - unusable config: start our own
                ok, why = False, f"{type(exc).__name__}: {str(exc)[:160]}"
            if ok:
                self.say(f"using the cluster in KUBECONFIG={env} ({why})")
                self.kube, self.kubeconfig = kube, env
                return
            self.say(f"not using KUBECONFIG={env}: {why}; starting a cluster of our own")
        if self.cp.exists(CLUSTER_NAME):
            self.say(f"removing the cluster {CLUSTER_NAME!r} an earlier run left")
            self.cp.down(CLUSTER_NAME)
        self.say(
            f"starting a local control plane {CLUSTER_NAME!r} (etcd, apiserver, scheduler, controller-manager, kwok)"
        )
        started = time.monotonic()
        self.own_cluster = True
        cluster = self.cp.up(CLUSTER_NAME, self.state_dir / "kubeconfig.yaml")
        self.kubeconfig = cluster.kubeconfig
        self.kube = Kube(self.kubeconfig)
        self.say(
            f"cluster ready at {cluster.server} in {time.monotonic() - started:.1f}s; kubeconfig {self.kubeconfig}"
        )

    def setup(self) -> None:
        assert self.kube is not None
        kube = self.kube
        crds = install_crds(kube)
        self.say(f"CRDs established: {', '.join(crds)}")
        others = [
            g["metadata"]["name"]
            for g in raw(
                kube.custom.list_cluster_custom_object,
                CRD_GROUP,
                CRD_VERSION,
                "nodegroupwithpriorities",
            )["items"]
            if g["metadata"]["name"] != self.group
        ]
        if others:
            self.say(
                f"note: the cluster has other node groups ({', '.join(others)}); the demo's operator will manage them too"
            )
        self.cleanup_workload()
        apply_group(kube, self.group_doc)
        self.say(
            f"applied NodeGroupWithPriority {self.group} from {self.args.group_file}: "
            + "; ".join(self.pools)
        )
        self.set_fault()
        if not self.namespace_exists():
            kube.core.create_namespace({"metadata": {"name": NAMESPACE}})
        log_path = self.state_dir / f"operator-{datetime.now().strftime('%Y%m%d-%H%M%S')}.log"
        self.operator = Operator(self.kubeconfig, log_path, self.state_dir / "operator.pid")
        self.say(f"starting the operator: {self.operator.command}")
        self.say(f"operator log: {log_path}")
        self.operator.start()
        self.operator.wait_synced()
        self.say(
            f"operator running (pid {self.operator.proc.pid if self.operator.proc else '?'}), caches synced"
        )

    def namespace_exists(self) -> bool:
        assert self.kube is not None
        try:
            ns = raw(self.kube.core.read_namespace, NAMESPACE)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        if ns["metadata"].get("deletionTimestamp"):
            self.wait_namespace_gone()
            return False
        return True

    def wait_namespace_gone(self, timeout: float = 60) -> None:
        assert self.kube is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                raw(self.kube.core.read_namespace, NAMESPACE)
            except ApiException as exc:
                if exc.status == 404:
                    return
                raise
            time.sleep(0.5)
        raise DemoFailed(f"namespace {NAMESPACE} still terminating after {timeout:.0f}s")

    def set_fault(self) -> None:
        """The kwok provider re-reads this ConfigMap every second (plugins/growthrs_kwok/README.md)."""
        assert self.kube is not None
        core = self.kube.core
        try:
            self.saved_faults = raw(
                core.read_namespaced_config_map, FAULTS_CONFIGMAP, FAULTS_NAMESPACE
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.saved_faults = None
        if not self.args.fallback:
            if self.saved_faults is not None:
                self.say(
                    f"note: {FAULTS_NAMESPACE}/{FAULTS_CONFIGMAP} exists and stays in force: {self.saved_faults.get('data')}"
                )
            return
        body = {
            "metadata": {
                "name": FAULTS_CONFIGMAP,
                "namespace": FAULTS_NAMESPACE,
                "labels": {"app.kubernetes.io/part-of": "growthrs-demo"},
            },
            "data": {"unavailable": self.fault},
        }
        self.touched_faults = True
        if self.saved_faults is None:
            core.create_namespaced_config_map(FAULTS_NAMESPACE, body)
        else:
            core.replace_namespaced_config_map(FAULTS_CONFIGMAP, FAULTS_NAMESPACE, body)
        self.say(
            f"simulated fault: kwok has no capacity for {self.fault} (ConfigMap {FAULTS_NAMESPACE}/{FAULTS_CONFIGMAP})"
        )

    # -- scenario ---------------------------------------------------------------------------

    def watch(self, until: Callable[[Snapshot], bool], deadline: float, what: str) -> None:
        """Poll (2/s), redraw (4/s), until *until* holds or *deadline* passes."""
        assert self.kube is not None and self.operator is not None
        tr = self.tracker
        next_poll = next_plain = next_events = 0.0
        live = self.live
        try:
            while True:
                moment = time.monotonic()
                if moment >= next_poll:
                    self.operator.check_alive()
                    snap = observe(self.kube, tr, with_events=moment >= next_events)
                    if moment >= next_events:
                        next_events = moment + 1.0
                    next_poll = moment + 0.5
                    if until(snap):
                        break
                if moment > deadline:
                    raise DemoFailed(
                        f"timed out: {what} not reached within {self.bound_text(what)}: {plain_line(tr)}"
                    )
                if live is not None:
                    live.update(render(tr, self.title()), refresh=True)
                elif moment >= next_plain:
                    self.print_progress()
                    next_plain = moment + 3.0
                time.sleep(0.25)
            collect_events(self.kube, tr)
        finally:
            if live is not None:
                live.update(render(tr, self.title()), refresh=True)
        if self.plain:
            self.print_progress()

    def print_progress(self) -> None:
        """Plain mode: the state line, new events counted by reason, and the first
        event of each reason in full."""
        tr = self.tracker
        print(datetime.now().strftime("%H:%M:%S ") + plain_line(tr), flush=True)
        if not tr.unprinted:
            return
        fresh = Counter(reason for reason, _ in tr.unprinted)
        print("         events: " + ", ".join(f"{r} +{n}" for r, n in fresh.items()), flush=True)
        for reason, line in tr.unprinted:
            if reason not in self.printed_reasons:
                self.printed_reasons.add(reason)
                print(f"         e.g. {line}", flush=True)
        tr.unprinted.clear()

    def bound_text(self, what: str) -> str:
        return f"{self.bounds.get(what, 0):.0f}s"

    def title(self) -> str:
        where = f"own cluster {CLUSTER_NAME}" if self.own_cluster else "cluster from KUBECONFIG"
        return f"GrowthRS demo · {where} · group {self.group}"

    def scenario(self) -> None:
        """Scale out, then in, under one live view (messages scroll above it)."""
        if not self.plain:
            self.live = Live(
                render(self.tracker, self.title()), console=console, auto_refresh=False
            )
            self.live.start()
        try:
            self.scale_out_and_in()
        finally:
            if self.live is not None:
                self.live.stop()
                self.live = None

    def scale_out_and_in(self) -> None:
        assert self.kube is not None
        tr = self.tracker
        a = self.args
        up_bound = a.timeout_running
        down_bound = a.timeout_gone if a.timeout_gone else self.unneeded + 90
        self.bounds = {"all pods Running": up_bound, "all nodes gone": down_bound}
        self.say(
            f"creating Deployment {NAMESPACE}/{DEPLOYMENT}: {a.replicas} pods x {a.cpu} CPU / {a.memory}"
            f" (bounds: all Running within {up_bound:.0f}s, all nodes gone within {down_bound:.0f}s of scale-in)"
        )
        tr.phase = "scale-out"
        tr.t_deploy = time.monotonic()
        self.kube.apps.create_namespaced_deployment(
            NAMESPACE, deployment(a.replicas, a.cpu, a.memory, self.group)
        )

        def all_running(s: Snapshot) -> bool:
            if (
                s.pods_running >= a.replicas
                and s.pods_total == a.replicas
                and tr.t_all_running is None
            ):
                tr.t_all_running = s.at
            return tr.t_all_running is not None

        self.watch(all_running, tr.t_deploy + up_bound, "all pods Running")
        self.say(
            f"all {a.replicas} pods Running after {fmt_s(tr.since_deploy(tr.t_all_running))}"
            f" on {len(tr.last.nodes)} node(s); scaling the Deployment to 0"
        )
        tr.phase = "scale-in"
        tr.t_scale_in = time.monotonic()
        self.kube.apps.patch_namespaced_deployment_scale(
            DEPLOYMENT, NAMESPACE, {"spec": {"replicas": 0}}
        )

        def all_gone(s: Snapshot) -> bool:
            if not s.nodes and s.pods_total == 0 and tr.t_all_gone is None:
                tr.t_all_gone = s.at
            return tr.t_all_gone is not None

        self.watch(all_gone, tr.t_scale_in + down_bound, "all nodes gone")
        tr.phase = "done"
        self.say(f"all nodes gone {fmt_s(tr.since_scale_in(tr.t_all_gone))} after scaling to 0")

    def print_summary(self) -> None:
        tr = self.tracker
        if self.plain:
            print("--- summary", flush=True)
            for key, value in summary_keys(tr, self.args.fallback):
                print(f"{key}: {value}", flush=True)
            return
        table = Table(title="GrowthRS demo summary", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for key, value in summary(tr, self.args.fallback, self.fault):
            table.add_row(key, value)
        console.print(table)

    # -- cleanup ----------------------------------------------------------------------------

    def cleanup_workload(self) -> None:
        """Remove what an earlier, interrupted run on the same cluster may have left."""
        assert self.kube is not None
        with ignore_status(404):
            self.kube.apps.delete_namespaced_deployment(
                DEPLOYMENT, NAMESPACE, grace_period_seconds=0
            )

    def cleanup(self) -> None:
        if self.args.keep:
            self.keep_notes()
            return
        if self.operator is not None:
            self.say(f"operator {self.operator.stop()}")
        if self.own_cluster:
            self.say(f"deleting cluster {CLUSTER_NAME!r}")
            self.cp.down(CLUSTER_NAME)
            return
        if self.kube is None:
            return
        kube = self.kube
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("namespace", lambda: kube.core.delete_namespace(NAMESPACE)),
            (
                "node group",
                lambda: kube.custom.delete_cluster_custom_object(
                    CRD_GROUP, CRD_VERSION, "nodegroupwithpriorities", self.group
                ),
            ),
            ("node requests", self.delete_node_requests),
            (
                "nodes",
                lambda: kube.core.delete_collection_node(
                    label_selector=f"{GROUP_LABEL}={self.group}"
                ),
            ),
            ("faults", self.restore_faults),
        ]
        for what, step in steps:
            try:
                with ignore_status(404):
                    step()
            except Exception as exc:  # noqa: BLE001 - keep cleaning up the rest
                self.say(f"cleanup of {what} failed: {exc}")
        self.say("demo objects deleted (the CRDs stay)")

    def delete_node_requests(self) -> None:
        assert self.kube is not None
        items = raw(
            self.kube.custom.list_cluster_custom_object, CRD_GROUP, CRD_VERSION, "noderequests"
        )["items"]
        for nr in items:
            if (nr.get("spec") or {}).get("nodeGroup") == self.group:
                with ignore_status(404):
                    self.kube.custom.delete_cluster_custom_object(
                        CRD_GROUP, CRD_VERSION, "noderequests", nr["metadata"]["name"]
                    )

    def restore_faults(self) -> None:
        assert self.kube is not None
        if not self.touched_faults:
            return
        core = self.kube.core
        if self.saved_faults is None:
            with ignore_status(404):
                core.delete_namespaced_config_map(FAULTS_CONFIGMAP, FAULTS_NAMESPACE)
            return
        meta = self.saved_faults["metadata"]
        body = {
            "metadata": {
                k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta
            },
            "data": self.saved_faults.get("data") or {},
        }
        core.replace_namespaced_config_map(FAULTS_CONFIGMAP, FAULTS_NAMESPACE, body)

    def keep_notes(self) -> None:
        kubectl = self.cp.build(quiet=True).get("KUBECTL", "kubectl")
        pid = self.operator.proc.pid if self.operator and self.operator.proc else None
        self.say("--keep: leaving everything running")
        self.say(f"  export KUBECONFIG={self.kubeconfig}")
        self.say(f"  {kubectl} -n {NAMESPACE} scale deployment {DEPLOYMENT} --replicas 20")
        self.say(f"  {kubectl} get ngp,nr,nodes")
        if pid:
            self.say(
                f"  operator pid {pid}, log {self.operator.log_path if self.operator else ''}; stop it: kill {pid}"
            )
        if self.own_cluster:
            self.say(f"  python -m growthrs_testkit.controlplane down --name {CLUSTER_NAME}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--ci",
        action="store_true",
        help="plain lines, no live view; non-zero exit when the scenario misses its bounds",
    )
    p.add_argument(
        "--replicas", type=int, default=40, help="pods in the demo Deployment (default 40)"
    )
    p.add_argument(
        "--group-file",
        default=os.path.relpath(EXAMPLE),
        help="the NodeGroupWithPriority to scale (default examples/kwok-demo-group.yaml)",
    )
    p.add_argument("--cpu", default="1", help="CPU request per pod (default 1)")
    p.add_argument("--memory", default="1Gi", help="memory request per pod (default 1Gi)")
    p.add_argument(
        "--fallback",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="simulate no capacity for the top pool's type in its first location (default on)",
    )
    p.add_argument(
        "--fault",
        help="fault target instead of the default TYPE@LOCATION, e.g. 'cax21' or '*@fsn1'",
    )
    p.add_argument(
        "--keep", action="store_true", help="leave cluster, objects and operator running"
    )
    p.add_argument(
        "--own-cluster", action="store_true", help="start our own cluster even if KUBECONFIG is set"
    )
    p.add_argument(
        "--timeout-running",
        type=float,
        default=120,
        help="seconds until all pods must run (default 120)",
    )
    p.add_argument(
        "--timeout-gone",
        type=float,
        default=0,
        help="seconds after scale-in until all nodes must be gone (default unneededTime + 90)",
    )
    args = p.parse_args(argv)
    if args.replicas < 1:
        p.error("--replicas must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    demo = Demo(args)

    def on_term(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)  # terminal closed: still clean up
    code = 0
    try:
        demo.pick_cluster()
        demo.setup()
        demo.scenario()
        demo.print_summary()
    except KeyboardInterrupt:
        demo.say("interrupted; cleaning up")
        code = 130
    except DemoFailed as exc:
        demo.failure = str(exc)
        demo.say(f"FAILED: {exc}")
        if demo.operator is not None:
            for line in demo.operator.tail(8):
                demo.say(f"  operator: {line}")
        if demo.tracker.t_deploy is not None:
            demo.print_summary()
        code = 1
    except Exception as exc:  # noqa: BLE001 - one line, then clean up
        demo.failure = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        demo.say(f"FAILED: {demo.failure}")
        code = 1
    finally:
        # A second Ctrl-C must not leave a half-deleted cluster behind.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        try:
            demo.cleanup()
        except Exception as exc:  # noqa: BLE001
            demo.say(f"cleanup failed: {type(exc).__name__}: {exc}")
            code = code or 1
    if demo.failure:
        print(f"demo failed: {demo.failure}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
