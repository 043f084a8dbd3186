"""Consolidation: 1,000 pods scaled out, then in to 300; what the nodes cost, and what it disturbed.

On the local control plane with the KWOK provider: one NodeGroupWithPriority
(KWOK ``cx32`` at priority 90, ``cpx31`` at 50, in fsn1) with
``scaleDown: {consolidation: WhenUnderutilized, consolidateAfter: 30s,
unneededTime: 30s}`` and the default disruption budget (10 % of the group's
nodes at once), the operator with the product's defaults. A Deployment of
1,000 pods (250m CPU, 256Mi: fifteen fit a ``cx32``) and a PodDisruptionBudget
``maxUnavailable: 5%``. Once every pod runs, the Deployment is scaled to 300.

Reported, from watching nodes, pods and NodeRemovals:

- hourly cost of the group's nodes (KWOK's Hetzner-like prices) at the scale-in,
  2 minutes later, and at steady state (nothing changed for ``--quiet`` seconds);
- the cost of a fresh packing of the 300 pods: the planner on those pods alone,
  no nodes (target: steady state within 10 % of it);
- pods disrupted (evictions the operator was granted), PDB violations (moments
  with fewer Ready pods than the budget allows; target 0) and lost pods (of the
  300, not Running and Ready at the end; target 0).

Usage::

    python -m bench.consolidation [--smoke] [--runs 1] [--pods 1000] [--keep 300] [--json PATH]
"""

from __future__ import annotations

import argparse
import math
import re
import threading
import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import Figure
from growthrs_core.cluster import parse_group, parse_pod
from growthrs_core.controller.kube import Kube, ngp_path, node_path
from growthrs_core.planner import PlanningInput, plan
from growthrs_core.plugins.manager import PluginManager
from growthrs_core.provider import ProviderContext
from growthrs_core.strategies import LeastWasteStrategy, PriorityStrategy
from growthrs_testkit.kube import deployment_body

POD_CPU = "250m"
POD_MEMORY = "256Mi"
PDB_MAX_UNAVAILABLE = "5%"
AFTER = 120.0
"""Seconds after the scale-in for the intermediate cost figure."""
TARGET_RATIO = 1.10
REMOVALS = "/apis/growthrs.io/v1alpha1/noderemovals"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"


def prices() -> dict[str, float]:
    provider = PluginManager().providers["kwok"](ProviderContext(name="kwok"))
    return {str(o.instance_type): o.cost_per_hour for o in provider.offerings("fsn1")}


class Tracker:
    """Nodes of the group with their types, Ready pods, and NodeRemovals, as watched."""

    def __init__(self, group: str, price: dict[str, float]) -> None:
        self.group = group
        self.price = price
        self.lock = threading.Lock()
        self.nodes: dict[str, str] = {}
        self.node_changed = time.time()
        self.ready: dict[str, bool] = {}
        self.pending: set[str] = set()
        self.removals: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        self.floor: int | None = None
        """Fewest Ready pods the PDB allows; set once the scale-in has settled."""
        self.violations = 0
        self.below = False
        self.lowest_ready: int | None = None
        self.costs: list[tuple[float, float]] = []

    def cost(self) -> float:
        return sum(self.price.get(t, 0.0) for t in self.nodes.values())

    def on_node(self, kind: str, obj: dict[str, Any], seen: float) -> None:
        name = obj["metadata"]["name"]
        with self.lock:
            if kind == "DELETED":
                changed = self.nodes.pop(name, None) is not None
            else:
                changed = name not in self.nodes
                self.nodes[name] = obj["metadata"].get("labels", {}).get(INSTANCE_TYPE, "")
            if changed:
                self.node_changed = seen
                self.costs.append((seen, self.cost()))

    def on_pod(self, kind: str, obj: dict[str, Any], _seen: float) -> None:
        name = obj["metadata"]["name"]
        with self.lock:
            if kind == "DELETED":
                self.ready.pop(name, None)
                self.pending.discard(name)
            else:
                self.ready[name] = _ready(obj)
                if obj["spec"].get("nodeName"):
                    self.pending.discard(name)
                else:
                    self.pending.add(name)
            if self.floor is not None:
                count = sum(self.ready.values())
                if count < self.floor and not self.below:
                    self.violations += 1  # one per dip below the floor
                self.below = count < self.floor
                low = self.lowest_ready
                self.lowest_ready = count if low is None else min(low, count)

    def on_removal(self, kind: str, obj: dict[str, Any], _seen: float) -> None:
        if obj["spec"]["nodeGroup"] != self.group:
            return
        name = obj["metadata"]["name"]
        with self.lock:
            self.reasons[name] = obj["spec"]["reason"]
            if kind == "DELETED":
                self.removals.pop(name, None)
            else:
                self.removals[name] = (obj.get("status") or {}).get("phase") or "Candidate"

    def active_removals(self) -> int:
        with self.lock:
            return sum(
                1 for p in self.removals.values() if p in ("Candidate", "Draining", "Deleting")
            )

    def cost_at(self, moment: float) -> float:
        with self.lock:
            before = [c for t, c in self.costs if t <= moment]
            return before[-1] if before else 0.0


