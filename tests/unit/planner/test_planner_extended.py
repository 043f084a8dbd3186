"""Extended resources and hugepages: a pod gets a node only from an offering that
declares every resource it requests, and nodes, in-flight requests and existing
nodes hold only as many such pods as they have of it."""

from __future__ import annotations

from typing import Any

from growthrs_core.cluster import PodInfo, parse_pod
from growthrs_core.crd.models import Requirements
from growthrs_core.planner import fallback_offerings, offering_satisfies
from growthrs_testkit.planning import (
    covered,
    daemonset,
    fits,
    group,
    lineup,
    node,
    node_requests_from,
    offering,
    pod,
    pods,
    pool,
    reasons,
    run,
    stuck,
    summary,
)

WIDGET = "example.com/widget"
HUGE = "hugepages-2Mi"
GiB = 1 << 30

# wx2/wx4: fictional 4-core machines with 2 and 4 widgets; cx32 has none.
WX2 = offering("wx2", cpu=4, memory_gib=8, price=0.02, extended={WIDGET: 2})
WX4 = offering("wx4", cpu=4, memory_gib=8, price=0.03, extended={WIDGET: 4})
HP = offering("hp", cpu=4, memory_gib=8, price=0.02, extended={HUGE: 2 * GiB})
PLAIN = lineup(["cx22", "cx32"])
OFFERS = {"hetzner": [*PLAIN, WX2, WX4, HP]}
ALL = [group(pools=[pool(["cx22", "cx32", "wx2", "wx4", "hp"])])]


def widgets(name: str, n: int, count: str = "1", cpu: str = "100m") -> list[PodInfo]:
    return pods(name, n, cpu, extended={WIDGET: count})


def test_a_resource_no_offering_declares_gets_no_node() -> None:
    p = pod("w", extended={WIDGET: "1"})
    result = run([p], [group(pools=[pool(["cx22", "cx32"])])], {"hetzner": PLAIN})
    assert not result.new_nodes
    assert reasons(result) == {"default/w": "NoOfferingFits"}
    assert WIDGET in stuck(result)["default/w"]


def test_hugepages_no_offering_declares_get_no_node() -> None:
    p = pod("h", extended={HUGE: "1Gi"})
    result = run([p], [group(pools=[pool(["cx22", "cx32"])])], {"hetzner": PLAIN})
    assert reasons(result) == {"default/h": "NoOfferingFits"}
    assert "hugepages-2Mi 1Gi" in stuck(result)["default/h"]


def test_a_selector_that_leaves_only_offerings_without_it_names_the_resource() -> None:
    p = pod("w", extended={WIDGET: "1"}, node_selector={"node.kubernetes.io/instance-type": "cx32"})
    result = run([p], ALL, OFFERS)
    assert reasons(result) == {"default/w": "NoOfferingFits"}
    assert f"offers {WIDGET}" in stuck(result)["default/w"]


def test_too_many_of_a_resource_says_which_offering_has_most() -> None:
    result = run([pod("w", extended={WIDGET: "8"})], ALL, OFFERS)
    assert reasons(result) == {"default/w": "NoOfferingFits"}
    message = stuck(result)["default/w"]
    assert f"{WIDGET} 8" in message and "wx4 with 4" in message


def test_pods_go_to_an_offering_that_declares_the_resource() -> None:
    result = run([pod("w", extended={WIDGET: "1"}), pod("plain")], ALL, OFFERS)
    assert not result.stuck()
    by_pod = result.planned_pods()
    assert WIDGET in by_pod["default/w"].offering.resources.extended


def test_a_node_holds_only_as_many_pods_as_it_has_of_the_resource() -> None:
    # Plenty of CPU and memory for all six; widgets for two per wx4 node.
    result = run(widgets("w", 6, "2"), [group(pools=[pool(["wx4"])])], {"hetzner": [WX4]})
    assert summary(result) == [("wx4@fsn1", 2)] * 3
    assert not result.stuck()


