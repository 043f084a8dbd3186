"""Which watch events open a planning batch.

Pods the scheduler marked Unschedulable are planned when they turn up; after
that, only a change to what they were planned against (room taken or freed, a
node that changed, a NodeRequest that left flight) plans them again. Pods no
plan could serve (no group, unplaceable) wait for changes that may unstick them:
a group edited, a node or a request gone. Without waiting pods, no event plans
anything: a quiet cluster costs nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from growthrs_core.cluster import NodeInfo, PodInfo, parse_node_request
from growthrs_core.controller.controller import Controller
from growthrs_core.planner import Plan, PodOutcome
from growthrs_core.plugins.manager import PluginManager
from growthrs_core.settings import Settings


@pytest.fixture
def controller() -> Controller:
    manager = PluginManager(load_entry_points=False)
    return Controller(Settings(), manager, client.ApiClient(client.Configuration()))


def waiting(name: str = "p") -> PodInfo:
    return PodInfo(namespace="ns", name=name, unschedulable=True)


def bound(name: str = "p", node: str = "n1") -> PodInfo:
    return PodInfo(namespace="ns", name=name, node_name=node)


def request(phase: str, offering: str = "cx32@fsn1") -> Any:
    return parse_node_request(
        {
            "metadata": {"name": "g-abc"},
            "spec": {"nodeGroup": "g", "requirements": {"cpu": "1", "memory": "1Gi"}},
            "status": {"phase": phase, "offering": offering},
        }
    )


def batch_open(c: Controller) -> bool:
    return c.batch_first is not None


def test_a_pod_turning_unschedulable_opens_a_batch(controller: Controller) -> None:
    controller._on_pod("pods", "ns/p", None, waiting())
    assert batch_open(controller) and controller.waiting_pods == {"ns/p"}


def test_without_waiting_pods_nothing_replans(controller: Controller) -> None:
    controller._on_pod("pods", "ns/q", None, bound("q"))
    controller._on_node("nodes", "n1", None, NodeInfo(name="n1"))
    controller._on_node_request("noderequests", "g-abc", request("Provisioning"), None)
    controller._on_other("groups", "g", None, object())
    assert not batch_open(controller)


@pytest.mark.parametrize(
    "event",
    [
        lambda c: c._on_pod("pods", "ns/q", bound("q"), None),
        lambda c: c._on_pod("pods", "ns/q", PodInfo(namespace="ns", name="q"), bound("q")),
        lambda c: c._on_node("nodes", "n1", None, NodeInfo(name="n1")),
        lambda c: c._on_node("nodes", "n1", NodeInfo(name="n1"), NodeInfo(name="n1", ready=True)),
        lambda c: c._on_node_request(
            "noderequests", "g-abc", request("Provisioning"), request("Ready")
        ),
        lambda c: c._on_node_request(
            "noderequests", "g-abc", request("Pending"), request("Pending", "cpx31@fsn1")
        ),
        lambda c: c._on_node_request("noderequests", "g-abc", request("Provisioning"), None),
        lambda c: c._on_other("groups", "g", None, object()),
    ],
)
def test_a_change_under_waiting_pods_replans(controller: Controller, event: Any) -> None:
    controller._on_pod("pods", "ns/p", None, waiting())
    controller.batch_first = controller.batch_last = None  # that batch was planned
    event(controller)
    assert batch_open(controller)


@pytest.mark.parametrize(
    "event",
    [
        # A heartbeat: the record is the same.
        lambda c: c._on_node("nodes", "n1", NodeInfo(name="n1"), NodeInfo(name="n1")),
        # The operator's own new request, and one still in flight.
        lambda c: c._on_node_request("noderequests", "g-abc", None, request("Pending")),
        lambda c: c._on_node_request(
            "noderequests", "g-abc", request("Pending"), request("Provisioning")
        ),
        # The scheduler marking the same pod again.
        lambda c: c._on_pod("pods", "ns/p", waiting(), waiting()),
    ],
)
def test_changes_that_leave_the_plan_as_it_was_do_not_replan(
    controller: Controller, event: Any
) -> None:
    controller._on_pod("pods", "ns/p", None, waiting())
    controller.batch_first = controller.batch_last = None
    event(controller)
    assert not batch_open(controller)


def test_a_waiting_pod_that_gets_bound_stops_waiting(controller: Controller) -> None:
    controller._on_pod("pods", "ns/p", None, waiting())
    controller._on_pod("pods", "ns/p", waiting(), bound())
    assert controller.waiting_pods == set()
    controller.batch_first = controller.batch_last = None
    controller._on_node("nodes", "n2", None, NodeInfo(name="n2"))
    assert not batch_open(controller)


STUCK = PodOutcome.cannot_serve("NoMatchingGroup", "no node group matches")


def stuck(c: Controller, key: str = "ns/p") -> None:
    """The pod waits, and the last plan could not serve it at all."""
    c._on_pod("pods", key, None, waiting(key.split("/")[1]))
    c._remember_stuck(Plan(outcomes={key: STUCK}))
    c.batch_first = c.batch_last = None


@pytest.mark.parametrize(
    "event",
    [
        lambda c: c._on_pod("pods", "ns/q", PodInfo(namespace="ns", name="q"), bound("q")),
        lambda c: c._on_node("nodes", "n1", None, NodeInfo(name="n1")),
        lambda c: c._on_node_request(
            "noderequests", "g-abc", request("Pending"), request("Pending", "cpx31@fsn1")
        ),
        # Marked Unschedulable again, as the scheduler does on each retry.
        lambda c: c._on_pod("pods", "ns/p", waiting(), waiting()),
    ],
)
def test_pods_no_plan_could_serve_do_not_replan_on_every_bind(
    controller: Controller, event: Any
) -> None:
    stuck(controller)
    event(controller)
    assert not batch_open(controller)


@pytest.mark.parametrize(
    "event",
    [
        lambda c: c._on_other("groups", "g", None, object()),
        lambda c: c._on_node("nodes", "n1", NodeInfo(name="n1"), None),
        lambda c: c._on_node_request("noderequests", "g-abc", request("Provisioning"), None),
        lambda c: c._on_node_request("noderequests", "g-abc", request("Pending"), request("Unmet")),
    ],
)
def test_changes_that_may_unstick_pods_replan(controller: Controller, event: Any) -> None:
    stuck(controller)
    event(controller)
    assert batch_open(controller)


def test_a_new_waiting_pod_next_to_a_stuck_one_still_plans(controller: Controller) -> None:
    stuck(controller)
    controller._on_pod("pods", "ns/r", None, waiting("r"))
    assert batch_open(controller) and controller.open_pods == {"ns/r"}
    # Once a plan serves it, a change under it plans again.
    controller._remember_stuck(Plan(outcomes={"ns/p": STUCK}))
    controller.batch_first = controller.batch_last = None
    controller._on_node("nodes", "n1", None, NodeInfo(name="n1"))
    assert batch_open(controller)