def _ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def fresh_packing(
    kube: Kube, group: str, namespace: str, keep: int, price: dict[str, float]
) -> tuple[float, int]:
    """Cost and node count of the planner's packing of ``keep`` such pods on no nodes."""
    body = deployment_body(
        "load",
        namespace,
        keep,
        cpu=POD_CPU,
        memory=POD_MEMORY,
        node_selector={"growthrs.io/node-group": group},
    )
    template = body["spec"]["template"]
    pods = []
    for i in range(keep):
        obj = {
            "metadata": {**template["metadata"], "name": f"load-{i}", "namespace": namespace},
            "spec": template["spec"],
            "status": {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
                ],
            },
        }
        pods.append(parse_pod(obj))
    provider = PluginManager().providers["kwok"](ProviderContext(name="kwok"))
    result = plan(
        PlanningInput(
            pods=pods,
            nodes=[],
            daemonsets=[],
            groups=[parse_group(kube.get(ngp_path(group)))],
            node_requests=[],
            offerings={"kwok": provider.offerings(None)},
            strategies=[PriorityStrategy(), LeastWasteStrategy()],
        )
    )
    return sum(n.offering.cost_per_hour for n in result.new_nodes), len(result.new_nodes)


def one_run(
    kube: Kube,
    kubeconfig: str,
    log_dir: Path,
    *,
    pods: int,
    keep: int,
    quiet: float,
    timeout: float,
) -> dict[str, Any]:
    group = harness.unique("bench-consol")
    harness.create_namespace(kube, group)
    kube.create(
        ngp_path(),
        harness.group_body(
            group,
            [
                {"provider": "kwok", "serverType": ["cx32"], "priority": 90},
                {"provider": "kwok", "serverType": ["cpx31"], "priority": 50},
            ],
            locations=["fsn1"],
            scaleDown={
                "enabled": True,
                "consolidation": "WhenUnderutilized",
                "consolidateAfter": "30s",
                "unneededTime": "30s",
            },
        ),
    )
    price = prices()
    tr = Tracker(group, price)
    out: dict[str, Any] = {"pods": pods, "keep": keep, "group": group}
    try:
        with (
            harness.operator(kubeconfig, log_dir, cluster_name=group) as op,
            harness.Watch(
                kube, node_path(), tr.on_node, {"labelSelector": f"growthrs.io/node-group={group}"}
            ),
            harness.Watch(kube, f"/api/v1/namespaces/{group}/pods", tr.on_pod),
            harness.Watch(kube, REMOVALS, tr.on_removal),
        ):
            harness.wait_log(op, "caches synced", 60)
            body = deployment_body(
                "load",
                group,
                pods,
                cpu=POD_CPU,
                memory=POD_MEMORY,
                node_selector={"growthrs.io/node-group": group},
            )
            kube.create(f"/apis/apps/v1/namespaces/{group}/deployments", body)
            kube.create(
                f"/apis/policy/v1/namespaces/{group}/poddisruptionbudgets",
                {
                    "apiVersion": "policy/v1",
                    "kind": "PodDisruptionBudget",
                    "metadata": {"name": "load", "namespace": group},
                    "spec": {
                        "maxUnavailable": PDB_MAX_UNAVAILABLE,
                        "selector": {"matchLabels": {"app": "load"}},
                    },
                },
            )
            t0 = time.time()

            def all_ready(count: int) -> bool:
                with tr.lock:
                    return len(tr.ready) == count and all(tr.ready.values())

            harness.wait_for(
                f"{pods} pods Ready", lambda: all_ready(pods), max(300.0, pods), interval=0.5
            )
            out["out_s"] = time.time() - t0
            out["nodes_out"] = len(tr.nodes)
            harness.log(f"{pods} pods Ready on {out['nodes_out']} nodes after {out['out_s']:.0f}s")
            evicted_before = _evictions(op.log())
            t1 = time.time()
            out["cost_before"] = tr.cost()
            kube.patch(
                f"/apis/apps/v1/namespaces/{group}/deployments/load", {"spec": {"replicas": keep}}
            )
            harness.wait_for(f"{keep} pods Ready", lambda: all_ready(keep), 120, interval=0.2)
            with tr.lock:
                tr.floor = keep - math.ceil(keep * int(PDB_MAX_UNAVAILABLE[:-1]) / 100)
            harness.log(f"scaled in to {keep}; PDB floor {tr.floor} Ready pods")

            def steady() -> bool:
                with tr.lock:
                    calm = time.time() - tr.node_changed >= quiet and not tr.pending
                return calm and tr.active_removals() == 0 and all_ready(keep)

            reached = True
            try:
                harness.wait_for("steady state", steady, timeout, interval=1)
            except AssertionError:
                reached = False
            now = time.time()
            out["steady_reached"] = reached
            out["steady_s"] = (tr.node_changed if reached else now) - t1
            out["cost_after_2m"] = tr.cost_at(t1 + AFTER) if now >= t1 + AFTER else tr.cost()
            out["cost_steady"] = tr.cost()
            out["nodes_steady"] = len(tr.nodes)
            with tr.lock:
                out["lost_pods"] = keep - sum(tr.ready.values())
                out["pdb_violations"] = tr.violations
                out["lowest_ready"] = tr.lowest_ready
                out["pdb_floor"] = tr.floor
                out["removals"] = len(tr.reasons)
                out["removal_reasons"] = sorted(set(tr.reasons.values()))
                out["cost_timeline"] = [
                    (round(t - t1, 1), round(c, 4)) for t, c in tr.costs if t >= t1
                ]
            out["pods_disrupted"] = _evictions(op.log()) - evicted_before
        out["cost_optimum"], out["nodes_optimum"] = fresh_packing(kube, group, group, keep, price)
        out["ratio"] = (
            out["cost_steady"] / out["cost_optimum"] if out["cost_optimum"] else float("nan")
        )
        harness.log(
            f"cost/h before {out['cost_before']:.4f}, after 2 min {out['cost_after_2m']:.4f}, "
            f"steady {out['cost_steady']:.4f} ({out['nodes_steady']} nodes, {out['steady_s']:.0f}s), "
            f"fresh packing {out['cost_optimum']:.4f} ({out['nodes_optimum']} nodes): "
            f"x{out['ratio']:.3f}; {out['pods_disrupted']} pods disrupted, "
            f"{out['pdb_violations']} PDB violations, {out['lost_pods']} lost"
        )
        return out
    finally:
        kube.delete(f"/api/v1/namespaces/{group}")
        for removal in kube.list_all(REMOVALS)[0]:
            if removal["spec"]["nodeGroup"] == group:
                path = f"{REMOVALS}/{removal['metadata']['name']}"
                kube.patch(path, {"metadata": {"finalizers": None}})
                kube.delete(path)
        selector = {"labelSelector": f"growthrs.io/node-group={group}"}
        for node in kube.list_all(node_path(), selector)[0]:
            kube.patch(node_path(node["metadata"]["name"]), {"metadata": {"finalizers": None}})
        harness.delete_group(kube, group)


