"""Budgets (with a cron matcher), expiry, drift and the NodeRemoval record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from decision_builders import NOW, group, node, request

from growthrs_core.crd.models import NodeGroupWithPrioritySpec
from growthrs_core.decisions.disruption import (
    UNLIMITED,
    CronError,
    allowed_disruptions,
    budget_active,
    budget_nodes,
    disrupting_by_group,
    drift,
    expiry,
    parse_cron,
    parse_removal,
    protected_nodes,
    template_hash,
    template_stamps,
)
from growthrs_core.decisions.memory import LoopMemory
from growthrs_core.domain import Taint

# 2026-11-30 is a Monday.
MONDAY_NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def spec(**fields: Any) -> NodeGroupWithPrioritySpec:
    return NodeGroupWithPrioritySpec.model_validate(
        {"pools": [{"provider": "kwok", "serverType": ["cx32"], "priority": 90}], **fields}
    )


def removal(node_name: str, phase: str = "Draining", group_name: str = "g", **spec: Any) -> Any:
    return parse_removal(
        {
            "metadata": {"name": node_name, "uid": f"uid-{node_name}"},
            "spec": {
                "nodeName": node_name,
                "nodeGroup": group_name,
                "provider": "kwok",
                "reason": "Underutilized",
                **spec,
            },
            "status": {"phase": phase},
        }
    )


# -- cron ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "when", "matches"),
    [
        ("0 9 * * mon-fri", datetime(2026, 11, 30, 9, 0, tzinfo=UTC), True),  # Monday
        ("0 9 * * mon-fri", datetime(2026, 11, 29, 9, 0, tzinfo=UTC), False),  # Sunday
        ("0 9 * * mon-fri", datetime(2026, 11, 30, 9, 1, tzinfo=UTC), False),
        ("*/15 * * * *", datetime(2026, 11, 30, 3, 45, tzinfo=UTC), True),
        ("*/15 * * * *", datetime(2026, 11, 30, 3, 46, tzinfo=UTC), False),
        ("0 0 1 jan *", datetime(2027, 1, 1, 0, 0, tzinfo=UTC), True),
        ("0 0 * * 7", datetime(2026, 11, 29, 0, 0, tzinfo=UTC), True),  # 7 is Sunday
        ("0 0 * * sun", datetime(2026, 11, 29, 0, 0, tzinfo=UTC), True),
        # Both day fields restricted: either one matches, as in cron.
        ("0 0 13 * fri", datetime(2026, 11, 13, 0, 0, tzinfo=UTC), True),
        ("0 0 13 * fri", datetime(2026, 11, 27, 0, 0, tzinfo=UTC), True),
        ("0 0 13 * fri", datetime(2026, 11, 26, 0, 0, tzinfo=UTC), False),
        ("@daily", datetime(2026, 11, 30, 0, 0, tzinfo=UTC), True),
        ("@hourly", datetime(2026, 11, 30, 7, 0, tzinfo=UTC), True),
        ("10-20/5 1,2 * * *", datetime(2026, 11, 30, 2, 15, tzinfo=UTC), True),
        ("10-20/5 1,2 * * *", datetime(2026, 11, 30, 2, 25, tzinfo=UTC), False),
    ],
)
def test_cron_matches(expression: str, when: datetime, matches: bool) -> None:
    assert parse_cron(expression).matches(when) is matches


@pytest.mark.parametrize(
    "expression", ["0 9 * *", "61 * * * *", "0 25 * * *", "0 0 * * funday", "*/0 * * * *"]
)
def test_cron_rejects(expression: str) -> None:
    with pytest.raises(CronError):
        parse_cron(expression)


def test_last_fire_looks_back_across_days() -> None:
    cron = parse_cron("0 22 * * fri")
    sunday = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    assert cron.last_fire(sunday, 3 * 86400) == datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    assert cron.last_fire(sunday, 86400) is None


# -- budgets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodes", "total", "expected"),
    [("3", 10, 3), ("0", 10, 0), ("10%", 10, 1), ("10%", 11, 2), ("10%", 0, 0), ("100%", 7, 7)],
)
def test_budget_nodes_rounds_percentages_up(nodes: str, total: int, expected: int) -> None:
    assert budget_nodes(nodes, total) == expected


def test_a_scheduled_budget_is_active_for_its_duration() -> None:
    office = spec(
        disruption={"budgets": [{"nodes": "0", "schedule": "0 9 * * mon-fri", "duration": "8h"}]}
    ).disruption.budgets[0]
    assert budget_active(office, MONDAY_NOON)
    assert not budget_active(office, MONDAY_NOON.replace(hour=17, minute=0))
    assert not budget_active(office, datetime(2026, 11, 29, 12, 0, tzinfo=UTC))  # Sunday


@pytest.mark.parametrize(
    ("budgets", "reason", "total", "disrupting", "expected"),
    [
        # No budgets: empty nodes unlimited (today's behaviour), the rest 10 %.
        ([], "Empty", 20, 0, UNLIMITED),
        ([], "Underutilized", 20, 0, 2),
        ([], "Underutilized", 3, 0, 1),
        ([], "Drifted", 20, 2, 0),
        ([{"nodes": "1"}], "Empty", 20, 0, 1),
        ([{"nodes": "1"}], "Underutilized", 20, 1, 0),
        # The smallest active budget that names the reason wins.
        ([{"nodes": "5"}, {"nodes": "2", "reasons": ["Expired"]}], "Expired", 20, 0, 2),
        ([{"nodes": "5"}, {"nodes": "2", "reasons": ["Expired"]}], "Drifted", 20, 0, 5),
        # Only budgets for other reasons: not limited.
        ([{"nodes": "0", "reasons": ["Underutilized"]}], "Drifted", 20, 0, UNLIMITED),
        # Outside its schedule a budget does not apply.
        (
            [{"nodes": "0", "schedule": "0 0 * * sun", "duration": "1h"}, {"nodes": "4"}],
            "Underutilized",
            20,
            1,
            3,
        ),
        # Inside it, it does: nothing may be disrupted on Monday from 09:00 for 8 h.
        (
            [{"nodes": "0", "schedule": "0 9 * * mon", "duration": "8h"}, {"nodes": "4"}],
            "Underutilized",
            20,
            0,
            0,
        ),
    ],
)
def test_allowed_disruptions(
    budgets: list[dict[str, Any]], reason: Any, total: int, disrupting: int, expected: int
) -> None:
    group_spec = spec(disruption={"budgets": budgets})
    assert allowed_disruptions(group_spec, reason, total, disrupting, MONDAY_NOON) == expected


def test_disrupting_counts_removals_deletes_and_deleting_nodes() -> None:
    nodes = [node("a"), node("b", deleting=True), node("c"), node("d"), node("e", "other")]
    memory = LoopMemory(removing={"c"})
    removals = [removal("d"), removal("e", "Deleted", "other")]
    assert disrupting_by_group(nodes, removals, memory) == {"g": 3}


# -- expiry and drift ---------------------------------------------------------------------


def test_a_node_older_than_expire_after_has_expired() -> None:
    assert expiry(node("n", age=7200), spec(expireAfter="1h"), NOW) is not None
    assert expiry(node("n", age=600), spec(expireAfter="1h"), NOW) is None
    assert expiry(node("n", age=10**7), spec(), NOW) is None  # no expireAfter: never


def drifted_group(**fields: Any) -> Any:
    return group(
        pools=[{"provider": "kwok", "serverType": ["cx32"], "priority": 90}],
        locations=["fsn1"],
        **fields,
    )


@pytest.mark.parametrize(
    ("group_fields", "labels", "taints", "why"),
    [
        ({}, {}, (), None),
        ({"labels": {"team": "a"}}, {"team": "a"}, (), None),
        ({"labels": {"team": "b"}}, {"team": "a"}, (), "label team is 'a'; the group sets 'b'"),
        ({"labels": {"team": "a"}}, {}, (), "label team is None"),
        ({"taints": [{"key": "ci"}]}, {}, (Taint("ci"),), None),
        ({"taints": [{"key": "ci"}]}, {}, (), "taint ci=:NoSchedule of the group is missing"),
        ({"disruption": {"drift": False}, "labels": {"team": "b"}}, {}, (), None),
    ],
)
def test_drift_by_labels_and_taints(
    group_fields: dict[str, Any], labels: dict[str, str], taints: tuple[Taint, ...], why: str | None
) -> None:
    n = node("n", **labels)
    n.taints = taints
    found = drift(n, drifted_group(**group_fields))
    assert (found is None) if why is None else (found is not None and why in found)


def test_drift_when_the_server_type_or_location_leaves_the_pool() -> None:
    assert drift(node("n", instance_type="cx32"), drifted_group()) is None
    gone = drift(node("n", instance_type="cx22"), drifted_group())
    assert gone is not None and "no pool of group g admits it" in gone
    moved = drift(node("n", region="hel1"), drifted_group())
    assert moved is not None and "hel1" in moved


def test_drift_when_the_node_class_changes_after_the_stamp() -> None:
    before = drifted_group(nodeClassRef={"kind": "HetznerNodeClass", "name": "a"})
    after = drifted_group(nodeClassRef={"kind": "HetznerNodeClass", "name": "b"})
    assert before.spec is not None and after.spec is not None
    n = node("n")
    n.template_hash = template_hash(before.spec, 0)
    assert drift(n, before) is None
    changed = drift(n, after)
    assert changed is not None and "node class" in changed


def test_unstamped_nodes_get_the_current_template_unless_drifted() -> None:
    g = drifted_group(labels={"team": "a"})
    assert g.spec is not None
    fine, drifted, stamped = node("a", team="a"), node("b"), node("c", team="a")
    stamped.template_hash = "x"
    legacy = node("d", provider=None, team="a")  # made by an older GrowthRS: left alone
    stamps = template_stamps([fine, drifted, stamped, legacy], {"g": g})
    assert stamps == [("a", template_hash(g.spec, 0))]


# -- the record ---------------------------------------------------------------------------


def test_a_removal_is_active_until_deleted_or_cancelled() -> None:
    for phase, active in [
        ("Candidate", True),
        ("Draining", True),
        ("Deleting", True),
        ("Deleted", False),
        ("Cancelled", False),
    ]:
        assert removal("n", phase).active is active
    broken = parse_removal({"metadata": {"name": "x"}, "spec": {"nodeName": "x"}})
    assert broken.error and not broken.active


def test_replacement_nodes_are_protected_while_the_removal_runs() -> None:
    nr = request("g-r", "Ready", nodeName="g-r")
    other = request("g-o", "Ready", nodeName="g-o")
    assert protected_nodes([removal("n", replacements=["g-r"])], [nr, other]) == {"g-r"}
    assert protected_nodes([removal("n", "Deleted", replacements=["g-r"])], [nr]) == frozenset()


def test_nodes_that_have_not_joined_are_not_stamped() -> None:
    g = drifted_group()
    assert template_stamps([node("a", ready=False)], {"g": g}) == []
