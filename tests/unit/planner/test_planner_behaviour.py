"""One test per planner behaviour: selection, demand, groups, in-flight requests,
existing room, DaemonSets, limits, minimums, requirements and each constraint kind."""

from __future__ import annotations

from typing import Any

import pytest

from growthrs_core.cluster import NodeInfo, PodInfo, parse_node_request
from growthrs_core.crd.models import Requirements
from growthrs_core.domain import InstanceType, Offering, Region, Resources, Zone
from growthrs_core.planner import new_node_labels, offering_satisfies, unschedulable_pods
from growthrs_testkit.planning import (
    CHEAPEST_CHAIN,
    covered,
    daemonset,
    fits,
    group,
    lineup,
    node,
    node_requests_from,
    offering,
    pod,
    pods,
    pool,
    reasons,
    run,
    stuck,
    summary,
)

TYPES = ["cx22", "cx32", "cx42", "cx52"]
REGIONS = ("fsn1", "nbg1", "hel1")
ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
HOSTNAME = "kubernetes.io/hostname"
HETZNER = {"hetzner": lineup(TYPES)}
ALL_REGIONS = {"hetzner": lineup(TYPES, REGIONS)}
G = [group(pools=[pool(TYPES)])]


def required(*expressions: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": list(expressions)}]
            }
        }
    }


def expr(key: str, op: str, *values: str) -> dict[str, Any]:
    out: dict[str, Any] = {"key": key, "operator": op}
    if values:
        out["values"] = list(values)
    return out


# -- selection -------------------------------------------------------------------------


