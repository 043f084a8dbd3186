"""bench.packing_cost plans the peer workloads and bounds them with the cutting-stock LP."""

from __future__ import annotations

import pytest

from bench import packing_cost

pytest.importorskip("highspy")


def test_packing_cost_rows_at_a_tenth() -> None:
    w = packing_cost.workload("mixed-no-ccx", 0.1)
    assert sum(s.count for s in w.shapes) == 100
    assert not any(o.instance_type.startswith("ccx") for o in w.offerings)
    rows = packing_cost.measure(w, ["priority,cheapest"], repeat=1, ip=False, time_limit=10)
    (row,) = rows
    assert row["min_s"] <= row["median_s"] <= row["max_s"]
    assert row["lp_bound"] <= row["solver_cost"] + 1e-9
    assert row["lp_bound"] <= row["cost_per_hour"] + 1e-4
    assert "mixed-no-ccx" in packing_cost.render(rows)
