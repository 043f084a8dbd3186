"""Planner benchmark: wall time, throughput and peak memory of one planning pass.

Synthetic clusters in the shape of a busy Hetzner cluster: thousands of
pending pods from Deployments of mixed sizes (about a fifth with node
selectors or tolerations for special groups, 5 % with hostname anti-affinity,
5 % spread over zones), five node groups over Hetzner's CX/CPX/CAX/CCX lineup in
three locations (57 offerings), 1,000 existing nodes full of running pods,
and three DaemonSets.

Each (size, constraints on/off) runs in a fresh worker process, so the peak
RSS it reports belongs to that size alone.

``--karpenter`` plans Karpenter's own scheduling benchmark instead
(``bench.karpenter_inputs``: 400 instance types in three zones, five equal
shares of generic, zone-spread, hostname-spread, zone-affinity and hostname
anti-affinity pods, no existing nodes) at 1,000 to 20,000 pods, and compares
the throughput with Karpenter's ``BenchmarkScheduling*`` on this machine.
Usage::

    python -m bench.planner_bench [--sizes 1000,10000,50000] [--repeat 3] [--json out.json]
    python -m bench.planner_bench --karpenter [--sizes 1000,5000,10000,20000] [--repeat 3]
    python -m bench.planner_bench --smoke [--karpenter]
    ... [--strategies priority,least-waste]   (default: the operator's, priority,cheapest)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from bench import karpenter_inputs
from growthrs_core.cluster import (
    DaemonSetInfo,
    GroupView,
    LabelSelector,
    NodeInfo,
    PodAffinityTerm,
    PodInfo,
    SpreadConstraint,
    Toleration,
    parse_group,
)
from growthrs_core.domain import InstanceType, Offering, Region, Resources, Taint
from growthrs_core.labels import (
    HOSTNAME_LABEL,
    NODE_GROUP_LABEL,
    POOL_LABEL,
    REGION_LABEL,
    ZONE_LABEL,
)
from growthrs_core.planner import PlanningInput, plan
from growthrs_core.strategies import (
    CheapestStrategy,
    LeastWasteStrategy,
    MostPodsStrategy,
    PriorityStrategy,
    Strategy,
)

STRATEGIES: dict[str, type] = {
    "priority": PriorityStrategy,
    "cheapest": CheapestStrategy,
    "least-waste": LeastWasteStrategy,
    "most-pods": MostPodsStrategy,
}
"""The built-in strategies by name (the plugin manager registers the same)."""
DEFAULT_STRATEGIES = "priority,cheapest"

KARPENTER_SIZES = [1000, 5000, 10000, 20000]
KARPENTER_PODS_PER_S = {1000: 616, 5000: 533, 10000: 453, 20000: 318}
"""Karpenter v1.14.1 ``BenchmarkScheduling{1000,5000,10000,20000}`` measured on this
project's machine (2 cores): its pods/sec metric."""
KARPENTER_TARGET = 5.0
"""The planner should take at most a fifth of Karpenter's time at every size."""


def chain(names: str) -> list[Strategy]:
    return [STRATEGIES[n.strip()]() for n in names.split(",") if n.strip()]