def test_unschedulable_pods_skips_what_others_place() -> None:
    ok = pod("ok")
    skipped = [
        pod("ds", owner=("DaemonSet", "agent")),
        pod("mirror", raw={"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}}),
        pod("deleting", raw={"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}}),
        pod("nominated", raw={"status": {"nominatedNodeName": "n1"}}),
        pod("bound", node="n1"),
        pod("done", raw={"status": {"phase": "Succeeded"}}),
        pod("scheduling", pending=False),
    ]
    assert [p.name for p in unschedulable_pods([ok, *skipped])] == ["ok"]


def test_broken_pods_are_reported_and_skipped() -> None:
    bad = pod("bad", cpu="lots")
    result = run([bad, pod("good")], G, HETZNER)
    assert reasons(result) == {"default/bad": "InvalidPodSpec"}
    assert "lots" in stuck(result)["default/bad"]
    assert summary(result) == [("cx22@fsn1", 1)]


# -- demand ----------------------------------------------------------------------------


def test_init_containers_sidecars_and_overhead_count() -> None:
    init = pod(
        "init",
        cpu="500m",
        init_containers=[{"name": "i", "resources": {"requests": {"cpu": "3"}}}],
    )
    sidecar = pod(
        "sidecar",
        cpu="1600m",
        init_containers=[
            {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}}
        ],
    )
    overhead = pod("overhead", cpu="1900m", overhead={"cpu": "250m"})
    for p, cpu in ((init, 3000), (sidecar, 2100), (overhead, 2150)):
        assert p.requests.cpu_millis == cpu
        result = run([p], G, HETZNER)
        assert summary(result) == [("cx32@fsn1", 1)], p.name
        assert result.new_nodes[0].requirements.cpu == f"{cpu}m" if cpu % 1000 else str(cpu // 1000)


# -- groups ----------------------------------------------------------------------------


def test_ambiguous_groups_get_no_node() -> None:
    groups = [group("a", pools=[pool(["cx22"])]), group("b", pools=[pool(["cx22"])])]
    result = run([pod("p")], groups, HETZNER)
    assert reasons(result) == {"default/p": "AmbiguousNodeGroup"}
    assert "several node groups (a, b)" in stuck(result)["default/p"]
    assert not result.new_nodes


def test_prefer_no_schedule_taint_breaks_an_ambiguity() -> None:
    groups = [
        group("a", pools=[pool(["cx22"])]),
        group("b", pools=[pool(["cx32"])], taints=[{"key": "soft", "effect": "PreferNoSchedule"}]),
    ]
    result = run([pod("p")], groups, HETZNER)
    assert summary(result) == [("cx22@fsn1", 1)]
    assert result.new_nodes[0].group == "a"


def test_missing_and_invalid_pinned_groups() -> None:
    from growthrs_core.cluster import GroupView

    broken = GroupView(name="broken", spec=None, error="pools: too short")
    result = run(
        [
            pod("lost", node_selector={"growthrs.io/node-group": "nope"}),
            pod("odd", node_selector={"growthrs.io/node-group": "broken"}),
        ],
        [*G, broken],
        HETZNER,
    )
    assert reasons(result) == {
        "default/lost": "NodeGroupNotFound",
        "default/odd": "InvalidNodeGroup",
    }
    assert "node group 'nope', which does not exist" in stuck(result)["default/lost"]
    assert "broken is invalid: pools: too short" in stuck(result)["default/odd"]
    assert not result.new_nodes


def test_pinned_group_still_checks_taints_and_selectors() -> None:
    groups = [
        group("gpu", pools=[pool(["cx22"])], taints=[{"key": "gpu", "effect": "NoSchedule"}]),
        *G,
    ]
    pinned = pod("p", node_selector={"growthrs.io/node-group": "gpu"})
    result = run([pinned], groups, HETZNER)
    assert "taint gpu:NoSchedule not tolerated" in stuck(result)["default/p"]
    assert reasons(result) == {"default/p": "NoMatchingGroup"}
    ok = pod(
        "q",
        node_selector={"growthrs.io/node-group": "gpu"},
        tolerations=[{"key": "gpu", "operator": "Exists"}],
    )
    assert [n.group for n in run([ok], groups, HETZNER).new_nodes] == ["gpu"]


def test_no_group_matches_explains_per_group() -> None:
    groups = [group("tainted", pools=[pool(["cx22"])], taints=[{"key": "k", "value": "v"}])]
    result = run([pod("p")], groups, HETZNER)
    assert stuck(result)["default/p"] == (
        "no node group matches (tainted: taint k=v:NoSchedule not tolerated)"
    )
    assert reasons(result) == {"default/p": "NoMatchingGroup"}


@pytest.mark.parametrize(
    ("toleration", "tolerated"),
    [
        ({"key": "k", "operator": "Equal", "value": "v"}, True),
        ({"key": "k", "operator": "Equal", "value": "w"}, False),
        ({"key": "k", "operator": "Exists"}, True),
        ({"operator": "Exists"}, True),
        ({"key": "k", "operator": "Exists", "effect": "NoSchedule"}, True),
        ({"key": "k", "operator": "Exists", "effect": "NoExecute"}, False),
    ],
)
def test_tolerations(toleration: dict[str, str], tolerated: bool) -> None:
    groups = [group("t", pools=[pool(["cx22"])], taints=[{"key": "k", "value": "v"}])]
    result = run([pod("p", tolerations=[toleration])], groups, HETZNER)
    assert bool(result.new_nodes) is tolerated


def test_no_execute_taint_must_be_tolerated_too() -> None:
    groups = [group("t", pools=[pool(["cx22"])], taints=[{"key": "k", "effect": "NoExecute"}])]
    assert not run([pod("p")], groups, HETZNER).new_nodes
    ok = pod("q", tolerations=[{"key": "k", "operator": "Exists", "effect": "NoExecute"}])
    assert run([ok], groups, HETZNER).new_nodes


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        (expr("tier", "In", "gold", "silver"), True),
        (expr("tier", "In", "bronze"), False),
        (expr("tier", "NotIn", "bronze"), True),
        (expr("tier", "NotIn", "gold"), False),
        (expr("tier", "Exists"), True),
        (expr("missing", "Exists"), False),
        (expr("missing", "DoesNotExist"), True),
        (expr("tier", "DoesNotExist"), False),
        (expr("generation", "Gt", "2"), True),
        (expr("generation", "Gt", "3"), False),
        (expr("generation", "Lt", "4"), True),
        (expr("generation", "Lt", "3"), False),
        (expr(HOSTNAME, "Exists"), True),
        (expr(HOSTNAME, "In", "node-1"), False),
    ],
)
def test_node_affinity_operators(expression: dict[str, Any], matches: bool) -> None:
    groups = [group(pools=[pool(["cx22"])], labels={"tier": "gold", "generation": "3"})]
    result = run([pod("p", affinity=required(expression))], groups, HETZNER)
    assert bool(result.new_nodes) is matches


def test_selector_no_offering_meets_is_unplaceable() -> None:
    result = run([pod("p", node_selector={"node.kubernetes.io/instance-type": "cx99"})], G, HETZNER)
    assert "matches none of its offerings" in stuck(result)["default/p"]
    assert reasons(result) == {"default/p": "NoMatchingGroup"}
    assert not result.new_nodes


def test_too_big_reason_names_the_largest_offering() -> None:
    groups = [group(pools=[pool(["cx22", "ccx63"])])]
    result = run([pod("huge", "64", "1Ti")], groups, {"hetzner": lineup(["cx22", "ccx63"])})
    assert stuck(result)["default/huge"] == (
        "no offering of group default fits cpu 64/memory 1024Gi (largest: ccx63 48 CPU/192Gi)"
    )
    assert reasons(result) == {"default/huge": "NoOfferingFits"}


def test_provider_not_installed() -> None:
    groups = [group(pools=[pool(["cx22"], provider="nowhere")])]
    result = run([pod("p")], groups, HETZNER)
    assert "provider nowhere has no offerings" in stuck(result)["default/p"]
    assert reasons(result) == {"default/p": "NoOfferingFits"}


def test_pool_without_matching_offerings_is_explained() -> None:
    groups = [group(pools=[pool(["cx22"], locations=["ash"])])]
    result = run([pod("p")], groups, HETZNER)
    assert "no offering of cx22 in ash" in stuck(result)["default/p"]


# -- existing room ---------------------------------------------------------------------


def test_pods_that_fit_existing_nodes_are_left_to_the_scheduler() -> None:
    existing = node("n1", cpu="2", memory="4Gi")
    bound = pod("running", "1500m", "1Gi", node="n1")
    a, b = pod("a", "400m", "1Gi"), pod("b", "400m", "1Gi")
    result = run([bound, a, b], G, HETZNER, nodes=[existing])
    # 500m are free: one of the two fits, the other needs a node.
    assert fits(result) == {"default/a": "n1"}
    assert [p.name for n in result.new_nodes for p in n.pods] == ["b"]


@pytest.mark.parametrize(
    "blocked",
    [
        node("n1", ready=False),
        node("n1", unschedulable=True),
        node("n1", deleting=True),
        node("n1", taints=[{"key": "growthrs.io/scale-down", "effect": "NoSchedule"}]),
        node("n1", labels={"disk": "hdd"}),
    ],
)
def test_nodes_that_offer_no_room(blocked: NodeInfo) -> None:
    p = pod("p", node_selector={"disk": "hdd"} if "disk" in blocked.labels else None)
    if "disk" in blocked.labels:
        p = pod("p", node_selector={"disk": "ssd"})
        groups = [group(pools=[pool(["cx22"])], labels={"disk": "ssd"})]
    else:
        groups = G
    result = run([p], groups, HETZNER, nodes=[blocked])
    assert fits(result) == {}
    assert len(result.new_nodes) == 1


def test_existing_room_respects_host_ports_and_anti_affinity() -> None:
    existing = node("n1", cpu="4", memory="8Gi")
    bound = pod("bound", node="n1", labels={"app": "web"}, host_port=80)
    same_port = pod("port", host_port=80)
    anti_pod = pod(
        "anti",
        labels={"app": "web"},
        affinity={
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": HOSTNAME}
                ]
            }
        },
    )
    result = run([bound, same_port, anti_pod], G, HETZNER, nodes=[existing])
    assert fits(result) == {}
    assert len(result.new_nodes) == 1  # the two may share a new node


