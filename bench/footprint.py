"""Operator footprint with 1,000 nodes and 30,000 pods in its watch caches.

The benchmark fills a fresh local control plane with 1,000 KWOK Nodes
(annotation ``kwok.x-k8s.io/node: fake``, so the kwok controller keeps them
Ready; members of one NodeGroupWithPriority) and 30,000 pods bound to them
(``spec.nodeName`` set, so the scheduler is skipped; 16 concurrent POSTs),
waits until the kwok controller has played every pod to ``Running``, then
starts ``growthrs run`` as its own process (the product's defaults, metrics
server off) and measures, ``--runs`` times on the same cluster:

- **cache sync**: from the operator's log line ``waiting for caches to sync``
  to ``caches synced: ...`` (both stamped by the operator, milliseconds), and
  from process start (``psutil.Process.create_time``) to the second, which adds
  interpreter start-up, imports and plugin loading. The operator process is the
  real thing: RSS and CPU belong to it alone, which an in-process
  ``Controller`` + ``wait_synced`` would not give;
- **RSS after sync** (psutil, sampled as soon as the line appears) and the peak
  (``VmHWM``);
- **idle CPU**: ``cpu_times`` (user + system) delta over 30 s of wall time, after
  a 10 s settle; a plan pass over every pod runs at each 30 s resync, so the
  window holds one.

The kwok controller keeps 1,000 node leases (and their status) fresh all the
while; its CPU over the same window is reported next to the operator's.

For comparison (each in a fresh process, the same 30,000 pods, pages of 500):
the official client's typed deserialisation
(``CoreV1Api.list_pod_for_all_namespaces``, ``V1Pod`` objects kept) versus the
operator's path (``Kube.list_all`` with orjson, then ``parse_pod`` into slim
``PodInfo`` records, the raw dicts dropped), and raw dicts kept as they are.

Usage::

    python -m bench.footprint [--smoke] [--runs 2] [--nodes 1000] [--pods-per-node 30]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from bench import harness
from bench.harness import Figure
from growthrs_core.controller.kube import Kube, ngp_path, node_path

TARGET_SYNC = 10.0
TARGET_RSS_MB = 250.0
TARGET_CPU = 0.1
NAMESPACES = 10
GROUP = "bench-footprint"
MB = 1e6


# -- filling the cluster ----------------------------------------------------------------------


def node_body(name: str) -> dict[str, Any]:
    resources = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "500Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                "growthrs.io/node-group": GROUP,
                "growthrs.io/pool": "0",
                "node.kubernetes.io/instance-type": "ccx63",
                "topology.kubernetes.io/region": "fsn1",
                "topology.kubernetes.io/zone": "fsn1-dc14",
            },
        },
        "spec": {"providerID": f"kwok://{name}"},
        "status": {"capacity": resources, "allocatable": resources},
    }


def bound_pod(index: int, node: str) -> dict[str, Any]:
    app = f"app-{index % 50}"
    body = harness.pod_body(
        f"pod-{index:05d}",
        cpu="100m",
        memory="128Mi",
        labels={"app": app, "tier": "backend", "pod-template-hash": f"{index % 50:08x}"},
        node_name=node,
    )
    container = body["spec"]["containers"][0]
    container["env"] = [{"name": "APP", "value": app}, {"name": "LOG_LEVEL", "value": "info"}]
    container["ports"] = [{"containerPort": 8080, "protocol": "TCP"}]
    return body


def populate(kube: Kube, nodes: int, pods_per_node: int, workers: int) -> dict[str, float]:
    kube.create(
        ngp_path(),
        harness.group_body(
            GROUP,
            [{"provider": "kwok", "serverType": ["ccx63"], "priority": 50}],
            scaleDown={"enabled": False},
        ),
    )
    for i in range(NAMESPACES):
        harness.create_namespace(kube, f"fp-{i}")
    t0 = time.monotonic()
    names = [f"fp-node-{i:04d}" for i in range(nodes)]
    harness.parallel(lambda n: kube.create(node_path(), node_body(n)), names, workers)
    t_nodes = time.monotonic() - t0
    harness.log(f"{nodes} nodes created in {t_nodes:.1f}s")
    total = nodes * pods_per_node
    t1 = time.monotonic()
    chunk = 5000
    for start in range(0, total, chunk):
        batch = range(start, min(total, start + chunk))
        harness.parallel(
            lambda i: kube.create(
                f"/api/v1/namespaces/fp-{i % NAMESPACES}/pods", bound_pod(i, names[i % nodes])
            ),
            batch,
            workers,
        )
        done = batch.stop
        rate = done / (time.monotonic() - t1)
        harness.log(f"{done}/{total} pods created ({rate:.0f}/s)")
    t_pods = time.monotonic() - t1
    return {"nodes_s": t_nodes, "pods_s": t_pods, "pods_per_s": total / t_pods}


def wait_quiet(kube: Kube, total: int, timeout: float) -> float | None:
    """Seconds until the kwok controller has every pod Running (``None``: gave up)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        page = kube.get("/api/v1/pods", fieldSelector="status.phase!=Running", limit=500)
        left = len(page.get("items") or ())
        if left == 0:
            return time.monotonic() - t0
        more = "+" if (page.get("metadata") or {}).get("continue") else ""
        harness.log(f"waiting for kwok: {left}{more} of {total} pods not Running yet")
        time.sleep(2)
    return None