# name: (cores, memory GiB, EUR/h, arch) — Hetzner Cloud's lineup.
LINEUP: dict[str, tuple[int, int, float, str]] = {
    "cx22": (2, 4, 0.0060, "amd64"),
    "cx32": (4, 8, 0.0113, "amd64"),
    "cx42": (8, 16, 0.0273, "amd64"),
    "cx52": (16, 32, 0.0540, "amd64"),
    "cpx11": (2, 2, 0.0073, "amd64"),
    "cpx21": (3, 4, 0.0127, "amd64"),
    "cpx31": (4, 8, 0.0232, "amd64"),
    "cpx41": (8, 16, 0.0424, "amd64"),
    "cpx51": (16, 32, 0.0928, "amd64"),
    "cax11": (2, 4, 0.0062, "arm64"),
    "cax21": (4, 8, 0.0108, "arm64"),
    "cax31": (8, 16, 0.0206, "arm64"),
    "cax41": (16, 32, 0.0409, "arm64"),
    "ccx13": (2, 8, 0.0224, "amd64"),
    "ccx23": (4, 16, 0.0432, "amd64"),
    "ccx33": (8, 32, 0.0856, "amd64"),
    "ccx43": (16, 64, 0.1704, "amd64"),
    "ccx53": (32, 128, 0.3400, "amd64"),
    "ccx63": (48, 192, 0.5096, "amd64"),
}
LOCATIONS = ("fsn1", "nbg1", "hel1")
SIZES = [
    (50, 64),
    (100, 128),
    (250, 256),
    (250, 512),
    (500, 512),
    (500, 1024),
    (1000, 2048),
    (2000, 4096),
    (4000, 8192),
]
SIZE_WEIGHTS = [10, 20, 20, 15, 12, 10, 7, 4, 2]
SPECIAL = {
    "arm": ({"kubernetes.io/arch": "arm64"}, Taint("arch", "arm64", "NoSchedule")),
    "dedicated": ({"tier": "dedicated"}, Taint("dedicated", "true", "NoSchedule")),
    "batch": ({"workload": "batch"}, Taint("batch", "", "NoSchedule")),
    "edge": ({"site": "edge"}, Taint("edge", "", "NoSchedule")),
}


def offerings() -> dict[str, list[Offering]]:
    out = []
    for region in LOCATIONS:
        for name, (cores, gib, eur, arch) in LINEUP.items():
            out.append(
                Offering(
                    instance_type=InstanceType(name),
                    resources=Resources(cpu_millis=cores * 1000 - 100, memory_mib=gib * 1024 - 256),
                    cost_per_hour=eur,
                    region=Region(region),
                    arch=arch,
                )
            )
    return {"hetzner": out}


def _pool(types: list[str], priority: int, **kw: Any) -> dict[str, Any]:
    return {"provider": "hetzner", "serverType": types, "priority": priority, **kw}


def groups() -> list[GroupView]:
    specs: dict[str, dict[str, Any]] = {
        "default": {
            "pools": [
                _pool(["cx22", "cx32", "cx42", "cx52"], 50),
                _pool(["cpx11", "cpx21", "cpx31", "cpx41", "cpx51"], 30),
            ]
        },
        "arm": {"pools": [_pool(["cax11", "cax21", "cax31", "cax41"], 50)]},
        "dedicated": {"pools": [_pool(["ccx13", "ccx23", "ccx33", "ccx43", "ccx53", "ccx63"], 50)]},
        "batch": {
            "pools": [_pool(["cx42", "cx52"], 50), _pool(["cpx41", "cpx51"], 40)],
            "maxNodes": 400,
        },
        "edge": {"pools": [_pool(["cx22", "cpx21"], 50)], "locations": ["hel1"]},
    }
    out = []
    for name, spec in specs.items():
        if name in SPECIAL:
            labels, taint = SPECIAL[name]
            spec["labels"] = {k: v for k, v in labels.items() if k != "kubernetes.io/arch"}
            spec["taints"] = [{"key": taint.key, "value": taint.value, "effect": taint.effect}]
        view = parse_group({"metadata": {"name": name}, "spec": spec})
        assert view.error is None, view.error
        out.append(view)
    return out


def daemonsets() -> list[DaemonSetInfo]:
    def ds(
        name: str,
        cpu: int,
        mem: int,
        *,
        port: int = 0,
        tolerate_all: bool = False,
        amd64: bool = False,
    ) -> DaemonSetInfo:
        pod = PodInfo(
            namespace="kube-system",
            name=name,
            labels={"app": name},
            requests=Resources(cpu_millis=cpu, memory_mib=mem),
            tolerations=(Toleration(operator="Exists"),) if tolerate_all else (),
            node_selector={"kubernetes.io/arch": "amd64"} if amd64 else {},
            host_ports=((port, "TCP", ""),) if port else (),
            owner_kind="DaemonSet",
            owner_name=name,
        )
        return DaemonSetInfo(namespace="kube-system", name=name, pod=pod)

    return [
        ds("kube-proxy", 100, 64, tolerate_all=True),
        ds("node-exporter", 50, 64, port=9100, tolerate_all=True),
        ds("log-agent", 200, 256, amd64=True),
    ]


