"""Hetzner error codes become provider errors; rate limits and 5xx are retried first."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import pytest
from hcloud import APIException
from hetzner_support import JOIN, JOIN_SECRET, TOKEN, create_request, k3s_class
from pydantic import SecretStr

from growthrs_core import (
    CreateRequest,
    CreationFailed,
    InstanceType,
    MissingConfig,
    NodeId,
    NotFound,
    Offering,
    OfferingUnavailable,
    PoolCheck,
    ProviderError,
    ProviderInternal,
    Region,
    Resources,
)
from growthrs_hetzner.api_errors import to_provider_error
from growthrs_hetzner.provider import HetznerProvider
from growthrs_hetzner.settings import HetznerSettings
from hcloud_standin import Fault, StandIn


def test_resource_unavailable_for_a_type_and_location(
    api: StandIn, provider: HetznerProvider
) -> None:
    api.inject(Fault(code="resource_unavailable", server_type="cx22", location="fsn1", times=None))
    with pytest.raises(OfferingUnavailable, match=r"cx22@fsn1.*resource_unavailable") as info:
        provider.create(create_request(provider, "node-1", "cx22", "fsn1"))
    assert info.value.retryable is False
    provider.create(create_request(provider, "node-2", "cx22", "nbg1"))  # elsewhere is fine
    provider.create(create_request(provider, "node-3", "cx32", "fsn1"))  # and other types


def test_placement_error_is_offering_unavailable(api: StandIn, provider: HetznerProvider) -> None:
    api.inject(Fault(code="placement_error"))
    with pytest.raises(OfferingUnavailable, match="placement_error"):
        provider.create(create_request(provider, "node-1"))


def test_full_placement_group_is_offering_unavailable(
    api: StandIn, provider: HetznerProvider
) -> None:
    api.create_placement_group("spread")
    node_class = {"placementGroup": "spread"}
    for i in range(10):
        provider.create(create_request(provider, f"node-{i}", node_class=node_class))
    with pytest.raises(OfferingUnavailable, match="placement group is full"):
        provider.create(create_request(provider, "node-10", node_class=node_class))


def test_resource_limit_exceeded_is_not_retryable(api: StandIn, provider: HetznerProvider) -> None:
    api.inject(Fault(code="resource_limit_exceeded"))
    with pytest.raises(CreationFailed, match="limit is reached") as info:
        provider.create(create_request(provider, "node-1"))
    assert info.value.retryable is False
    assert not isinstance(info.value, OfferingUnavailable)


def test_invalid_input_on_a_node_class_field_is_missing_config(
    api: StandIn, provider: HetznerProvider
) -> None:
    api.inject(
        Fault(
            code="invalid_input",
            message="invalid input in field 'placement_group'",
            details={"fields": [{"name": "placement_group", "messages": ["not found"]}]},
        )
    )
    with pytest.raises(MissingConfig, match=r"field placement_group.*placementGroup"):
        provider.create(create_request(provider, "node-1"))


def test_invalid_input_elsewhere_is_creation_failed(
    api: StandIn, provider: HetznerProvider
) -> None:
    api.inject(
        Fault(
            code="invalid_input", details={"fields": [{"name": "name", "messages": ["too long"]}]}
        )
    )
    with pytest.raises(CreationFailed, match=r"field name") as info:
        provider.create(create_request(provider, "node-1"))
    assert info.value.retryable is False


def test_rate_limit_is_waited_out_then_succeeds(
    api: StandIn, provider: HetznerProvider, sleeps: list[float]
) -> None:
    api.inject(
        Fault(code="rate_limit_exceeded", method="POST", path="/servers", times=2, reset_in=1)
    )
    assert provider.create(create_request(provider, "node-1")) == "node-1"
    assert len(sleeps) == 2 and all(0 < s <= 2 for s in sleeps)  # RateLimit-Reset, not a guess
    assert [e.status for e in api.requests("POST", "/servers")] == [429, 429, 201]


def test_retry_after_header_is_honoured(
    api: StandIn, provider: HetznerProvider, sleeps: list[float]
) -> None:
    api.inject(Fault(code="rate_limit_exceeded", path="/servers", method="GET", retry_after=4))
    assert provider.status(NodeId("ghost")) == NotFound()  # answered after the wait
    assert sleeps == [4.0]


def test_rate_limit_that_outlasts_the_retries_is_handed_back(
    api: StandIn, make_provider: Callable[..., HetznerProvider], sleeps: list[float]
) -> None:
    provider = make_provider(max_retries=2)
    api.inject(Fault(code="rate_limit_exceeded", times=None, reset_in=1))
    with pytest.raises(ProviderInternal) as info:
        provider.offerings(None)
    assert info.value.retryable is True and info.value.retry_after is not None
    assert len(sleeps) == 2


def test_long_rate_limit_is_handed_back_without_blocking(
    api: StandIn, make_provider: Callable[..., HetznerProvider], sleeps: list[float]
) -> None:
    provider = make_provider(max_retry_wait=10)
    api.inject(Fault(code="rate_limit_exceeded", retry_after=120))
    with pytest.raises(ProviderInternal) as info:
        provider.offerings(None)
    assert sleeps == [] and info.value.retry_after == 120


def test_real_rate_limit_budget(make_provider: Callable[..., HetznerProvider]) -> None:
    """The stand-in's own budget (not a fault): a throttled client waits for the refill."""
    with StandIn(token=TOKEN, rate_limit=3) as limited:
        waits: list[float] = []
        provider = HetznerProvider(
            HetznerSettings(token=SecretStr(TOKEN), endpoint=limited.url, max_retry_wait=3600),
            sleep=lambda s: (waits.append(s), limited.advance(s)),  # type: ignore[func-returns-value]
        )
        for name in ("a", "b", "c", "d"):
            assert provider.status(NodeId(name)) == NotFound()
        assert waits and all(0 < w <= 1200 for w in waits)  # one refill: 3600 s / 3 per hour