# -- in-flight NodeRequests ------------------------------------------------------------


def test_planning_again_with_the_plans_node_requests_plans_nothing() -> None:
    pending = pods("a", 7, "700m", "1Gi")
    first = run(pending, G, HETZNER)
    assert first.new_nodes
    again = run(pending, G, HETZNER, node_requests=node_requests_from(first))
    assert again.new_nodes == []
    assert set(covered(again)) == {p.key for p in pending}
    assert set(again.outcomes) == {p.key for p in pending}


def test_leftover_room_of_an_in_flight_request_takes_new_pods() -> None:
    first = run([pod("a", "1", "1Gi")], G, HETZNER)
    assert summary(first) == [("cx22@fsn1", 1)]
    nrs = node_requests_from(first)
    # The request asks for cpu 1, but the cx22 it becomes has 2: the newcomer fits
    # the node already on its way and buys nothing.
    late = pod("late", "1", "1Gi")
    again = run([pod("a", "1", "1Gi"), late], G, HETZNER, node_requests=nrs)
    assert covered(again) == {"default/a": nrs[0].name, "default/late": nrs[0].name}
    assert again.new_nodes == []
    # What the offering has no room left for is a shortfall.
    wide = pod("wide", "1500m", "1Gi")
    short = run([pod("a", "1", "1Gi"), wide], G, HETZNER, node_requests=nrs)
    assert "default/wide" not in covered(short)
    assert [len(n.pods) for n in short.new_nodes] == [1]
    # A request sized for two pods, now listing one still pending, covers the newcomer.
    big = parse_node_request(
        {
            "metadata": {"name": "nr-big"},
            "spec": {
                "nodeGroup": "default",
                "requirements": {"cpu": "2", "memory": "2Gi", "pods": 2},
                "pods": [
                    {"namespace": "default", "name": "a"},
                    {"namespace": "default", "name": "gone"},
                ],
                "plannedPool": 0,
                "plannedOffering": "cx22@fsn1",
            },
            "status": {"phase": "Provisioning"},
        }
    )
    third = run([pod("a", "1", "1Gi"), late], G, HETZNER, node_requests=[big])
    assert covered(third) == {"default/a": "nr-big", "default/late": "nr-big"}
    assert third.new_nodes == []