def _deployment_pods(
    rng: random.Random, index: int, replicas: int, constrained: bool
) -> list[PodInfo]:
    cpu, mem = rng.choices(SIZES, SIZE_WEIGHTS)[0]
    name = f"app-{index}"
    labels = {"app": name, "pod-template-hash": f"h{index}"}
    ns = f"team-{index % 20}"
    node_selector: dict[str, str] = {}
    tolerations: tuple[Toleration, ...] = ()
    anti: tuple[PodAffinityTerm, ...] = ()
    spread: tuple[SpreadConstraint, ...] = ()
    roll = rng.random()
    if constrained:
        if roll < 0.16:
            group = rng.choice(sorted(SPECIAL))
            sel, taint = SPECIAL[group]
            node_selector = dict(sel)
            tolerations = (Toleration(key=taint.key, operator="Exists"),)
        elif roll < 0.20:
            node_selector = {REGION_LABEL: rng.choice(LOCATIONS)}
        elif roll < 0.25:
            anti = (PodAffinityTerm(LabelSelector(match_labels=(("app", name),)), HOSTNAME_LABEL),)
        elif roll < 0.30:
            spread = (
                SpreadConstraint(
                    max_skew=1,
                    topology_key=ZONE_LABEL,
                    when_unsatisfiable="DoNotSchedule",
                    selector=LabelSelector(match_labels=(("app", name),)),
                ),
            )
    return [
        PodInfo(
            namespace=ns,
            name=f"{name}-{i}",
            uid=f"{name}-{i}",
            labels=labels,
            requests=Resources(cpu_millis=cpu, memory_mib=mem),
            node_selector=node_selector,
            tolerations=tolerations,
            anti_affinity=anti,
            spread=spread,
            unschedulable=True,
            owner_kind="ReplicaSet",
            owner_name=f"{name}-h{index}",
        )
        for i in range(replicas)
    ]


def cluster(
    pending: int,
    nodes: int = 1000,
    constrained: bool = True,
    seed: int = 7,
    strategies: list[Strategy] | None = None,
) -> PlanningInput:
    """A reproducible synthetic cluster with ``pending`` unschedulable pods."""
    rng = random.Random(seed)
    pods: list[PodInfo] = []
    index = 0
    while len(pods) < pending:
        replicas = min(pending - len(pods), max(1, int(rng.paretovariate(1.2) * 8)), 300)
        pods.extend(_deployment_pods(rng, index, replicas, constrained))
        index += 1
    node_list: list[NodeInfo] = []
    running: list[PodInfo] = []
    for n in range(nodes):
        region = LOCATIONS[n % len(LOCATIONS)]
        name = f"node-{n}"
        node_list.append(
            NodeInfo(
                name=name,
                labels={
                    HOSTNAME_LABEL: name,
                    NODE_GROUP_LABEL: "default",
                    POOL_LABEL: "0",
                    REGION_LABEL: region,
                    ZONE_LABEL: f"{region}-dc1",
                    "kubernetes.io/arch": "amd64",
                    "node.kubernetes.io/instance-type": "cx42",
                },
                allocatable=Resources(cpu_millis=7900, memory_mib=15 * 1024),
                ready=True,
            )
        )
        # 15 running pods leave 100-400m CPU free on most nodes, more on a few.
        free = 1000 if n % 50 == 0 else rng.choice([100, 200, 300, 400])
        each = (7900 - 350 - free) // 15
        for i in range(15):
            app = f"running-{(n * 15 + i) % 400}"
            running.append(
                PodInfo(
                    namespace=f"team-{(n + i) % 20}",
                    name=f"{name}-p{i}",
                    labels={"app": app},
                    requests=Resources(cpu_millis=each, memory_mib=900),
                    node_name=name,
                    phase="Running",
                    owner_kind="ReplicaSet",
                    owner_name=app,
                )
            )
    for ds in daemonsets():
        for n in node_list:
            running.append(
                PodInfo(
                    namespace="kube-system",
                    name=f"{ds.name}-{n.name}",
                    labels=ds.pod.labels,
                    requests=ds.pod.requests,
                    node_name=n.name,
                    phase="Running",
                    owner_kind="DaemonSet",
                    owner_name=ds.name,
                )
            )
    return PlanningInput(
        pods=pods + running,
        nodes=node_list,
        daemonsets=daemonsets(),
        groups=groups(),
        node_requests=[],
        offerings=offerings(),
        strategies=strategies if strategies is not None else chain(DEFAULT_STRATEGIES),
    )


