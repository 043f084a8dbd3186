"""Scale-out and scale-in: 1,000 pods to Running, then every node of the group gone.

On the local control plane with the KWOK provider: one NodeGroupWithPriority
(KWOK ``cx32`` at priority 90, ``cpx31`` at 50; ``scaleDown.unneededTime`` 10 s)
and the operator with ``--scale-down-new-node-grace 5`` (the product's defaults
otherwise, batch window 1 s idle / 10 s max). The benchmark creates 1,000 pods
(250m CPU, 256Mi: fifteen fit a ``cx32``, so about 67 nodes) directly with 16
concurrent POSTs, so the figure does not depend on how the ReplicaSet
controller paces pod creation.

- scale-out: first POST → every pod ``Running`` (target ≤ 60 s);
- scale-in: DELETE of all pods → every node of the group gone
  (target ≤ unneededTime + 60 s).

Usage::

    python -m bench.scale_out_in [--smoke] [--runs 3] [--pods 1000] [--json PATH]
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import Figure
from growthrs_core.controller.kube import Kube, node_path, nr_path

POD_CPU = "250m"
POD_MEMORY = "256Mi"
TARGET_OUT = 60.0
SLACK_IN = 60.0


class Tracker:
    """Per pod: first seen Unschedulable, covered by a NodeRequest, bound, Running;
    nodes of the group as they come and go."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.lock = threading.Lock()
        self.running: dict[str, float] = {}
        self.unschedulable: dict[str, float] = {}
        self.covered: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self.pods: set[str] = set()
        self.nodes: dict[str, float] = {}
        self.nodes_max = 0
        self.node_requests: dict[str, float] = {}
        self.last_node_gone = 0.0
        self.last_pod_gone = 0.0

    def on_pod(self, kind: str, obj: dict[str, Any], seen: float) -> None:
        name = obj["metadata"]["name"]
        with self.lock:
            if kind == "DELETED":
                self.pods.discard(name)
                self.last_pod_gone = seen
                return
            self.pods.add(name)
            if harness.unschedulable_condition(obj) is not None:
                self.unschedulable.setdefault(name, seen)
            if (obj.get("spec") or {}).get("nodeName"):
                self.bound.setdefault(name, seen)
            if (obj.get("status") or {}).get("phase") == "Running":
                self.running.setdefault(name, seen)

    def on_node(self, kind: str, obj: dict[str, Any], seen: float) -> None:
        name = obj["metadata"]["name"]
        with self.lock:
            if kind == "DELETED":
                self.nodes.pop(name, None)
                self.last_node_gone = seen
            else:
                self.nodes.setdefault(name, seen)
                self.nodes_max = max(self.nodes_max, len(self.nodes))

    def on_node_request(self, kind: str, obj: dict[str, Any], seen: float) -> None:
        spec = obj.get("spec") or {}
        if kind != "DELETED" and spec.get("nodeGroup") == self.group:
            with self.lock:
                self.node_requests.setdefault(obj["metadata"]["name"], seen)
                for ref in spec.get("pods") or ():
                    self.covered.setdefault(ref["name"], seen)

    def timeline(self, t0: float) -> dict[str, dict[str, float]]:
        """When 10/50/90/100 % of the pods had reached each stage (seconds after ``t0``)."""
        out = {}
        with self.lock:
            stages = {
                "unschedulable": self.unschedulable,
                "covered_by_node_request": self.covered,
                "bound": self.bound,
                "running": self.running,
            }
            for stage, seen in stages.items():
                times = sorted(seen.values())
                out[stage] = {
                    f"p{q}": round(times[min(len(times) - 1, len(times) * q // 100)] - t0, 2)
                    for q in (10, 50, 90, 100)
                    if times
                }
                out[stage]["pods"] = len(times)
        return out

    def count(self, what: str) -> int:
        with self.lock:
            return len(getattr(self, what))


def one_run(
    kube: Kube,
    kubeconfig: str,
    log_dir: Path,
    *,
    pods: int,
    unneeded: float,
    grace: float,
    workers: int,
    timeout_out: float,
) -> dict[str, Any]:
    scale_down = {"enabled": True, "unneededTime": f"{unneeded:g}s"}
    with harness.kwok_group(kube, "bench-scale", scale_down) as group:
        namespace = group
        tr = Tracker(group)
        names = [f"p-{i:05d}" for i in range(pods)]
        bodies = harness.group_pods(names, group, cpu=POD_CPU, memory=POD_MEMORY)
        out: dict[str, Any] = {"pods": pods, "group": group}
        with (
            harness.operator(
                kubeconfig, log_dir, scale_down_new_node_grace=grace, cluster_name=group
            ) as op,
            harness.Watch(kube, f"/api/v1/namespaces/{namespace}/pods", tr.on_pod),
            harness.Watch(
                kube,
                node_path(),
                tr.on_node,
                {"labelSelector": f"growthrs.io/node-group={group}"},
            ),
            harness.Watch(kube, nr_path(), tr.on_node_request),
        ):
            harness.wait_log(op, "caches synced", 60)
            t0 = time.time()
            harness.create_pods(kube, namespace, bodies, workers)
            out["create_s"] = time.time() - t0
            harness.log(f"{pods} pods created in {out['create_s']:.1f}s")
            harness.wait_for(
                f"{pods} pods Running",
                lambda: tr.count("running") >= pods,
                timeout_out,
                interval=0.1,
            )
            with tr.lock:
                ran = sorted(tr.running.values())
                out["node_requests"] = len(tr.node_requests)
                out["first_node_request_s"] = min(tr.node_requests.values()) - t0
            out["out_s"] = ran[-1] - t0
            out["out_half_s"] = ran[len(ran) // 2] - t0
            out["out_first_s"] = ran[0] - t0
            out["nodes"] = tr.nodes_max
            out["timeline_s"] = tr.timeline(t0)
            harness.log(f"all Running after {out['out_s']:.1f}s on {out['nodes']} nodes")

            t1 = time.time()
            kube.delete(f"/api/v1/namespaces/{namespace}/pods", gracePeriodSeconds=0)
            harness.wait_for("pods gone", lambda: tr.count("pods") == 0, 120, interval=0.1)
            out["pods_gone_s"] = tr.last_pod_gone - t1
            harness.wait_for(
                "nodes of the group gone",
                lambda: tr.count("nodes") == 0,
                unneeded + 300,
                interval=0.1,
            )
            out["in_s"] = tr.last_node_gone - t1
            harness.log(f"all nodes gone {out['in_s']:.1f}s after the pods were deleted")
        return out


def figures(runs: list[dict[str, Any]], pods: int, unneeded: float) -> list[Figure]:
    def values(key: str) -> tuple[float, ...]:
        return tuple(float(r[key]) for r in runs)

    return [
        Figure(f"{pods} pods: first POST -> all Running", "s", values("out_s"), TARGET_OUT),
        Figure(
            f"delete -> every node gone (unneededTime {unneeded:g} s)",
            "s",
            values("in_s"),
            unneeded + SLACK_IN,
        ),
        Figure("  pods POSTed", "s", values("create_s")),
        Figure("  first NodeRequest", "s", values("first_node_request_s")),
        Figure("  half the pods Running", "s", values("out_half_s")),
        Figure("  nodes", "", values("nodes")),
        Figure("  NodeRequests", "", values("node_requests")),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__.splitlines()[0], runs=3)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--unneeded", type=float, default=10.0, help="scaleDown.unneededTime, s")
    parser.add_argument("--grace", type=float, default=5.0, help="--scale-down-new-node-grace, s")
    parser.add_argument("--workers", type=int, default=16, help="concurrent pod POSTs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs, args.pods, args.unneeded = 1, 100, 5.0
    return run(args)


def run(args: argparse.Namespace) -> int:
    runs: list[dict[str, Any]] = []
    logs = harness.log_dir("scale_out_in")
    with harness.cluster(args.kubeconfig, "bench-scale") as cl:
        kube = harness.prepare(cl.kubeconfig)
        for i in range(args.runs):
            harness.log(f"run {i + 1}/{args.runs}")
            runs.append(
                one_run(
                    kube,
                    cl.kubeconfig,
                    logs,
                    pods=args.pods,
                    unneeded=args.unneeded,
                    grace=args.grace,
                    workers=args.workers,
                    timeout_out=max(300.0, args.pods * 0.5),
                )
            )
    figs = figures(runs, args.pods, args.unneeded)
    print(harness.figure_table("scale_out_in", figs))
    out = harness.write_results(
        "scale_out_in",
        args.json_path,
        {
            "settings": {
                "pods": args.pods,
                "pod_requests": {"cpu": POD_CPU, "memory": POD_MEMORY},
                "unneeded_time_s": args.unneeded,
                "operator_flags": {
                    **harness.OPERATOR_FLAGS,
                    "scale_down_new_node_grace": args.grace,
                },
                "post_workers": args.workers,
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