# -- measuring the operator -------------------------------------------------------------------


def peak_rss(proc: psutil.Process) -> float:
    """``VmHWM``: the process's peak resident set so far, in bytes."""
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) * 1024
    return float("nan")


def measure_operator(
    kubeconfig: str, log_dir: Path, cl: harness.KubeCluster, *, settle: float, window: float
) -> dict[str, Any]:
    with harness.operator(kubeconfig, log_dir, cluster_name="bench-footprint") as op:
        proc = psutil.Process(op.proc.pid)
        started = proc.create_time()
        _, line = harness.wait_log(op, "caches synced", 300)
        rss_synced = proc.memory_info().rss
        synced_at = harness.log_time(line)
        _, wait_line = harness.wait_log(op, "waiting for caches to sync", 5)
        waiting_at = harness.log_time(wait_line)
        assert synced_at is not None and waiting_at is not None
        time.sleep(settle)
        components = cl.component_pids()
        before, before_parts = proc.cpu_times(), harness.process_tree_cpu(components)
        wall0 = time.monotonic()
        time.sleep(window)
        after, after_parts = proc.cpu_times(), harness.process_tree_cpu(components)
        wall = time.monotonic() - wall0
        # Per-field differences: summing first can round a zero delta to -3e-17.
        cpu = ((after.user - before.user) + (after.system - before.system)) / wall
        result = {
            "synced_line": line.split(": ", 1)[-1],
            "sync_s": synced_at - waiting_at,
            "start_to_synced_s": synced_at - started,
            "rss_synced_mb": rss_synced / MB,
            "rss_idle_mb": proc.memory_info().rss / MB,
            "rss_peak_mb": peak_rss(proc) / MB,
            "idle_cpu_cores": cpu,
            "idle_window_s": wall,
            "control_plane_cpu_cores": {
                k: (after_parts[k] - before_parts[k]) / wall
                for k in after_parts
                if k in before_parts
            },
            "operator_log_tail": harness.tail(op, 8),
        }
    return result


# -- typed versus raw -------------------------------------------------------------------------


def compare_worker(kind: str, kubeconfig: str, limit: int) -> dict[str, Any]:
    """List the first ``limit`` pods (0: all; pages of 500) in a fresh process; time and memory.

    ``typed``: the official client's ``V1Pod`` objects, kept. ``raw``: orjson
    dicts, kept. ``slim``: orjson, then ``parse_pod`` page by page, only the
    records kept (the operator's representation). The collector runs as usual
    in all three: this compares representations, not the cache's GC pause.
    """
    from kubernetes import client

    from growthrs_core.cluster import parse_pod
    from growthrs_core.controller.kube import load_api_client

    api = load_api_client(kubeconfig)
    kube = Kube(api)
    proc = psutil.Process()
    kube.get("/api/v1/pods", limit=1)  # connection and TLS set up before the clock starts
    gc.collect()
    rss0 = proc.memory_info().rss
    kept: list[Any] = []
    t0 = time.perf_counter()
    if kind == "typed":
        core = client.CoreV1Api(api)
        cont = None
        while len(kept) < (limit or float("inf")):
            page = core.list_pod_for_all_namespaces(limit=500, _continue=cont)
            kept.extend(page.items)
            cont = page.metadata._continue
            if not cont:
                break
    elif kind in ("raw", "slim"):
        for items, _ in kube.list_pages("/api/v1/pods"):
            kept.extend(items if kind == "raw" else (parse_pod(o) for o in items))
            if limit and len(kept) >= limit:
                break
    else:
        raise ValueError(kind)
    elapsed = time.perf_counter() - t0
    gc.collect()
    return {
        "kind": kind,
        "pods": len(kept),
        "seconds": elapsed,
        "rss_growth_mb": (proc.memory_info().rss - rss0) / MB,
        "peak_growth_mb": (peak_rss(proc) - rss0) / MB,
        "rss_baseline_mb": rss0 / MB,
    }


def compare(kubeconfig: str, limit: int) -> dict[str, Any]:
    out = {}
    for kind in ("typed", "raw", "slim"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.footprint",
                "--compare-worker",
                kind,
                "--compare-pods",
                str(limit),
                "--kubeconfig",
                kubeconfig,
            ],
            cwd=harness.REPO,
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
        out[kind] = json.loads(done.stdout.strip().splitlines()[-1])
        r = out[kind]
        harness.log(
            f"{kind}: {r['pods']} pods in {r['seconds']:.1f}s, RSS +{r['rss_growth_mb']:.0f} MB "
            f"(peak +{r['peak_growth_mb']:.0f} MB)"
        )
    return out


