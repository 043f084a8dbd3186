"""The peer benchmark's workloads planned at once, against the exact optimum.

``make bench-peer`` measures what each autoscaler pays on a live cluster, where
pods arrive over seconds and are planned in batches. This measures the planner
alone on the same workloads (``bench.peer_catalogue.WORKLOADS``: ``uniform``,
``mixed``, ``mixed-no-ccx``; the KWOK catalogue of one location, GPU types left
out, CCX too for ``mixed-no-ccx``), every pod pending at once, and compares it
with what an exact solver proves about the same pods and node types:

- the linear-programming bound of the cutting-stock model (column generation
  with HiGHS, :func:`growthrs_core.planner.cutting.solve` with an unbounded work
  budget): no packing costs less, so a plan within 1 % of it is within 1 % of the
  optimum; with it, the best integer packing that solve finds, and whether it
  proved it optimal;
- with ``--ip``, the integer program over every node pattern
  (``growthrs_testkit.planning.pattern_optimum``): the cheapest packing, and the
  fewest nodes of any packing that costs no more than the plan. With four pod
  shapes it has tens of thousands of patterns at a fifth of the size and does not
  finish in minutes at full size; use ``--scale 0.2`` with it.

Usage::

    python -m bench.packing_cost [--repeat 3] [--scale 1.0] [--ip --time-limit 60]
        [--strategies 'priority,cheapest;priority,least-waste'] [--json PATH]

Needs ``highspy``. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from typing import Any

from bench.peer_catalogue import WORKLOADS
from bench.planner_bench import DEFAULT_STRATEGIES, chain
from growthrs_core.planner import cutting
from growthrs_core.quantity import cpu_millis, memory_mib
from growthrs_kwok.offerings import catalogue
from growthrs_testkit.planning import (
    DEDICATED_PREFIX,
    Shape,
    Workload,
    pattern_optimum,
    planned_workload,
)

NAMES = ("uniform", "mixed", "mixed-no-ccx")


def workload(name: str, scale: float = 1.0) -> Workload:
    """The peer benchmark's workload ``name`` as a planner workload (one location)."""
    peer = WORKLOADS[name].scaled(scale)
    types = tuple(o for o in catalogue("fsn1") if not o.resources.gpu)
    if peer.exclude_dedicated:
        types = tuple(o for o in types if not o.instance_type.startswith(DEDICATED_PREFIX))
    shapes = tuple(
        Shape(s.name, s.replicas, cpu_millis(s.cpu), memory_mib(s.memory)) for s in peer.shapes
    )
    return Workload(name, shapes, types)


def column_generation(w: Workload) -> dict[str, Any]:
    """The cutting-stock solve of ``w`` with no work limit: its proven LP bound, the
    integer packing it finds (cost, nodes) and whether that is proven optimal."""
    kinds = [
        cutting.Kind(o.cost_per_hour, (o.resources.cpu_millis, o.resources.memory_mib, o.max_pods))
        for o in w.offerings
    ]
    every = frozenset(range(len(kinds)))
    pieces = [cutting.Piece((s.cpu_millis, s.memory_mib, 1), s.count, every) for s in w.shapes]
    started = time.perf_counter()
    sol = cutting.solve(pieces, kinds, exact=True, work=[1 << 40])
    if sol is not None and sol.lower_bound is None and not sol.optimal:
        sol = cutting.solve(pieces, kinds, exact=True, by_capacity=False, work=[1 << 40])
    elapsed = time.perf_counter() - started
    assert sol is not None, "needs highspy"
    cost, nodes = cutting.cost_of(sol, kinds)
    # Proven by capacity alone (the cheapest nodes whose capacity holds the pods hold
    # them packed): the packing is its own bound.
    bound = sol.lower_bound if sol.lower_bound is not None else cost
    return {
        "lp_bound": bound,
        "solver_cost": cost,
        "solver_nodes": nodes,
        "solver_optimal": sol.optimal,
        "solver_s": elapsed,
    }


def measure(
    w: Workload, chains: list[str], repeat: int, ip: bool, time_limit: float
) -> list[dict[str, Any]]:
    exact = column_generation(w)
    best = pattern_optimum(w, time_limit=time_limit) if ip else None
    rows = []
    for names in chains:
        times = []
        cost = 0.0
        nodes = 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            cost, nodes = planned_workload(w, chain(names))
            times.append(time.perf_counter() - t0)
        row: dict[str, Any] = {}
        if best is not None:
            fewest = pattern_optimum(w, time_limit=time_limit, max_cost=cost)
            row = {
                "ip_cost_per_hour": round(best.cost, 4),
                "ip_bound": best.bound,
                "ip_nodes": best.nodes,
                "ip_proven": best.optimal,
                "ip_fewest_nodes_within_cost": (
                    math.ceil(fewest.bound - 1e-6) if math.isfinite(fewest.bound) else None
                ),
            }
        rows.append(
            {
                "workload": w.name,
                "pods": sum(s.count for s in w.shapes),
                "strategies": names,
                "times": times,
                "min_s": min(times),
                "median_s": statistics.median(times),
                "max_s": max(times),
                "cost_per_hour": round(cost, 4),
                "nodes": nodes,
                **exact,
                "cost_ratio": cost / exact["lp_bound"],
                **row,
            }
        )
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'workload':<13} {'pods':>5} {'strategies':<21} {'plan s min/med/max':>20} "
        f"{'EUR/h':>7} {'nodes':>5} {'LP bound':>8} {'x bound':>7} "
        f"{'solver EUR/h, nodes':>19} {'IP EUR/h, nodes':>16} {'fewest <= plan':>14}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ip = (
            f"{r['ip_cost_per_hour']:.4f}{'' if r['ip_proven'] else '?'}, {r['ip_nodes']}"
            if "ip_cost_per_hour" in r
            else "-"
        )
        fewest = r.get("ip_fewest_nodes_within_cost")
        lines.append(
            f"{r['workload']:<13} {r['pods']:>5} {r['strategies']:<21} "
            f"{r['min_s']:>6.3f}/{r['median_s']:>6.3f}/{r['max_s']:>6.3f} "
            f"{r['cost_per_hour']:>7.4f} {r['nodes']:>5} {r['lp_bound']:>8.4f} "
            f"{r['cost_ratio']:>7.4f} "
            f"{r['solver_cost']:>11.4f}{'' if r['solver_optimal'] else '?'}, "
            f"{r['solver_nodes']:>4} {ip:>16} {fewest if fewest is not None else '-':>14}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.packing_cost", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repeat", type=int, default=3, help="plans per workload and chain")
    parser.add_argument("--scale", type=float, default=1.0, help="times 1,000 pods")
    parser.add_argument("--ip", action="store_true", help="also the pattern integer program")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per IP solve")
    parser.add_argument("--workloads", default=",".join(NAMES))
    parser.add_argument(
        "--strategies",
        default=DEFAULT_STRATEGIES,
        help="chains to compare, separated by ';' (each comma separated)",
    )
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args(argv)
    chains = [c for c in args.strategies.split(";") if c]
    rows: list[dict[str, Any]] = []
    for name in (n.strip() for n in args.workloads.split(",") if n.strip()):
        rows.extend(
            measure(workload(name, args.scale), chains, args.repeat, args.ip, args.time_limit)
        )
    print(render(rows))
    if args.json_path:
        os.makedirs(os.path.dirname(os.path.abspath(args.json_path)), exist_ok=True)
        with open(args.json_path, "w", encoding="utf-8") as fh:
            json.dump({"python": sys.version.split()[0], "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