def test_pods_of_different_demands_share_a_node_within_its_resource() -> None:
    pending = [*widgets("one", 2, "1"), *widgets("two", 1, "2"), *widgets("three", 1, "3")]
    result = run(pending, [group(pools=[pool(["wx4"])])], {"hetzner": [WX4]})
    assert not result.stuck()
    for planned in result.new_nodes:
        used = sum(p.requests.extended[WIDGET] for p in planned.pods)
        assert used <= 4
    assert len(result.new_nodes) == 2  # 1+1+2 and 3: eight widgets on two nodes


def test_large_batches_pack_by_the_resource_too() -> None:
    # Beyond the exact re-pack: the first-fit packing itself counts widgets.
    result = run(widgets("w", 300, "1"), [group(pools=[pool(["wx4"])])], {"hetzner": [WX4]})
    assert not result.stuck()
    assert len(result.new_nodes) == 75
    assert all(len(n.pods) == 4 for n in result.new_nodes)


def test_right_sizing_keeps_the_resource() -> None:
    # wx2 is cheaper and has room for CPU, but only two widgets.
    result = run([pod("w", extended={WIDGET: "3"})], ALL, OFFERS)
    assert summary(result) == [("wx4@fsn1", 1)]
    result = run([pod("w", extended={WIDGET: "2"})], ALL, OFFERS)
    assert summary(result) == [("wx2@fsn1", 1)]


def test_hugepages_count_in_bytes() -> None:
    pending = pods("h", 3, extended={HUGE: "1Gi"})
    assert pending[0].requests.extended[HUGE] == GiB
    result = run(pending, [group(pools=[pool(["hp"])])], {"hetzner": [HP]})
    assert summary(result) == [("hp@fsn1", 1), ("hp@fsn1", 2)]


def test_daemonset_pods_take_their_share_of_the_resource() -> None:
    agent = daemonset("widget-agent", "10m", "16Mi", extended={WIDGET: "1"})
    result = run(
        widgets("w", 3, "1"),
        [group(pools=[pool(["wx4"])])],
        {"hetzner": [WX4]},
        daemonsets=[agent],
    )
    assert summary(result) == [("wx4@fsn1", 3)]
    result = run(
        widgets("w", 4, "1"),
        [group(pools=[pool(["wx4"])])],
        {"hetzner": [WX4]},
        daemonsets=[agent],
    )
    assert summary(result) == [("wx4@fsn1", 1), ("wx4@fsn1", 3)]


def test_a_daemonset_asking_for_a_resource_an_offering_lacks_takes_none_of_it() -> None:
    agent = daemonset("gadget-agent", "10m", "16Mi", extended={"example.com/gadget": "1"})
    result = run(
        widgets("w", 4, "1"),
        [group(pools=[pool(["wx4"])])],
        {"hetzner": [WX4]},
        daemonsets=[agent],
    )
    assert summary(result) == [("wx4@fsn1", 4)]


# -- existing nodes ------------------------------------------------------------------


def test_an_existing_node_without_the_resource_is_no_room() -> None:
    result = run([pod("w", extended={WIDGET: "1"})], ALL, OFFERS, nodes=[node("n1")])
    assert not fits(result)
    assert len(result.new_nodes) == 1


def test_an_existing_node_has_what_its_bound_pods_leave() -> None:
    nodes = [node("n1", extended={WIDGET: "4"})]
    bound = pod("bound", node="n1", extended={WIDGET: "3"})
    first = pod("a", extended={WIDGET: "1"})
    second = pod("b", extended={WIDGET: "1"})
    result = run([bound, first, second], ALL, OFFERS, nodes=nodes)
    assert fits(result) == {"default/a": "n1"}
    assert set(result.planned_pods()) == {"default/b"}


# -- in-flight requests ----------------------------------------------------------------


