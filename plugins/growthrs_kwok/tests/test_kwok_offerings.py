"""The catalogue mirrors Hetzner's lineup and offers allocatable resources."""

from __future__ import annotations

import pytest

from growthrs_core import Offering, Resources
from growthrs_kwok import offerings
from growthrs_kwok.offerings import catalogue

HETZNER_LINEUP = {
    "cx22", "cx32", "cx42", "cx52",
    "cpx11", "cpx21", "cpx31", "cpx41", "cpx51",
    "cax11", "cax21", "cax31", "cax41",
    "ccx13", "ccx23", "ccx33", "ccx43", "ccx53", "ccx63",
}  # fmt: skip


def by_key() -> dict[str, Offering]:
    return {o.key: o for o in catalogue()}


def test_every_hetzner_type_is_sold_in_every_location() -> None:
    for location in ("fsn1", "nbg1", "hel1"):
        types = {str(o.instance_type) for o in catalogue(location)}
        assert types >= HETZNER_LINEUP, location


def test_keys_are_unique_and_zones_are_datacenters_of_their_location() -> None:
    all_ = catalogue()
    assert len({o.key for o in all_}) == len(all_)
    zones = {str(o.region): str(o.zone) for o in all_}
    assert zones == {"fsn1": "fsn1-dc14", "nbg1": "nbg1-dc3", "hel1": "hel1-dc2"}


def test_region_filter_and_unknown_region() -> None:
    assert {str(o.region) for o in catalogue("nbg1")} == {"nbg1"}
    assert catalogue("us-east") == []
    assert len(catalogue()) == sum(len(catalogue(r)) for r in ("fsn1", "nbg1", "hel1"))


def test_cx22_allocatable_is_capacity_minus_documented_reserve() -> None:
    cx22 = by_key()["cx22@fsn1/fsn1-dc14"]
    assert cx22.resources == Resources(
        cpu_millis=1900, memory_mib=3840, ephemeral_storage_gib=36, gpu=0
    )
    assert cx22.arch == "amd64"
    assert cx22.max_pods == 110
    assert cx22.cost_per_hour == pytest.approx(0.006, rel=0.2)


@pytest.mark.parametrize(
    ("name", "cores", "memory_gib"),
    [("cpx11", 2, 2), ("cpx21", 3, 4), ("cax41", 16, 32), ("ccx63", 48, 192), ("cx52", 16, 32)],
)
def test_real_cores_and_memory(name: str, cores: int, memory_gib: int) -> None:
    server = offerings.server_type(name)
    assert server is not None
    assert offerings.capacity(server).cpu_millis == cores * 1000
    assert offerings.capacity(server).memory_mib == memory_gib * 1024


def test_cax_is_arm64_and_everything_else_amd64() -> None:
    for o in catalogue():
        assert o.arch == ("arm64" if str(o.instance_type).startswith("cax") else "amd64")


def test_gpu_types_carry_count_and_model() -> None:
    found = by_key()
    l4 = found["gx-l4-1@fsn1/fsn1-dc14"].resources
    a100 = found["gx-a100-2@fsn1/fsn1-dc14"].resources
    assert (l4.gpu, l4.gpu_model) == (1, "nvidia-l4")
    assert (a100.gpu, a100.gpu_model) == (2, "nvidia-a100")
    assert "gx-a100-2@hel1/hel1-dc2" not in found
    assert all(
        o.resources.gpu == 0 for o in catalogue() if not str(o.instance_type).startswith("gx")
    )


def test_prices_grow_with_size_within_a_line() -> None:
    for line in ("cx", "cpx", "cax", "ccx"):
        prices = [
            t.eur_per_hour for t in offerings.SERVER_TYPES if t.name.rstrip("0123456789") == line
        ]
        assert prices == sorted(prices) and len(set(prices)) == len(prices), line
    assert all(o.cost_per_hour > 0 for o in catalogue())


def test_every_allocatable_is_positive_and_below_capacity() -> None:
    for server in offerings.SERVER_TYPES:
        cap, alloc = offerings.capacity(server), offerings.allocatable(server)
        assert 0 < alloc.cpu_millis < cap.cpu_millis
        assert 0 < alloc.memory_mib < cap.memory_mib
        assert alloc.ephemeral_storage_gib is not None and cap.ephemeral_storage_gib is not None
        assert 0 < alloc.ephemeral_storage_gib < cap.ephemeral_storage_gib
        assert alloc.gpu == cap.gpu