def _rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def worker(
    size: int,
    constrained: bool,
    repeat: int,
    nodes: int,
    strategies: str = DEFAULT_STRATEGIES,
    karpenter: bool = False,
) -> dict[str, Any]:
    """Build one cluster and plan it ``repeat`` times; runs in its own process."""
    if karpenter:
        inp = karpenter_inputs.planning_input(size, chain(strategies))
        nodes = 0
    else:
        inp = cluster(size, nodes=nodes, constrained=constrained, strategies=chain(strategies))
    rss_before = _rss_mib()
    times = []
    cpu_times = []
    result = None
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = plan(inp)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    assert result is not None
    return {
        "input": "karpenter" if karpenter else "hetzner",
        "strategies": strategies,
        "pending": size,
        "constraints": constrained,
        "existing_nodes": nodes,
        "times": times,
        "min_s": min(times),
        "median_s": statistics.median(times),
        "max_s": max(times),
        "pods_per_s": size / statistics.median(times),
        "cpu_times": cpu_times,
        "cpu_median_s": statistics.median(cpu_times),
        "rss_input_mib": round(rss_before, 1),
        "rss_peak_mib": round(_rss_mib(), 1),
        "new_nodes": len(result.new_nodes),
        "new_nodes_cost_per_hour": round(
            sum(n.offering.cost_per_hour for n in result.new_nodes), 4
        ),
        "fits_existing": len(result.of_kind("fits_existing")),
        "unplaceable": sum(
            1 for o in result.of_kind("cannot_serve").values() if o.reason != "AmbiguousNodeGroup"
        ),
        "ambiguous": sum(
            1 for o in result.of_kind("cannot_serve").values() if o.reason == "AmbiguousNodeGroup"
        ),
        "in_flight": len(result.of_kind("in_flight")),
        "planned_pods": sum(len(n.pods) for n in result.new_nodes),
    }


def _spawn(
    size: int,
    constrained: bool,
    repeat: int,
    nodes: int,
    strategies: str = DEFAULT_STRATEGIES,
    karpenter: bool = False,
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "bench.planner_bench",
        "--worker",
        str(size),
        "--repeat",
        str(repeat),
        "--nodes",
        str(nodes),
        "--strategies",
        strategies,
    ]
    if not constrained:
        cmd.append("--no-constraints")
    if karpenter:
        cmd.append("--karpenter")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'pending':>8} {'constraints':>11} {'min s':>7} {'median s':>8} {'max s':>7} "
        f"{'cpu s':>7} {'pods/s':>9} {'RSS MiB':>8} {'nodes':>6} {'EUR/h':>8} {'fits':>5} "
        f"{'unplac.':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['pending']:>8} {'on' if r['constraints'] else 'off':>11} {r['min_s']:>7.3f} "
            f"{r['median_s']:>8.3f} {r['max_s']:>7.3f} {r['cpu_median_s']:>7.3f} "
            f"{r['pods_per_s']:>9.0f} "
            f"{r['rss_peak_mib']:>8.1f} {r['new_nodes']:>6} {r['new_nodes_cost_per_hour']:>8.2f} "
            f"{r['fits_existing']:>5} {r['unplaceable']:>7}"
        )
    return "\n".join(lines)


