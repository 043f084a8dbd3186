"""The pure parts of the side-by-side benchmark with Karpenter (``bench.peer``).

No cluster and no Karpenter build: the catalogue conversion, pricing, the
workloads, the NodePool, the figures and the parsing of ``go test -bench``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench import karpenter, peer
from bench.peer_catalogue import (
    KARPENTER_KWOK_KUBE_RESERVED,
    PEER_TYPES,
    WORKLOADS,
    hourly_cost,
    karpenter_allocatable,
    karpenter_instance_types,
    parse_go_bench,
    peer_types,
    price_per_hour,
    type_counts,
    utilisation,
)
from growthrs_kwok import offerings as kwok


def node(type_: str, cpu: str = "1", memory: str = "1Gi") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"node.kubernetes.io/instance-type": type_}},
        "status": {"allocatable": {"cpu": cpu, "memory": memory}},
    }


def test_the_peer_catalogue_is_the_19_non_gpu_types() -> None:
    names = [t.name for t in PEER_TYPES]
    assert len(names) == 19
    assert not any(n.startswith("gx") for n in names)
    assert {n[:3] for n in names} == {"cx2", "cx3", "cx4", "cx5", "cpx", "cax", "ccx"}
    assert len(peer_types(exclude_dedicated=True)) == 13
    assert not any(t.name.startswith("ccx") for t in peer_types(exclude_dedicated=True))


def test_karpenter_instance_types_match_ours() -> None:
    types = karpenter_instance_types()
    assert [t["name"] for t in types] == [t.name for t in PEER_TYPES]
    for entry, server in zip(types, PEER_TYPES, strict=True):
        ours = kwok.allocatable(server)
        # What Karpenter's KWOK provider computes (capacity minus its fixed reserve) is ours.
        assert karpenter_allocatable(entry) == (ours.cpu_millis, ours.memory_mib)
        assert entry["architecture"] == server.arch
        assert entry["resources"]["pods"] == str(kwok.MAX_PODS)
        offerings = entry["offerings"]
        assert len(offerings) == 3
        for offering, loc in zip(offerings, kwok.LOCATIONS, strict=True):
            assert offering["Price"] == server.eur_per_hour
            reqs = {r["key"]: r["values"] for r in offering["Requirements"]}
            assert reqs == {
                "karpenter.sh/capacity-type": ["on-demand"],
                "topology.kubernetes.io/zone": [loc.datacenter],
                "topology.kubernetes.io/region": [loc.name],
            }


def test_the_reserve_difference_goes_into_memory_capacity() -> None:
    (cx22,) = [t for t in karpenter_instance_types() if t["name"] == "cx22"]
    reserve = kwok.KUBELET_RESERVE
    assert cx22["resources"]["cpu"] == f"{2000 - reserve.cpu_millis + 100}m"
    assert cx22["resources"]["memory"] == f"{4096 - reserve.memory_mib + 10}Mi"
    assert KARPENTER_KWOK_KUBE_RESERVED.memory_mib == 10


def test_pricing_nodes_by_instance_type() -> None:
    nodes = [node("cx22"), node("cx22"), node("ccx63")]
    assert hourly_cost(nodes) == pytest.approx(2 * 0.0060 + 0.5096)
    assert type_counts(nodes) == {"ccx63": 1, "cx22": 2}
    assert price_per_hour("cax41") == 0.0409
    with pytest.raises(KeyError):
        price_per_hour("m5.large")


def test_utilisation_is_requests_over_allocatable() -> None:
    cpu, mem = utilisation((1500, 1024), [node("cx22", "1", "1Gi"), node("cx22", "2000m", "1Gi")])
    assert cpu == pytest.approx(0.5)
    assert mem == pytest.approx(0.5)
    assert all(math.isnan(v) for v in utilisation((1, 1), []))


def test_workloads() -> None:
    assert WORKLOADS["uniform"].pods == 1000
    assert WORKLOADS["uniform"].requested == (250_000, 256_000)
    mixed = WORKLOADS["mixed"]
    assert mixed.pods == 1000 and len(mixed.shapes) >= 3
    assert any(s.memory == "4Gi" for s in mixed.shapes)  # memory-heavy
    assert WORKLOADS["mixed-no-ccx"].exclude_dedicated
    assert WORKLOADS["scale-in"].scale_to == 300
    small = WORKLOADS["scale-in"].scaled(0.1)
    assert small.pods == 100 and small.scale_to == 30


def test_nodepool_matches_the_issue() -> None:
    body = karpenter.nodepool_body("p", "c", consolidate_after="10s", exclude_types=["ccx13"])
    disruption = body["spec"]["disruption"]
    assert disruption == {
        "consolidationPolicy": "WhenEmptyOrUnderutilized",
        "consolidateAfter": "10s",
        "budgets": [{"nodes": "100%"}],
    }
    reqs = {r["key"]: r for r in body["spec"]["template"]["spec"]["requirements"]}
    assert reqs["node.kubernetes.io/instance-type"] == {
        "key": "node.kubernetes.io/instance-type",
        "operator": "NotIn",
        "values": ["ccx13"],
    }
    assert reqs["kubernetes.io/arch"]["values"] == ["amd64", "arm64"]


def test_bound_nodes_hold_the_workload() -> None:
    server = kwok.server_type(peer.BOUND_TYPE)
    assert server is not None
    alloc = kwok.allocatable(server)
    for w in WORKLOADS.values():
        n = peer.bound_nodes(w)
        cpu, mem = w.requested
        assert n * alloc.cpu_millis >= cpu and n * alloc.memory_mib >= mem
        assert n * kwok.MAX_PODS >= w.pods


def test_summary_has_spreads_and_the_ratio() -> None:
    runs = [
        {"autoscaler": "growthrs", "workload": "uniform", "out_s": v, "cpu_util": 0.9}
        for v in (30.0, 31.0, 29.0)
    ] + [
        {"autoscaler": "karpenter", "workload": "uniform", "out_s": v, "cpu_util": 0.5}
        for v in (33.0, 31.0, 32.0)
    ]
    runs.append({"autoscaler": "bound", "workload": "uniform", "out_s": 8.0})
    summary = peer.summarise(runs, ["uniform"])
    row = summary["uniform"]["out_s"]
    assert row["growthrs"]["median"] == 30.0 and row["karpenter"]["median"] == 32.0
    assert row["ratio_karpenter_to_growthrs"] == pytest.approx(32 / 30)
    assert row["bound"]["min"] == 8.0
    text = peer.table(summary)
    assert "29.0 / 30.0 / 31.0" in text and "90% / 90% / 90%" in text and "1.07" in text


def test_tracker_prices_the_nodes_over_time() -> None:
    tr = peer.Tracker()
    tr.on_node("ADDED", {**node("cx22"), "metadata": {"name": "a", **node("cx22")["metadata"]}}, 1)
    tr.on_node("ADDED", {**node("cx32"), "metadata": {"name": "b", **node("cx32")["metadata"]}}, 2)
    tr.on_node("DELETED", {"metadata": {"name": "a"}}, 3)
    assert tr.cost_at(0.5) == 0.0
    assert tr.cost_at(2.5) == pytest.approx(0.0060 + 0.0113)
    assert tr.cost_at(9) == pytest.approx(0.0113)
    assert tr.nodes_max == 2 and tr.last_node_change() == 3


def test_parse_go_bench() -> None:
    out = """goos: linux
