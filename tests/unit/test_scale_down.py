"""Scale-down decisions: marks, unmarks, removals, minimums and opt-outs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from growthrs_core.cluster import GroupView, NodeInfo, PodInfo
from growthrs_core.crd.models import NodeGroupWithPrioritySpec
from growthrs_core.decisions.scale_down import ScaleDownConfig, plan_scale_down
from growthrs_core.timeutil import format_time

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CFG = ScaleDownConfig(enabled=True, new_node_grace=60)


def group(min_nodes: int = 0, enabled: bool = True, pool_min: int = 0) -> GroupView:
    spec = NodeGroupWithPrioritySpec.model_validate(
        {
            "pools": [
                {"provider": "kwok", "serverType": ["cx22"], "priority": 10, "minNodes": pool_min}
            ],
            "minNodes": min_nodes,
            "scaleDown": {"enabled": enabled, "unneededTime": "10m"},
        }
    )
    return GroupView(name="g", spec=spec)


def node(
    name: str, *, marked_at: datetime | None = None, age: float = 3600, disabled: bool = False
) -> NodeInfo:
    return NodeInfo(
        name=name,
        labels={"growthrs.io/node-group": "g", "growthrs.io/pool": "0"},
        ready=True,
        scale_down_at=format_time(marked_at) if marked_at else "",
        scale_down_disabled=disabled,
        creation=format_time(NOW - timedelta(seconds=age)),
    )


def pod(name: str, node_name: str, **kw: object) -> PodInfo:
    fields: dict[str, object] = {"phase": "Running", **kw}
    return PodInfo(namespace="ns", name=name, node_name=node_name, **fields)  # type: ignore[arg-type]


def decide(
    nodes: list[NodeInfo],
    pods: list[PodInfo],
    g: GroupView | None = None,
    waiting: frozenset[str] = frozenset(),
) -> object:
    by_node: dict[str, list[PodInfo]] = {}
    for p in pods:
        by_node.setdefault(p.node_name, []).append(p)
    return plan_scale_down(
        nodes=nodes,
        pods_by_node=by_node,
        groups=[g or group()],
        groups_with_waiting_pods=waiting,
        now=NOW,
        cfg=CFG,
    )


def test_empty_node_is_marked_with_the_unneeded_time() -> None:
    plan = decide(
        [node("a")], [pod("ds", "a", owner_kind="DaemonSet"), pod("done", "a", phase="Succeeded")]
    )
    assert [(m.node, m.at) for m in plan.marks] == [("a", format_time(NOW + timedelta(minutes=10)))]  # type: ignore[attr-defined]


def test_busy_node_is_not_marked_and_a_marked_busy_node_is_unmarked() -> None:
    plan = decide([node("a"), node("b", marked_at=NOW)], [pod("web", "a"), pod("web2", "b")])
    assert plan.marks == []  # type: ignore[attr-defined]
    assert [u.node for u in plan.unmarks] == ["b"]  # type: ignore[attr-defined]


def test_marked_node_past_its_time_is_removed_with_its_provider() -> None:
    plan = decide([node("a", marked_at=NOW - timedelta(seconds=1))], [])
    assert [(r.node, r.provider) for r in plan.removals] == [("a", "kwok")]  # type: ignore[attr-defined]


def test_marked_node_before_its_time_stays() -> None:
    plan = decide([node("a", marked_at=NOW + timedelta(seconds=5))], [])
    assert plan.removals == [] and plan.marks == [] and plan.unmarks == []  # type: ignore[attr-defined]


def test_group_minimum_holds() -> None:
    plan = decide([node("a"), node("b"), node("c")], [], group(min_nodes=2))
    assert [m.node for m in plan.marks] == ["a"]  # type: ignore[attr-defined]


def test_pool_minimum_holds() -> None:
    plan = decide([node("a"), node("b")], [], group(pool_min=2))
    assert plan.marks == []  # type: ignore[attr-defined]


def test_opt_outs_win() -> None:
    assert decide([node("a", disabled=True)], []).marks == []  # type: ignore[attr-defined]
    assert decide([node("a")], [], group(enabled=False)).marks == []  # type: ignore[attr-defined]
    pinned = pod("ds", "a", owner_kind="DaemonSet", safe_to_evict=False)
    assert decide([node("a")], [pinned]).marks == []  # type: ignore[attr-defined]


def test_young_nodes_and_groups_with_waiting_pods_are_left_alone() -> None:
    assert decide([node("a", age=10)], []).marks == []  # type: ignore[attr-defined]
    plan = decide([node("a", marked_at=NOW)], [], waiting=frozenset({"g"}))
    assert [u.node for u in plan.unmarks] == ["a"]  # type: ignore[attr-defined]


def test_unmanaged_nodes_are_ignored() -> None:
    plain = NodeInfo(name="x", ready=True, creation=format_time(NOW - timedelta(hours=1)))
    assert decide([plain], []).marks == []  # type: ignore[attr-defined]
