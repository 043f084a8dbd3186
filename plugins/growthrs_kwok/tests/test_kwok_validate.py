"""validate_pool(): types and locations the kwok catalogue does not have, without a cluster."""

from __future__ import annotations

import pytest

from growthrs_core import PoolCheck, ProviderContext, ValidatesPools
from growthrs_kwok import KwokProvider, from_context


@pytest.fixture
def provider() -> KwokProvider:
    # Faults are capacity answers at creation, never problems of a pool.
    return from_context(
        ProviderContext(name="kwok", settings={"unavailable": "cx22", "never_ready": "cax11"})
    )


def check(types: tuple[str, ...], locations: tuple[str, ...] | None = None) -> PoolCheck:
    return PoolCheck(group="g", pool_index=0, instance_types=types, locations=locations)


def test_the_provider_validates_pools(provider: KwokProvider) -> None:
    assert isinstance(provider, ValidatesPools)


@pytest.mark.parametrize(
    "pool",
    [
        check(("cx22", "cax11")),
        check(("cx22", "cpx21", "ccx13"), ("fsn1", "hel1")),
        check(("gx-a100-1",), ("fsn1", "hel1")),  # sold in one of them is enough
    ],
)
def test_a_valid_pool_has_no_problems(provider: KwokProvider, pool: PoolCheck) -> None:
    assert provider.validate_pool(pool) == []


def test_unknown_instance_types_are_named(provider: KwokProvider) -> None:
    assert provider.validate_pool(check(("cx22", "cx99", "m5.large"))) == [
        "kwok has no server type cx99, m5.large (see `growthrs offerings --provider kwok`)"
    ]


def test_unknown_locations_are_named(provider: KwokProvider) -> None:
    assert provider.validate_pool(check(("cx22",), ("fsn1", "us-east-1", "ash"))) == [
        "kwok has no location us-east-1, ash (it has fsn1, nbg1, hel1)"
    ]


def test_types_not_sold_in_the_pools_locations(provider: KwokProvider) -> None:
    assert provider.validate_pool(check(("cx22", "gx-l4-1", "gx-a100-2"), ("hel1",))) == [
        "kwok sells gx-l4-1 only in fsn1, nbg1, not in hel1",
        "kwok sells gx-a100-2 only in fsn1, not in hel1",
    ]


def test_every_problem_at_once(provider: KwokProvider) -> None:
    problems = provider.validate_pool(check(("cx99", "gx-a100-1"), ("mars1", "nbg1")))
    assert problems == [
        "kwok has no location mars1 (it has fsn1, nbg1, hel1)",
        "kwok has no server type cx99 (see `growthrs offerings --provider kwok`)",
        "kwok sells gx-a100-1 only in fsn1, not in nbg1",
    ]
