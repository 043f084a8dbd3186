"""Smoke runs of the benchmarks: they run and produce sane figures.

Benchmarks are measurements, not pass/fail tests: nothing here checks a timing
target, only that every pod ran, counts add up and numbers are positive.
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


def run(args: list[str], timeout: float) -> tuple[int, str, str]:
    """Run ``python <args>`` from the repository; on timeout SIGTERM it, so it cleans up."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # the benchmark stops its operator and deletes what it made
            stdout, stderr = proc.communicate(timeout=60)
            pytest.fail(f"{args} took over {timeout:.0f}s:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return proc.returncode, stdout, stderr


def run_bench(module: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / f"{module}.json"
    rc, stdout, stderr = run(["-m", module, "--smoke", "--json", str(out), *args], timeout=200)
    assert rc == 0, f"{module} failed:\n{stdout[-3000:]}\n{stderr[-3000:]}"
    data: dict[str, Any] = json.loads(out.read_text())
    assert data["machine"]["cpus"] >= 1
    for figure in data.get("figures") or ():
        assert figure["values"], figure
    return data


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_reaction_latency_smoke(kube_cluster: Any, tmp_path: Path) -> None:
    data = run_bench("bench.reaction_latency", tmp_path, "--kubeconfig", kube_cluster.kubeconfig)
    (run,) = data["runs"]
    assert run["pods"] == 16
    assert run["covered_by_node_request"] + run["without_scale_up"] == run["pods"]
    assert run["covered_by_node_request"] > 0 and run["node_requests"] > 0
    for pod in run["per_pod"].values():
        assert pod["unschedulable_seen"] < pod["nr_seen"] < pod["running_seen"]
    assert run["reaction_s"]["median"] > 0
    assert (
        run["unschedulable_to_running_s"]["p99"] >= run["unschedulable_to_running_s"]["median"] > 0
    )


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_scale_out_in_smoke(kube_cluster: Any, tmp_path: Path) -> None:
    data = run_bench("bench.scale_out_in", tmp_path, "--kubeconfig", kube_cluster.kubeconfig)
    (run,) = data["runs"]
    assert run["pods"] == 100
    assert run["nodes"] > 0 and run["node_requests"] >= run["nodes"]
    assert 0 < run["out_first_s"] <= run["out_half_s"] <= run["out_s"]
    assert run["in_s"] > 0


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_footprint_smoke(kube_cluster: Any, tmp_path: Path) -> None:
    data = run_bench("bench.footprint", tmp_path, "--kubeconfig", kube_cluster.kubeconfig)
    (run,) = data["runs"]
    assert "400 pods" in run["synced_line"] or int(run["synced_line"].split()[2]) >= 400
    assert run["sync_s"] > 0 and run["start_to_synced_s"] >= run["sync_s"]
    assert run["rss_synced_mb"] > 0 and run["rss_peak_mb"] >= run["rss_synced_mb"]
    assert run["idle_cpu_cores"] >= 0
    for kind in ("typed", "raw", "slim"):
        assert data["comparison"][kind]["pods"] >= 400
        assert data["comparison"][kind]["seconds"] > 0


@pytest.mark.timeout(300)
def test_driver_runs_a_subset_and_summarises(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    rc, stdout, stderr = run(
        ["-m", "bench", "--smoke", "--only", "planner", "--json", str(summary)], timeout=200
    )
    assert rc == 0, stderr[-3000:]
    assert "Summary" in stdout
    data = json.loads(summary.read_text())
    entry = data["benchmarks"]["planner"]
    assert entry["exit_code"] == 0
    assert entry["figures"] and all(f["median"] > 0 for f in entry["figures"])