def test_request_whose_node_is_ready_but_still_tainted_keeps_its_room() -> None:
    """Between Ready and the control plane lifting ``not-ready`` the node takes no
    pods; its request's leftover room must still count, or a newcomer buys a node."""
    big = parse_node_request(
        {
            "metadata": {"name": "nr-big"},
            "spec": {
                "nodeGroup": "default",
                "requirements": {"cpu": "2", "memory": "2Gi", "pods": 2},
                "pods": [{"namespace": "default", "name": "a"}],
                "plannedPool": 0,
                "plannedOffering": "cx22@fsn1",
            },
            "status": {"phase": "Provisioning", "nodeName": "nr-big"},
        }
    )
    pending = [pod("a", "1", "1Gi"), pod("late", "1", "1Gi")]
    tainted = node(
        "nr-big",
        "2",
        "4Gi",
        taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}],
    )
    held = run(pending, G, HETZNER, node_requests=[big], nodes=[tainted])
    assert held.new_nodes == []
    assert covered(held) == {"default/a": "nr-big", "default/late": "nr-big"}
    # Once the taint is gone the node's own free room is what counts.
    free = run(pending, G, HETZNER, node_requests=[big], nodes=[node("nr-big", "2", "4Gi")])
    assert free.new_nodes == []


def test_finished_or_deleting_requests_are_not_capacity() -> None:
    first = run([pod("a")], G, HETZNER)
    ready = node_requests_from(first, phase="Ready")
    assert run([pod("a")], G, HETZNER, node_requests=ready).new_nodes
    # An Unmet request holds its pods until it is deleted (see test_planner_unmet.py),
    # but offers no room to others.
    unmet = node_requests_from(first, phase="Unmet")
    held = run([pod("a"), pod("b")], G, HETZNER, node_requests=unmet)
    assert covered(held) == {"default/a": unmet[0].name}
    assert [p.name for n in held.new_nodes for p in n.pods] == ["b"]
    unmet[0].deleting = True
    assert run([pod("a")], G, HETZNER, node_requests=unmet).new_nodes


def test_in_flight_requests_count_against_max_nodes() -> None:
    groups = [group(pools=[pool(["cx22"])], maxNodes=1)]
    first = run([pod("a", "1500m")], groups, HETZNER)
    again = run(
        [pod("a", "1500m"), pod("b", "1500m")],
        groups,
        HETZNER,
        node_requests=node_requests_from(first),
    )
    assert again.new_nodes == []
    assert "reached maxNodes 1" in stuck(again)["default/b"]
    assert reasons(again)["default/b"] == "MaxNodesReached"


# -- DaemonSets ------------------------------------------------------------------------


def test_daemonset_overhead_is_counted_on_new_nodes() -> None:
    ds = daemonset("agent", "500m", "256Mi")
    result = run([pod("p", "1800m", "1Gi")], G, HETZNER, daemonsets=[ds])
    assert summary(result) == [("cx32@fsn1", 1)]
    req = result.new_nodes[0].requirements
    assert (req.cpu, req.memory, req.pods) == ("2300m", "1280Mi", 2)


def test_daemonsets_that_would_not_run_there_are_not_counted() -> None:
    on_arm_only = daemonset("arm-agent", "1", "1Gi", node_selector={"kubernetes.io/arch": "arm64"})
    tainted = [group(pools=[pool(["cx22"])], taints=[{"key": "k", "effect": "NoSchedule"}])]
    not_tolerating = daemonset("plain", "1", "1Gi")
    p = pod("p", "1800m", "1Gi", tolerations=[{"key": "k", "operator": "Exists"}])
    result = run([p], tainted, HETZNER, daemonsets=[on_arm_only, not_tolerating])
    assert summary(result) == [("cx22@fsn1", 1)]
    assert result.new_nodes[0].requirements.pods == 1


