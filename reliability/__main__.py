"""``python -m reliability``: the trial suite (``make reliability``).

    python -m reliability [--quick] [--seed N] [--only CATEGORY,...] [--trial NAME]
                          [--kwok-crashes 32] [--hetzner-crashes 16]
                          [--kubeconfig PATH] [--json PATH] [--write-doc]

Starts its own local control plane (torn down at the end) unless ``--kubeconfig``
names a cluster; the apiserver trials need one it started. Prints a line per
trial as it goes, writes every figure as JSON (``reliability/results/``), and
with ``--write-doc`` puts the figures into RELIABILITY.md. Exit status 1 when a
trial failed its bounds.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

from growthrs_testkit import controlplane
from growthrs_testkit.kube import install_crds, kube_for
from reliability.suite import (
    CATEGORIES,
    dump,
    full_suite,
    markdown,
    quick_suite,
    run_suite,
    write_doc,
)
from reliability.trial import Env

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "reliability" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reliability", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="the few quick trials of make test")
    parser.add_argument(
        "--seed", type=int, default=None, help="master seed (default: random, printed)"
    )
    parser.add_argument(
        "--only", default="", help=f"categories, comma separated: {', '.join(CATEGORIES)}"
    )
    parser.add_argument("--trial", default="", help="only trials whose name contains this")
    parser.add_argument("--kwok-crashes", type=int, default=32)
    parser.add_argument("--hetzner-crashes", type=int, default=16)
    parser.add_argument("--kubeconfig", default=os.environ.get("GROWTHRS_E2E_KUBECONFIG"))
    parser.add_argument(
        "--cluster",
        default=None,
        help="use this running local control plane (growthrs_testkit.controlplane) and leave it up",
    )
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument(
        "--write-doc", action="store_true", help="put the figures into RELIABILITY.md"
    )
    args = parser.parse_args(argv)

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    specs = quick_suite() if args.quick else full_suite(args.kwok_crashes, args.hetzner_crashes)
    # Trial seeds follow from the master seed and the position in the full list, so a
    # filtered run reproduces the same trial.
    seeds_for = {id(s): i for i, s in enumerate(specs)}
    if args.only:
        wanted = {c.strip() for c in args.only.split(",") if c.strip()}
        specs = [s for s in specs if s.category in wanted]
    if args.trial:
        specs = [s for s in specs if args.trial in s.name]
    if not specs:
        print("no trials selected", file=sys.stderr)
        return 2

    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = RESULTS / f"logs-{stamp}"
    cluster_name: str | None = None
    own = False
    if args.cluster:
        cluster_name = args.cluster
        kubeconfig = controlplane.up(cluster_name).kubeconfig
    elif args.kubeconfig:
        kubeconfig = args.kubeconfig
    else:
        own = True
        cluster_name = f"growthrs-rel-{os.getpid()}"
        print(f"starting the local control plane {cluster_name} ...", flush=True)
        kubeconfig = controlplane.up(cluster_name).kubeconfig

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        kube = kube_for(kubeconfig)
        install_crds(kube)
        env = Env(
            kube=kube,
            kubeconfig=kubeconfig,
            cluster=cluster_name,
            log_dir=log_dir,
            quick=args.quick,
        )
        print(f"master seed {seed} (reproduce: python -m reliability --seed {seed})", flush=True)
        report = _run(env, specs, seed, seeds_for)
    finally:
        if own and cluster_name is not None:
            controlplane.down(cluster_name)
    path = (
        Path(args.json_path)
        if args.json_path
        else RESULTS / f"{'quick' if args.quick else 'full'}-{stamp}.json"
    )
    dump(report, path)
    dump(report, RESULTS / ("latest-quick.json" if args.quick else "latest.json"))
    section = markdown(report)
    print()
    print(section)
    print(f"\nresults: {path}")
    if args.write_doc:
        write_doc(REPO / "RELIABILITY.md", section)
        print("figures written to RELIABILITY.md")
    return 1 if report["failed"] else 0


def _run(env: Env, specs: list[Any], seed: int, seeds_for: dict[int, int]) -> dict[str, Any]:
    from reliability.suite import trial_seeds

    # Seeds by position in the unfiltered suite.
    all_seeds = trial_seeds(seed, max(seeds_for.values(), default=0) + 1)
    ordered = [all_seeds[seeds_for[id(s)]] for s in specs]
    return run_suite(env, specs, seed, seeds=ordered)


if __name__ == "__main__":
    sys.exit(main())
