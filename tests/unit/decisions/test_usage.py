"""Nodes per group and pool, and the room left under their limits."""

from __future__ import annotations

from decision_builders import created, group, node, request, snapshot

from growthrs_core.decisions.memory import CreateCall
from growthrs_core.decisions.usage import headroom, pool_usage

A = {"provider": "kwok", "serverType": ["cx32"], "priority": 90, "maxNodes": 2}
B = {"provider": "kwok", "serverType": ["cpx31"], "priority": 50}


def test_counts_nodes_requests_on_the_way_and_create_calls() -> None:
    snap = snapshot(
        groups=[group(pools=[A, B])],
        nodes=[node("n1"), node("n2", pool=1, instance_type="cpx31"), node("gone", deleting=True)],
        node_requests=[
            # Provisioning, its node not registered yet: counts in its pool.
            request(
                "g-p",
                "Provisioning",
                attempts=[created(node_name="g-p")],
                nodeName="g-p",
                currentPool=0,
                offering="cx32@fsn1",
            ),
            # Provisioning with its node present: the node counts, not the request.
            request(
                "g-q",
                "Provisioning",
                attempts=[created(node_name="n1")],
                nodeName="n1",
                currentPool=0,
                offering="cx32@fsn1",
            ),
        ],
    )
    usage = pool_usage(snap, {"g-c": CreateCall("g", 1, "kwok", "cpx31@fsn1")})
    assert usage == {("g", 0): 2, ("g", 1): 2}


def test_nodes_follow_their_pool_when_pools_are_reordered_or_removed() -> None:
    nodes = [node("n1"), node("n2", pool=1, instance_type="cpx31")]
    assert pool_usage(snapshot(groups=[group(pools=[B, A])], nodes=nodes), {}) == {
        ("g", 1): 1,
        ("g", 0): 1,
    }
    # Pool A removed: its node still counts for the group, in no pool.
    assert pool_usage(snapshot(groups=[group(pools=[B])], nodes=nodes), {}) == {
        ("g", None): 1,
        ("g", 0): 1,
    }


def test_headroom_of_group_and_pools() -> None:
    spec = group(pools=[A, B], maxNodes=3).spec
    assert spec is not None
    room = headroom("g", spec, {("g", 0): 2, ("g", 1): 0})
    assert room.group_full is None and set(room.full_pools) == {0}
    room = headroom("g", spec, {("g", 0): 2, ("g", None): 1})
    assert room.group_full == "node group g has maxNodes 3 nodes"
    # A request replacing its own node does not count it.
    room = headroom("g", spec, {("g", 0): 2, ("g", None): 1}, own_pool=(True, 0))
    assert room.group_full is None and 0 not in room.full_pools
    # Other groups do not count.
    assert headroom("g", spec, {("h", 0): 9}).group_full is None
