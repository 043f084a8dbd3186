"""Packing quality beyond the exact solver's reach: 13-40 pods against a MILP.

The planner packs batches of up to 12 pods exactly; larger ones are packed by
heuristics (first-fit-decreasing per offering, right-sized, and a by-value
greedy across offerings). This draws random instances with the generator
``tests/unit/planner/test_planner_oracle.py`` uses (``growthrs_testkit.planning``:
one pool, one location, up to four offerings with prices off linear by up to
30 %, resources only) with 13-40 pods, solves the same bin-packing MILP with
HiGHS under a time limit, and reports how the planner's hourly cost compares
with the best solution found.

Usage::

    python -m bench.packing_quality [--instances 30] [--seed 777] [--time-limit 10]

Slow by design (up to ``instances * time-limit`` seconds of solver time); not
part of ``make bench``.
"""

from __future__ import annotations

import argparse
import random
import time

from growthrs_testkit.planning import (
    CHEAPEST_CHAIN,
    LEAST_WASTE_CHAIN,
    optimum,
    planned_cost,
    random_instance,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=30)
    parser.add_argument("--seed", type=int, default=777)
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per MILP")
    parser.add_argument("--min-pods", type=int, default=13)
    parser.add_argument("--max-pods", type=int, default=40)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    instances = [random_instance(rng, args.min_pods, args.max_pods) for _ in range(args.instances)]
    started = time.perf_counter()
    references = [optimum(inst, time_limit=args.time_limit) for inst in instances]
    solver_s = time.perf_counter() - started
    print(f"{len(instances)} instances, MILP references in {solver_s:.0f} s")
    print(f"{'chain':<22} {'optimal':>7} {'within 5 %':>10} {'mean':>6} {'worst':>6} {'plan s':>7}")
    for name, chain in (
        ("priority,cheapest", CHEAPEST_CHAIN),
        ("priority,least-waste", LEAST_WASTE_CHAIN),
    ):
        ratios = []
        t0 = time.perf_counter()
        for inst, (best_cost, _) in zip(instances, references, strict=True):
            cost, _ = planned_cost(inst, chain)
            ratios.append(cost / best_cost)
        elapsed = time.perf_counter() - t0
        print(
            f"{name:<22} {sum(r <= 1 + 1e-9 for r in ratios):>7} "
            f"{sum(r <= 1.05 + 1e-9 for r in ratios):>10} {sum(ratios) / len(ratios):>6.3f} "
            f"{max(ratios):>6.3f} {elapsed:>7.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
