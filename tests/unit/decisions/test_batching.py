"""Which watch events open a planning batch, and when a batch is due.

Pods the scheduler marked Unschedulable are planned when they turn up; after
that, only a change to what they were planned against (room taken or freed, a
node that changed, a NodeRequest that left flight) plans them again. Pods no
plan could serve (no group, unplaceable) wait for changes that may unstick them:
a group edited, a node or a request gone. Without waiting pods, no event plans
anything: a quiet cluster costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from growthrs_core.cluster import NodeInfo, NodeRequestView, PodInfo, parse_node_request
from growthrs_core.decisions.batching import BatchWindow, WaitingPods

Event = Callable[[WaitingPods], bool]


def waiting(name: str = "p") -> PodInfo:
    return PodInfo(namespace="ns", name=name, unschedulable=True)


def bound(name: str = "p", node: str = "n1") -> PodInfo:
    return PodInfo(namespace="ns", name=name, node_name=node)


def request(phase: str, offering: str = "cx32@fsn1") -> NodeRequestView:
    return parse_node_request(
        {
            "metadata": {"name": "g-abc"},
            "spec": {"nodeGroup": "g", "requirements": {"cpu": "1", "memory": "1Gi"}},
            "status": {"phase": phase, "offering": offering},
        }
    )


# -- the window -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("triggers", "deadline"),
    [
        ([], float("inf")),
        ([0.0], 1.0),  # idle closes first
        ([0.0, 0.5, 0.9], 1.9),  # each new pod extends the idle window
        ([0.0, 0.9, 1.8, 2.7, 3.6], 3.0),  # the max window caps it
    ],
)
def test_batch_deadline(triggers: list[float], deadline: float) -> None:
    window = BatchWindow(idle=1.0, max=3.0)
    for moment in triggers:
        window.trigger(moment)
    assert window.deadline() == pytest.approx(deadline)
    assert window.due(deadline) and (not triggers or not window.due(deadline - 0.01))


def test_closing_a_batch_forgets_it() -> None:
    window = BatchWindow(idle=1.0, max=3.0)
    window.trigger(5.0)
    window.close()
    assert not window.open and window.deadline() == float("inf") and not window.due(100.0)


# -- which events open one ------------------------------------------------------------------------


def test_a_pod_turning_unschedulable_opens_a_batch() -> None:
    w = WaitingPods()
    assert w.on_pod("ns/p", None, waiting())
    assert w.waiting == {"ns/p"} and w.open == {"ns/p"}


def test_without_waiting_pods_nothing_replans() -> None:
    w = WaitingPods()
    assert not w.on_pod("ns/q", None, bound("q"))
    assert not w.on_node(None, NodeInfo(name="n1"))
    assert not w.on_node_request(request("Provisioning"), None)
    assert not w.on_group()


CHANGES_UNDER_WAITING_PODS: list[Event] = [
    lambda w: w.on_pod("ns/q", bound("q"), None),
    lambda w: w.on_pod("ns/q", PodInfo(namespace="ns", name="q"), bound("q")),
    lambda w: w.on_node(None, NodeInfo(name="n1")),
    lambda w: w.on_node(NodeInfo(name="n1"), NodeInfo(name="n1", ready=True)),
    lambda w: w.on_node_request(request("Provisioning"), request("Ready")),
    lambda w: w.on_node_request(request("Pending"), request("Pending", "cpx31@fsn1")),
    lambda w: w.on_node_request(request("Provisioning"), None),
    lambda w: w.on_group(),
]


@pytest.mark.parametrize("event", CHANGES_UNDER_WAITING_PODS)
def test_a_change_under_waiting_pods_replans(event: Event) -> None:
    w = WaitingPods()
    w.on_pod("ns/p", None, waiting())
    assert event(w)


@pytest.mark.parametrize(
    "event",
    [
        # A heartbeat: the record is the same.
        lambda w: w.on_node(NodeInfo(name="n1"), NodeInfo(name="n1")),
        # The operator's own new request, and one still in flight.
        lambda w: w.on_node_request(None, request("Pending")),
        lambda w: w.on_node_request(request("Pending"), request("Provisioning")),
        # The scheduler marking the same pod again.
        lambda w: w.on_pod("ns/p", waiting(), waiting()),
    ],
)
def test_changes_that_leave_the_plan_as_it_was_do_not_replan(event: Event) -> None:
    w = WaitingPods()
    w.on_pod("ns/p", None, waiting())
    assert not event(w)


def test_a_waiting_pod_that_gets_bound_stops_waiting() -> None:
    w = WaitingPods()
    w.on_pod("ns/p", None, waiting())
    w.on_pod("ns/p", waiting(), bound())
    assert w.waiting == set()
    assert not w.on_node(None, NodeInfo(name="n2"))


def stuck() -> WaitingPods:
    """The pod waits, and the last plan could not serve it at all."""
    w = WaitingPods()
    w.on_pod("ns/p", None, waiting())
    w.remember_stuck(["ns/p"])
    return w


@pytest.mark.parametrize(
    "event",
    [
        lambda w: w.on_pod("ns/q", PodInfo(namespace="ns", name="q"), bound("q")),
        lambda w: w.on_node(None, NodeInfo(name="n1")),
        lambda w: w.on_node_request(request("Pending"), request("Pending", "cpx31@fsn1")),
        # Marked Unschedulable again, as the scheduler does on each retry.
        lambda w: w.on_pod("ns/p", waiting(), waiting()),
    ],
)
def test_pods_no_plan_could_serve_do_not_replan_on_every_bind(event: Event) -> None:
    assert not event(stuck())


@pytest.mark.parametrize(
    "event",
    [
        lambda w: w.on_group(),
        lambda w: w.on_node(NodeInfo(name="n1"), None),
        lambda w: w.on_node_request(request("Provisioning"), None),
        lambda w: w.on_node_request(request("Pending"), request("Unmet")),
    ],
)
def test_changes_that_may_unstick_pods_replan(event: Event) -> None:
    assert event(stuck())


def test_a_new_waiting_pod_next_to_a_stuck_one_still_plans() -> None:
    w = stuck()
    assert w.on_pod("ns/r", None, waiting("r")) and w.open == {"ns/r"}
    # Once a plan serves it, a change under it plans again.
    w.remember_stuck(["ns/p"])
    assert w.on_node(None, NodeInfo(name="n1"))


def test_a_storm_of_pods_is_planned_first_plan_after_the_first_one() -> None:
    window = BatchWindow(idle=1.0, max=10.0, first_plan=1.0)
    for i in range(40):  # a pod every 0.5 s for 20 s: idle never closes
        window.trigger(i * 0.5)
        if window.due(i * 0.5):
            break
    assert window.deadline() == pytest.approx(1.0)
    slow = BatchWindow(idle=1.0, max=10.0)  # first_plan off: the old windows
    for i in range(40):
        slow.trigger(i * 0.5)
    assert slow.deadline() == pytest.approx(10.0)
