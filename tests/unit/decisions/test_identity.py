"""Which pool a node belongs to after its group was edited."""

from __future__ import annotations

from typing import Any

import pytest
from decision_builders import group

from growthrs_core.cluster import NodeIdentity, node_identity
from growthrs_core.decisions.identity import current_pool

A = {"provider": "kwok", "serverType": ["cx32"], "priority": 90}
B = {"provider": "kwok", "serverType": ["cpx31"], "priority": 50}
H = {"provider": "hetzner", "serverType": ["cx32"], "priority": 40}


def ident(
    pool: int | None, provider: str = "kwok", instance_type: str = "cx32", region: str = "fsn1"
) -> NodeIdentity:
    return NodeIdentity("g", pool, provider, instance_type, region)


@pytest.mark.parametrize(
    ("pools", "identity", "expected"),
    [
        ([A, B], ident(0), 0),  # as created
        ([B, A], ident(0), 1),  # reordered: found where it moved
        ([B], ident(0), None),  # its pool removed
        ([A, B], ident(5), 0),  # a stale index past the end
        ([H, A], ident(0, provider="kwok"), 1),  # same type, other provider: not that pool
        ([{**A, "locations": ["nbg1"]}, B], ident(0), None),  # location no longer allowed
        ([A, B], ident(1, provider="", instance_type=""), 1),  # no identity labels: trust the index
        ([A], ident(3, provider="", instance_type=""), None),
    ],
)
def test_current_pool(
    pools: list[dict[str, Any]], identity: NodeIdentity, expected: int | None
) -> None:
    assert current_pool(identity, group(pools=pools).spec) == expected


def test_no_spec_no_pool() -> None:
    assert current_pool(ident(0), None) is None


def test_identity_from_labels() -> None:
    identity = node_identity(
        {
            "growthrs.io/node-group": "g",
            "growthrs.io/pool": "2",
            "growthrs.io/provider": "hetzner",
            "node.kubernetes.io/instance-type": "cx22",
            "topology.kubernetes.io/region": "fsn1",
            "growthrs.io/node-request": "g-x",
        }
    )
    assert identity == NodeIdentity("g", 2, "hetzner", "cx22", "fsn1", "", "g-x")
    assert identity.managed and not node_identity({}).managed
    assert node_identity({"growthrs.io/pool": "x"}).pool_index is None
