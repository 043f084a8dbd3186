"""Karpenter's own scheduling benchmark, and its claims priced, next to our planner.

Karpenter's ``BenchmarkScheduling<N>`` (``pkg/controllers/provisioning/scheduling/
scheduling_benchmark_test.go``, build tag ``test_performance``) solves N "diverse"
pods (a fifth each plain, zone spread, hostname spread, zone affinity,
hostname anti-affinity; random CPU 100m-1.5 and memory 100Mi-4Gi) against 400
fake instance types in its scheduler, in-process. It reports pods/s and the
number of claims. Run with ``-benchtime 1x``: with more iterations one
scheduler is reused and later Solves reuse the claims of the first.

Karpenter's benchmark does not price its claims, so ``bench/go/
growthrs_priced_benchmark_test.go`` is copied into the build-time copy of the
module (``build.sh karpenter`` makes it; nothing of Karpenter is committed here)
and ``BenchmarkGrowthrsPriced<N>`` solves the same input the same way, then
prices each claim at the cheapest available offering of any instance type it
can still launch as (what Karpenter's launch chooses).

The test binary is compiled once per version and add-on into
``~/.cache/growthrs/controlplane/karpenter-<v>/scheduling-bench-<hash>.test``.

If ``bench.planner_bench`` has a ``--karpenter`` mode (our planner on the same
input), its pods/s and cost are printed beside Karpenter's, with the ratio.

Usage::

    python -m bench.karpenter_scheduling [--sizes 1000,5000,10000,20000] [--count 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import harness, karpenter
from bench.peer_catalogue import parse_go_bench
from growthrs_testkit.controlplane import read_versions

ADDON = Path(__file__).resolve().parent / "go" / "growthrs_priced_benchmark_test.go"
PACKAGE = "pkg/controllers/provisioning/scheduling"
SIZES = (1000, 5000, 10000, 20000)


def test_binary(paths: dict[str, str]) -> Path:
    """Compile the scheduling package's tests (with the add-on) once; return the binary."""
    src = Path(paths["KARPENTER_SRC"])
    addon = ADDON.read_bytes()
    digest = hashlib.sha256(addon).hexdigest()[:12]
    out = Path(paths["KARPENTER_KWOK"]).parent / f"scheduling-bench-{digest}.test"
    if out.exists():
        return out
    (src / PACKAGE / ADDON.name).write_bytes(addon)
    harness.log(f"compiling Karpenter's scheduling benchmark into {out} (cold: minutes)")
    env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    subprocess.run(
        ["go", "test", "-c", "-tags", "test_performance", "-o", f"{out}.tmp", f"./{PACKAGE}"],
        cwd=src,
        env=env,
        check=True,
    )
    Path(f"{out}.tmp").rename(out)
    return out


def run_bench(binary: Path, pattern: str, count: int) -> tuple[str, list[dict[str, Any]]]:
    cmd = [
        str(binary),
        "-test.run",
        "^$",
        "-test.bench",
        pattern,
        "-test.benchtime",
        "1x",
        "-test.count",
        str(count),
    ]
    harness.log(" ".join(cmd[1:]))
    with tempfile.TemporaryDirectory() as tmp:  # the package may write profiles here
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout, parse_go_bench(proc.stdout)


def size_of(name: str) -> int:
    return int("".join(ch for ch in name if ch.isdigit()) or 0)


def by_size(records: list[dict[str, Any]]) -> dict[int, list[dict[str, float]]]:
    out: dict[int, list[dict[str, float]]] = {}
    for rec in records:
        out.setdefault(size_of(rec["name"]), []).append(rec["metrics"])
    return out


