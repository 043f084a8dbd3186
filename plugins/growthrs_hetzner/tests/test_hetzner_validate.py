"""validate_pool(): what would keep a pool's servers from being created or joining, in words."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hetzner_support import JOIN, JOIN_SECRET, TOKEN, k3s_class
from pydantic import SecretStr

from growthrs_core import PoolCheck, ValidatesPools
from growthrs_hetzner.provider import HetznerProvider
from hcloud_standin import Fault, StandIn

REF = "HetznerNodeClass/workers"


def check(
    types: tuple[str, ...] = ("cx22", "cpx21"),
    locations: tuple[str, ...] | None = ("fsn1", "nbg1"),
    node_class: Mapping[str, Any] | None = None,
    *,
    ref: str | None = REF,
    missing: bool = False,
) -> PoolCheck:
    return PoolCheck(
        group="default",
        pool_index=0,
        instance_types=types,
        locations=locations,
        node_class=dict(k3s_class() if node_class is None else node_class),
        node_class_ref=ref,
        node_class_missing=missing,
    )


def one(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    return problems[0]


def test_the_provider_validates_pools(provider: HetznerProvider) -> None:
    assert isinstance(provider, ValidatesPools)


@pytest.mark.parametrize(
    "pool",
    [
        check(),
        check(locations=None),
        check(("cax11", "cx22"), node_class=k3s_class(locations=["fsn1"])),
        check(
            node_class={
                "userData": {"kind": "kubeadm"},
                "joinSecretRef": {"namespace": JOIN[0], "name": JOIN[1]},
            }
        ),
        # A snapshot that joins by itself needs no user data.
        check(("cx22",), node_class={"image": {"amd64": {"labelSelector": "role=node"}}}),
        check(("cax11",), node_class={"image": {"arm64": {"id": 42}}}),
    ],
    ids=["k3s", "any-location", "both-arches", "kubeadm", "snapshot-by-selector", "snapshot-id"],
)
def test_a_valid_pool_has_no_problems(provider: HetznerProvider, pool: PoolCheck) -> None:
    assert provider.validate_pool(pool) == []


def test_no_node_class(provider: HetznerProvider) -> None:
    problem = one(provider.validate_pool(check(node_class={}, ref=None)))
    assert problem.startswith("no node class: servers could not join the cluster")
    assert "nodeClassRef" in problem


def test_a_missing_node_class_object(provider: HetznerProvider) -> None:
    problem = one(provider.validate_pool(check(node_class={}, missing=True)))
    assert problem == (
        "node class HetznerNodeClass/workers does not exist: servers could not join the cluster"
    )


def test_a_node_class_of_another_kind(provider: HetznerProvider) -> None:
    problem = one(provider.validate_pool(check(node_class={}, ref="TinyCloudNodeClass/x")))
    assert "is not a HetznerNodeClass" in problem and "could not join" in problem


def test_a_node_class_without_user_data_on_a_system_image(provider: HetznerProvider) -> None:
    for node_class in ({}, {"image": {"amd64": {"name": "ubuntu-24.04"}}}):
        problem = one(provider.validate_pool(check(("cx22",), node_class=node_class)))
        assert problem.startswith("HetznerNodeClass workers has no userData")
        assert "ubuntu-24.04 is a system image: servers could not join the cluster" in problem


def test_an_invalid_node_class_names_the_field(provider: HetznerProvider) -> None:
    problem = one(provider.validate_pool(check(node_class={"userData": {"kind": "k3s"}})))
    assert problem.startswith("HetznerNodeClass workers:") and "joinSecretRef" in problem


def test_a_custom_template_that_needs_secrets_but_has_no_join_secret(
    provider: HetznerProvider, config_maps: dict[tuple[str, str, str], str]
) -> None:
    config_maps[("ops", "init", "template")] = (
        "#cloud-config\nruncmd: [[join, '{{ secret.token }}']]"
    )
    node_class = {
        "userData": {"kind": "custom", "templateRef": {"namespace": "ops", "name": "init"}}
    }
    problem = one(provider.validate_pool(check(node_class=node_class)))
    assert "needs joinSecretRef (Secret keys token)" in problem and "could not join" in problem


def test_a_custom_template_that_cannot_be_read_or_rendered(
    provider: HetznerProvider, config_maps: dict[tuple[str, str, str], str]
) -> None:
    node_class = {
        "userData": {"kind": "custom", "templateRef": {"namespace": "ops", "name": "init"}},
        "joinSecretRef": {"namespace": JOIN[0], "name": JOIN[1]},
    }
    problem = one(provider.validate_pool(check(node_class=node_class)))
    assert "ConfigMap ops/init has no key 'template'" in problem and "could not join" in problem
    config_maps[("ops", "init", "template")] = "#cloud-config\nhostname: {{ hostname }}"
    problem = one(provider.validate_pool(check(node_class=node_class)))
    assert "unknown placeholder 'hostname'" in problem


def test_a_join_secret_without_a_key_the_template_needs(
    provider: HetznerProvider, secrets: dict[tuple[str, str, str], str]
) -> None:
    del secrets[(*JOIN, "token")]
    problem = one(provider.validate_pool(check()))
    assert "joinSecretRef" in problem and "'token'" in problem and "could not join" in problem
    assert not any(value in problem for value in JOIN_SECRET.values())


def test_no_image_for_an_architecture_the_pool_needs(provider: HetznerProvider) -> None:
    node_class = k3s_class(image={"amd64": {"name": "ubuntu-24.04"}})
    problem = one(provider.validate_pool(check(("cx22", "cax11", "cax21"), node_class=node_class)))
    assert problem == (
        "HetznerNodeClass workers has no image for arm64 (field image.arm64): "
        "cax11, cax21 could not be created"
    )


def test_server_types_hetzner_does_not_have(provider: HetznerProvider) -> None:
    problem = one(provider.validate_pool(check(("cx22", "cx99", "big-one"))))
    assert problem.startswith("Hetzner has no server type cx99, big-one")


def test_locations_hetzner_does_not_have(provider: HetznerProvider) -> None:
    problem = one(provider.validate_pool(check(locations=("fsn1", "mars1"))))
    assert problem.startswith("Hetzner has no location mars1 (it has ")


def test_server_types_not_sold_in_the_pools_locations(provider: HetznerProvider) -> None:
    problems = provider.validate_pool(check(("cx22", "cpx21", "cx11"), locations=("ash",)))
    assert problems == [
        "Hetzner sells server type cx22 only in fsn1, hel1, nbg1, not in ash",
        "Hetzner sells server type cx11 nowhere, not in ash",  # deprecated everywhere
    ]


def test_node_class_locations_are_checked_too(provider: HetznerProvider) -> None:
    problems = provider.validate_pool(check(node_class=k3s_class(locations=["hel1", "fsn9"])))
    assert problems == [
        "HetznerNodeClass workers: unknown location fsn9 (field locations; Hetzner has "
        "ash, fsn1, hel1, hil, nbg1, sin)",
        "the pool's locations (fsn1, nbg1) and HetznerNodeClass workers's locations (hel1) "
        "have none in common: no server could be created",
    ]


def test_currently_unavailable_is_not_a_problem(api: StandIn, provider: HetznerProvider) -> None:
    """Out of stock is a capacity answer at creation (the pool falls back), not a fault."""
    for location in ("fsn1", "nbg1", "hel1"):
        api.set_available("cx22", location, False)
    assert provider.validate_pool(check(("cx22",))) == []


def test_no_token(api: StandIn, make_provider: Callable[..., HetznerProvider]) -> None:
    provider = make_provider(token=None)
    problem = one(provider.validate_pool(check()))
    assert problem.startswith("no Hetzner API token: set GROWTHRS_HETZNER_TOKEN")
    assert api.exchanges == []


def test_a_token_secret_that_cannot_be_read(
    api: StandIn, make_provider: Callable[..., HetznerProvider]
) -> None:
    provider = make_provider(token=None, token_secret="kube-system/hcloud/token")
    problem = one(provider.validate_pool(check()))
    assert problem.startswith("no Hetzner API token: Secret kube-system/hcloud has no key 'token'")
    assert api.exchanges == []


def test_a_rejected_token(api: StandIn, make_provider: Callable[..., HetznerProvider]) -> None:
    provider = make_provider(token=SecretStr(TOKEN + "-revoked"))
    problem = one(provider.validate_pool(check()))
    assert problem.startswith("cannot check the pool's server types and locations: ")
    assert "token was rejected" in problem and TOKEN not in problem


def test_an_api_failure_is_a_problem_not_an_exception(
    api: StandIn, provider: HetznerProvider
) -> None:
    api.inject(Fault(code="server_error", times=None))
    problem = one(provider.validate_pool(check()))
    assert problem.startswith("cannot check the pool's server types and locations: ")
    assert "server_error" in problem


def test_checks_use_the_cached_catalogue_and_an_outdated_one_when_hetzner_fails(
    api: StandIn, make_provider: Callable[..., HetznerProvider]
) -> None:
    now = [0.0]
    provider = make_provider(clock=lambda: now[0])
    assert provider.offerings("fsn1")
    assert provider.validate_pool(check()) == []
    assert provider.validate_pool(check(("cx99",)))  # a problem, from the same catalogue
    assert len(api.requests("GET", "/server_types")) == 1
    now[0] += 3600  # past offerings_ttl: read again, which fails
    api.inject(Fault(code="server_error", times=None))
    assert provider.validate_pool(check()) == []