# -- the benchmark ----------------------------------------------------------------------------


def figures(runs: list[dict[str, Any]], comparison: dict[str, Any] | None) -> list[Figure]:
    def values(key: str) -> tuple[float, ...]:
        return tuple(float(r[key]) for r in runs)

    figs = [
        Figure("cache sync", "s", values("sync_s"), TARGET_SYNC),
        Figure("  process start -> synced", "s", values("start_to_synced_s")),
        Figure("RSS after sync", "MB", values("rss_synced_mb"), TARGET_RSS_MB),
        Figure("  RSS after idle window", "MB", values("rss_idle_mb")),
        Figure("  peak RSS", "MB", values("rss_peak_mb")),
        Figure("idle CPU", "cores", values("idle_cpu_cores"), TARGET_CPU),
        Figure(
            "  kwok controller CPU meanwhile",
            "cores",
            tuple(r["control_plane_cpu_cores"].get("kwok-controller", float("nan")) for r in runs),
        ),
    ]
    if comparison:
        for kind, label in (
            ("typed", "typed V1Pod"),
            ("raw", "orjson dicts"),
            ("slim", "orjson + parse_pod"),
        ):
            r = comparison[kind]
            figs.append(Figure(f"{label}: list {r['pods']} pods", "s", (r["seconds"],)))
            figs.append(Figure(f"{label}: RSS growth", "MB", (r["rss_growth_mb"],)))
    return figs


def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__.splitlines()[0], runs=2)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--workers", type=int, default=16, help="concurrent POSTs")
    parser.add_argument("--idle-window", type=float, default=30.0, help="seconds of idle CPU")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before the window")
    parser.add_argument("--no-compare", action="store_true", help="skip typed-vs-raw")
    parser.add_argument(
        "--keep", action="store_true", help="leave the objects in a --kubeconfig cluster"
    )
    parser.add_argument(
        "--populated",
        action="store_true",
        help="the --kubeconfig cluster already holds them (from a --keep run): measure only",
    )
    parser.add_argument(
        "--compare-pods",
        type=int,
        default=0,
        help="pods listed by each typed/raw/slim comparison (default: all)",
    )
    parser.add_argument("--compare-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.compare_worker:
        print(json.dumps(compare_worker(args.compare_worker, args.kubeconfig, args.compare_pods)))
        return 0
    if args.smoke:
        args.runs, args.nodes, args.pods_per_node = 1, 20, 20
        args.idle_window, args.settle = 5.0, 1.0
    return run(args)


def run(args: argparse.Namespace) -> int:
    runs: list[dict[str, Any]] = []
    total = args.nodes * args.pods_per_node
    data: dict[str, Any] = {
        "settings": {
            "nodes": args.nodes,
            "pods": total,
            "operator_flags": harness.OPERATOR_FLAGS,
            "idle_window_s": args.idle_window,
            "settle_s": args.settle,
            "smoke": args.smoke,
        }
    }
    comparison = None
    logs = harness.log_dir("footprint")
    with harness.cluster(args.kubeconfig, "bench-footprint") as cl:
        kube = harness.prepare(cl.kubeconfig)
        try:
            if not args.populated:
                data["populate"] = populate(kube, args.nodes, args.pods_per_node, args.workers)
                data["populate"]["kwok_running_s"] = wait_quiet(kube, total, 600)
            for i in range(args.runs):
                harness.log(f"run {i + 1}/{args.runs}: starting the operator")
                r = measure_operator(
                    cl.kubeconfig, logs, cl, settle=args.settle, window=args.idle_window
                )
                harness.log(
                    f"run {i + 1}: sync {r['sync_s']:.2f}s, RSS {r['rss_synced_mb']:.0f} MB, "
                    f"idle CPU {r['idle_cpu_cores']:.3f} cores"
                )
                runs.append(r)
            if not args.no_compare:
                comparison = compare(cl.kubeconfig, args.compare_pods)
        finally:
            if not cl.started_here and not args.keep:
                kube.delete(ngp_path(GROUP))
                for i in range(NAMESPACES):
                    kube.delete(f"/api/v1/namespaces/fp-{i}")
                names = [f"fp-node-{i:04d}" for i in range(args.nodes)]
                harness.parallel(lambda n: kube.delete(node_path(n)), names, args.workers)
    figs = figures(runs, comparison)
    print(harness.figure_table("footprint", figs))
    data.update({"figures": [f.to_json() for f in figs], "runs": runs, "comparison": comparison})
    print(f"results: {harness.write_results('footprint', args.json_path, data)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
