"""The fictional WX types offer an extended resource and hugepages, and their Nodes
advertise both, so the scheduler (and the planner reading the Node back) sees them."""

from __future__ import annotations

from growthrs_core import CreateRequest, Offering
from growthrs_core.cluster import parse_node
from growthrs_kwok import manifest, offerings
from growthrs_kwok.offerings import HUGEPAGES_2MI, WIDGET_RESOURCE, catalogue


def by_key(key: str) -> Offering:
    return next(o for o in catalogue() if o.key == key)


def test_wx_types_declare_widgets_and_hugepages_everywhere() -> None:
    for location in ("fsn1", "nbg1", "hel1"):
        found = {str(o.instance_type): o for o in catalogue(location)}
        assert found["wx-widget-2"].resources.extended == {
            WIDGET_RESOURCE: 2,
            HUGEPAGES_2MI: 1 << 30,
        }
        assert found["wx-widget-4"].resources.extended[WIDGET_RESOURCE] == 4
    others = [o for o in catalogue() if not str(o.instance_type).startswith("wx-")]
    assert others and all(not o.resources.extended for o in others)


def test_hugepages_come_out_of_allocatable_memory() -> None:
    server = offerings.server_type("wx-widget-2")
    assert server is not None
    cap, alloc = offerings.capacity(server), offerings.allocatable(server)
    assert cap.memory_mib == 8192
    assert alloc.memory_mib == 8192 - 256 - 1024
    assert cap.extended == alloc.extended


def test_the_node_advertises_extended_resources_and_hugepages() -> None:
    request = CreateRequest(node_name="w-1", offering=by_key("wx-widget-4@fsn1/fsn1-dc14"))
    node = manifest.build_node(request, "c", ready_at=None)
    for section in ("capacity", "allocatable"):
        assert node["status"][section][WIDGET_RESOURCE] == "4"
        assert node["status"][section][HUGEPAGES_2MI] == "2Gi"
    # Read back as the planner reads a Node: the same resources as the offering.
    node["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    record = parse_node(node)
    assert record.error is None
    assert record.allocatable.extended == request.offering.resources.extended


def test_plain_nodes_advertise_nothing_extra() -> None:
    request = CreateRequest(node_name="n-1", offering=by_key("cx22@fsn1/fsn1-dc14"))
    allocatable = manifest.build_node(request, "c", ready_at=None)["status"]["allocatable"]
    assert set(allocatable) == {"cpu", "memory", "pods", "ephemeral-storage"}
