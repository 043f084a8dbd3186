"""Fixtures: a fresh stand-in per test, checked against the official API description.

Every request/response pair a stand-in served is validated when the test
finishes, so a test that passes also proves the stand-in answered (and the
provider asked) in Hetzner's documented shapes. The stand-in is its own test-only
distribution (``hcloud-standin``); the end-to-end tests get ``kube_cluster`` from
the GrowthRS test kit's pytest plugin (``growthrs-testkit``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hetzner_support import CLUSTER, JOIN, JOIN_SECRET, TOKEN
from pydantic import SecretStr

from growthrs_core import MissingConfig
from growthrs_hetzner.provider import HetznerProvider
from growthrs_hetzner.settings import HetznerSettings
from hcloud_standin import StandIn
from hcloud_standin.contract import Contract


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "invalid_requests: the test sends malformed requests on purpose; "
        "only the stand-in's answers are checked against the API description",
    )


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract.load()


@pytest.fixture
def api(request: pytest.FixtureRequest, contract: Contract) -> Iterator[StandIn]:
    with StandIn(token=TOKEN, action_delay=30.0) as standin:
        yield standin
    check_requests = request.node.get_closest_marker("invalid_requests") is None
    problems = contract.check_all(standin.exchanges, requests=check_requests)
    if problems:
        pytest.fail(
            "the stand-in exchange departs from Hetzner's API description:\n  "
            + "\n  ".join(problems),
            pytrace=False,
        )


@pytest.fixture
def secrets() -> dict[tuple[str, str, str], str]:
    return {(*JOIN, key): value for key, value in JOIN_SECRET.items()}


@pytest.fixture
def config_maps() -> dict[tuple[str, str, str], str]:
    return {}


@pytest.fixture
def sleeps() -> list[float]:
    """Waits the provider asked for; tests do not really sleep."""
    return []


@pytest.fixture
def make_provider(
    api: StandIn,
    secrets: dict[tuple[str, str, str], str],
    config_maps: dict[tuple[str, str, str], str],
    sleeps: list[float],
) -> Callable[..., HetznerProvider]:
    def read(store: dict[tuple[str, str, str], str], what: str) -> Callable[[str, str, str], str]:
        def reader(namespace: str, name: str, key: str) -> str:
            try:
                return store[(namespace, name, key)]
            except KeyError:
                raise MissingConfig(f"{what} {namespace}/{name} has no key {key!r}") from None

        return reader

    def make(
        *, clock: Callable[[], float] | None = None, cluster: str = CLUSTER, **overrides: Any
    ) -> HetznerProvider:
        settings = HetznerSettings(
            **{"token": SecretStr(api.token), "endpoint": api.url, **overrides}
        )
        extra: dict[str, Any] = {"clock": clock} if clock else {}
        return HetznerProvider(
            settings,
            cluster_name=cluster,
            read_secret=read(secrets, "Secret"),
            read_config_map=read(config_maps, "ConfigMap"),
            sleep=sleeps.append,
            **extra,
        )

    return make


@pytest.fixture
def provider(make_provider: Callable[..., HetznerProvider]) -> HetznerProvider:
    return make_provider()
