"""``python -m bench``: every benchmark, then one table with each figure next to its target.

Each benchmark runs as its own process (its own control plane, its own memory),
writes its JSON under ``bench/results/``, and this driver reads them back::

    python -m bench [--smoke]
                    [--only planner,reaction_latency,scale_out_in,footprint,consolidation]
                    [--runs N] [--kubeconfig PATH] [--json PATH]

Benchmarks are measurements, not tests: a missed target is reported, and the
exit status is non-zero only when a benchmark failed to run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import harness

BENCHMARKS: dict[str, str] = {
    "planner": "bench.planner_bench",
    "reaction_latency": "bench.reaction_latency",
    "scale_out_in": "bench.scale_out_in",
    "footprint": "bench.footprint",
    "consolidation": "bench.consolidation",
}
NEEDS_CLUSTER = {"reaction_latency", "scale_out_in", "footprint", "consolidation"}


def planner_figures(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The planner benchmark's rows (one per size and constraints on/off) as figures."""
    figures = []
    for row in data.get("results") or ():
        times = [float(t) for t in row.get("times") or ()]
        figures.append(
            {
                "name": (
                    f"plan {row['pending']} pending pods, constraints "
                    f"{'on' if row['constraints'] else 'off'}"
                ),
                "unit": "s",
                "values": times,
                "min": row["min_s"],
                "median": row["median_s"],
                "max": row["max_s"],
                "target": None,
                "met": None,
            }
        )
    return figures


def run_one(
    name: str, args: argparse.Namespace, stamp: str
) -> tuple[int, list[dict[str, Any]], Path]:
    module = BENCHMARKS[name]
    out = harness.RESULTS / f"{name}-{stamp}.json"
    cmd = [sys.executable, "-m", module, "--json", str(out)]
    if args.smoke:
        cmd.append("--smoke")
    if name in NEEDS_CLUSTER:
        if args.runs:
            cmd += ["--runs", str(args.runs)]
        if args.kubeconfig:
            cmd += ["--kubeconfig", args.kubeconfig]
    harness.log(f"== {name}: {' '.join(cmd[1:])}")
    env = {
        **os.environ,
        "PYTHONPATH": str(harness.REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    rc = subprocess.run(cmd, cwd=harness.REPO, env=env, check=False).returncode
    if rc != 0 or not out.exists():
        return rc or 1, [], out
    data = json.loads(out.read_text())
    figures = planner_figures(data) if name == "planner" else list(data.get("figures") or ())
    return 0, figures, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small, quick runs of each")
    parser.add_argument("--only", help=f"comma separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--runs", type=int, help="repetitions for the cluster benchmarks")
    parser.add_argument(
        "--kubeconfig",
        default=os.environ.get("GROWTHRS_E2E_KUBECONFIG"),
        help="use this cluster instead of starting one per benchmark",
    )
    parser.add_argument("--json", dest="json_path", help="write the summary here")
    args = parser.parse_args(argv)
    names = list(BENCHMARKS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            parser.error(
                f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}"
            )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    summary: dict[str, Any] = {}
    failed = []
    for name in names:
        if importlib.util.find_spec(BENCHMARKS[name]) is None:
            harness.log(f"== {name}: {BENCHMARKS[name]} does not exist yet; skipped")
            summary[name] = {"skipped": "module missing"}
            continue
        started = time.monotonic()
        rc, figures, out = run_one(name, args, stamp)
        summary[name] = {
            "exit_code": rc,
            "seconds": round(time.monotonic() - started, 1),
            "results": str(out),
            "figures": figures,
        }
        if rc != 0:
            failed.append(name)
    print()
    print("Summary (min / median / max over runs; 'met' judges the worst run)")
    for name in names:
        entry = summary[name]
        if entry.get("figures"):
            print(harness.figure_table(name, entry["figures"]))
            print()
        elif "skipped" in entry:
            print(f"{name}: skipped ({entry['skipped']})\n")
        else:
            print(f"{name}: FAILED (exit code {entry['exit_code']})\n")
    path = harness.write_results(
        "summary", args.json_path, {"smoke": args.smoke, "benchmarks": summary}
    )
    print(f"summary: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