@pytest.mark.parametrize("code", ["server_error", "unavailable", "timeout", "bad_gateway"])
def test_5xx_is_retried_with_backoff(
    api: StandIn, provider: HetznerProvider, sleeps: list[float], code: str
) -> None:
    api.inject(Fault(code=code, times=2))
    assert provider.offerings("fsn1")
    assert sleeps == [0.5, 1.0]


def test_persistent_5xx_becomes_retryable_provider_internal(
    api: StandIn, provider: HetznerProvider, sleeps: list[float]
) -> None:
    api.inject(Fault(code="server_error", times=None))
    with pytest.raises(ProviderInternal, match="server_error") as info:
        provider.create(_request_without_lookup())
    assert info.value.retryable is True
    assert len(sleeps) == provider.settings.max_retries


def _request_without_lookup() -> CreateRequest:
    """A request built from a fixed offering so the sticky 5xx hits create, not offerings."""
    return CreateRequest(
        node_name="node-1",
        offering=Offering(
            instance_type=InstanceType("cx22"),
            resources=Resources(cpu_millis=2000, memory_mib=3840),
            cost_per_hour=0.006,
            region=Region("fsn1"),
        ),
    )


def test_unreachable_api_is_retryable_provider_internal(sleeps: list[float]) -> None:
    provider = HetznerProvider(
        HetznerSettings(
            token=SecretStr(TOKEN), endpoint="http://127.0.0.1:9/v1", request_timeout=2
        ),
        sleep=sleeps.append,
    )
    with pytest.raises(ProviderInternal, match="cannot reach") as info:
        provider.list_nodes()
    assert info.value.retryable is True and len(sleeps) == 3


def test_wrong_token_is_missing_config(api: StandIn) -> None:
    provider = HetznerProvider(HetznerSettings(token=SecretStr("wrong-token"), endpoint=api.url))
    with pytest.raises(MissingConfig, match="token was rejected"):
        provider.offerings(None)


def test_no_token_at_all_is_missing_config(api: StandIn) -> None:
    provider = HetznerProvider(HetznerSettings(endpoint=api.url))
    with pytest.raises(MissingConfig, match="GROWTHRS_HETZNER_TOKEN"):
        provider.list_nodes()


