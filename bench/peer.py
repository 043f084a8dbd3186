"""Side by side: GrowthRS and Karpenter's KWOK provider on the same local control plane.

Both autoscalers get the same 19 KWOK instance types (our catalogue's CX, CPX,
CAX and CCX types in fsn1, nbg1 and hel1, at our prices; for Karpenter as an
instance-types file, see :mod:`bench.peer_catalogue`), the same allocatable
per type, the same batch window (1 s idle, 10 s max) and the same time before
an unneeded node goes (GrowthRS ``scaleDown.unneededTime`` = Karpenter
``consolidateAfter``, default 10 s; Karpenter consolidates
``WhenEmptyOrUnderutilized`` with a budget of 100 % of the nodes). Karpenter
is built from Go modules (``build.sh karpenter``) and runs as a local process,
like ``growthrs run``. Only one autoscaler runs at a time; every run starts
the autoscaler afresh on an empty cluster, and the runs alternate.

Workloads (:data:`bench.peer_catalogue.WORKLOADS`), each Deployment created at once:

- ``uniform``: 1,000 pods of 250m / 256Mi;
- ``mixed``: 1,000 pods of four shapes, memory-heavy ones among them;
- ``mixed-no-ccx``: the same, with the dedicated CCX types excluded for both;
- ``scale-in``: the uniform Deployment, once Running, scaled to 300: hourly cost
  before, 2 minutes after, and at steady state (no node change for
  ``--quiet`` seconds, at most ``--steady-cap`` after the scale).

Each run measures, from the first POST: every pod Running; the first
NodeRequest / NodeClaim and the first Node; nodes, EUR per hour, CPU and memory
utilisation (requests ÷ allocatable) once all pods run; deleting the
Deployments → every node gone; and the autoscaler process's peak RSS (VmHWM)
and CPU seconds over its life. The lower bound creates enough Ready KWOK
nodes first, then the same Deployments, with no autoscaler: what the control
plane alone needs to run the pods.

Usage::

    python -m bench.peer [--smoke] [--runs 3] [--workloads uniform,mixed,mixed-no-ccx,scale-in]
                         [--autoscalers growthrs,karpenter] [--no-bound] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench import harness, karpenter
from bench.peer_catalogue import (
    PEER_TYPES,
    WORKLOADS,
    Workload,
    dedicated,
    hourly_cost,
    karpenter_instance_types,
    peer_types,
    type_counts,
    utilisation,
)
from growthrs_core.controller.kube import Kube, ngp_path, nr_path
from growthrs_kwok import offerings as kwok
from growthrs_testkit.controlplane import read_versions
from growthrs_testkit.kube import deployment_body

AUTOSCALERS = ("growthrs", "karpenter")
BOUND = "bound"
LOCATIONS = [loc.name for loc in kwok.LOCATIONS]
BOUND_TYPE = "ccx53"
"""Type of the pre-created nodes of the lower bound (32 CPU, 128 GiB)."""
MB = 2**20


# -- tracking what happens ----------------------------------------------------------------------


class Tracker:
    """Pods of one namespace, the autoscaler's nodes and its NodeRequests / NodeClaims."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.phase: dict[str, str] = {}
        self.nodes: dict[str, dict[str, Any]] = {}
        self.node_changes: list[tuple[float, int, float]] = []
        """(seen, nodes, EUR/h) after every node added or deleted."""
        self.first_node = math.inf
        self.last_node_added = math.nan
        self.first_claim = math.inf
        self.running_since: dict[str, float] = {}
        self.claims: set[str] = set()
        self.nodes_max = 0

    def on_pod(self, kind: str, obj: dict[str, Any], seen: float) -> None:
        name = obj["metadata"]["name"]
        with self.lock:
            if kind == "DELETED":
                self.phase.pop(name, None)
            else:
                self.phase[name] = str((obj.get("status") or {}).get("phase") or "")
                if self.phase[name] == "Running":
                    self.running_since.setdefault(name, seen)

    def on_node(self, kind: str, obj: dict[str, Any], seen: float) -> None:
        name = obj["metadata"]["name"]
        with self.lock:
            before = len(self.nodes)
            if kind == "DELETED":
                self.nodes.pop(name, None)
            else:
                if name not in self.nodes:
                    self.last_node_added = seen
                self.nodes[name] = obj
                self.first_node = min(self.first_node, seen)
            if len(self.nodes) != before:
                self.nodes_max = max(self.nodes_max, len(self.nodes))
                self.node_changes.append((seen, len(self.nodes), hourly_cost(self.nodes.values())))

    def on_claim(self, kind: str, obj: dict[str, Any], seen: float) -> None:
        if kind != "DELETED":
            with self.lock:
                self.claims.add(obj["metadata"]["name"])
                self.first_claim = min(self.first_claim, seen)

    def half_running(self) -> float:
        """When half of the pods seen Running so far were first seen Running."""
        with self.lock:
            times = sorted(self.running_since.values())
            return times[len(times) // 2] if times else math.nan

    def running(self) -> int:
        with self.lock:
            return sum(1 for p in self.phase.values() if p == "Running")

    def pods(self) -> int:
        with self.lock:
            return len(self.phase)

    def node_count(self) -> int:
        with self.lock:
            return len(self.nodes)

    def node_objects(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.nodes.values())

    def last_node_change(self) -> float:
        with self.lock:
            return self.node_changes[-1][0] if self.node_changes else 0.0

    def cost_at(self, when: float) -> float:
        """EUR/h of the nodes that existed at ``when``."""
        with self.lock:
            cost = 0.0
            for seen, _, eur in self.node_changes:
                if seen > when:
                    break
                cost = eur
            return cost


# -- the autoscalers ----------------------------------------------------------------------------


@dataclass
class Started:
    """A running autoscaler: its process, and how to find its nodes and claims."""

    pid: int
    node_selector: str
    claims_path: str
    claims_query: dict[str, Any]
    alive: Callable[[], bool]
    log_tail: Callable[[], str]


@dataclass
class Context:
    kube: Kube
    kubeconfig: str
    logs: Path
    karpenter_paths: dict[str, str]
    unneeded: float
    grace: float


@contextlib.contextmanager
def growthrs(ctx: Context, w: Workload) -> Iterator[Started]:
    """A NodeGroupWithPriority of one pool with every peer type in all three locations, and
    ``growthrs run``; the group, its NodeRequests and its nodes go at the end."""
    group = harness.unique("peer")
    names = [t.name for t in peer_types(w.exclude_dedicated)]
    ctx.kube.create(
        ngp_path(),
        harness.group_body(
            group,
            [{"provider": "kwok", "serverType": names, "priority": 50}],
            locations=LOCATIONS,
            scaleDown={"enabled": True, "unneededTime": f"{ctx.unneeded:g}s"},
        ),
    )
    try:
        with harness.operator(
            ctx.kubeconfig, ctx.logs, scale_down_new_node_grace=ctx.grace, cluster_name=group
        ) as op:
            harness.wait_log(op, "caches synced", 120)
            yield Started(
                pid=op.proc.pid,
                node_selector=f"growthrs.io/node-group={group}",
                claims_path=nr_path(),
                claims_query={"labelSelector": f"growthrs.io/node-group={group}"},
                alive=op.alive,
                log_tail=lambda: harness.tail(op),
            )
    finally:
        harness.delete_group(ctx.kube, group)


@contextlib.contextmanager
def karpenter_run(ctx: Context, w: Workload) -> Iterator[Started]:
    """A KWOKNodeClass (marked Ready), a NodePool and the Karpenter process. At the end the
    NodePool is deleted while Karpenter still runs, so it removes its own claims."""
    kube = ctx.kube
    pool = harness.unique("peer")
    excluded = [t.name for t in PEER_TYPES if w.exclude_dedicated and dedicated(t)]
    kube.create(karpenter.NODECLASSES, karpenter.nodeclass_body(pool))
    karpenter.mark_nodeclass_ready(kube, pool)
    kube.create(
        karpenter.NODEPOOLS,
        karpenter.nodepool_body(
            pool, pool, consolidate_after=f"{ctx.unneeded:g}s", exclude_types=excluded
        ),
    )
    types = karpenter.write_instance_types(
        ctx.logs / "karpenter-instance-types.json", karpenter_instance_types()
    )
    log_path = ctx.logs / f"karpenter-{int(time.time() * 1000)}.log"
    try:
        with karpenter.running(
            ctx.karpenter_paths["KARPENTER_KWOK"], ctx.kubeconfig, types, log_path
        ) as proc:
            harness.wait_for(
                "Karpenter's NodePool Ready",
                lambda: karpenter.nodepool_ready(kube, pool) or _dead(proc),
                120,
                interval=0.2,
            )
            if not proc.alive():
                raise RuntimeError(f"Karpenter exited:\n{_tail(proc.log())}")
            try:
                yield Started(
                    pid=proc.proc.pid if proc.proc else 0,
                    node_selector=f"{karpenter.NODEPOOL_LABEL}={pool}",
                    claims_path=karpenter.NODECLAIMS,
                    claims_query={"labelSelector": f"{karpenter.NODEPOOL_LABEL}={pool}"},
                    alive=proc.alive,
                    log_tail=lambda: _tail(proc.log()),
                )
            finally:
                kube.delete(f"{karpenter.NODEPOOLS}/{pool}")
                with contextlib.suppress(AssertionError):
                    harness.wait_for(
                        "Karpenter's nodes gone",
                        lambda: (
                            not kube.list_all(
                                "/api/v1/nodes", {"labelSelector": karpenter.NODEPOOL_LABEL}
                            )[0]
                        ),
                        120,
                    )
    finally:
        forced = karpenter.force_cleanup(kube)
        if forced:
            harness.log(f"forced {forced} Karpenter objects away")
        kube.delete(f"{karpenter.NODECLASSES}/{pool}")


def _dead(proc: karpenter.Karpenter) -> bool:
    return not proc.alive()


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


# -- process figures ----------------------------------------------------------------------------


def process_figures(pid: int) -> dict[str, float]:
    """Peak RSS (VmHWM, MiB) and CPU seconds (user + system) of ``pid`` so far."""
    proc = psutil.Process(pid)
    cpu = proc.cpu_times()
    peak = math.nan
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = float(line.split()[1]) / 1024
    return {"rss_peak_mib": peak, "cpu_s": cpu.user + cpu.system}


# -- one run ------------------------------------------------------------------------------------


def deployments(w: Workload, namespace: str) -> list[dict[str, Any]]:
    return [
        deployment_body(s.name, namespace, s.replicas, cpu=s.cpu, memory=s.memory) for s in w.shapes
    ]


def create_workload(kube: Kube, w: Workload, namespace: str) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    harness.parallel(lambda body: kube.create(path, body), deployments(w, namespace), 4)


def delete_workload(kube: Kube, namespace: str) -> None:
    kube.delete(f"/apis/apps/v1/namespaces/{namespace}/deployments", propagationPolicy="Background")


def wait_running(tr: Tracker, count: int, timeout: float, check: Callable[[], None]) -> None:
    def done() -> bool:
        check()
        return tr.running() >= count and tr.pods() == count

    harness.wait_for(f"{count} pods Running", done, timeout, interval=0.1)


def autoscaler_run(
    ctx: Context, which: str, w: Workload, args: argparse.Namespace
) -> dict[str, Any]:
    kube = ctx.kube
    namespace = harness.unique(f"peer-{w.name}")
    harness.create_namespace(kube, namespace)
    tr = Tracker()
    out: dict[str, Any] = {"autoscaler": which, "workload": w.name, "pods": w.pods}
    starter = growthrs if which == "growthrs" else karpenter_run
    try:
        with starter(ctx, w) as started:

            def check() -> None:
                if not started.alive():
                    raise RuntimeError(f"{which} exited:\n{started.log_tail()}")

            with (
                harness.Watch(kube, f"/api/v1/namespaces/{namespace}/pods", tr.on_pod),
                harness.Watch(
                    kube, "/api/v1/nodes", tr.on_node, {"labelSelector": started.node_selector}
                ),
                harness.Watch(kube, started.claims_path, tr.on_claim, started.claims_query),
            ):
                t0 = time.time()
                create_workload(kube, w, namespace)
                wait_running(tr, w.pods, args.timeout, check)
                t_running = time.time()
                nodes = tr.node_objects()
                out.update(
                    out_s=t_running - t0,
                    first_claim_s=tr.first_claim - t0,
                    first_node_s=tr.first_node - t0,
                    last_node_s=tr.last_node_added - t0,
                    half_running_s=tr.half_running() - t0,
                    nodes=len(nodes),
                    nodes_max=tr.nodes_max,
                    claims=len(tr.claims),
                    eur_per_hour=hourly_cost(nodes),
                    types=type_counts(nodes),
                )
                out["cpu_util"], out["mem_util"] = utilisation(w.requested, nodes)
                harness.log(
                    f"{which} {w.name}: {w.pods} Running after {out['out_s']:.1f}s on "
                    f"{len(nodes)} nodes, {out['eur_per_hour']:.3f} EUR/h"
                )
                if w.scale_to is not None:
                    out.update(scale_in(kube, tr, w, namespace, args, check))
                t1 = time.time()
                delete_workload(kube, namespace)
                harness.wait_for("pods gone", lambda: tr.pods() == 0, 300, interval=0.1)
                harness.wait_for(
                    "the autoscaler's nodes gone",
                    lambda: tr.node_count() == 0,
                    ctx.unneeded + 600,
                    interval=0.1,
                )
                out["in_s"] = tr.last_node_change() - t1
                harness.log(f"{which} {w.name}: every node gone {out['in_s']:.1f}s after delete")
                out.update(process_figures(started.pid))
    finally:
        kube.delete(f"/api/v1/namespaces/{namespace}")
    return out


def scale_in(
    kube: Kube,
    tr: Tracker,
    w: Workload,
    namespace: str,
    args: argparse.Namespace,
    check: Callable[[], None],
) -> dict[str, Any]:
    """Scale the Deployment to ``w.scale_to``; cost before, after ``args.after`` s, at steady state."""
    assert w.scale_to is not None
    (shape,) = w.shapes
    before = hourly_cost(tr.node_objects())
    nodes_before = tr.node_count()
    ts = time.time()
    kube.patch(
        f"/apis/apps/v1/namespaces/{namespace}/deployments/{shape.name}",
        {"spec": {"replicas": w.scale_to}},
    )

    def steady() -> bool:
        check()
        now = time.time()
        return (
            now - ts >= args.after
            and now - max(tr.last_node_change(), ts) >= args.quiet
            and tr.running() == w.scale_to == tr.pods()
        )

    reached = True
    try:
        harness.wait_for("a steady state after the scale-in", steady, args.steady_cap, interval=0.5)
    except AssertionError:
        reached = False
    end = time.time()
    nodes = tr.node_objects()
    last_change = tr.last_node_change()
    out = {
        "eur_per_hour_before": before,
        "nodes_before": nodes_before,
        "eur_per_hour_after_2min": tr.cost_at(ts + args.after),
        "eur_per_hour_steady": hourly_cost(nodes),
        "nodes_steady": len(nodes),
        "types_steady": type_counts(nodes),
        "steady_reached": reached,
        "steady_s": (last_change - ts) if last_change > ts else 0.0,
        "scale_in_window_s": end - ts,
        "running_at_steady": tr.running(),
    }
    out["cpu_util_steady"], out["mem_util_steady"] = utilisation(
        (w.requested[0] * w.scale_to // w.pods, w.requested[1] * w.scale_to // w.pods), nodes
    )
    harness.log(
        f"scale-in: {before:.3f} -> {out['eur_per_hour_after_2min']:.3f} (2 min) -> "
        f"{out['eur_per_hour_steady']:.3f} EUR/h at steady state "
        f"({'reached' if reached else 'NOT reached'}; last node change "
        f"{out['steady_s']:.0f}s after the scale)"
    )
    return out


# -- the lower bound ----------------------------------------------------------------------------


def bound_nodes(w: Workload, headroom: float = 1.25) -> int:
    """How many :data:`BOUND_TYPE` nodes hold ``w`` with ``headroom`` to spare."""
    server = kwok.server_type(BOUND_TYPE)
    assert server is not None
    alloc = kwok.allocatable(server)
    cpu, mem = w.requested
    need = max(cpu / alloc.cpu_millis, mem / alloc.memory_mib, w.pods / kwok.MAX_PODS)
    return math.ceil(need * headroom)


def bound_node_body(name: str, run: str) -> dict[str, Any]:
    server = kwok.server_type(BOUND_TYPE)
    assert server is not None
    alloc = kwok.allocatable(server)
    cap = kwok.capacity(server)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": server.arch,
                "node.kubernetes.io/instance-type": BOUND_TYPE,
                "topology.kubernetes.io/region": "fsn1",
                "topology.kubernetes.io/zone": "fsn1-dc14",
                "growthrs.io/peer-bound": run,
            },
        },
        "spec": {"providerID": f"kwok-bound://{name}"},
        "status": {
            "capacity": {
                "cpu": f"{cap.cpu_millis}m",
                "memory": f"{cap.memory_mib}Mi",
                "pods": str(kwok.MAX_PODS),
            },
            "allocatable": {
                "cpu": f"{alloc.cpu_millis}m",
                "memory": f"{alloc.memory_mib}Mi",
                "pods": str(kwok.MAX_PODS),
            },
        },
    }