def karpenter_table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'pods':>6} {'min s':>7} {'median s':>8} {'max s':>7} {'cpu s':>7} {'pods/s':>7} "
        f"{'Karpenter':>9} {'target':>7} {'x Karp.':>7} {'nodes':>6} {'EUR/h':>9} {'RSS MiB':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        karp = KARPENTER_PODS_PER_S.get(r["pending"])
        target = f"{karp * KARPENTER_TARGET:>7.0f}" if karp else f"{'-':>7}"
        ratio = f"{r['pods_per_s'] / karp:>7.1f}" if karp else f"{'-':>7}"
        lines.append(
            f"{r['pending']:>6} {r['min_s']:>7.3f} {r['median_s']:>8.3f} {r['max_s']:>7.3f} "
            f"{r['cpu_median_s']:>7.3f} {r['pods_per_s']:>7.0f} "
            f"{(karp if karp else '-'):>9} {target} {ratio} {r['new_nodes']:>6} "
            f"{r['new_nodes_cost_per_hour']:>9.2f} {r['rss_peak_mib']:>8.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.planner_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes",
        default="",
        help="pending pod counts, comma separated (default 1000,10000,50000; "
        "with --karpenter 1000,5000,10000,20000)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="plans per size (min/median/max)")
    parser.add_argument("--nodes", type=int, default=1000, help="existing nodes")
    parser.add_argument("--json", dest="json_path", help="write the results here")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument(
        "--karpenter", action="store_true", help="Karpenter's scheduling benchmark inputs"
    )
    parser.add_argument(
        "--strategies",
        default=DEFAULT_STRATEGIES,
        help=f"strategy chain, comma separated (default {DEFAULT_STRATEGIES})",
    )
    parser.add_argument("--no-constraints", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        row = worker(
            args.worker,
            not args.no_constraints,
            args.repeat,
            args.nodes,
            args.strategies,
            args.karpenter,
        )
        print(json.dumps(row))
        return 0
    default_sizes = KARPENTER_SIZES if args.karpenter else [1000, 10000, 50000]
    if args.smoke:
        sizes, repeat, nodes = [200, 1000], 1, 50
    else:
        sizes = [int(s) for s in args.sizes.split(",") if s] if args.sizes else default_sizes
        repeat, nodes = args.repeat, args.nodes
    rows = []
    for size in sizes:
        for constrained in (True,) if args.karpenter else (True, False):
            run = worker if args.smoke else _spawn  # smoke: in-process (RSS is the process's)
            rows.append(run(size, constrained, repeat, nodes, args.strategies, args.karpenter))
    print(f"strategies: {args.strategies}")
    if args.karpenter:
        print(karpenter_table(rows))
        _write(args.json_path, rows)
        return 0
    print(table(rows))
    for size in sizes:
        on = next(r for r in rows if r["pending"] == size and r["constraints"])
        off = next(r for r in rows if r["pending"] == size and not r["constraints"])
        print(
            f"constraints cost at {size} pods: {on['median_s'] - off['median_s']:+.3f} s "
            f"({on['median_s'] / off['median_s']:.2f}x)"
        )
    _write(args.json_path, rows)
    return 0


def _write(path: str | None, rows: list[dict[str, Any]]) -> None:
    if not path:
        return
    # bench/results/ is not in git: a fresh clone has no such folder yet.
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(
            {"python": sys.version.split()[0], "cpus": os.cpu_count(), "results": rows},
            fh,
            indent=2,
        )


if __name__ == "__main__":
    raise SystemExit(main())
