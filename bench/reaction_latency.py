"""Reaction latency: from a pod turning unschedulable to the NodeRequest that covers it.

On the local control plane with the KWOK provider: one NodeGroupWithPriority
(KWOK ``cx32`` at priority 90, ``cpx31`` at 50), the operator started with a
known batch window (``--batch-idle 1 --batch-max 10``), and pods created in
bursts (5 bursts of 20, pinned with the ``growthrs.io/node-group`` selector).
A pod asks for 975m CPU, so four fill a ``cx32`` (3900m allocatable) and every
burst needs fresh nodes; each burst waits until the previous one is Running.

For every pod, two watches in this process record when they first *see*

- the pod's ``PodScheduled=False/Unschedulable`` condition,
- the NodeRequest whose ``spec.pods`` lists it,
- the pod ``Running``,

and the API server's own timestamps (condition ``lastTransitionTime``,
NodeRequest ``creationTimestamp``; one-second resolution) are kept alongside.
"Reaction" is unschedulable → NodeRequest; "beyond the window" subtracts the
batch window the pod fell into (replayed with the operator's own BatchWindow:
``batch_idle``, ``batch_max`` and ``batch_first_plan``), the time the operator is
told to wait for more pods.

Usage::

    python -m bench.reaction_latency [--smoke] [--runs 3] [--json PATH] [--kubeconfig PATH]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import Figure, percentile
from growthrs_core.controller.kube import Kube, nr_path
from growthrs_core.decisions.batching import BatchWindow

POD_CPU = "975m"
POD_MEMORY = "512Mi"
TARGET_MEDIAN = 1.0
TARGET_P99 = 3.0


class Recorder:
    """First-seen times per pod, filled from the pod and NodeRequest watches."""

    def __init__(self, namespace: str, group: str) -> None:
        self.namespace, self.group = namespace, group
        self.pods: dict[str, dict[str, Any]] = {}
        self.phases: dict[str, dict[str, float]] = {}
        """NodeRequest name -> phase -> when this process first saw it."""
        self.lock = threading.Lock()

    def on_pod(self, kind: str, obj: dict[str, Any], seen: float) -> None:
        if kind == "DELETED":
            return
        name = obj["metadata"]["name"]
        with self.lock:
            rec = self.pods.setdefault(name, {})
            cond = harness.unschedulable_condition(obj)
            if cond is not None and "unschedulable_seen" not in rec:
                rec["unschedulable_seen"] = seen
                rec["unschedulable_server"] = harness.parse_k8s_time(cond.get("lastTransitionTime"))
            node = (obj.get("spec") or {}).get("nodeName")
            if node and "bound_seen" not in rec:
                rec["bound_seen"], rec["node"] = seen, node
            if (obj.get("status") or {}).get("phase") == "Running" and "running_seen" not in rec:
                rec["running_seen"] = seen

    def on_node_request(self, kind: str, obj: dict[str, Any], seen: float) -> None:
        spec = obj.get("spec") or {}
        if kind == "DELETED" or spec.get("nodeGroup") != self.group:
            return
        meta = obj["metadata"]
        phase = (obj.get("status") or {}).get("phase") or "new"
        with self.lock:
            self.phases.setdefault(meta["name"], {}).setdefault(phase, seen)
            for ref in spec.get("pods") or ():
                if ref.get("namespace") != self.namespace:
                    continue
                rec = self.pods.setdefault(ref["name"], {})
                if "nr_seen" not in rec:
                    rec["nr_seen"] = seen
                    rec["node_request"] = meta["name"]
                    rec["nr_server"] = harness.parse_k8s_time(meta.get("creationTimestamp"))

    def running(self, names: list[str]) -> int:
        with self.lock:
            return sum(1 for n in names if "running_seen" in self.pods.get(n, {}))


def one_run(
    kube: Kube,
    kubeconfig: str,
    log_dir: Path,
    *,
    bursts: int,
    burst_size: int,
    gap: float,
    batch_idle: float,
    batch_max: float,
    batch_first_plan: float = 1.0,
) -> dict[str, Any]:
    burst_of: dict[str, int] = {}
    created: dict[str, float] = {}
    with harness.kwok_group(kube, "bench-lat", {"enabled": False}) as group:
        namespace = group
        rec = Recorder(namespace, group)
        with (
            harness.operator(
                kubeconfig,
                log_dir,
                batch_idle=batch_idle,
                batch_max=batch_max,
                batch_first_plan=batch_first_plan,
                cluster_name=group,
            ) as op,
            harness.Watch(kube, f"/api/v1/namespaces/{namespace}/pods", rec.on_pod),
            harness.Watch(kube, nr_path(), rec.on_node_request),
        ):
            harness.wait_log(op, "caches synced", 60)
            for b in range(bursts):
                names = [f"b{b}-{i:03d}" for i in range(burst_size)]
                bodies = harness.group_pods(names, group, cpu=POD_CPU, memory=POD_MEMORY)
                start = time.time()
                harness.create_pods(kube, namespace, bodies, workers=min(burst_size, 20))
                for n in names:
                    burst_of[n] = b
                    created[n] = start
                harness.wait_for(
                    f"burst {b}: {burst_size} pods Running",
                    lambda names=names: rec.running(names) == len(names),
                    180,
                    interval=0.1,
                )
                harness.log(f"burst {b + 1}/{bursts}: Running after {time.time() - start:.1f}s")
                time.sleep(gap)
    return analyse(rec, burst_of, created, batch_idle, batch_max, batch_first_plan)


def replay_windows(
    arrivals: dict[str, float], idle: float, most: float, first_plan: float
) -> dict[str, float]:
    """Pod -> when the batch window it arrived in closed, replaying the operator's
    :class:`~growthrs_core.decisions.batching.BatchWindow` over the arrival times."""
    window = BatchWindow(idle, most, first_plan)
    members: list[str] = []
    out: dict[str, float] = {}
    for name, moment in sorted(arrivals.items(), key=lambda kv: kv[1]):
        if window.open and window.due(moment):
            out.update(dict.fromkeys(members, window.deadline()))
            window.close()
            members = []
        window.trigger(moment)
        members.append(name)
    if window.open:
        out.update(dict.fromkeys(members, window.deadline()))
    return out


def analyse(
    rec: Recorder,
    burst_of: dict[str, int],
    created: dict[str, float],
    batch_idle: float,
    batch_max: float,
    first_plan: float = 1.0,
) -> dict[str, Any]:
    covered = {
        n: r
        for n, r in rec.pods.items()
        if n in burst_of and "nr_seen" in r and "unschedulable_seen" in r
    }
    # When the batch window each pod fell into closed, as this process saw the pods
    # arrive: the operator's own BatchWindow replayed over the arrival times (a storm
    # of pods is planned batch_first_plan after its first pod, then in new windows).
    window_close = replay_windows(
        {n: r["unschedulable_seen"] for n, r in covered.items()}, batch_idle, batch_max, first_plan
    )
    closes: dict[int, float] = {}
    for n in covered:
        closes[burst_of[n]] = max(closes.get(burst_of[n], 0.0), window_close[n])
    reaction = [r["nr_seen"] - r["unschedulable_seen"] for r in covered.values()]
    after_close = [r["nr_seen"] - window_close[n] for n, r in covered.items()]
    server = [
        r["nr_server"] - r["unschedulable_server"]
        for r in covered.values()
        if r.get("nr_server") is not None and r.get("unschedulable_server") is not None
    ]
    to_running = [
        r["running_seen"] - r["unschedulable_seen"] for r in covered.values() if "running_seen" in r
    ]
    create_to_unsched = [r["unschedulable_seen"] - created[n] for n, r in covered.items()]
    # Where the time to Running goes: NodeRequest -> Provisioning -> Ready (the
    # operator and the provider), Ready -> pod bound (the scheduler), bound ->
    # Running (the kwok controller).
    stages: dict[str, list[float]] = {
        "nr_to_provisioning": [],
        "provisioning_to_ready": [],
        "ready_to_bound": [],
        "bound_to_running": [],
    }
    for r in covered.values():
        ph = rec.phases.get(r["node_request"], {})
        if "Provisioning" in ph and "Ready" in ph and "bound_seen" in r and "running_seen" in r:
            stages["nr_to_provisioning"].append(ph["Provisioning"] - r["nr_seen"])
            stages["provisioning_to_ready"].append(ph["Ready"] - ph["Provisioning"])
            stages["ready_to_bound"].append(r["bound_seen"] - ph["Ready"])
            stages["bound_to_running"].append(r["running_seen"] - r["bound_seen"])
    burst_spread = []
    for b in sorted(closes):
        seen = [r["unschedulable_seen"] for n, r in covered.items() if burst_of[n] == b]
        burst_spread.append(max(seen) - min(seen))

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "median": statistics.median(values) if values else float("nan"),
            "p99": percentile(values, 99),
            "max": max(values) if values else float("nan"),
        }

    return {
        "pods": len(burst_of),
        "covered_by_node_request": len(covered),
        "without_scale_up": sum(1 for n in burst_of if n not in covered),
        "node_requests": len({r["node_request"] for r in covered.values()}),
        "reaction_s": stats(reaction),
        # The wait the operator was told to make (its batch window) taken out: what
        # is left is the operator's own reaction time.
        "reaction_beyond_batch_idle_s": stats(after_close),
        "after_window_close_s": stats(after_close),
        "reaction_server_timestamps_s": stats(server),
        "unschedulable_to_running_s": stats(to_running),
        "create_to_unschedulable_s": stats(create_to_unsched),
        "stages_s": {k: stats(v) for k, v in stages.items()},
        "burst_spread_s": burst_spread,
        "per_pod": {
            n: {**r, "burst": burst_of[n], "created": created[n]} for n, r in covered.items()
        },
        "node_request_phases": rec.phases,
    }


def figures(runs: list[dict[str, Any]], batch_idle: float) -> list[Figure]:
    def per_run(key: str, stat: str) -> tuple[float, ...]:
        return tuple(r[key][stat] for r in runs)

    return [
        Figure(
            "reaction median beyond batch_idle",
            "s",
            per_run("reaction_beyond_batch_idle_s", "median"),
            TARGET_MEDIAN,
        ),
        Figure(
            "reaction p99 beyond batch_idle",
            "s",
            per_run("reaction_beyond_batch_idle_s", "p99"),
            TARGET_P99,
        ),
        Figure("reaction median (incl. window)", "s", per_run("reaction_s", "median")),
        Figure("reaction p99 (incl. window)", "s", per_run("reaction_s", "p99")),
        Figure(
            "NodeRequest after window close, median", "s", per_run("after_window_close_s", "median")
        ),
        Figure(
            "unschedulable -> Running, median", "s", per_run("unschedulable_to_running_s", "median")
        ),
        Figure("unschedulable -> Running, p99", "s", per_run("unschedulable_to_running_s", "p99")),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__.splitlines()[0], runs=3)
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--burst-size", type=int, default=20)
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between bursts")
    parser.add_argument("--batch-idle", type=float, default=1.0)
    parser.add_argument("--batch-max", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs, args.bursts, args.burst_size, args.gap = 1, 2, 8, 1.0
    return run(args)


def run(args: argparse.Namespace) -> int:
    runs: list[dict[str, Any]] = []
    logs = harness.log_dir("reaction_latency")
    with harness.cluster(args.kubeconfig, "bench-latency") as cl:
        kube = harness.prepare(cl.kubeconfig)
        for i in range(args.runs):
            harness.log(f"run {i + 1}/{args.runs}")
            result = one_run(
                kube,
                cl.kubeconfig,
                logs,
                bursts=args.bursts,
                burst_size=args.burst_size,
                gap=args.gap,
                batch_idle=args.batch_idle,
                batch_max=args.batch_max,
            )
            runs.append(result)
            harness.log(
                f"run {i + 1}: reaction median {result['reaction_s']['median']:.2f}s "
                f"p99 {result['reaction_s']['p99']:.2f}s; "
                f"{result['covered_by_node_request']}/{result['pods']} pods covered"
            )
    figs = figures(runs, args.batch_idle)
    print(harness.figure_table("reaction_latency", figs))
    out = harness.write_results(
        "reaction_latency",
        args.json_path,
        {
            "settings": {
                "bursts": args.bursts,
                "burst_size": args.burst_size,
                "gap_s": args.gap,
                "batch_idle_s": args.batch_idle,
                "batch_max_s": args.batch_max,
                "pod_requests": {"cpu": POD_CPU, "memory": POD_MEMORY},
                "operator_flags": {
                    **harness.OPERATOR_FLAGS,
                    "batch_idle": args.batch_idle,
                    "batch_max": args.batch_max,
                },
                "smoke": args.smoke,
            },
            "figures": [f.to_json() for f in figs],
            "runs": runs,
        },
    )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
