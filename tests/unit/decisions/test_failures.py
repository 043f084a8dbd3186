"""What a create's outcome changes: offering and group backoffs, probes, configuration blocks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from decision_builders import NOW

from growthrs_core.decisions.backoff import Backoff, BackoffPolicy
from growthrs_core.decisions.failures import (
    FailurePolicy,
    after_create_error,
    after_node_failure,
    lifted,
    probing,
    remember_create_failure,
    remember_create_success,
    remember_node_failure,
    remember_unmet,
    unproven_in_flight,
)
from growthrs_core.decisions.memory import CreateCall, LoopMemory, PoolBlock
from growthrs_core.errors import (
    CreationFailed,
    MissingConfig,
    OfferingUnavailable,
    ProviderError,
    ProviderInternal,
)

POLICY = FailurePolicy(
    capacity=BackoffPolicy(300.0, 3600.0),
    failure=BackoffPolicy(10.0, 3600.0),
    group=BackoffPolicy(30.0, 1800.0),
)
KEY = ("kwok", "cx32@fsn1")


@pytest.mark.parametrize(
    ("error", "base", "waits", "blocks"),
    [
        (OfferingUnavailable("sold out"), 300, False, False),
        (CreationFailed("quota exceeded", retryable=False), 10, False, False),
        (ProviderInternal("HTTP 503"), 10, False, False),
        (CreationFailed("rate limited", retry_after=40), 10, True, False),
        (MissingConfig("401 Unauthorized"), 10, False, True),
    ],
)
def test_every_failed_create_backs_its_offering_off(
    error: ProviderError, base: float, waits: bool, blocks: bool
) -> None:
    failure = after_create_error(
        error, KEY, None, POLICY, NOW, generation=3, fingerprint=(("Secret a/b", "7"),)
    )
    wait = (failure.offering_backoff.until - NOW).total_seconds()
    assert base <= wait <= base * 1.2 or (waits and wait == 40)
    assert failure.offering_backoff.reason == error.message
    assert (failure.retry_at == NOW + timedelta(seconds=40)) if waits else failure.retry_at is None
    assert (failure.block is not None) is blocks
    if failure.block is not None:
        assert failure.block.generation == 3 and failure.block.reason == "ConfigurationError"


def test_failures_in_a_row_back_off_longer() -> None:
    previous = Backoff(until=NOW - timedelta(seconds=1), failures=2)
    failure = after_create_error(OfferingUnavailable("no"), KEY, previous, POLICY, NOW)
    assert failure.offering_backoff.failures == 3
    assert failure.offering_backoff.until - NOW >= timedelta(seconds=1200)


def test_memory_after_failure_success_and_unmet() -> None:
    memory = LoopMemory(proven={KEY})
    failure = after_create_error(MissingConfig("no token"), KEY, None, POLICY, NOW)
    remember_create_failure(memory, failure, "g-a", KEY, ("g", 0))
    assert KEY in memory.offering_backoffs and KEY not in memory.proven
    assert memory.pool_blocks[("g", 0)].message == "no token"
    backoff = remember_unmet(memory, "g", "no pool could provide the node", POLICY, NOW)
    assert memory.group_backoffs["g"] is backoff and backoff.failures == 1
    assert remember_unmet(memory, "g", "again", POLICY, backoff.until).failures == 2
    remember_create_success(memory, KEY, "g")
    assert KEY in memory.proven and KEY not in memory.offering_backoffs
    assert "g" not in memory.group_backoffs


def test_probes() -> None:
    memory = LoopMemory(
        creating={
            "g-a": CreateCall("g", 0, "kwok", "cx32@fsn1"),
            "g-b": CreateCall("g", 0, "kwok", "cpx31@fsn1"),
            "g-c": CreateCall("g", 0, "kwok", "cx42@fsn1"),
        },
        proven={("kwok", "cx42@fsn1")},
        offering_backoffs={("kwok", "cx32@fsn1"): Backoff(NOW - timedelta(seconds=5))},
    )
    # cx32 failed before and is being tried again; cpx31 was never tried; cx42 works.
    assert probing(memory) == {("kwok", "cx32@fsn1")}
    assert unproven_in_flight(memory) == {("kwok", "cx32@fsn1"), ("kwok", "cpx31@fsn1")}


def test_a_configuration_block_lifts_when_the_group_node_class_or_secret_changes() -> None:
    block = PoolBlock(
        "ConfigurationError",
        "Secret missing",
        NOW,
        generation=2,
        fingerprint=(("Secret kube-system/hz", "absent"), ("HetznerNodeClass c", "5")),
    )
    same = {"Secret kube-system/hz": "absent", "HetznerNodeClass c": "5"}
    assert not lifted(block, 2, same)
    assert not lifted(block, 2, None)  # cannot tell yet: keep it
    assert lifted(block, 3, same)  # the group was edited
    assert lifted(block, 2, {**same, "Secret kube-system/hz": "812"})  # the Secret appeared
    assert lifted(block, 2, {**same, "HetznerNodeClass c": "6"})
    invalid = PoolBlock("InvalidPool", "no node class", NOW, generation=2)
    assert not lifted(invalid, 3, same)  # lifted by a passing check, not by edits alone


@pytest.mark.parametrize(
    ("error", "hard"),
    [
        (OfferingUnavailable("sold out"), True),
        (CreationFailed("quota exceeded", retryable=False), True),
        (MissingConfig("401"), True),
        (ProviderInternal("HTTP 503"), False),
        (CreationFailed("rate limited", retry_after=4), False),
    ],
)
def test_only_lasting_failures_take_an_offering_out_of_planning(
    error: ProviderError, hard: bool
) -> None:
    failure = after_create_error(error, KEY, None, POLICY, NOW)
    assert failure.offering_backoff.hard is hard
    memory = LoopMemory()
    remember_create_failure(memory, failure, "g-a", KEY, ("g", 0))
    assert (KEY in memory.unavailable(NOW)) is hard
    from growthrs_core.decisions.failures import cooling

    assert (KEY in cooling(memory, NOW)) is (not hard)


def test_a_node_that_never_joined_backs_its_offering_off_hard_and_longer_each_time() -> None:
    memory = LoopMemory(proven={KEY})
    first = remember_node_failure(memory, KEY, POLICY, NOW, "not Ready after 600s")
    assert first.hard and 10 <= (first.until - NOW).total_seconds() <= 12
    assert KEY not in memory.proven and memory.offering_backoffs[KEY] is first
    second = remember_node_failure(memory, KEY, POLICY, NOW, "instance failed: boom")
    assert second.failures == 2 and 20 <= (second.until - NOW).total_seconds() <= 24
    assert second.reason == "instance failed: boom"
    assert after_node_failure(KEY, None, POLICY, NOW, "x").failures == 1