BenchmarkScheduling1000-2   	       1	1663803712 ns/op	       200.0 nodes	      1000 pods	       601.0 pods/sec
BenchmarkGrowthrsPriced1000-2	       1	1.6e+09 ns/op	200.0 nodes	344.3 price/h	601.0 pods/sec	0 unpriced
PASS
"""
    first, second = parse_go_bench(out)
    assert first["name"] == "BenchmarkScheduling1000" and first["procs"] == 2
    assert first["metrics"] == {
        "ns/op": 1663803712.0,
        "nodes": 200.0,
        "pods": 1000.0,
        "pods/sec": 601.0,
    }
    assert second["metrics"]["price/h"] == 344.3 and second["metrics"]["unpriced"] == 0


def test_reaction_latency_replays_the_operators_batch_windows() -> None:
    from bench.reaction_latency import replay_windows

    # A storm: a pod every 0.4 s. With first_plan 1 s the first window closes 1 s after
    # the first pod; the next pod opens a new window.
    arrivals = {f"p{i}": i * 0.4 for i in range(6)}
    closes = replay_windows(arrivals, idle=1.0, most=10.0, first_plan=1.0)
    assert closes["p0"] == closes["p1"] == closes["p2"] == 1.0
    assert closes["p3"] == closes["p4"] == closes["p5"] == 1.2 + 1.0
    # Without first_plan the idle window stretches with the storm.
    slow = replay_windows(arrivals, idle=1.0, most=10.0, first_plan=0.0)
    assert set(slow.values()) == {2.0 + 1.0}