def test_token_from_a_secret_and_reread_after_rotation(api: StandIn) -> None:
    store = {("kube-system", "hcloud", "token"): "stale-token"}
    provider = HetznerProvider(
        HetznerSettings.from_mapping(
            {"endpoint": api.url, "token_secret": "kube-system/hcloud/token"}
        ),
        read_secret=lambda ns, name, key: store[(ns, name, key)],
    )
    with pytest.raises(MissingConfig):
        provider.list_nodes()
    store[("kube-system", "hcloud", "token")] = api.token + "\n"
    assert provider.list_nodes() == []


def test_token_never_leaks(
    api: StandIn,
    make_provider: Callable[..., HetznerProvider],
    caplog: pytest.LogCaptureFixture,
    sleeps: list[float],
    secrets: dict[tuple[str, str, str], str],
) -> None:
    """Scan every log record and every error message of a busy, failing session, for the
    API token and for the join Secret's token and CA hash."""
    caplog.set_level(logging.DEBUG)
    provider = make_provider()
    errors: list[BaseException] = []

    def attempt(fn: Callable[[], object]) -> None:
        try:
            fn()
        except ProviderError as exc:
            errors.append(exc)

    api.inject(Fault(code="rate_limit_exceeded", times=2))
    api.inject(Fault(code="server_error", times=None, method="DELETE"))
    api.inject(Fault(code="resource_unavailable", server_type="cx32"))
    api.inject(Fault(code="failing_actions", command="start_server"))
    attempt(lambda: provider.create(create_request(provider, "node-1", node_class=k3s_class())))
    attempt(lambda: provider.create(create_request(provider, "node-2", "cx32")))
    api.finish_actions()
    attempt(lambda: provider.status(NodeId("node-1")))
    attempt(lambda: provider.delete(NodeId("node-1")))
    bad = HetznerProvider(HetznerSettings(token=SecretStr(TOKEN + "x"), endpoint=api.url))
    attempt(lambda: bad.offerings(None))
    attempt(
        lambda: HetznerProvider(
            HetznerSettings(token=SecretStr(TOKEN), endpoint="http://127.0.0.1:9/v1"),
            sleep=sleeps.append,
        ).list_nodes()
    )
    # Another cluster's server with our name: create and delete refuse it, in words.
    other = make_provider(cluster="other-cluster")
    other.create(create_request(other, "node-9"))
    attempt(lambda: provider.create(create_request(provider, "node-9")))
    attempt(lambda: provider.delete(NodeId("node-9")))
    pool = PoolCheck(
        group="g",
        pool_index=0,
        instance_types=("cx22", "cx99"),
        locations=("fsn1", "mars1"),
        node_class=k3s_class(),
        node_class_ref="HetznerNodeClass/workers",
    )
    problems = [
        *provider.validate_pool(pool),
        *bad.validate_pool(pool),
        *make_provider(token=None, token_secret="kube-system/hcloud/token").validate_pool(pool),
    ]
    # Join Secrets the built-in templates refuse: no k3s version, a kubeadm too old.
    kubeadm = {"userData": {"kind": "kubeadm"}, "joinSecretRef": k3s_class()["joinSecretRef"]}
    del secrets[(*JOIN, "version")]
    secrets[(*JOIN, "kubernetesVersion")] = "v1.29"
    for node_class in (k3s_class(), kubeadm):
        request = create_request(provider, "node-5", node_class=node_class)
        attempt(partial(provider.create, request))
        problems += provider.validate_pool(replace(pool, node_class=node_class))
    assert len(problems) >= 6
    assert len(errors) >= 7
    texts = [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    texts += problems
    for exc in errors:
        texts += [str(exc), repr(exc), str(exc.__cause__), repr(exc.__cause__)]
    texts += [repr(provider), repr(provider.settings), str(provider.settings)]
    texts += [str(e.response_body) for e in api.exchanges]
    assert caplog.records  # the session did log
    leaks = [t for t in texts if TOKEN in t or TOKEN[:20] in t]
    assert leaks == []
    join_values = (JOIN_SECRET["token"], JOIN_SECRET["caCertHash"])
    assert [t for t in texts if any(v in t for v in join_values)] == []


# -- what each failure means to the core ---------------------------------------------------


@pytest.mark.parametrize("code", ["unauthorized", "forbidden", "token_readonly", 401, 403])
@pytest.mark.parametrize("operation", ["create", "delete", "list"])
def test_auth_failures_are_missing_config_for_every_call(code: str | int, operation: str) -> None:
    """Also a bare 401/403 without Hetzner's JSON body (a proxy in between): hcloud then
    reports the HTTP status as the code."""
    exc = APIException(code=code, message="Unauthorized", details=None)
    error = to_provider_error(exc, operation=operation, subject="server node-1")
    assert isinstance(error, MissingConfig), error
    assert error.retryable is False
    assert "GROWTHRS_HETZNER_TOKEN" in error.message


@pytest.mark.parametrize("code", [401, 403, "unauthorized", "forbidden"])
def test_a_rejected_token_is_read_again_next_time(
    provider: HetznerProvider, code: str | int
) -> None:
    provider.list_nodes()  # builds the client
    assert provider._hc is not None

    def rejected(client: object) -> object:
        raise APIException(code=code, message="Forbidden", details=None)

    with pytest.raises(MissingConfig):
        provider._call(rejected, operation="list", subject="servers")
    assert provider._hc is None


@pytest.mark.parametrize("code", ["forbidden", "token_readonly"])
def test_a_token_without_rights_is_missing_config(
    api: StandIn, provider: HetznerProvider, code: str
) -> None:
    api.inject(Fault(code=code, method="POST", path="/servers"))
    with pytest.raises(MissingConfig, match="token was rejected") as info:
        provider.create(create_request(provider, "node-1"))
    assert info.value.retryable is False


def test_quota_is_a_creation_failure_that_says_quota(
    api: StandIn, provider: HetznerProvider
) -> None:
    api.inject(Fault(code="resource_limit_exceeded"))
    with pytest.raises(CreationFailed, match="quota") as info:
        provider.create(create_request(provider, "node-1"))
    assert type(info.value) is CreationFailed and info.value.retryable is False


def test_the_real_server_limit_is_quota_too(make_provider: Callable[..., HetznerProvider]) -> None:
    with StandIn(token=TOKEN, server_limit=1) as limited:
        provider = HetznerProvider(
            HetznerSettings(token=SecretStr(TOKEN), endpoint=limited.url), cluster_name="c"
        )
        provider.create(create_request(provider, "node-1"))
        with pytest.raises(CreationFailed, match="quota") as info:
            provider.create(create_request(provider, "node-2"))
        assert info.value.retryable is False


@pytest.mark.parametrize("code", ["resource_unavailable", "placement_error"])
def test_capacity_codes_are_offering_unavailable(code: str) -> None:
    exc = APIException(code=code, message="no capacity", details=None)
    error = to_provider_error(exc, operation="create", subject="server node-1 (cx22@fsn1)")
    assert isinstance(error, OfferingUnavailable) and error.retryable is False


def test_an_unreadable_token_secret_is_missing_config_without_its_reason(api: StandIn) -> None:
    def broken(namespace: str, name: str, key: str) -> str:
        raise PermissionError(f"secrets is forbidden; value was {TOKEN}")

    provider = HetznerProvider(
        HetznerSettings.from_mapping(
            {"endpoint": api.url, "token_secret": "kube-system/hcloud/token"}
        ),
        read_secret=broken,
    )
    with pytest.raises(
        MissingConfig, match=r"cannot read Secret kube-system/hcloud key 'token'"
    ) as info:
        provider.list_nodes()
    assert info.value.retryable is False
    assert TOKEN not in str(info.value) and info.value.__cause__ is None


def test_a_missing_token_secret_key_is_missing_config(api: StandIn) -> None:
    provider = HetznerProvider(
        HetznerSettings.from_mapping(
            {"endpoint": api.url, "token_secret": "kube-system/hcloud/token"}
        ),
        read_secret=lambda ns, name, key: {}[key],
    )
    with pytest.raises(MissingConfig, match="has no key 'token'"):
        provider.list_nodes()
