"""The request's requirements carry every constraint that shaped the plan, and a
failed offering falls back as the planner would choose: the cheapest offering of
the best pool that still holds the request's pods next to that offering's
DaemonSet pods."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from test_planner_properties import PROPERTY_SETTINGS, Cluster, clusters

from growthrs_core.cluster import GroupView
from growthrs_core.crd.models import Requirements
from growthrs_core.planner import fallback_offerings, offering_satisfies
from growthrs_testkit.planning import (
    CHEAPEST_CHAIN,
    claim,
    daemonset,
    group,
    lineup,
    offering,
    pod,
    pods,
    pool,
    run,
    volume,
)

REGION = "topology.kubernetes.io/region"
ZONE = "topology.kubernetes.io/zone"


def keys(pairs: list[tuple[int, Any]]) -> list[tuple[int, str]]:
    return [(i, o.key) for i, o in pairs]


# A DaemonSet that runs only in nbg1 and takes a whole CPU there.
NBG1_AGENT = daemonset("nbg1-agent", "1", "256Mi", node_selector={REGION: "nbg1"})


def test_a_zone_whose_daemonset_leaves_no_room_is_not_in_the_requirements() -> None:
    groups = [group(pools=[pool(["cx22"])])]
    offers = {"hetzner": lineup(["cx22"], ("fsn1", "nbg1"))}
    result = run([pod("p", "1500m")], groups, offers, daemonsets=[NBG1_AGENT])
    (planned,) = result.new_nodes
    assert planned.offering.key == "cx22@fsn1"
    req = planned.requirements
    assert req.locations == ["fsn1"] and req.offerings is None
    nbg1 = offers["hetzner"][1]
    assert not offering_satisfies(nbg1, req)
    # Without the DaemonSet both locations would do.
    free = run([pod("p", "1500m")], groups, offers).new_nodes[0].requirements
    assert free.locations is None


def test_offerings_are_listed_when_the_lists_cannot_say_it() -> None:
    # cx32 fits in both locations, cx22 only in fsn1: neither locations nor types
    # can exclude cx22@nbg1 alone.
    groups = [group(pools=[pool(["cx22", "cx32"])])]
    offers = {"hetzner": lineup(["cx22", "cx32"], ("fsn1", "nbg1"))}
    result = run([pod("p", "1500m")], groups, offers, daemonsets=[NBG1_AGENT])
    req = result.new_nodes[0].requirements
    assert req.locations is None and req.instanceTypes is None
    assert req.offerings == ["cx22@fsn1", "cx32@fsn1", "cx32@nbg1"]
    by_key = {o.key: o for o in offers["hetzner"]}
    assert not offering_satisfies(by_key["cx22@nbg1"], req)
    assert all(offering_satisfies(by_key[k], req) for k in req.offerings)


def test_requirements_carry_volume_topology() -> None:
    groups = [group(pools=[pool(["cx22"])])]
    offers = {"hetzner": lineup(["cx22"], ("fsn1", "nbg1", "hel1"))}
    result = run(
        [pod("db", claims=["data"])],
        groups,
        offers,
        claims=[claim("data", "hcloud", "pv")],
        volumes=[volume("pv", ("csi.hetzner.cloud/location", "In", ["nbg1", "hel1"]))],
    )
    req = result.new_nodes[0].requirements
    assert req.locations == ["hel1", "nbg1"]


def _fallback(
    g: GroupView, offers: dict[str, Any], req: Requirements, pending: list[Any], **kw: Any
) -> list[tuple[int, str]]:
    return keys(fallback_offerings(g, offers, kw.pop("daemonsets", []), pending, req, **kw))


def test_fallback_skips_the_zone_whose_daemonset_takes_the_room() -> None:
    g = group(pools=[pool(["cx22", "cx32"])])
    offers = {"hetzner": lineup(["cx22", "cx32"], ("fsn1", "nbg1"))}
    pending = [pod("p", "1500m")]
    planned = run(pending, [g], offers, daemonsets=[NBG1_AGENT]).new_nodes[0]
    assert planned.offering.key == "cx22@fsn1"
    order = _fallback(
        g,
        offers,
        planned.requirements,
        pending,
        daemonsets=[NBG1_AGENT],
        excluded={(0, "cx22@fsn1")},
    )
    assert order == [(0, "cx32@fsn1"), (0, "cx32@nbg1")]
    # Ignoring the DaemonSet, the cheaper cx22@nbg1 would have come first: wrong.
    assert _fallback(g, offers, Requirements(cpu="1500m", memory="128Mi"), pending)[:2] == [
        (0, "cx22@fsn1"),
        (0, "cx22@nbg1"),
    ]


def test_fallback_goes_by_pool_priority_then_price() -> None:
    g = group(pools=[pool(["cx22", "cx32"], 50), pool(["cax21", "cax11"], 90)])
    offers = {"hetzner": lineup(["cx22", "cx32", "cax11", "cax21"])}
    pending = pods("p", 2, "500m")
    planned = run(pending, [g], offers).new_nodes[0]
    assert (planned.pool_index, planned.offering.key) == (1, "cax11@fsn1")
    order = _fallback(g, offers, planned.requirements, pending, excluded={(1, "cax11@fsn1")})
    # The dearer cax21 of the top pool before any offering of the lower one, and
    # within a priority never a dearer node while a cheaper one holds the pods.
    assert order == [(1, "cax21@fsn1"), (0, "cx22@fsn1"), (0, "cx32@fsn1")]
    assert _fallback(g, offers, planned.requirements, pending, excluded_pools={1}) == [
        (0, "cx22@fsn1"),
        (0, "cx32@fsn1"),
    ]


def test_fallback_puts_offerings_backing_off_last() -> None:
    g = group(pools=[pool(["cx22", "cx32"])])
    offers = {"hetzner": lineup(["cx22", "cx32"])}
    pending = [pod("p", "500m")]
    req = run(pending, [g], offers).new_nodes[0].requirements
    order = _fallback(g, offers, req, pending, unavailable=frozenset({("hetzner", "cx22@fsn1")}))
    assert order == [(0, "cx32@fsn1"), (0, "cx22@fsn1")]


def test_fallback_checks_the_pods_own_selectors_and_room() -> None:
    g = group(pools=[pool(["cx22", "cax11", "cx32"])])
    offers = {"hetzner": lineup(["cx22", "cax11", "cx32"])}
    arm = [pod("a", "1500m", node_selector={"kubernetes.io/arch": "arm64"})]
    # Requirements that say nothing about arch (an older request): the pods still decide.
    loose = Requirements(cpu="1500m", memory="128Mi")
    assert _fallback(g, offers, loose, arm) == [(0, "cax11@fsn1")]
    two = pods("b", 2, "1500m")
    assert _fallback(g, offers, Requirements(cpu="3", memory="256Mi"), two) == [(0, "cx32@fsn1")]
    # Without pods only the floor counts.
    assert _fallback(g, offers, Requirements(cpu="3", memory="256Mi"), []) == [(0, "cx32@fsn1")]
    assert _fallback(g, offers, Requirements(cpu="1", memory="256Mi"), []) == [
        (0, "cx22@fsn1"),
        (0, "cax11@fsn1"),
        (0, "cx32@fsn1"),
    ]


def test_fallback_host_ports_clash_with_daemonset_ports() -> None:
    agent = daemonset("agent", host_port=9100, node_selector={REGION: "nbg1"})
    g = group(pools=[pool(["cx22"])])
    offers = {"hetzner": lineup(["cx22"], ("fsn1", "nbg1"))}
    pending = [pod("exporter", host_port=9100)]
    req = Requirements(cpu="100m", memory="128Mi")
    assert _fallback(g, offers, req, pending, daemonsets=[agent]) == [(0, "cx22@fsn1")]


def test_fallback_of_an_invalid_group_is_empty() -> None:
    invalid = GroupView(name="broken", spec=None, error="bad")
    assert fallback_offerings(invalid, {}, [], [], Requirements(cpu="1", memory="1Gi")) == []


def test_mixed_cheapest_plan_agrees_with_fallback() -> None:
    g = group(pools=[pool(["cx22", "cx32", "cx42"])])
    offers = {"hetzner": [*lineup(["cx22", "cx32", "cx42"]), offering("cx22", "nbg1")]}
    pending = pods("p", 5, "700m")
    result = run(pending, [g], offers, strategies=CHEAPEST_CHAIN)
    for n in result.new_nodes:
        order = fallback_offerings(g, offers, [], n.pods, n.requirements)
        assert (n.pool_index, n.offering.key) in keys(order)


@PROPERTY_SETTINGS
@given(clusters())
def test_the_planned_offering_is_always_a_fallback_candidate(c: Cluster) -> None:
    """What the planner chose holds its pods by the fallback's own rule, and every
    candidate the fallback offers satisfies the request's requirements."""
    result = c.plan()
    groups = {g.name: g for g in c.groups}
    for n in result.new_nodes:
        order = fallback_offerings(
            groups[n.group],
            c.offerings,
            c.daemonsets,
            n.pods,
            n.requirements,
            blocked_pools=c.blocked,
        )
        assert (n.pool_index, n.offering.key) in keys(order)
        for _, o in order:
            assert offering_satisfies(o, n.requirements)
        spec = groups[n.group].spec
        assert spec is not None
        ranked = [(spec.pools[i].priority, o.cost_per_hour) for i, o in order]
        for (pi, a), (pj, b) in itertools.pairwise(ranked):
            assert pi > pj or (pi == pj and a <= b)
