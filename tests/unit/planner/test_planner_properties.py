"""Properties of any plan, on random clusters: every planned node can really run its
pods (extended resources included, never in a blocked pool), every pod is accounted
for exactly once, re-planning with the plan's own NodeRequests asks for nothing
more, and the same input gives the same plan."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthrs_core.cluster import DaemonSetInfo, GroupView, NodeInfo, PodInfo
from growthrs_core.domain import Offering, Taint
from growthrs_core.planner import REASONS, Plan, offering_satisfies, unschedulable_pods
from growthrs_testkit.planning import (
    DEFAULT_CHAIN,
    daemonset,
    group,
    node,
    node_requests_from,
    offering,
    pod,
    pool,
    run,
)

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
ARCH = "kubernetes.io/arch"
WIDGET = "example.com/widget"


@dataclass
class Cluster:
    pods: list[PodInfo]
    groups: list[GroupView]
    offerings: dict[str, list[Offering]]
    nodes: list[NodeInfo]
    daemonsets: list[DaemonSetInfo]
    blocked: dict[tuple[str, int], str] = field(default_factory=dict)

    def plan(self, **kw: Any) -> Plan:
        return run(
            self.pods,
            self.groups,
            self.offerings,
            nodes=self.nodes,
            daemonsets=self.daemonsets,
            strategies=DEFAULT_CHAIN,
            blocked_pools=self.blocked,
            **kw,
        )


@st.composite
def clusters(draw: st.DrawFn) -> Cluster:
    regions = draw(st.sampled_from([("fsn1",), ("fsn1", "nbg1"), ("fsn1", "nbg1", "hel1")]))
    offers: list[Offering] = []
    names = []
    for t in range(draw(st.integers(1, 4))):
        cpu = draw(st.sampled_from([1, 2, 4, 8, 16]))
        mem = cpu * draw(st.sampled_from([1, 2, 4]))
        arch = draw(st.sampled_from(["amd64", "amd64", "arm64"]))
        max_pods = draw(st.sampled_from([3, 8, 110]))
        price = round(draw(st.floats(0.001, 0.5)), 4)
        widgets = draw(st.sampled_from([0, 0, 1, 2, 4]))
        names.append(f"t{t}")
        for r in regions:
            offers.append(
                offering(
                    f"t{t}",
                    r,
                    cpu=cpu,
                    memory_gib=mem,
                    price=price,
                    arch=arch,
                    max_pods=max_pods,
                    extended={WIDGET: widgets} if widgets else None,
                )
            )
    split = draw(st.integers(1, len(names)))
    pools = [pool(names[:split], draw(st.integers(0, 100)))]
    if split < len(names):
        pools.append(pool(names[split:], draw(st.integers(0, 100))))
    groups = [group("g", pools=pools, maxNodes=draw(st.sampled_from([None, 3, 50])))]
    special = draw(st.booleans())
    if special:
        groups.append(
            group(
                "special",
                pools=[pool(names)],
                labels={"tier": "special"},
                taints=[{"key": "special", "value": "yes", "effect": "NoSchedule"}],
            )
        )
    daemonsets = []
    for d in range(draw(st.integers(0, 2))):
        daemonsets.append(
            daemonset(
                f"ds{d}",
                f"{draw(st.integers(10, 300))}m",
                f"{draw(st.integers(16, 512))}Mi",
                node_selector={ARCH: "amd64"} if draw(st.booleans()) else None,
                host_port=9100 + d if draw(st.booleans()) else None,
            )
        )
    pods: list[PodInfo] = []
    for d in range(draw(st.integers(1, 5))):
        app = f"app{d}"
        kw: dict[str, Any] = {"labels": {"app": app}, "owner": ("ReplicaSet", app)}
        selector: dict[str, str] = {}
        if draw(st.integers(0, 4)) == 0:
            selector[ARCH] = draw(st.sampled_from(["amd64", "arm64"]))
        if draw(st.integers(0, 4)) == 0:
            selector[REGION] = draw(st.sampled_from(regions))
        if special and draw(st.integers(0, 3)) == 0:
            selector["tier"] = "special"
            kw["tolerations"] = [{"key": "special", "operator": "Exists"}]
        if selector:
            kw["node_selector"] = selector
        if len(regions) > 1 and draw(st.integers(0, 3)) == 0:
            # Overlapping acceptance sets: some regions, not one.
            accepted = draw(st.lists(st.sampled_from(regions), min_size=1, unique=True))
            kw["affinity"] = {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": REGION, "operator": "In", "values": sorted(accepted)}
                                ]
                            }
                        ]
                    }
                }
            }
        feature = draw(
            st.sampled_from(
                ["none", "none", "anti", "zone-anti", "spread", "host-spread", "port"]
                + (["follow", "zone-follow"] if d else [])
            )
        )
        if feature in ("follow", "zone-follow"):
            # Required affinity to the previous Deployment's pods (a chain when it follows too).
            kw.setdefault("affinity", {}).update(
                {
                    "podAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "labelSelector": {"matchLabels": {"app": f"app{d - 1}"}},
                                "topologyKey": HOSTNAME if feature == "follow" else ZONE,
                            }
                        ]
                    }
                }
            )
        elif feature in ("anti", "zone-anti"):
            key = HOSTNAME if feature == "anti" else ZONE
            kw.setdefault("affinity", {}).update(
                {
                    "podAntiAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [
                            {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}
                        ]
                    }
                }
            )
        elif feature in ("spread", "host-spread"):
            kw["spread"] = [
                {
                    "maxSkew": draw(st.integers(1, 2)),
                    "topologyKey": ZONE if feature == "spread" else HOSTNAME,
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": app}},
                }
            ]
        elif feature == "port":
            kw["host_port"] = draw(st.sampled_from([8080, 9100]))
        cpu = draw(st.integers(1, 40)) * 50
        mem = draw(st.integers(1, 48)) * 128
        if draw(st.integers(0, 4)) == 0:
            kw["extended"] = {WIDGET: str(draw(st.integers(1, 3)))}
        for i in range(draw(st.integers(1, 6))):
            pods.append(pod(f"{app}-{i}", f"{cpu}m", f"{mem}Mi", **kw))
    nodes = []
    for n in range(draw(st.integers(0, 2))):
        name = f"n{n}"
        region = regions[n % len(regions)]
        nodes.append(
            node(
                name,
                f"{draw(st.integers(1, 4))}",
                "4Gi",
                labels={REGION: region, ZONE: f"{region}-dc1", ARCH: "amd64"},
                extended={WIDGET: "2"} if draw(st.booleans()) else None,
            )
        )
        for i in range(draw(st.integers(0, 2))):
            pods.append(pod(f"run-{name}-{i}", "500m", "1Gi", node=name, labels={"app": f"app{i}"}))
    blocked = {("g", 0): "no node class"} if draw(st.integers(0, 3)) == 0 else {}
    return Cluster(pods, groups, {"hetzner": offers}, nodes, daemonsets, blocked)


def _tolerated(p: PodInfo, taints: tuple[Taint, ...]) -> bool:
    return all(
        t.effect == "PreferNoSchedule" or any(tol.tolerates(t) for tol in p.tolerations)
        for t in taints
    )


def _overhead(c: Cluster, labels: dict[str, str], taints: tuple[Taint, ...]) -> list[PodInfo]:
    return [
        ds.pod
        for ds in c.daemonsets
        if all(labels.get(k) == v for k, v in ds.pod.node_selector.items())
        and _tolerated(ds.pod, taints)
    ]


def _selects(owner: PodInfo, other: PodInfo, key: str, anti: bool = True) -> bool:
    terms = owner.anti_affinity if anti else ()
    return any(
        t.topology_key == key
        and t.selector.matches(other.labels)
        and other.namespace == owner.namespace
        for t in terms
    )


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(clusters())
def test_planned_nodes_can_run_their_pods(c: Cluster) -> None:
    result = c.plan()
    zone_anti_seen: dict[tuple[str, str], int] = {}
    for planned in result.new_nodes:
        offer = planned.offering.resources
        ds = _overhead(c, planned.labels, planned.taints)
        everyone = list(planned.pods) + ds
        assert sum(p.requests.cpu_millis for p in everyone) <= offer.cpu_millis
        assert sum(p.requests.memory_mib for p in everyone) <= offer.memory_mib
        assert len(everyone) <= planned.offering.max_pods
        for name in {n for p in everyone for n in p.requests.extended}:
            used = sum(p.requests.extended.get(name, 0) for p in everyone)
            assert used <= offer.extended.get(name, 0)
        assert (planned.group, planned.pool_index) not in c.blocked
        ports = [port for p in everyone for port, _, _ in p.host_ports]
        assert len(ports) == len(set(ports))
        for p in planned.pods:
            assert all(planned.labels.get(k) == v for k, v in p.node_selector.items())
            if p.required_terms:
                assert any(t.matches(planned.labels) for t in p.required_terms)
            assert _tolerated(p, planned.taints)
            for q in planned.pods:
                if p is not q:
                    assert not _selects(p, q, HOSTNAME)
            for t in p.affinity:
                if t.topology_key == HOSTNAME:
                    assert any(
                        t.selector.matches(q.labels) and q.namespace == p.namespace
                        for q in planned.pods
                    )
            for s in p.spread:
                if s.topology_key == HOSTNAME:
                    same = sum(1 for q in planned.pods if s.selector.matches(q.labels))
                    assert same <= s.max_skew
            if any(t.topology_key == ZONE for t in p.anti_affinity):
                where = (p.labels["app"], planned.offering.region)
                zone_anti_seen[where] = zone_anti_seen.get(where, 0) + 1
                assert zone_anti_seen[where] == 1
        assert offering_satisfies(planned.offering, planned.requirements)
        assert planned.requirements.pods == len(everyone)


@PROPERTY_SETTINGS
@given(clusters())
def test_every_pending_pod_is_accounted_for_once(c: Cluster) -> None:
    result = c.plan()
    candidates = {p.key for p in unschedulable_pods(c.pods)}
    pending = {p.key for p in c.pods if not p.node_name}
    assert candidates == pending
    planned = [p.key for n in result.new_nodes for p in n.pods]
    assert len(planned) == len(set(planned))
    # One outcome per candidate pod, and nothing else.
    assert set(result.outcomes) == candidates
    # Planned outcomes agree with the planned nodes' pods.
    by_node = {p.key: i for i, n in enumerate(result.new_nodes) for p in n.pods}
    assert {k: o.planned_node for k, o in result.outcomes.items() if o.kind == "planned"} == by_node
    for o in result.outcomes.values():
        assert o.message
        assert (o.kind == "cannot_serve") == bool(o.reason)
        if o.kind == "cannot_serve":
            assert o.reason in REASONS
        assert (o.kind == "fits_existing") == bool(o.node)
        assert (o.kind == "in_flight") == bool(o.node_request)
        assert (o.kind == "planned") == (o.planned_node is not None)
    assert result.stuck() == {k for k, o in result.outcomes.items() if o.kind == "cannot_serve"}


@PROPERTY_SETTINGS
@given(clusters())
def test_planning_again_with_its_node_requests_plans_nothing(c: Cluster) -> None:
    first = c.plan()
    again = c.plan(node_requests=node_requests_from(first))
    assert again.new_nodes == []
    for key in (p.key for n in first.new_nodes for p in n.pods):
        assert again.outcomes[key].kind == "in_flight"
    # Across a restart no pod the first pass could serve becomes one that cannot be served.
    assert again.stuck() <= first.stuck()


@PROPERTY_SETTINGS
@given(clusters(), st.randoms(use_true_random=False))
def test_same_input_same_plan(c: Cluster, rnd: random.Random) -> None:
    first = c.plan()
    assert c.plan() == first
    shuffled = list(c.pods)
    rnd.shuffle(shuffled)
    other = Cluster(shuffled, c.groups, c.offerings, c.nodes, c.daemonsets, c.blocked).plan()
    assert [(n.offering.key, [p.key for p in n.pods]) for n in other.new_nodes] == [
        (n.offering.key, [p.key for p in n.pods]) for n in first.new_nodes
    ]
    assert other.outcomes == first.outcomes