def test_daemonset_host_ports_block_pods_with_the_same_port() -> None:
    ds = daemonset("exporter", "10m", "10Mi", host_port=9100)
    result = run([pod("p", host_port=9100)], G, HETZNER, daemonsets=[ds])
    assert "host ports are taken by DaemonSet pods (9100/TCP)" in stuck(result)["default/p"]
    assert reasons(result) == {"default/p": "Unsatisfiable"}


# -- limits and minimums -----------------------------------------------------------------


def test_existing_nodes_count_against_max_nodes() -> None:
    groups = [group(pools=[pool(["cx22"], maxNodes=1), pool(["cx32"], 10)])]
    existing = node(
        "old", ready=False, labels={"growthrs.io/node-group": "default", "growthrs.io/pool": "0"}
    )
    result = run([pod("p", "3")], groups, HETZNER, nodes=[existing])
    assert summary(result) == [("cx32@fsn1", 1)]


def test_min_nodes_are_topped_up_with_empty_nodes() -> None:
    groups = [group(pools=[pool(["cx32", "cx22"], 90), pool(["cax11"], 50)], minNodes=2)]
    existing = node("old", labels={"growthrs.io/node-group": "default", "growthrs.io/pool": "0"})
    result = run([], groups, {"hetzner": lineup(["cx22", "cx32", "cax11"])}, nodes=[existing])
    assert summary(result) == [("cx22@fsn1", 0)]
    assert result.new_nodes[0].pods == ()


def test_pool_min_nodes_use_that_pool() -> None:
    groups = [group(pools=[pool(["cx22"], 90), pool(["cax11"], 50, minNodes=1)])]
    result = run([], groups, {"hetzner": lineup(["cx22", "cax11"])})
    assert [(n.pool_index, n.offering.key) for n in result.new_nodes] == [(1, "cax11@fsn1")]
    again = run(
        [], groups, {"hetzner": lineup(["cx22", "cax11"])}, node_requests=node_requests_from(result)
    )
    assert again.new_nodes == []


def test_planned_nodes_count_towards_min_nodes() -> None:
    groups = [group(pools=[pool(["cx22"])], minNodes=2)]
    result = run([pod("a", "1500m"), pod("b", "1500m"), pod("c", "1500m")], groups, HETZNER)
    assert len(result.new_nodes) == 3


# -- offerings backing off -------------------------------------------------------------


def test_unavailable_offerings_are_avoided_when_there_is_another() -> None:
    groups = [group(pools=[pool(["cx22"], 90), pool(["cax11"], 50)])]
    offers = {"hetzner": lineup(["cx22", "cax11"])}
    result = run([pod("p")], groups, offers, unavailable=frozenset({("hetzner", "cx22@fsn1")}))
    assert summary(result) == [("cax11@fsn1", 1)]
    alone = run(
        [pod("p")],
        [group(pools=[pool(["cx22"])])],
        offers,
        unavailable=frozenset({("hetzner", "cx22@fsn1")}),
    )
    assert summary(alone) == [("cx22@fsn1", 1)]


# -- requirements and labels -------------------------------------------------------------


def test_requirements_carry_the_placement_the_pods_accept() -> None:
    groups = [group(pools=[pool(["cx22", "cax11"], 90), pool(["cx32", "cax21"], 50)])]
    offers = {"hetzner": lineup(["cx22", "cax11", "cx32", "cax21"], REGIONS)}
    plain = run([pod("p")], groups, offers).new_nodes[0].requirements
    assert (plain.arch, plain.locations, plain.zones, plain.instanceTypes) == (
        None,
        None,
        None,
        None,
    )
    arm = run([pod("a", node_selector={"kubernetes.io/arch": "arm64"})], groups, offers)
    req = arm.new_nodes[0].requirements
    assert (
        req.arch == ["arm64"] and req.instanceTypes == ["cax11", "cax21"] and req.locations is None
    )
    spread_pod = pod(
        "s",
        labels={"app": "s"},
        spread=[
            {
                "maxSkew": 1,
                "topologyKey": ZONE,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "s"}},
            }
        ],
    )
    pinned = run([spread_pod], groups, offers).new_nodes[0]
    assert pinned.requirements.locations == [pinned.offering.region]
    for n in [*arm.new_nodes, pinned]:
        assert offering_satisfies(n.offering, n.requirements)