def _ready(node: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or ()
    )


def bound_run(ctx: Context, w: Workload, args: argparse.Namespace) -> dict[str, Any]:
    """Ready nodes first, then the Deployments: first POST → all Running, no autoscaler."""
    kube = ctx.kube
    run = harness.unique("bound")
    namespace = harness.unique(f"peer-{w.name}")
    harness.create_namespace(kube, namespace)
    count = bound_nodes(w)
    names = [f"{run}-{i:03d}" for i in range(count)]
    selector = {"labelSelector": f"growthrs.io/peer-bound={run}"}
    tr = Tracker()
    out: dict[str, Any] = {"autoscaler": BOUND, "workload": w.name, "pods": w.pods}
    try:
        harness.parallel(lambda n: kube.create("/api/v1/nodes", bound_node_body(n, run)), names)
        harness.wait_for(
            f"{count} pre-created nodes Ready",
            lambda: sum(map(_ready, kube.list_all("/api/v1/nodes", selector)[0])) == count,
            120,
            interval=0.2,
        )
        with harness.Watch(kube, f"/api/v1/namespaces/{namespace}/pods", tr.on_pod):
            t0 = time.time()
            create_workload(kube, w, namespace)
            wait_running(tr, w.pods, args.timeout, lambda: None)
            out.update(
                out_s=time.time() - t0,
                half_running_s=tr.half_running() - t0,
                nodes=count,
                node_type=BOUND_TYPE,
            )
            harness.log(f"bound {w.name}: {w.pods} Running after {out['out_s']:.1f}s")
            delete_workload(kube, namespace)
            harness.wait_for("pods gone", lambda: tr.pods() == 0, 300, interval=0.1)
    finally:
        kube.delete(f"/api/v1/namespaces/{namespace}")
        harness.parallel(lambda n: kube.delete(f"/api/v1/nodes/{n}"), names)
    return out


