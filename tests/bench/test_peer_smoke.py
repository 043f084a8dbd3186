"""The GrowthRS half of the side-by-side benchmark (``bench.peer``), smoke-sized.

Karpenter's half needs Karpenter's KWOK provider built from Go modules (about
4 minutes cold), so it is not part of ``make test``; ``make bench-peer
ARGS=--smoke`` runs both halves (see BENCHMARKS.md). This keeps the shared
parts (workloads, tracking, pricing, the scale-in and the lower bound) working.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_bench(module: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "peer.json"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with subprocess.Popen(
        [sys.executable, "-m", module, "--smoke", "--json", str(out), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=260)
        except subprocess.TimeoutExpired:
            proc.terminate()  # the benchmark stops its operator and deletes what it made
            stdout, stderr = proc.communicate(timeout=60)
            pytest.fail(f"{module} took too long:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    assert proc.returncode == 0, f"{module} failed:\n{stdout[-3000:]}\n{stderr[-3000:]}"
    data: dict[str, Any] = json.loads(out.read_text())
    return data


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_peer_smoke_growthrs_and_bound(kube_cluster: Any, tmp_path: Path) -> None:
    data = run_bench(
        "bench.peer",
        tmp_path,
        "--kubeconfig",
        kube_cluster.kubeconfig,
        "--autoscalers",
        "growthrs",
        "--workloads",
        "uniform,scale-in",
    )
    runs = {(r["autoscaler"], r["workload"]): r for r in data["runs"]}
    assert set(runs) == {
        ("growthrs", "uniform"),
        ("bound", "uniform"),
        ("growthrs", "scale-in"),
        ("bound", "scale-in"),
    }
    uniform = runs["growthrs", "uniform"]
    assert uniform["pods"] == 100
    assert 0 < uniform["first_claim_s"] <= uniform["first_node_s"] <= uniform["out_s"]
    assert uniform["nodes"] > 0 and uniform["eur_per_hour"] > 0
    assert 0 < uniform["cpu_util"] <= 1 and 0 < uniform["mem_util"] <= 1
    assert uniform["in_s"] > 0 and uniform["rss_peak_mib"] > 0 and uniform["cpu_s"] > 0
    scaled = runs["growthrs", "scale-in"]
    assert scaled["running_at_steady"] == 30
    assert scaled["eur_per_hour_steady"] <= scaled["eur_per_hour_before"]
    assert runs["bound", "uniform"]["out_s"] > 0
    assert data["summary"]["uniform"]["out_s"]["growthrs"]["median"] == uniform["out_s"]