def test_new_node_labels() -> None:
    g = group(pools=[pool(["gx"])], labels={"team": "ml", "growthrs.io/node-group": "spoof"})
    o = offering(
        "gx", "fsn1", "fsn1-dc14", cpu=8, memory_gib=32, gpu=1, gpu_model="nvidia-l4", arch="amd64"
    )
    assert new_node_labels(g, 0, o) == {
        "team": "ml",
        "growthrs.io/node-group": "default",
        "growthrs.io/pool": "0",
        "node.kubernetes.io/instance-type": "gx",
        "topology.kubernetes.io/region": "fsn1",
        "topology.kubernetes.io/zone": "fsn1-dc14",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "growthrs.io/gpu-model": "nvidia-l4",
    }
    result = run([pod("p")], [g], {"hetzner": [o]})
    assert result.new_nodes[0].labels == new_node_labels(g, 0, o)


def _offer(**kw: Any) -> Offering:
    base: dict[str, Any] = {
        "instance_type": InstanceType("cx32"),
        "resources": Resources(
            cpu_millis=4000, memory_mib=8192, ephemeral_storage_gib=80, gpu=1, gpu_model="l4"
        ),
        "cost_per_hour": 0.01,
        "region": Region("fsn1"),
        "zone": Zone("fsn1-dc14"),
        "max_pods": 20,
    }
    base.update(kw)
    return Offering(**base)


@pytest.mark.parametrize(
    ("requirements", "ok"),
    [
        ({"cpu": "4", "memory": "8Gi"}, True),
        ({"cpu": "4001m", "memory": "8Gi"}, False),
        ({"cpu": "1", "memory": "9Gi"}, False),
        ({"cpu": "1", "memory": "1Gi", "ephemeralStorage": "81Gi"}, False),
        ({"cpu": "1", "memory": "1Gi", "gpu": 2}, False),
        ({"cpu": "1", "memory": "1Gi", "gpu": 1, "gpuModel": "a100"}, False),
        ({"cpu": "1", "memory": "1Gi", "pods": 21}, False),
        ({"cpu": "1", "memory": "1Gi", "arch": ["arm64"]}, False),
        ({"cpu": "1", "memory": "1Gi", "locations": ["nbg1"]}, False),
        ({"cpu": "1", "memory": "1Gi", "zones": ["fsn1-dc14"]}, True),
        ({"cpu": "1", "memory": "1Gi", "instanceTypes": ["cx22"]}, False),
        ({"cpu": "lots", "memory": "1Gi"}, False),
    ],
)
def test_offering_satisfies(requirements: dict[str, Any], ok: bool) -> None:
    assert offering_satisfies(_offer(), Requirements(**requirements)) is ok


# -- inter-pod constraints ------------------------------------------------------------------


def _anti(app: str, key: str) -> dict[str, Any]:
    return {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}
            ]
        }
    }


def _affinity(app: str, key: str) -> dict[str, Any]:
    return {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}
            ]
        }
    }


def test_anti_affinity_between_different_deployments() -> None:
    web = pods("web", 2, labels={"app": "web"}, affinity=_anti("db", HOSTNAME))
    db = pods("db", 2, labels={"app": "db"})
    result = run(web + db, G, HETZNER)
    for n in result.new_nodes:
        apps = {p.labels["app"] for p in n.pods}
        assert apps != {"web", "db"}


def test_zone_anti_affinity_against_running_pods() -> None:
    existing = node("n1", labels={REGION: "fsn1", ZONE: "fsn1-dc14"})
    running = pod("db-0", labels={"app": "db"}, node="n1")
    new = pod("db-1", labels={"app": "db"}, affinity=_anti("db", ZONE))
    offers = {"hetzner": lineup(["cx22"], ("fsn1", "nbg1"))}
    result = run([running, new], [group(pools=[pool(["cx22"])])], offers, nodes=[existing])
    assert summary(result) == [("cx22@nbg1", 1)]


def test_running_pods_anti_affinity_keeps_pending_pods_out_of_their_zone() -> None:
    existing = node("n1", cpu="100m", labels={REGION: "fsn1", ZONE: "fsn1-dc14"})
    loner = pod("loner", "10m", labels={"app": "loner"}, node="n1", affinity=_anti("web", ZONE))
    web = pod("web", labels={"app": "web"})
    offers = {"hetzner": lineup(["cx22"], ("fsn1", "nbg1"))}
    result = run([loner, web], [group(pools=[pool(["cx22"])])], offers, nodes=[existing])
    assert summary(result) == [("cx22@nbg1", 1)]