def test_in_flight_room_counts_the_resource() -> None:
    g = [group(pools=[pool(["wx4"])])]
    offers = {"hetzner": [WX4]}
    first = run(widgets("w", 1, "2"), g, offers)
    requests = node_requests_from(first)
    more = widgets("more", 2, "2")
    result = run([*widgets("w", 1, "2"), *more], g, offers, node_requests=requests)
    # The request lists w-0 (2 widgets): room for one more such pod, not two.
    assert set(covered(result)) == {"default/w-0", "default/more-0"}
    assert set(result.planned_pods()) == {"default/more-1"}


def test_in_flight_room_without_the_resource_takes_no_such_pod() -> None:
    g = [group(pools=[pool(["cx32", "wx4"])])]
    first = run([pod("plain")], g, OFFERS)
    assert WIDGET not in first.new_nodes[0].offering.resources.extended
    result = run(
        [pod("plain"), pod("w", extended={WIDGET: "1"})],
        g,
        OFFERS,
        node_requests=node_requests_from(first),
    )
    assert set(covered(result)) == {"default/plain"}
    assert set(result.planned_pods()) == {"default/w"}


def test_planning_again_with_the_plans_requests_plans_nothing_new() -> None:
    pending = [*widgets("w", 5, "2"), *pods("h", 3, extended={HUGE: "1Gi"}), pod("plain")]
    first = run(pending, ALL, OFFERS)
    assert not first.stuck()
    again = run(pending, ALL, OFFERS, node_requests=node_requests_from(first))
    assert not again.new_nodes
    assert set(covered(again)) == {p.key for p in pending}


# -- requirements and fallback -----------------------------------------------------------


def test_requirements_name_only_offerings_with_the_resource() -> None:
    result = run([pod("w", "1", extended={WIDGET: "1"})], ALL, OFFERS)
    (planned,) = result.new_nodes
    req = planned.requirements
    assert req.offerings == ["wx2@fsn1", "wx4@fsn1"]
    by_key = {o.key: o for o in OFFERS["hetzner"]}
    assert not offering_satisfies(by_key["cx32@fsn1"], req)
    assert offering_satisfies(by_key["wx4@fsn1"], req)
    # Nodes of pods without extended resources keep the lists alone.
    assert run([pod("p", "1")], ALL, OFFERS).new_nodes[0].requirements.offerings is None


def test_fallback_never_offers_an_offering_without_the_resource() -> None:
    g = ALL[0]
    pending = [pod("w", "1", extended={WIDGET: "2"})]
    planned = run(pending, [g], OFFERS).new_nodes[0]
    order = fallback_offerings(g, OFFERS, [], pending, planned.requirements)
    assert [o.key for _, o in order] == ["wx2@fsn1", "wx4@fsn1"]
    # With a floor that knows nothing of widgets, the pods still decide.
    loose = fallback_offerings(g, OFFERS, [], pending, Requirements(cpu="1", memory="128Mi"))
    assert [o.key for _, o in loose] == ["wx2@fsn1", "wx4@fsn1"]


# -- parsing --------------------------------------------------------------------------


def test_identical_request_sets_still_share_one_parsed_record() -> None:
    def raw(name: str) -> dict[str, Any]:
        return {
            "metadata": {"namespace": "ns", "name": name},
            "spec": {
                "containers": [{"name": "c", "resources": {"requests": {"cpu": "1", WIDGET: "2"}}}]
            },
        }

    a, b = parse_pod(raw("a")), parse_pod(raw("b"))
    assert a.requests.extended == {WIDGET: 2}
    assert a.requests is b.requests


def test_the_whole_round_packing_counts_the_resource() -> None:
    # The default chain packs a large round at once (cutting stock, first-fit per
    # shape, right-sizing). wx2 is the cheaper node and holds all 300 pods by CPU
    # and memory, but only two widgets each: four widgets on wx4 cost less per pod.
    result = run(widgets("w", 300, "1"), ALL, OFFERS)
    assert not result.stuck()
    for planned in result.new_nodes:
        have = planned.offering.resources.extended.get(WIDGET, 0)
        assert sum(p.requests.extended[WIDGET] for p in planned.pods) <= have
    assert summary(result) == [("wx4@fsn1", 4)] * 75