def planner_karpenter(sizes: list[int], count: int) -> dict[int, dict[str, Any]] | None:
    """Our planner on Karpenter's input, if ``bench.planner_bench --karpenter`` exists."""
    help_text = subprocess.run(
        [sys.executable, "-m", "bench.planner_bench", "--help"],
        cwd=harness.REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    if "--karpenter" not in help_text:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "planner.json"
        cmd = [
            sys.executable,
            "-m",
            "bench.planner_bench",
            "--karpenter",
            "--sizes",
            ",".join(map(str, sizes)),
            "--repeat",
            str(count),
            "--json",
            str(out),
        ]
        harness.log(" ".join(cmd[1:]))
        proc = subprocess.run(cmd, cwd=harness.REPO, check=False)
        if proc.returncode != 0 or not out.exists():
            return None
        data = json.loads(out.read_text())
    rows: dict[int, dict[str, Any]] = {}
    for row in data.get("results") or ():
        size = int(row.get("pending") or row.get("pods") or 0)
        times = [float(t) for t in row.get("times") or ()]
        rows[size] = {
            "pods_per_s": [size / t for t in times if t > 0],
            "nodes": row.get("new_nodes", row.get("nodes")),
            "cost": row.get("new_nodes_cost_per_hour", row.get("cost")),
            "raw": row,
        }
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--count", type=int, default=3, help="-test.count (runs per size)")
    parser.add_argument("--smoke", action="store_true", help="1,000 pods, one run")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.smoke:
        sizes, args.count = [1000], 1
    paths = karpenter.build()
    binary = test_binary(paths)
    alternatives = "|".join(map(str, sizes))
    own_out, own = run_bench(binary, f"^BenchmarkScheduling({alternatives})$", args.count)
    priced_out, priced = run_bench(binary, f"^BenchmarkGrowthrsPriced({alternatives})$", args.count)
    own_by, priced_by = by_size(own), by_size(priced)
    ours = planner_karpenter(sizes, args.count)
    rows = []
    for size in sizes:
        pps = [m["pods/sec"] for m in own_by.get(size, [])]
        claims = sorted({m["nodes"] for m in own_by.get(size, [])})
        priced_pps = [m["pods/sec"] for m in priced_by.get(size, [])]
        prices = sorted({round(m["price/h"], 4) for m in priced_by.get(size, [])})
        priced_claims = sorted({m["nodes"] for m in priced_by.get(size, [])})
        row: dict[str, Any] = {
            "pods": size,
            "karpenter_pods_per_s": harness.spread(pps),
            "karpenter_pods_per_s_values": pps,
            "karpenter_claims": claims,
            "priced_pods_per_s": harness.spread(priced_pps),
            "priced_claims": priced_claims,
            "priced_cost_per_hour": prices,
            "unpriced_claims": sorted({m.get("unpriced", 0) for m in priced_by.get(size, [])}),
        }
        if ours and size in ours:
            mine = ours[size]
            row["growthrs"] = mine
            g = harness.spread(mine["pods_per_s"])
            if g["median"] and row["karpenter_pods_per_s"]["median"]:
                row["ratio_growthrs_to_karpenter_pods_per_s"] = (
                    g["median"] / row["karpenter_pods_per_s"]["median"]
                )
        rows.append(row)
    print(render(rows, ours is not None))
    path = harness.write_results(
        "karpenter_scheduling",
        args.json_path,
        {
            "settings": {
                "sizes": sizes,
                "count": args.count,
                "benchtime": "1x",
                "karpenter_version": read_versions().get("KARPENTER_VERSION"),
                "growthrs_commit": harness.git_commit(),
                "binary": str(binary),
            },
            "rows": rows,
            "growthrs_planner_karpenter_mode": "ran"
            if ours
            else "missing: bench.planner_bench --karpenter does not exist yet",
            "raw_output": {"BenchmarkScheduling": own_out, "BenchmarkGrowthrsPriced": priced_out},
        },
    )
    print(f"results: {path}")
    return 0


def render(rows: list[dict[str, Any]], have_ours: bool) -> str:
    head: tuple[str, ...] = (
        "pods",
        "Karpenter pods/s min/med/max",
        "claims",
        "claims priced (fake $/h)",
    )
    head += (
        ("GrowthRS pods/s min/med/max", "G÷K", "GrowthRS nodes; cost")
        if have_ours
        else ("GrowthRS planner",)
    )
    lines = ["  ".join(head)]
    for r in rows:
        s = r["karpenter_pods_per_s"]
        cells = [
            f"{r['pods']:,}",
            f"{s['min']:,.0f} / {s['median']:,.0f} / {s['max']:,.0f}",
            "/".join(f"{c:.0f}" for c in r["karpenter_claims"]),
            "/".join(f"{p:.2f}" for p in r["priced_cost_per_hour"])
            + f" ({'/'.join(f'{c:.0f}' for c in r['priced_claims'])} claims)",
        ]
        if have_ours and "growthrs" in r:
            g = harness.spread(r["growthrs"]["pods_per_s"])
            cells += [
                f"{g['min']:,.0f} / {g['median']:,.0f} / {g['max']:,.0f}",
                f"{r.get('ratio_growthrs_to_karpenter_pods_per_s', 0):.2f}",
                f"{r['growthrs']['nodes']}; {r['growthrs']['cost']:.2f}",
            ]
        else:
            cells.append("TODO: bench.planner_bench --karpenter (not there yet)")
        lines.append("  ".join(cells))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