def test_zone_spread_counts_running_pods() -> None:
    nodes = [node("n1", "100m", labels={REGION: "fsn1", ZONE: "fsn1-dc14"})]
    running = [pod(f"r{i}", "10m", labels={"app": "web"}, node="n1") for i in range(2)]
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}},
        }
    ]
    pending = pods("web", 3, labels={"app": "web"}, spread=spread)
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    result = run(running + pending, [group(pools=[pool(["cx22"])])], offers, nodes=nodes)
    per_region: dict[str, int] = {}
    for n in result.new_nodes:
        per_region[n.offering.region] = per_region.get(n.offering.region, 0) + len(n.pods)
    assert per_region == {"nbg1": 2, "hel1": 1} or per_region == {"nbg1": 1, "hel1": 2}


def test_spread_over_a_zone_no_node_reports_the_constraint() -> None:
    nodes = [node(f"n{z}", "100m", labels={ZONE: z, REGION: z}) for z in ("a", "b")]
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}},
        }
    ]
    # Zones a and b exist (with no matching pods) but the group can only create in fsn1:
    # one pod may go there (skew 1), the second would make skew 2.
    result = run(
        pods("web", 2, labels={"app": "web"}, spread=spread),
        [group(pools=[pool(["cx22"])])],
        HETZNER,
        nodes=nodes,
    )
    assert len([p for n in result.new_nodes for p in n.pods]) == 1
    (reason,) = set(stuck(result).values())
    assert set(reasons(result).values()) == {"Unsatisfiable"}
    assert "topology spread on topology.kubernetes.io/zone (maxSkew 1)" in reason


def test_hostname_affinity_co_locates_with_pending_pods() -> None:
    cache = pod("cache", "500m", labels={"app": "cache"})
    web = pods("web", 3, "200m", labels={"app": "web"}, affinity=_affinity("cache", HOSTNAME))
    result = run([cache, *web], G, HETZNER)
    assert len(result.new_nodes) == 1
    assert {p.name for p in result.new_nodes[0].pods} == {"cache", "web-0", "web-1", "web-2"}


def test_hostname_affinity_to_itself_puts_replicas_together() -> None:
    group_pods = pods("g", 3, "200m", labels={"app": "g"}, affinity=_affinity("g", HOSTNAME))
    result = run(group_pods, G, HETZNER)
    assert len(result.new_nodes) == 1 and len(result.new_nodes[0].pods) == 3


def test_hostname_affinity_to_pods_on_full_nodes_is_unplaceable() -> None:
    full = node("n1", "100m")
    running = pod("cache", "100m", labels={"app": "cache"}, node="n1")
    web = pod("web", labels={"app": "web"}, affinity=_affinity("cache", HOSTNAME))
    result = run([running, web], G, HETZNER, nodes=[full])
    assert not result.new_nodes
    assert "pod affinity" in stuck(result)["default/web"]
    assert reasons(result) == {"default/web": "Unsatisfiable"}


def test_zone_affinity_follows_running_pods() -> None:
    existing = node("n1", "100m", labels={REGION: "nbg1", ZONE: "nbg1-dc3"})
    running = pod("db", "100m", labels={"app": "db"}, node="n1")
    web = pod("web", labels={"app": "web"}, affinity=_affinity("db", ZONE))
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    result = run([running, web], [group(pools=[pool(["cx22"])])], offers, nodes=[existing])
    assert summary(result) == [("cx22@nbg1", 1)]


def test_zone_affinity_follows_pending_pods() -> None:
    db = pod("db", labels={"app": "db"}, node_selector={REGION: "hel1"})
    web = pods("web", 2, "1500m", labels={"app": "web"}, affinity=_affinity("db", ZONE))
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    result = run([db, *web], [group(pools=[pool(["cx22"])])], offers)
    assert {n.offering.region for n in result.new_nodes} == {"hel1"}


def test_preferred_node_affinity_breaks_ties() -> None:
    prefers = pod(
        "p",
        affinity={
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "preference": {"matchExpressions": [expr(REGION, "In", "nbg1")]}}
                ]
            }
        },
    )
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    assert summary(run([prefers], [group(pools=[pool(["cx22"])])], offers)) == [("cx22@nbg1", 1)]
    assert summary(run([pod("q")], [group(pools=[pool(["cx22"])])], offers)) == [("cx22@fsn1", 1)]


