"""The planner benchmark runs end to end at tiny sizes and reports sane numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_planner_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.planner_bench", "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "pods/s" in done.stdout
    assert "constraints cost at" in done.stdout
    rows = json.loads(out.read_text())["results"]
    assert {(r["pending"], r["constraints"]) for r in rows} == {
        (200, True),
        (200, False),
        (1000, True),
        (1000, False),
    }
    for r in rows:
        assert r["min_s"] <= r["median_s"] <= r["max_s"]
        assert r["new_nodes"] > 0 and r["planned_pods"] > 0
        assert r["rss_peak_mib"] > 0
        accounted = r["planned_pods"] + r["fits_existing"] + r["unplaceable"] + r["ambiguous"]
        assert accounted == r["pending"]


def test_planner_bench_karpenter_smoke(tmp_path: Path) -> None:
    """``--karpenter`` plans Karpenter's scheduling-benchmark input: every pod is
    accounted for, nothing already fits (there are no nodes), and the row carries
    what ``bench.karpenter_scheduling`` reads (times, nodes, cost)."""
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.planner_bench", "--smoke", "--karpenter", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "Karpenter" in done.stdout
    rows = json.loads(out.read_text())["results"]
    assert [r["pending"] for r in rows] == [200, 1000]
    for r in rows:
        assert r["input"] == "karpenter" and r["existing_nodes"] == 0
        assert r["fits_existing"] == 0
        assert r["new_nodes"] > 0 and r["new_nodes_cost_per_hour"] > 0
        assert len(r["times"]) == 1
        accounted = r["planned_pods"] + r["unplaceable"] + r["ambiguous"]
        assert accounted == r["pending"]
