"""No edit of a group, however it reorders, shrinks or removes pools, may crash the loop
or send a node to the wrong provider: a node keeps the identity it was created with."""

from __future__ import annotations

from typing import Any

import pytest
from decision_builders import NOW, created, group, node, request, snapshot

from growthrs_core.cluster import GroupView
from growthrs_core.decisions.memory import LoopMemory
from growthrs_core.decisions.node_request import LabelNode, Observation, step
from growthrs_core.decisions.node_request.registration import ready_labels
from growthrs_core.decisions.reconcile import DecisionConfig, tick
from growthrs_core.decisions.scale_down import ScaleDownConfig, node_provider, plan_scale_down
from growthrs_core.domain import Offering

K1 = {"provider": "kwok", "serverType": ["cx32"], "priority": 90}
K2 = {"provider": "kwok", "serverType": ["cpx31"], "priority": 50}
HZ = {"provider": "hetzner", "serverType": ["cx32"], "priority": 40}

EDITS: list[list[dict[str, Any]]] = [
    [K1, K2],  # as created
    [K2, K1],  # reordered
    [K2],  # its pool removed
    [HZ, K2],  # its index now points at another provider's pool
    [HZ],  # every pool replaced
]


def provisioning() -> Any:
    return request(
        "g-a",
        "Provisioning",
        attempts=[created(pool=0, node_name="g-a")],
        nodeName="g-a",
        currentPool=0,
        offering="cx32@fsn1",
    )


@pytest.mark.parametrize("pools", EDITS)
def test_a_request_provisioning_in_an_edited_group_labels_its_node_as_created(
    pools: list[dict[str, Any]],
) -> None:
    nr = provisioning()
    g = group(pools=pools)
    t = step(
        nr, Observation(node=node("g-a", pool=None, provider=None)), NOW, DecisionConfig().machine
    )
    assert isinstance(t.actions[0], LabelNode)
    offering = Offering(
        instance_type="cx32", resources=node("x").allocatable, cost_per_hour=0.01, region="fsn1"
    )  # type: ignore[arg-type]
    labels = ready_labels(nr, g, offering)
    assert (
        labels["growthrs.io/provider"] == "kwok"
    )  # the provider that made it, whatever pool 0 is now
    assert labels["growthrs.io/node-request"] == "g-a"
    assert labels["node.kubernetes.io/instance-type"] == "cx32"


@pytest.mark.parametrize("pools", EDITS)
def test_a_whole_pass_over_an_edited_group_never_crashes(pools: list[dict[str, Any]]) -> None:
    g = group(pools=pools, minNodes=0)
    snap = snapshot(
        groups=[g],
        nodes=[node("n-old", pool=0, provider="kwok"), node("g-a", pool=0, provider="kwok")],
        node_requests=[provisioning(), request("g-b")],
        installed=("kwok", "hetzner"),
    )
    tick(snap, LoopMemory(), DecisionConfig(scale_down=ScaleDownConfig(new_node_grace=0)))


@pytest.mark.parametrize("pools", EDITS)
def test_a_node_is_removed_through_the_provider_recorded_on_it(pools: list[dict[str, Any]]) -> None:
    g = group(pools=pools)
    idle = node("n1", pool=0, provider="kwok", age=7200)
    idle.scale_down_at = "2026-11-30T11:00:00Z"
    assert node_provider(idle, g) == "kwok"
    decision = plan_scale_down(
        nodes=[idle],
        pods_by_node={},
        groups=[g],
        groups_with_waiting_pods=frozenset(),
        now=NOW,
        cfg=ScaleDownConfig(new_node_grace=0),
    )
    assert [(r.node, r.provider) for r in decision.removals] == [("n1", "kwok")]


def test_a_node_of_an_older_version_without_a_provider_label_uses_its_pool() -> None:
    old = node("n1", pool=1, provider=None, instance_type="cpx31")
    assert node_provider(old, group(pools=[K1, K2])) == "kwok"
    assert node_provider(old, GroupView(name="g")) == ""


def test_a_request_whose_pool_index_is_gone_is_labelled_without_it() -> None:
    nr = request(
        "g-a",
        "Provisioning",
        attempts=[created(pool=1, offering_key="cpx31@fsn1", node_name="g-a")],
        nodeName="g-a",
        currentPool=1,
        offering="cpx31@fsn1",
    )
    shrunk = group(pools=[K1])  # pool 1 removed while the request was provisioning
    offering = Offering(
        instance_type="cpx31", resources=node("x").allocatable, cost_per_hour=0.01, region="fsn1"
    )  # type: ignore[arg-type]
    labels = ready_labels(nr, shrunk, offering)
    assert labels["growthrs.io/provider"] == "kwok" and labels["growthrs.io/pool"] == "1"