def test_preferences_never_decide_feasibility() -> None:
    prefers = pod(
        "p",
        "3",
        affinity={
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 10,
                        "preference": {
                            "matchExpressions": [
                                expr("node.kubernetes.io/instance-type", "In", "cx22")
                            ]
                        },
                    }
                ]
            }
        },
    )
    assert summary(run([prefers], G, HETZNER)) == [("cx32@fsn1", 1)]


def test_gpu_pods_need_gpu_nodes_and_count_gpus() -> None:
    offers = {
        "hetzner": [
            offering("l4x2", cpu=16, memory_gib=64, price=1.5, gpu=2, gpu_model="nvidia-l4"),
            offering("cpu", cpu=16, memory_gib=64, price=0.05),
        ]
    }
    result = run(pods("t", 3, "1", "1Gi", gpu=1), [group(pools=[pool(["l4x2", "cpu"])])], offers)
    assert summary(result) == [("l4x2@fsn1", 1), ("l4x2@fsn1", 2)]
    req = max(result.new_nodes, key=lambda n: len(n.pods)).requirements
    assert (req.gpu, req.gpuModel) == (2, "nvidia-l4")


def test_determinism_and_input_order() -> None:
    import random

    pending: list[PodInfo] = []
    for i in range(30):
        pending.append(
            pod(
                f"p{i}",
                f"{100 * (i % 7 + 1)}m",
                f"{128 * (i % 5 + 1)}Mi",
                labels={"app": f"a{i % 4}"},
            )
        )
    offers = {"hetzner": lineup(TYPES, REGIONS)}
    first = run(pending, G, offers, strategies=CHEAPEST_CHAIN)
    shuffled = list(pending)
    random.Random(3).shuffle(shuffled)
    second = run(shuffled, G, offers, strategies=CHEAPEST_CHAIN)
    assert [(n.offering.key, [p.key for p in n.pods], n.requirements) for n in first.new_nodes] == [
        (n.offering.key, [p.key for p in n.pods], n.requirements) for n in second.new_nodes
    ]


def test_room_in_a_zone_a_running_pod_keeps_us_out_of_is_not_used() -> None:
    nodes = [
        node("n1", "1", labels={REGION: "fsn1", ZONE: "fsn1-dc14"}),
        node("n2", "4", labels={REGION: "fsn1", ZONE: "fsn1-dc14"}),
    ]
    loner = pod("loner", "500m", labels={"app": "loner"}, node="n1", affinity=_anti("web", ZONE))
    web = pod("web", labels={"app": "web"})
    offers = {"hetzner": lineup(["cx22"], ("fsn1", "nbg1"))}
    result = run([loner, web], [group(pools=[pool(["cx22"])])], offers, nodes=nodes)
    assert fits(result) == {}
    assert summary(result) == [("cx22@nbg1", 1)]


def test_exact_re_pack_never_exceeds_max_nodes() -> None:
    # One big node is dearer than two small ones, but maxNodes 1 allows only one.
    offers = {
        "hetzner": [
            offering("small", cpu=2, memory_gib=4, price=0.01),
            offering("big", cpu=4, memory_gib=8, price=0.05),
        ]
    }
    pending = pods("a", 2, "1500m", "1Gi")
    free = run(pending, [group(pools=[pool(["small", "big"])])], offers, strategies=CHEAPEST_CHAIN)
    assert summary(free) == [("small@fsn1", 1), ("small@fsn1", 1)]
    capped = run(
        pending,
        [group(pools=[pool(["small", "big"])], maxNodes=1)],
        offers,
        strategies=CHEAPEST_CHAIN,
    )
    assert summary(capped) == [("big@fsn1", 2)]


def test_a_batch_beyond_the_exact_solver_mixes_offerings_by_value() -> None:
    """15 pods (past the exact solver's 12): the big pod opens the one big node
    and takes two small pods with it; the rest go on the cheaper-per-CPU small
    nodes. One offering per packing would pay 0.137 at best."""
    offers = {
        "hetzner": [
            offering("big", cpu=8, memory_gib=16, price=0.06),
            offering("small", cpu=2, memory_gib=4, price=0.011),
        ]
    }
    pending = [pod("large", "6", "8Gi")] + [pod(f"s{i}", "1", "1Gi") for i in range(14)]
    result = run(pending, [group(pools=[pool(["big", "small"])])], offers)
    assert summary(result) == [("big@fsn1", 3)] + [("small@fsn1", 2)] * 6
    assert sum(n.offering.cost_per_hour for n in result.new_nodes) == pytest.approx(0.126)
