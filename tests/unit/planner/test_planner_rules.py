"""Scheduling rules the planner honours, Karpenter-suite style: each situation with
a negative case, and each checked across a restart (planning again with the
NodeRequests the first pass created plans nothing new, re-plans none of their
pods and leaves no pod it served stuck)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from growthrs_core.cluster import GroupView, PodInfo
from growthrs_core.domain import Offering
from growthrs_core.planner import REASONS, Plan
from growthrs_testkit.planning import (
    claim,
    covered,
    group,
    lineup,
    node,
    node_requests_from,
    offering,
    planned,
    pod,
    pods,
    pool,
    reasons,
    run,
    storage_class,
    stuck,
    summary,
    volume,
)

ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
HOSTNAME = "kubernetes.io/hostname"
REGIONS = ("fsn1", "nbg1", "hel1")


def plan_twice(
    pending: Sequence[PodInfo],
    groups: Sequence[GroupView] | None = None,
    offerings: Mapping[str, Sequence[Offering]] | None = None,
    **kw: Any,
) -> Plan:
    """Plan, then plan again as after a restart with the NodeRequests the first
    pass created; check that nothing is planned twice or lost; return the first."""
    first = run(pending, groups, offerings, **kw)
    again = run(pending, groups, offerings, node_requests=node_requests_from(first), **kw)
    assert again.new_nodes == []
    nr_of = {p.key: f"{n.group}-nr{i}" for i, n in enumerate(first.new_nodes) for p in n.pods}
    assert {k: v for k, v in covered(again).items() if k in nr_of} == nr_of
    assert again.stuck() <= first.stuck()
    assert reasons(again) == {k: v for k, v in reasons(first).items() if k in again.stuck()}
    return first


def term(selector: Mapping[str, str], key: str, **extra: Any) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": dict(selector)}, "topologyKey": key, **extra}


def anti(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


def affinity(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


# -- namespaceSelector in pod (anti-)affinity terms --------------------------------------

TEAMS = {"billing": {"team": "a"}, "other": {"team": "b"}, "shop": {"team": "a"}}


def test_namespace_selector_keeps_apart_pods_of_the_selected_namespaces() -> None:
    web = pod(
        "web",
        "1",
        ns="shop",
        affinity=anti(
            term({"app": "db"}, HOSTNAME, namespaceSelector={"matchLabels": {"team": "a"}})
        ),
    )
    db = pod("db", "500m", ns="billing", labels={"app": "db"})
    result = plan_twice([web, db], [group(pools=[pool(["cx22"])])], namespaces=TEAMS)
    assert summary(result) == [("cx22@fsn1", 1), ("cx22@fsn1", 1)]


def test_namespace_selector_ignores_pods_of_other_namespaces() -> None:
    web = pod(
        "web",
        "1",
        ns="shop",
        affinity=anti(
            term({"app": "db"}, HOSTNAME, namespaceSelector={"matchLabels": {"team": "a"}})
        ),
    )
    db = pod("db", "500m", ns="other", labels={"app": "db"})
    result = plan_twice([web, db], [group(pools=[pool(["cx22"])])], namespaces=TEAMS)
    assert summary(result) == [("cx22@fsn1", 2)]
    # Namespaces not known (not watched): a selector reads as "any namespace".
    unknown = plan_twice([web, db], [group(pools=[pool(["cx22"])])])
    assert summary(unknown) == [("cx22@fsn1", 1), ("cx22@fsn1", 1)]


def test_empty_namespace_selector_selects_every_namespace() -> None:
    web = pod(
        "web", "1", ns="shop", affinity=anti(term({"app": "db"}, HOSTNAME, namespaceSelector={}))
    )
    db = pod("db", "500m", ns="other", labels={"app": "db"})
    result = plan_twice([web, db], [group(pools=[pool(["cx22"])])], namespaces=TEAMS)
    assert len(result.new_nodes) == 2


def test_namespace_selector_in_zone_affinity_follows_pods_of_selected_namespaces() -> None:
    nodes = [
        node("n-fsn", "100m", labels={REGION: "fsn1", ZONE: "fsn1"}),
        node("n-nbg", "100m", labels={REGION: "nbg1", ZONE: "nbg1"}),
    ]
    running = [
        pod("db-other", "100m", ns="other", labels={"app": "db"}, node="n-fsn"),
        pod("db-billing", "100m", ns="billing", labels={"app": "db"}, node="n-nbg"),
    ]
    selector = {"namespaceSelector": {"matchLabels": {"team": "a"}}}
    web = pod("web", ns="shop", affinity=affinity(term({"app": "db"}, ZONE, **selector)))
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    groups = [group(pools=[pool(["cx22"])])]
    result = plan_twice([*running, web], groups, offers, nodes=nodes, namespaces=TEAMS)
    assert summary(result) == [("cx22@nbg1", 1)]
    # Negative: the only matching pod runs in a namespace the selector leaves out.
    alone = plan_twice([running[0], web], groups, offers, nodes=nodes, namespaces=TEAMS)
    assert alone.new_nodes == []
    assert reasons(alone) == {"shop/web": "Unsatisfiable"}
    assert "pod affinity on topology.kubernetes.io/zone" in stuck(alone)["shop/web"]


def test_namespace_selector_of_a_running_pods_anti_affinity() -> None:
    existing = node("n1", "4", "8Gi")
    loner = pod(
        "loner",
        "100m",
        ns="billing",
        node="n1",
        affinity=anti(
            term({"app": "web"}, HOSTNAME, namespaceSelector={"matchLabels": {"team": "b"}})
        ),
    )
    web_other = pod("web", ns="other", labels={"app": "web"})
    web_shop = pod("web", ns="shop", labels={"app": "web"})
    groups = [group(pools=[pool(["cx22"])])]
    kept_out = plan_twice([loner, web_other], groups, nodes=[existing], namespaces=TEAMS)
    assert planned(kept_out) == {"other/web"}
    fits = plan_twice([loner, web_shop], groups, nodes=[existing], namespaces=TEAMS)
    assert fits.new_nodes == [] and fits.outcomes["shop/web"].node == "n1"


def test_pods_of_one_deployment_in_one_namespace_are_still_kept_apart() -> None:
    spec = anti(term({"app": "web"}, HOSTNAME, namespaceSelector={"matchLabels": {"team": "a"}}))
    web = pods("web", 3, ns="shop", labels={"app": "web"}, affinity=spec)
    result = plan_twice(web, [group(pools=[pool(["cx22"])])], namespaces=TEAMS)
    assert summary(result) == [("cx22@fsn1", 1)] * 3


# -- nodeAffinityPolicy / nodeTaintsPolicy in topology spread -----------------------------


def zone_spread(app: str, **policies: str) -> list[dict[str, Any]]:
    return [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": app}},
            **policies,
        }
    ]


def per_region(result: Plan) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in result.new_nodes:
        out[n.offering.region] = out.get(n.offering.region, 0) + len(n.pods)
    return out


def _ssd_cluster() -> tuple[list[Any], list[PodInfo]]:
    """Zone fsn1 has an ssd node and an hdd node with two matching pods on the hdd one."""
    nodes = [
        node("ssd", "100m", labels={REGION: "fsn1", ZONE: "fsn1", "disk": "ssd"}),
        node("hdd", "100m", labels={REGION: "fsn1", ZONE: "fsn1", "disk": "hdd"}),
    ]
    running = [pod(f"r{i}", "10m", labels={"app": "web"}, node="hdd") for i in range(2)]
    return nodes, running


def test_node_affinity_policy_honor_counts_only_nodes_the_pod_accepts() -> None:
    nodes, running = _ssd_cluster()
    web = pods(
        "web", 2, labels={"app": "web"}, node_selector={"disk": "ssd"}, spread=zone_spread("web")
    )
    groups = [group(pools=[pool(["cx22"])], labels={"disk": "ssd"})]
    offers = {"hetzner": lineup(["cx22"], ("fsn1", "nbg1"))}
    result = plan_twice([*running, *web], groups, offers, nodes=nodes)
    # The hdd node's pods do not count: fsn1 and nbg1 both start at 0.
    assert per_region(result) == {"fsn1": 1, "nbg1": 1}


def test_node_affinity_policy_ignore_counts_every_node() -> None:
    nodes, running = _ssd_cluster()
    web = pods(
        "web",
        2,
        labels={"app": "web"},
        node_selector={"disk": "ssd"},
        spread=zone_spread("web", nodeAffinityPolicy="Ignore"),
    )
    groups = [group(pools=[pool(["cx22"])], labels={"disk": "ssd"})]
    offers = {"hetzner": lineup(["cx22"], ("fsn1", "nbg1"))}
    result = plan_twice([*running, *web], groups, offers, nodes=nodes)
    # fsn1 already has two: both new pods go to nbg1.
    assert per_region(result) == {"nbg1": 2}


def test_node_affinity_policy_decides_whether_excluded_zones_are_domains() -> None:
    nodes = [
        node("a", "100m", labels={REGION: "fsn1", ZONE: "fsn1"}),
        node("b", "100m", labels={REGION: "nbg1", ZONE: "nbg1"}),
        node("c", "100m", labels={REGION: "hel1", ZONE: "hel1"}),
    ]
    running = [
        pod("r-a", "10m", labels={"app": "web"}, node="a"),
        pod("r-b", "10m", labels={"app": "web"}, node="b"),
    ]
    not_hel = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": REGION, "operator": "NotIn", "values": ["hel1"]}]}
                ]
            }
        }
    }
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    groups = [group(pools=[pool(["cx22"])])]
    honour = pods("web", 2, labels={"app": "web"}, affinity=not_hel, spread=zone_spread("web"))
    result = plan_twice([*running, *honour], groups, offers, nodes=nodes)
    assert per_region(result) == {"fsn1": 1, "nbg1": 1}
    # Ignore: hel1, which the pods may not use, is a domain with no pod: skew 2 anywhere else.
    ignore = pods(
        "web",
        2,
        labels={"app": "web"},
        affinity=not_hel,
        spread=zone_spread("web", nodeAffinityPolicy="Ignore"),
    )
    stuck_ = plan_twice([*running, *ignore], groups, offers, nodes=nodes)
    assert stuck_.new_nodes == []
    assert set(reasons(stuck_).values()) == {"Unsatisfiable"}
    assert (
        "topology spread on topology.kubernetes.io/zone (maxSkew 1)"
        in stuck(stuck_)["default/web-0"]
    )


def _tainted_cluster() -> tuple[list[Any], list[PodInfo]]:
    nodes = [
        node("a", "100m", labels={REGION: "fsn1", ZONE: "fsn1"}),
        node("b", "100m", labels={REGION: "nbg1", ZONE: "nbg1"}),
        node(
            "c",
            "100m",
            labels={REGION: "hel1", ZONE: "hel1"},
            taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}],
        ),
    ]
    running = [
        pod("r-a", "10m", labels={"app": "web"}, node="a"),
        pod("r-b", "10m", labels={"app": "web"}, node="b"),
    ]
    return nodes, running


def test_node_taints_policy_honor_skips_nodes_the_pod_does_not_tolerate() -> None:
    nodes, running = _tainted_cluster()
    web = pods("web", 2, labels={"app": "web"}, spread=zone_spread("web", nodeTaintsPolicy="Honor"))
    groups = [group(pools=[pool(["cx22"])], locations=["fsn1", "nbg1"])]
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    result = plan_twice([*running, *web], groups, offers, nodes=nodes)
    assert per_region(result) == {"fsn1": 1, "nbg1": 1}


def test_node_taints_policy_ignore_counts_tainted_nodes_as_domains() -> None:
    nodes, running = _tainted_cluster()
    web = pods("web", 2, labels={"app": "web"}, spread=zone_spread("web"))
    groups = [group(pools=[pool(["cx22"])], locations=["fsn1", "nbg1"])]
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    result = plan_twice([*running, *web], groups, offers, nodes=nodes)
    assert result.new_nodes == []
    assert set(reasons(result).values()) == {"Unsatisfiable"}
    # Tolerating the taint makes no difference under Ignore, nor does Honor then.
    tolerant = pods(
        "web",
        2,
        labels={"app": "web"},
        tolerations=[{"key": "dedicated", "operator": "Exists"}],
        spread=zone_spread("web", nodeTaintsPolicy="Honor"),
    )
    assert plan_twice([*running, *tolerant], groups, offers, nodes=nodes).new_nodes == []


# -- required pod-affinity chains within one batch ----------------------------------------


def chain(key: str = HOSTNAME, cpu: str = "200m") -> list[PodInfo]:
    """c has no constraint, b must run next to c, a next to b."""
    return [
        pod("a", cpu, labels={"app": "a"}, affinity=affinity(term({"app": "b"}, key))),
        pod("b", cpu, labels={"app": "b"}, affinity=affinity(term({"app": "c"}, key))),
        pod("c", cpu, labels={"app": "c"}),
    ]


def test_hostname_affinity_chain_lands_on_one_node() -> None:
    result = plan_twice(chain(), [group(pools=[pool(["cx22"])])])
    assert summary(result) == [("cx22@fsn1", 3)]
    assert result.stuck() == frozenset()


def test_hostname_affinity_chain_across_focus_sets() -> None:
    # a also has a region selector, so it is packed on its own before b and c.
    a, b, c = chain()
    a = pod(
        "a",
        "200m",
        labels={"app": "a"},
        node_selector={REGION: "nbg1"},
        affinity=affinity(term({"app": "b"}, HOSTNAME)),
    )
    b = pod(
        "b",
        "200m",
        labels={"app": "b"},
        node_selector={REGION: "nbg1"},
        tolerations=[{"key": "x", "operator": "Exists"}],
        affinity=affinity(term({"app": "c"}, HOSTNAME)),
    )
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    result = plan_twice([a, b, c], [group(pools=[pool(["cx22"])])], offers)
    assert summary(result) == [("cx22@nbg1", 3)]


def test_hostname_affinity_chain_that_does_not_fit_one_node() -> None:
    a, b, c = chain(cpu="900m")
    result = plan_twice([a, b, c], [group(pools=[pool(["cx22"])])])
    # c and b fill the 2-CPU node (less the DaemonSet-free 1.8 CPU left): a cannot join.
    assert summary(result) == [("cx22@fsn1", 2)]
    assert reasons(result) == {"default/a": "Unsatisfiable"}
    assert "pod affinity on kubernetes.io/hostname" in stuck(result)["default/a"]


def test_hostname_affinity_chain_without_its_root_gets_no_node() -> None:
    a, b, _ = chain()
    result = plan_twice([a, b], [group(pools=[pool(["cx22"])])])
    assert result.new_nodes == []
    assert reasons(result) == {"default/a": "Unsatisfiable", "default/b": "Unsatisfiable"}


def test_the_root_of_a_chain_is_not_left_on_an_existing_node_without_its_followers() -> None:
    existing = node("n1", "4", "8Gi")
    result = plan_twice(chain(), [group(pools=[pool(["cx22"])])], nodes=[existing])
    assert summary(result) == [("cx22@fsn1", 3)]
    # Without followers, c takes the free room as before.
    _, _, c = chain()
    alone = plan_twice([c], [group(pools=[pool(["cx22"])])], nodes=[existing])
    assert alone.new_nodes == [] and alone.outcomes["default/c"].node == "n1"


# -- pod affinity on any topology key to pods that are themselves pending ----------------


def test_zone_affinity_to_a_pending_pod_follows_its_domain() -> None:
    db = pod("db", labels={"app": "db"})
    web = pods(
        "web", 2, "1500m", labels={"app": "web"}, affinity=affinity(term({"app": "db"}, ZONE))
    )
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    result = plan_twice([db, *web], [group(pools=[pool(["cx22"])])], offers)
    assert planned(result) == {"default/db", "default/web-0", "default/web-1"}
    assert len({n.offering.region for n in result.new_nodes}) == 1


def test_region_affinity_to_a_pinned_pending_pod() -> None:
    db = pod("db", labels={"app": "db"}, node_selector={REGION: "hel1"})
    web = pods(
        "web", 3, "1500m", labels={"app": "web"}, affinity=affinity(term({"app": "db"}, REGION))
    )
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    result = plan_twice([db, *web], [group(pools=[pool(["cx22"])])], offers)
    assert {n.offering.region for n in result.new_nodes} == {"hel1"}
    assert len(planned(result)) == 4


def test_zone_affinity_chain_resolves_in_one_pass() -> None:
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    a, b, c = chain(ZONE, cpu="1500m")
    c = pod("c", "1500m", labels={"app": "c"}, node_selector={REGION: "nbg1"})
    result = plan_twice([a, b, c], [group(pools=[pool(["cx22"])])], offers)
    assert summary(result) == [("cx22@nbg1", 1)] * 3


def test_zone_affinity_to_a_pending_pod_its_own_selector_excludes() -> None:
    db = pod("db", labels={"app": "db"}, node_selector={REGION: "hel1"})
    web = pod(
        "web",
        labels={"app": "web"},
        node_selector={REGION: "fsn1"},
        affinity=affinity(term({"app": "db"}, ZONE)),
    )
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    result = plan_twice([db, web], [group(pools=[pool(["cx22"])])], offers)
    assert summary(result) == [("cx22@hel1", 1)]
    assert reasons(result) == {"default/web": "Unsatisfiable"}
    assert "pod affinity on topology.kubernetes.io/zone" in stuck(result)["default/web"]


def test_zone_affinity_cycle_with_no_pod_to_start_is_unsatisfiable() -> None:
    a = pod("a", labels={"app": "a"}, affinity=affinity(term({"app": "b"}, ZONE)))
    b = pod("b", labels={"app": "b"}, affinity=affinity(term({"app": "a"}, ZONE)))
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    result = plan_twice([a, b], [group(pools=[pool(["cx22"])])], offers)
    assert result.new_nodes == []
    assert reasons(result) == {"default/a": "Unsatisfiable", "default/b": "Unsatisfiable"}


def test_zone_affinity_to_a_pending_pod_that_fits_an_existing_node() -> None:
    existing = node("n1", "1", "2Gi", labels={REGION: "nbg1", ZONE: "nbg1-dc3"})
    db = pod("db", labels={"app": "db"})
    web = pod("web", "1500m", labels={"app": "web"}, affinity=affinity(term({"app": "db"}, ZONE)))
    offers = {"hetzner": [*lineup(["cx22"], ("fsn1",)), offering_in_zone("nbg1", "nbg1-dc3")]}
    result = plan_twice([db, web], [group(pools=[pool(["cx22"])])], offers, nodes=[existing])
    assert result.outcomes["default/db"].node == "n1"
    assert summary(result) == [("cx22@nbg1/nbg1-dc3", 1)]


def test_zone_affinity_to_a_pod_on_an_in_flight_request() -> None:
    db = pod("db", labels={"app": "db"}, node_selector={REGION: "hel1"})
    offers = {"hetzner": lineup(["cx22"], REGIONS)}
    groups = [group(pools=[pool(["cx22"])])]
    first = run([db], groups, offers)
    web = pod("web", "1500m", labels={"app": "web"}, affinity=affinity(term({"app": "db"}, ZONE)))
    later = run([db, web], groups, offers, node_requests=node_requests_from(first))
    assert later.outcomes["default/db"].kind == "in_flight"
    assert summary(later) == [("cx22@hel1", 1)]


def offering_in_zone(region: str, zone: str) -> Offering:
    return offering("cx22", region, zone)


# -- pods whose node selectors accept overlapping sets share nodes -------------------------


def node_in(key: str, *values: str) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": key, "operator": "In", "values": list(values)}]}
                ]
            }
        }
    }


ZONED = {
    "hetzner": [
        offering_in_zone("fsn1", "fsn1-dc14"),
        offering_in_zone("nbg1", "nbg1-dc3"),
        offering_in_zone("hel1", "hel1-dc2"),
    ]
}


def test_overlapping_zone_sets_share_a_node_in_the_intersection() -> None:
    a = pod("a", "500m", affinity=node_in(ZONE, "fsn1-dc14", "nbg1-dc3"))
    b = pod("b", "500m", affinity=node_in(ZONE, "nbg1-dc3", "hel1-dc2"))
    result = plan_twice([a, b], [group(pools=[pool(["cx22"])])], ZONED)
    assert summary(result) == [("cx22@nbg1/nbg1-dc3", 2)]


def test_a_big_batchs_partly_filled_node_moves_into_the_overlap() -> None:
    a = pods("a", 121, "500m", "256Mi", affinity=node_in(ZONE, "fsn1-dc14", "nbg1-dc3"))
    b = pod("b", "500m", "256Mi", affinity=node_in(ZONE, "nbg1-dc3", "hel1-dc2"))
    result = plan_twice([*a, b], [group(pools=[pool(["cx22"])])], ZONED)
    assert len(result.new_nodes) == 31  # 122 pods, 4 per node
    shared = result.new_nodes[result.outcomes["default/b"].planned_node or 0]
    assert shared.offering.zone == "nbg1-dc3"
    assert {p.name[0] for p in shared.pods} == {"a", "b"}


def test_disjoint_zone_sets_get_a_node_each() -> None:
    a = pod("a", "500m", affinity=node_in(ZONE, "fsn1-dc14"))
    b = pod("b", "500m", affinity=node_in(ZONE, "nbg1-dc3", "hel1-dc2"))
    result = plan_twice([a, b], [group(pools=[pool(["cx22"])])], ZONED)
    assert len(result.new_nodes) == 2
    assert summary(result)[0] == ("cx22@fsn1/fsn1-dc14", 1)


def test_overlapping_instance_type_sets_share_a_node() -> None:
    a = pod(
        "a", "1500m", "1Gi", affinity=node_in("node.kubernetes.io/instance-type", "cx22", "cx32")
    )
    b = pod(
        "b", "1500m", "1Gi", affinity=node_in("node.kubernetes.io/instance-type", "cx32", "cx42")
    )
    types = ["cx22", "cx32", "cx42"]
    result = plan_twice([a, b], [group(pools=[pool(types)])], {"hetzner": lineup(types)})
    # One cx32 (0.0113) beats a cx22 and a cx32 (0.0173).
    assert summary(result) == [("cx32@fsn1", 2)]


def test_overlapping_architecture_sets_share_a_node() -> None:
    a = pod("a", "500m", affinity=node_in("node.kubernetes.io/instance-type", "cx22", "cax11"))
    b = pod("b", "500m", node_selector={"kubernetes.io/arch": "arm64"})
    groups = [group(pools=[pool(["cx22", "cax11", "cax21"])])]
    result = plan_twice([a, b], groups, {"hetzner": lineup(["cx22", "cax11", "cax21"])})
    assert summary(result) == [("cax11@fsn1", 2)]


def test_overlap_is_not_used_when_the_shared_node_costs_more() -> None:
    offers = {
        "hetzner": [
            offering_in_zone("fsn1", "fsn1-dc14"),
            offering_in_zone("nbg1", "nbg1-dc3"),
            offering("big", "nbg1", "nbg1-dc3", cpu=4, memory_gib=8, price=0.05),
        ]
    }
    # Together they need the big node in nbg1 (0.05); apart, two cx22 (0.012).
    a = pod("a", "1500m", affinity=node_in(ZONE, "fsn1-dc14", "nbg1-dc3"))
    b = pod("b", "1500m", affinity=node_in(ZONE, "nbg1-dc3"))
    result = plan_twice([a, b], [group(pools=[pool(["cx22", "big"])])], offers)
    assert summary(result) == [("cx22@fsn1/fsn1-dc14", 1), ("cx22@nbg1/nbg1-dc3", 1)]


def test_overlap_never_overrides_anti_affinity() -> None:
    keep_apart = anti(term({"app": "x"}, HOSTNAME))
    a = pod(
        "a",
        "500m",
        labels={"app": "x"},
        affinity={**node_in(ZONE, "fsn1-dc14", "nbg1-dc3"), **keep_apart},
    )
    b = pod("b", "500m", labels={"app": "x"}, affinity={**node_in(ZONE, "nbg1-dc3"), **keep_apart})
    result = plan_twice([a, b], [group(pools=[pool(["cx22"])])], ZONED)
    assert len(result.new_nodes) == 2


def test_overlap_only_within_one_pool_priority() -> None:
    # a is planned first (fewer offerings) on the high-priority pool; sharing with b
    # would move it to the low-priority pool, so b gets a node of its own.
    types = ["cx22", "cax11", "cax21", "cax31"]
    a = pod("a", "500m", affinity=node_in("node.kubernetes.io/instance-type", "cx22", "cax11"))
    b = pod("b", "500m", node_selector={"kubernetes.io/arch": "arm64"})
    groups = [group(pools=[pool(["cx22"], 90), pool(["cax11", "cax21", "cax31"], 50)])]
    result = plan_twice([a, b], groups, {"hetzner": lineup(types)})
    assert summary(result) == [("cax11@fsn1", 1), ("cx22@fsn1", 1)]
    assert result.outcomes["default/a"].planned_node is not None
    assert result.new_nodes[result.outcomes["default/a"].planned_node].offering.key == "cx22@fsn1"


# -- volume topology --------------------------------------------------------------------------

CSI = "csi.hetzner.cloud/location"
BY_REGION = {"hetzner": lineup(["cx22"], REGIONS)}


def test_a_bound_zonal_volume_decides_the_zone() -> None:
    pv = volume("pv-db", (ZONE, "In", ["nbg1-dc3"]))
    db = pod("db", claims=["data-db"])
    result = plan_twice(
        [db],
        [group(pools=[pool(["cx22"])])],
        ZONED,
        claims=[claim("data-db", "zonal", "pv-db")],
        volumes=[pv],
    )
    assert summary(result) == [("cx22@nbg1/nbg1-dc3", 1)]
    assert result.new_nodes[0].requirements.zones == ["nbg1-dc3"]


def test_a_volume_in_a_zone_the_group_cannot_serve_gets_no_node() -> None:
    pv = volume("pv-db", (ZONE, "In", ["ash-dc1"]))
    db = pod("db", claims=["data-db"])
    result = plan_twice(
        [db],
        [group(pools=[pool(["cx22"])])],
        ZONED,
        claims=[claim("data-db", "zonal", "pv-db")],
        volumes=[pv],
    )
    assert result.new_nodes == []
    assert reasons(result) == {"default/db": "VolumeTopology"}
    message = stuck(result)["default/db"]
    assert (
        "volume pv-db (claim data-db) can attach only where topology.kubernetes.io/zone In [ash-dc1]"
        in message
    )
    assert "node group default creates no node there" in message


def test_a_csi_location_key_reads_as_the_region() -> None:
    pv = volume("pv-1", (CSI, "In", ["hel1"]))
    result = plan_twice(
        [pod("db", claims=["data"])],
        [group(pools=[pool(["cx22"])])],
        BY_REGION,
        claims=[claim("data", "hcloud-volumes", "pv-1")],
        volumes=[pv],
    )
    assert summary(result) == [("cx22@hel1", 1)]
    assert result.new_nodes[0].requirements.locations == ["hel1"]


def test_a_volume_key_no_node_will_carry_is_unservable() -> None:
    pv = volume("pv-1", ("topology.example.com/rack", "In", ["r1"]))
    args = dict(claims=[claim("data", "racks", "pv-1")], volumes=[pv])
    result = plan_twice(
        [pod("db", claims=["data"])], [group(pools=[pool(["cx22"])])], BY_REGION, **args
    )
    assert result.new_nodes == []
    assert reasons(result) == {"default/db": "VolumeTopology"}
    assert "new nodes carry no topology.example.com/rack label" in stuck(result)["default/db"]
    # A group whose nodes carry the label serves it.
    labelled = [group(pools=[pool(["cx22"])], labels={"topology.example.com/rack": "r1"})]
    assert summary(plan_twice([pod("db", claims=["data"])], labelled, BY_REGION, **args)) == [
        ("cx22@fsn1", 1)
    ]


def test_aliases_can_be_extended_by_the_caller() -> None:
    pv = volume("pv-1", ("topology.example.com/site", "In", ["nbg1"]))
    result = plan_twice(
        [pod("db", claims=["data"])],
        [group(pools=[pool(["cx22"])])],
        BY_REGION,
        claims=[claim("data", "sites", "pv-1")],
        volumes=[pv],
        topology_aliases={"topology.example.com/site": "region"},
    )
    assert summary(result) == [("cx22@nbg1", 1)]


def test_wait_for_first_consumer_claims_follow_allowed_topologies() -> None:
    sc = storage_class("hcloud-volumes", topologies={CSI: ["nbg1"]})
    result = plan_twice(
        [pod("db", claims=["data"])],
        [group(pools=[pool(["cx22"])])],
        BY_REGION,
        claims=[claim("data", "hcloud-volumes")],
        storage_classes=[sc],
    )
    assert summary(result) == [("cx22@nbg1", 1)]
    # Without allowed topologies the volume is created wherever the pod goes.
    anywhere = storage_class("hcloud-volumes")
    free = plan_twice(
        [pod("db", claims=["data"])],
        [group(pools=[pool(["cx22"])])],
        BY_REGION,
        claims=[claim("data", "hcloud-volumes")],
        storage_classes=[anywhere],
    )
    assert summary(free) == [("cx22@fsn1", 1)]


def test_the_default_storage_class_applies_to_claims_without_one() -> None:
    sc = storage_class("hcloud-volumes", topologies={CSI: ["hel1"]}, default=True)
    result = plan_twice(
        [pod("db", claims=["data"])],
        [group(pools=[pool(["cx22"])])],
        BY_REGION,
        claims=[claim("data")],
        storage_classes=[sc, storage_class("other")],
    )
    assert summary(result) == [("cx22@hel1", 1)]


def test_unbound_claims_that_bind_immediately_wait_for_their_volume() -> None:
    for claim_, classes in (
        (claim("data", "fast"), [storage_class("fast", "Immediate")]),
        (claim("data", ""), []),
    ):
        result = plan_twice(
            [pod("db", claims=["data"]), pod("web")],
            [group(pools=[pool(["cx22"])])],
            BY_REGION,
            claims=[claim_],
            storage_classes=classes,
        )
        assert planned(result) == {"default/web"}
        assert reasons(result) == {"default/db": "VolumeNotBound"}
        assert "claim data is not bound" in stuck(result)["default/db"]


def test_claims_and_volumes_the_planner_does_not_see_constrain_nothing() -> None:
    result = plan_twice(
        [pod("db", claims=["data"])],
        [group(pools=[pool(["cx22"])])],
        BY_REGION,
        claims=[claim("data", "zonal", "pv-unknown")],
    )
    assert summary(result) == [("cx22@fsn1", 1)]
    assert summary(
        plan_twice([pod("db", claims=["data"])], [group(pools=[pool(["cx22"])])], BY_REGION)
    ) == [("cx22@fsn1", 1)]


def test_an_existing_node_outside_the_volumes_zone_is_no_room() -> None:
    existing = node("n1", "4", "8Gi", labels={REGION: "fsn1", ZONE: "fsn1-dc14"})
    pv_far = volume("pv-far", (ZONE, "In", ["nbg1-dc3"]))
    pv_near = volume("pv-near", (ZONE, "In", ["fsn1-dc14"]))
    claims = [claim("far", "zonal", "pv-far"), claim("near", "zonal", "pv-near")]
    result = plan_twice(
        [pod("far", claims=["far"]), pod("near", claims=["near"])],
        [group(pools=[pool(["cx22"])])],
        ZONED,
        nodes=[existing],
        claims=claims,
        volumes=[pv_far, pv_near],
    )
    assert result.outcomes["default/near"].node == "n1"
    assert result.outcomes["default/far"].kind == "planned"
    assert summary(result) == [("cx22@nbg1/nbg1-dc3", 1)]


def test_stateful_set_replicas_follow_their_own_volumes() -> None:
    zones = {"web-0": "fsn1-dc14", "web-1": "nbg1-dc3", "web-2": "nbg1-dc3"}
    result = plan_twice(
        [pod(name, claims=[f"data-{name}"], owner=("StatefulSet", "web")) for name in zones],
        [group(pools=[pool(["cx22"])])],
        ZONED,
        claims=[claim(f"data-{n}", "zonal", f"pv-{n}") for n in zones],
        volumes=[volume(f"pv-{n}", (ZONE, "In", [z])) for n, z in zones.items()],
    )
    assert summary(result) == [("cx22@fsn1/fsn1-dc14", 1), ("cx22@nbg1/nbg1-dc3", 2)]


def test_in_flight_room_in_another_zone_does_not_take_a_pod_with_a_zonal_volume() -> None:
    groups = [group(pools=[pool(["cx22"])])]
    first = run([pod("a", "500m", affinity=node_in(ZONE, "fsn1-dc14"))], groups, ZONED)
    args = dict(
        claims=[claim("data", "zonal", "pv")], volumes=[volume("pv", (ZONE, "In", ["nbg1-dc3"]))]
    )
    later = run(
        [pod("a", "500m", affinity=node_in(ZONE, "fsn1-dc14")), pod("db", "500m", claims=["data"])],
        groups,
        ZONED,
        node_requests=node_requests_from(first),
        **args,
    )
    assert later.outcomes["default/db"].kind == "planned"
    assert summary(later) == [("cx22@nbg1/nbg1-dc3", 1)]
    # In the volume's zone the request's room is used.
    near = run([pod("a", "500m", affinity=node_in(ZONE, "nbg1-dc3"))], groups, ZONED)
    held = run(
        [pod("a", "500m", affinity=node_in(ZONE, "nbg1-dc3")), pod("db", "500m", claims=["data"])],
        groups,
        ZONED,
        node_requests=node_requests_from(near),
        **args,
    )
    assert held.new_nodes == [] and held.outcomes["default/db"].kind == "in_flight"


# -- every pod no plan can serve has a reason code and a message naming the rule ------------


def _reason_cases() -> list[tuple[str, dict[str, Any], str, str]]:
    """(case, run arguments, reason code, words the message must contain)."""
    g = [group(pools=[pool(["cx22"])])]
    return [
        (
            "unreadable spec",
            {"pending": [pod("p", cpu="lots")], "groups": g},
            "InvalidPodSpec",
            "cannot read pod spec",
        ),
        (
            "pinned to a missing group",
            {"pending": [pod("p", node_selector={"growthrs.io/node-group": "gone"})], "groups": g},
            "NodeGroupNotFound",
            "'gone', which does not exist",
        ),
        (
            "pinned to an invalid group",
            {
                "pending": [pod("p", node_selector={"growthrs.io/node-group": "bad"})],
                "groups": [*g, GroupView(name="bad", spec=None, error="pools: too short")],
            },
            "InvalidNodeGroup",
            "node group bad is invalid: pools: too short",
        ),
        (
            "two groups match",
            {"pending": [pod("p")], "groups": [*g, group("other", pools=[pool(["cx22"])])]},
            "AmbiguousNodeGroup",
            "several node groups (default, other)",
        ),
        (
            "no group's labels",
            {"pending": [pod("p", node_selector={"disk": "ssd"})], "groups": g},
            "NoMatchingGroup",
            "node selector/affinity matches none of its offerings",
        ),
        (
            "too big",
            {"pending": [pod("p", "8")], "groups": g},
            "NoOfferingFits",
            "no offering of group default fits cpu 8",
        ),
        (
            "maxNodes",
            {
                "pending": pods("p", 2, "1500m"),
                "groups": [group(pools=[pool(["cx22"])], maxNodes=1)],
            },
            "MaxNodesReached",
            "reached maxNodes 1",
        ),
        (
            "zone anti-affinity dead end",
            {
                "pending": pods(
                    "p", 2, labels={"app": "x"}, affinity=anti(term({"app": "x"}, ZONE))
                ),
                "groups": g,
            },
            "Unsatisfiable",
            "required pod anti-affinity on topology.kubernetes.io/zone",
        ),
        (
            "volume out of reach",
            {
                "pending": [pod("p", claims=["data"])],
                "groups": g,
                "claims": [claim("data", "zonal", "pv")],
                "volumes": [volume("pv", (REGION, "In", ["ash"]))],
            },
            "VolumeTopology",
            "volume pv (claim data) can attach only where topology.kubernetes.io/region In [ash]",
        ),
        (
            "volume not bound",
            {
                "pending": [pod("p", claims=["data"])],
                "groups": g,
                "claims": [claim("data", "fast")],
                "storage_classes": [storage_class("fast", "Immediate")],
            },
            "VolumeNotBound",
            "binds immediately",
        ),
        (
            "only a blocked pool fits",
            {
                "pending": [pod("p")],
                "groups": g,
                "blocked_pools": {("default", 0): "no node class: servers could not join"},
            },
            "ScaleUpBlocked",
            "pool 0 (hetzner) is blocked: no node class: servers could not join",
        ),
    ]


def test_each_reason_code_comes_with_a_message_that_names_the_rule() -> None:
    seen = set()
    for case, args, code, words in _reason_cases():
        pending = args.pop("pending")
        groups_ = args.pop("groups")
        result = plan_twice(pending, groups_, **args)
        codes = set(reasons(result).values())
        assert code in codes, case
        messages = [m for k, m in stuck(result).items() if reasons(result)[k] == code]
        assert any(words in m for m in messages), (case, messages)
        seen.add(code)
    assert seen == set(REASONS)


# -- in-flight NodeRequests keep the constraints of the pods they list ---------------------


def test_in_flight_room_is_not_given_to_a_pod_its_listed_pods_keep_away() -> None:
    groups = [group(pools=[pool(["cx22"])])]
    loner = pod(
        "loner", "500m", labels={"app": "web"}, affinity=anti(term({"app": "web"}, HOSTNAME))
    )
    first = run([loner], groups)
    nrs = node_requests_from(first)
    plain = pod("plain", "500m", labels={"app": "web"})
    later = run([loner, plain], groups, node_requests=nrs)
    assert later.outcomes["default/loner"].kind == "in_flight"
    assert later.outcomes["default/plain"].kind == "planned"
    # A pod the term does not select takes the room.
    other = pod("other", "500m", labels={"app": "api"})
    held = run([loner, other], groups, node_requests=nrs)
    assert held.new_nodes == [] and covered(held)["default/other"] == nrs[0].name


def test_which_reasons_are_warnings() -> None:
    from growthrs_core.planner import is_warning

    warnings = {r for r in REASONS if is_warning(r)}
    assert warnings == {
        "AmbiguousNodeGroup",
        "NodeGroupNotFound",
        "InvalidNodeGroup",
        "InvalidPodSpec",
        "VolumeTopology",
        "ScaleUpBlocked",
    }
    assert not is_warning("") and not is_warning("MaxNodesReached")
