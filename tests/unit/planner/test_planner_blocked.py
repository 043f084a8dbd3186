"""Blocked pools (``PlanningInput.blocked_pools``): pools a provider said cannot work.
No node is planned in them; a pod only such a pool could serve is ``ScaleUpBlocked``
with a message naming the group, the pool and why, and a pod another pool of its
group can serve is planned there."""

from __future__ import annotations

from growthrs_core.crd.models import Requirements
from growthrs_core.planner import REASONS, fallback_offerings, is_warning
from growthrs_core.planner.outcome import SCALE_UP_BLOCKED
from growthrs_testkit.planning import (
    claim,
    group,
    lineup,
    pod,
    pods,
    pool,
    reasons,
    run,
    stuck,
    summary,
    volume,
)

NO_CLASS = "no node class: servers could not join"
TOKEN = "401 Unauthorized: the API token was rejected"
HETZNER = {"hetzner": lineup(["cx22", "cx32", "cax11", "ccx33"], ("fsn1", "nbg1"))}
REGION = "topology.kubernetes.io/region"


def test_a_new_reason_code_that_is_a_warning() -> None:
    assert SCALE_UP_BLOCKED == "ScaleUpBlocked"
    assert SCALE_UP_BLOCKED in REASONS and is_warning(SCALE_UP_BLOCKED)


def test_a_pod_only_a_blocked_pool_serves_is_blocked() -> None:
    groups = [group(pools=[pool(["cx22"])])]
    result = run([pod("p")], groups, HETZNER, blocked_pools={("default", 0): NO_CLASS})
    assert result.new_nodes == []
    assert reasons(result) == {"default/p": "ScaleUpBlocked"}
    message = stuck(result)["default/p"]
    assert "node group default" in message
    assert f"pool 0 (hetzner) is blocked: {NO_CLASS}" in message


def test_another_pool_of_the_group_serves_it_instead() -> None:
    groups = [group(pools=[pool(["cax11"], 90), pool(["cx22"], 50)])]
    free = run([pod("p")], groups, HETZNER)
    assert {n.pool_index for n in free.new_nodes} == {0}
    result = run([pod("p")], groups, HETZNER, blocked_pools={("default", 0): TOKEN})
    assert not result.stuck()
    assert {n.pool_index for n in result.new_nodes} == {1}
    assert summary(result) == [("cx22@fsn1", 1)]


def test_a_pod_the_other_pools_cannot_hold_is_blocked_and_the_rest_planned() -> None:
    # Only pool 0's ccx33 is big enough for "big"; pool 1 takes the small pods.
    groups = [group(pools=[pool(["ccx33"], 90), pool(["cx22"], 50)])]
    pending = [pod("big", "6"), *pods("small", 2)]
    result = run(pending, groups, HETZNER, blocked_pools={("default", 0): NO_CLASS})
    assert reasons(result) == {"default/big": "ScaleUpBlocked"}
    assert all(n.pool_index == 1 for n in result.new_nodes)
    assert {p.name for n in result.new_nodes for p in n.pods} == {"small-0", "small-1"}


def test_a_selector_only_a_blocked_pool_meets_is_blocked() -> None:
    groups = [group(pools=[pool(["cax11"]), pool(["cx22"])])]
    arm = pod("arm", node_selector={"kubernetes.io/arch": "arm64"})
    result = run([arm, pod("any")], groups, HETZNER, blocked_pools={("default", 0): TOKEN})
    assert reasons(result) == {"default/arm": "ScaleUpBlocked"}
    assert [n.pool_index for n in result.new_nodes] == [1]


def test_a_pod_no_pool_could_hold_is_still_too_big() -> None:
    groups = [group(pools=[pool(["cx22"])])]
    result = run([pod("huge", "64")], groups, HETZNER, blocked_pools={("default", 0): TOKEN})
    assert reasons(result) == {"default/huge": "NoOfferingFits"}


