"""offerings(): what Hetzner sells where, at which price, cached for a while."""

from __future__ import annotations

from collections.abc import Callable

from growthrs_hetzner.provider import HetznerProvider
from hcloud_standin import StandIn


def test_deprecated_types_are_left_out(provider: HetznerProvider) -> None:
    types = {o.instance_type for o in provider.offerings(None)}
    assert "cx11" not in types  # listed by the API, but deprecated
    assert {"cx22", "cpx11", "cax11", "ccx13", "ccx63"} <= types


def test_one_offering_per_location_with_that_locations_price(provider: HetznerProvider) -> None:
    by_key = {o.key: o for o in provider.offerings(None)}
    assert by_key["cpx11@fsn1"].cost_per_hour == 0.007
    assert by_key["cpx11@ash"].cost_per_hour == round(0.007 * 1.19, 10)  # US prices are higher
    assert "cx22@ash" not in by_key  # CX is sold in the EU only
    assert {o.region for o in provider.offerings(None) if o.instance_type == "cpx11"} == {
        "fsn1",
        "nbg1",
        "hel1",
        "ash",
        "hil",
        "sin",
    }


def test_gross_price_when_configured(make_provider: Callable[..., HetznerProvider]) -> None:
    gross = make_provider(price="gross")
    cx22 = next(o for o in gross.offerings("fsn1") if o.instance_type == "cx22")
    assert cx22.cost_per_hour == 0.00714


def test_architecture_resources_and_zone(provider: HetznerProvider) -> None:
    by_key = {o.key: o for o in provider.offerings("nbg1")}
    cax21, ccx33 = by_key["cax21@nbg1"], by_key["ccx33@nbg1"]
    assert cax21.arch == "arm64" and ccx33.arch == "amd64"
    assert cax21.resources.cpu_millis == 4000
    assert cax21.resources.memory_mib == 8 * 1024 - 256  # minus the documented reserve
    assert cax21.resources.ephemeral_storage_gib == 80
    assert cax21.region == "nbg1" and cax21.zone is None


def test_reserve_is_configurable(make_provider: Callable[..., HetznerProvider]) -> None:
    raw = make_provider(reserved_memory_mib=0, reserved_cpu_millis=100)
    cx22 = next(o for o in raw.offerings("fsn1") if o.instance_type == "cx22")
    assert (cx22.resources.cpu_millis, cx22.resources.memory_mib) == (1900, 4096)


def test_region_filter(provider: HetznerProvider) -> None:
    assert {o.region for o in provider.offerings("hel1")} == {"hel1"}
    assert provider.offerings("nowhere") == []


def test_unavailable_type_in_a_location_is_left_out(
    api: StandIn, provider: HetznerProvider
) -> None:
    api.set_available("cx32", "nbg1", False)
    keys = {o.key for o in provider.offerings(None)}
    assert "cx32@nbg1" not in keys and "cx32@fsn1" in keys


def test_cached_for_the_ttl(api: StandIn, make_provider: Callable[..., HetznerProvider]) -> None:
    now = [1000.0]
    provider = make_provider(offerings_ttl=60, clock=lambda: now[0])

    def fetches() -> int:
        return len(api.requests("GET", "/server_types"))

    provider.offerings(None)
    provider.offerings("fsn1")
    now[0] += 59
    provider.offerings("nbg1")
    assert fetches() == 1
    now[0] += 2
    api.set_available("cx22", "fsn1", False)
    assert "cx22@fsn1" not in {o.key for o in provider.offerings("fsn1")}
    assert fetches() == 2