# -- figures ------------------------------------------------------------------------------------

FIGURES: tuple[tuple[str, str, str], ...] = (
    # (run key, label, unit)
    ("out_s", "first POST -> all Running", "s"),
    ("first_claim_s", "first NodeRequest / NodeClaim", "s"),
    ("first_node_s", "first Node", "s"),
    ("last_node_s", "last Node of the scale-out", "s"),
    ("half_running_s", "half the pods Running", "s"),
    ("nodes", "nodes (all Running)", ""),
    ("eur_per_hour", "EUR/h (all Running)", ""),
    ("cpu_util", "CPU utilisation", ""),
    ("mem_util", "memory utilisation", ""),
    ("eur_per_hour_before", "scale-in: EUR/h before", ""),
    ("eur_per_hour_after_2min", "scale-in: EUR/h 2 min after", ""),
    ("eur_per_hour_steady", "scale-in: EUR/h at steady state", ""),
    ("nodes_steady", "scale-in: nodes at steady state", ""),
    ("cpu_util_steady", "scale-in: CPU utilisation at steady state", ""),
    ("mem_util_steady", "scale-in: memory utilisation at steady state", ""),
    ("steady_s", "scale-in: last node change after the scale", "s"),
    ("in_s", "delete -> every node gone", "s"),
    ("rss_peak_mib", "autoscaler peak RSS", "MiB"),
    ("cpu_s", "autoscaler CPU seconds", "s"),
)