def _evictions(log: str) -> int:
    """Pods the operator's drains evicted (each "node N: evicted a, b" line names them)."""
    return sum(len(m.split(", ")) for m in re.findall(r"node \S+: evicted (.+)", log))


def figures(runs: list[dict[str, Any]], keep: int) -> list[Figure]:
    def values(key: str) -> tuple[float, ...]:
        return tuple(float(r[key]) for r in runs)

    def cents(key: str) -> tuple[float, ...]:
        """EUR per hour in euro cents: KWOK's prices are Hetzner's, around a cent."""
        return tuple(100 * float(r[key]) for r in runs)

    return [
        Figure(f"cost/h steady / fresh packing of {keep} pods", "x", values("ratio"), TARGET_RATIO),
        Figure("PDB violations", "", values("pdb_violations"), 0),
        Figure("lost pods", "", values("lost_pods"), 0),
        Figure("  cost/h at the scale-in", "ct", cents("cost_before")),
        Figure(f"  cost/h {AFTER:g} s after", "ct", cents("cost_after_2m")),
        Figure("  cost/h at steady state", "ct", cents("cost_steady")),
        Figure("  cost/h of a fresh packing", "ct", cents("cost_optimum")),
        Figure("  scale-in -> steady state", "s", values("steady_s")),
        Figure("  pods disrupted", "", values("pods_disrupted")),
        Figure("  nodes at steady state", "", values("nodes_steady")),
        Figure("  nodes of a fresh packing", "", values("nodes_optimum")),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__.splitlines()[0], runs=1)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--keep", type=int, default=300, help="replicas after the scale-in")
    parser.add_argument("--quiet", type=float, default=90.0, help="s without change = steady")
    parser.add_argument("--timeout", type=float, default=1200.0, help="s to reach steady state")
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs, args.pods, args.keep, args.quiet, args.timeout = 1, 60, 18, 45.0, 150.0
    return run(args)


def run(args: argparse.Namespace) -> int:
    runs: list[dict[str, Any]] = []
    logs = harness.log_dir("consolidation")
    with harness.cluster(args.kubeconfig, "bench-consol") as cl:
        kube = harness.prepare(cl.kubeconfig)
        for i in range(args.runs):
            harness.log(f"run {i + 1}/{args.runs}")
            runs.append(
                one_run(
                    kube,
                    cl.kubeconfig,
                    logs,
                    pods=args.pods,
                    keep=args.keep,
                    quiet=args.quiet,
                    timeout=args.timeout,
                )
            )
    figs = figures(runs, args.keep)
    print(harness.figure_table("consolidation", figs))
    out = harness.write_results(
        "consolidation",
        args.json_path,
        {
            "settings": {
                "pods": args.pods,
                "keep": args.keep,
                "pod_requests": {"cpu": POD_CPU, "memory": POD_MEMORY},
                "pdb_max_unavailable": PDB_MAX_UNAVAILABLE,
                "scale_down": {"consolidateAfter": "30s", "unneededTime": "30s"},
                "quiet_s": args.quiet,
                "operator_flags": harness.OPERATOR_FLAGS,
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