def test_volumes_only_a_blocked_pool_reaches_are_blocked() -> None:
    groups = [group(pools=[pool(["cx22"], locations=["nbg1"]), pool(["cx32"], locations=["fsn1"])])]
    result = run(
        [pod("db", claims=["data"])],
        groups,
        HETZNER,
        claims=[claim("data", "hcloud", "pv")],
        volumes=[volume("pv", (REGION, "In", ["nbg1"]))],
        blocked_pools={("default", 0): NO_CLASS},
    )
    assert reasons(result) == {"default/db": "ScaleUpBlocked"}
    assert "pool 0 (hetzner) is blocked" in stuck(result)["default/db"]


def test_a_blocked_pool_whose_provider_lists_nothing_is_blocked_too() -> None:
    groups = [group(pools=[pool(["cx22"], provider="tinycloud")])]
    result = run([pod("p")], groups, HETZNER, blocked_pools={("default", 0): TOKEN})
    assert reasons(result) == {"default/p": "ScaleUpBlocked"}
    assert TOKEN in stuck(result)["default/p"]


def test_minimums_are_never_planned_in_a_blocked_pool() -> None:
    groups = [group(pools=[pool(["cx22"], 90, minNodes=2), pool(["cx32"], 50)], minNodes=1)]
    free = run([], groups, HETZNER)
    assert [n.pool_index for n in free.new_nodes] == [0, 0]
    result = run([], groups, HETZNER, blocked_pools={("default", 0): NO_CLASS})
    assert [n.pool_index for n in result.new_nodes] == [1]


def test_a_cheaper_blocked_pool_at_the_same_priority_is_never_chosen() -> None:
    # Pool 0's cx22 is the cheapest home for these pods; the expander, re-packing and
    # right-sizing all look at both pools of the same priority.
    groups = [group(pools=[pool(["cx22"], 50), pool(["cx32", "ccx33"], 50)])]
    pending = pods("p", 5, "300m", "256Mi")
    free = run(pending, groups, HETZNER)
    assert [(n.pool_index, n.offering.key) for n in free.new_nodes] == [(0, "cx22@fsn1")]
    result = run(pending, groups, HETZNER, blocked_pools={("default", 0): NO_CLASS})
    assert not result.stuck()
    assert result.new_nodes and all(n.pool_index == 1 for n in result.new_nodes)


def test_blocks_of_other_groups_or_unknown_pools_change_nothing() -> None:
    groups = [group(pools=[pool(["cx22"])])]
    blocked = {("other", 0): NO_CLASS, ("default", 7): TOKEN}
    assert summary(run([pod("p")], groups, HETZNER, blocked_pools=blocked)) == [("cx22@fsn1", 1)]


# -- fallback ---------------------------------------------------------------------------


def test_fallback_never_offers_a_blocked_pool() -> None:
    g = group(pools=[pool(["cx22"], 90), pool(["cx32"], 50)])
    offers = {"hetzner": lineup(["cx22", "cx32"])}
    pending = [pod("p", "500m")]
    planned = run(pending, [g], offers).new_nodes[0]
    assert planned.pool_index == 0
    every = fallback_offerings(g, offers, [], pending, planned.requirements)
    assert [(i, o.key) for i, o in every] == [(0, "cx22@fsn1"), (1, "cx32@fsn1")]
    blocked = {("default", 0): NO_CLASS}
    for pods_ in (pending, []):  # with the request's pods, and with the floor alone
        order = fallback_offerings(
            g, offers, [], pods_, Requirements(cpu="500m", memory="128Mi"), blocked_pools=blocked
        )
        assert [(i, o.key) for i, o in order] == [(1, "cx32@fsn1")]
    # A block on another group's pool 0 changes nothing here.
    other = fallback_offerings(
        g, offers, [], pending, planned.requirements, blocked_pools={("other", 0): NO_CLASS}
    )
    assert other == every