def spread_of(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    values = [float(r[key]) for r in runs if key in r and r[key] is not None]
    values = [v for v in values if math.isfinite(v)]
    return {"values": values, **harness.spread(values)}


def summarise(results: list[dict[str, Any]], workloads: list[str]) -> dict[str, Any]:
    """Per workload (by name) and figure: min / median / max of each side, and K ÷ G."""
    summary: dict[str, Any] = {}
    for name in workloads:
        per: dict[str, Any] = {}
        for key, label, unit in FIGURES:
            row: dict[str, Any] = {"label": label, "unit": unit}
            for who in (*AUTOSCALERS, BOUND):
                runs = [r for r in results if r["workload"] == name and r["autoscaler"] == who]
                s = spread_of(runs, key)
                if s["values"]:
                    row[who] = s
            g, k = row.get("growthrs"), row.get("karpenter")
            if g and k and g["median"]:
                row["ratio_karpenter_to_growthrs"] = k["median"] / g["median"]
            if len(row) > 2:
                per[key] = row
        summary[name] = per
    return summary


def _cell(s: dict[str, Any] | None, key: str) -> str:
    if not s:
        return "-"
    pct = "_util" in key
    conv: Callable[[float], str] = (
        (lambda v: f"{100 * v:.0f}%")
        if pct
        else (lambda v: f"{v:.3f}")
        if key.startswith("eur")
        else (lambda v: f"{v:.0f}")
        if key.startswith("nodes")
        else (lambda v: harness.fmt(v))
    )
    return f"{conv(s['min'])} / {conv(s['median'])} / {conv(s['max'])}"


def table(summary: dict[str, Any]) -> str:
    head = (
        "workload",
        "figure",
        "GrowthRS min/med/max",
        "Karpenter min/med/max",
        "K÷G",
        "bound (no autoscaler)",
    )
    rows = []
    for workload, per in summary.items():
        for key, row in per.items():
            ratio = row.get("ratio_karpenter_to_growthrs")
            rows.append(
                (
                    workload,
                    row["label"] + (f" ({row['unit']})" if row["unit"] else ""),
                    _cell(row.get("growthrs"), key),
                    _cell(row.get("karpenter"), key),
                    "-" if ratio is None else f"{ratio:.2f}",
                    _cell(row.get(BOUND), key),
                )
            )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(wd) for c, wd in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * wd for wd in widths))
    lines += ["  ".join(c.ljust(wd) for c, wd in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def markdown(summary: dict[str, Any]) -> str:
    """The side-by-side table as Markdown (what BENCHMARKS.md shows), one block per workload."""
    out = []
    for workload, per in summary.items():
        out.append(f"**{workload}**\n")
        out.append(
            "| figure | GrowthRS min / median / max | Karpenter min / median / max | K ÷ G | bound |"
        )
        out.append("|---|---|---|---:|---|")
        for key, row in per.items():
            ratio = row.get("ratio_karpenter_to_growthrs")
            label = row["label"] + (f" ({row['unit']})" if row["unit"] else "")
            cells = [
                label,
                _cell(row.get("growthrs"), key),
                _cell(row.get("karpenter"), key),
                "-" if ratio is None else f"{ratio:.2f}",
                _cell(row.get(BOUND), key),
            ]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


# -- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__.splitlines()[0], runs=3)
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help=f"subset of {','.join(WORKLOADS)}"
    )
    parser.add_argument("--autoscalers", default=",".join(AUTOSCALERS))
    parser.add_argument("--no-bound", action="store_true", help="skip the lower bound")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every replica count")
    parser.add_argument(
        "--unneeded", type=float, default=10.0, help="unneededTime = consolidateAfter, s"
    )
    parser.add_argument("--grace", type=float, default=5.0, help="GrowthRS new-node grace, s")
    parser.add_argument("--after", type=float, default=120.0, help="scale-in: cost after this, s")
    parser.add_argument("--quiet", type=float, default=60.0, help="steady: no node change for s")
    parser.add_argument("--steady-cap", type=float, default=420.0, help="steady: give up after s")
    parser.add_argument("--timeout", type=float, default=600.0, help="all Running within s")
    parser.add_argument("--report", metavar="JSON", help="print a results file's table as Markdown")
    args = parser.parse_args(argv)
    if args.report:
        data = json.loads(Path(args.report).read_text())
        names = list(data["settings"]["workloads"])
        print(markdown(summarise(data["runs"], names)))
        return 0
    if args.smoke:
        args.runs, args.scale, args.after, args.quiet, args.steady_cap = 1, 0.1, 20.0, 15.0, 90.0
    workloads = [WORKLOADS[n.strip()].scaled(args.scale) for n in args.workloads.split(",") if n]
    who = [a.strip() for a in args.autoscalers.split(",") if a.strip()]
    unknown = [a for a in who if a not in AUTOSCALERS]
    if unknown:
        parser.error(f"unknown autoscaler(s) {unknown}; known: {AUTOSCALERS}")
    return run(args, workloads, who)


def run(args: argparse.Namespace, workloads: list[Workload], who: list[str]) -> int:
    paths = karpenter.build() if "karpenter" in who else {}
    logs = harness.log_dir("peer")
    results: list[dict[str, Any]] = []
    started = time.time()
    with harness.cluster(args.kubeconfig, "bench-peer") as cl:
        kube = harness.prepare(cl.kubeconfig)
        harness.create_namespace(kube, karpenter.SYSTEM_NAMESPACE)
        if paths:
            karpenter.install_crds(kube, paths["KARPENTER_CRDS"])
        ctx = Context(kube, cl.kubeconfig, logs, paths, args.unneeded, args.grace)
        for w in workloads:
            for i in range(args.runs):
                # Alternate who goes first, so drift in the machine's load hits both alike.
                order = who if i % 2 == 0 else list(reversed(who))
                for which in order:
                    harness.log(f"== {w.name} run {i + 1}/{args.runs}: {which}")
                    results.append({"run": i, **autoscaler_run(ctx, which, w, args)})
                if not args.no_bound:
                    harness.log(f"== {w.name} run {i + 1}/{args.runs}: lower bound")
                    results.append({"run": i, **bound_run(ctx, w, args)})
    summary = summarise(results, [w.name for w in workloads])
    print(table(summary))
    out = harness.write_results(
        "peer",
        args.json_path,
        {
            "settings": {
                "runs": args.runs,
                "scale": args.scale,
                "smoke": args.smoke,
                "unneeded_time_s": args.unneeded,
                "growthrs_new_node_grace_s": args.grace,
                "scale_in_after_s": args.after,
                "steady_quiet_s": args.quiet,
                "steady_cap_s": args.steady_cap,
                "growthrs_operator_flags": {
                    **harness.OPERATOR_FLAGS,
                    "scale_down_new_node_grace": args.grace,
                },
                "karpenter_version": read_versions().get("KARPENTER_VERSION"),
                "growthrs_commit": harness.git_commit(),
                "karpenter_env": {
                    "BATCH_IDLE_DURATION": "1s",
                    "BATCH_MAX_DURATION": "10s",
                    "DISABLE_LEADER_ELECTION": "true",
                },
                "instance_types": [t.name for t in PEER_TYPES],
                "locations": LOCATIONS,
                "bound_node_type": BOUND_TYPE,
                "workloads": {
                    w.name: {
                        "shapes": [vars(s) for s in w.shapes],
                        "exclude_dedicated": w.exclude_dedicated,
                        "scale_to": w.scale_to,
                    }
                    for w in workloads
                },
            },
            "wall_s": time.time() - started,
            "summary": summary,
            "runs": results,
        },
    )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
