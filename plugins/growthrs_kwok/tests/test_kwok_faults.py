"""Fault parsing and the settings + ConfigMap merge (no cluster)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from growthrs_kwok.faults import (
    NO_FAULTS,
    FaultConfigError,
    Faults,
    FaultSource,
    Target,
    parse_duration,
    parse_faults,
    parse_targets,
)


def test_targets_type_location_and_wildcard() -> None:
    targets = parse_targets("unavailable", " cx22, cpx31@hel1  *@nbg1,,")
    assert targets == {Target("cx22"), Target("cpx31", "hel1"), Target("*", "nbg1")}
    faults = Faults(unavailable=targets)
    assert faults.hits("unavailable", "cx22", "fsn1") == Target("cx22")
    assert faults.hits("unavailable", "cpx31", "hel1") == Target("cpx31", "hel1")
    assert faults.hits("unavailable", "cpx31", "fsn1") is None
    assert faults.hits("unavailable", "ccx63", "nbg1") == Target("*", "nbg1")
    assert faults.hits("never_ready", "cx22", "fsn1") is None


def test_target_prints_as_written() -> None:
    assert [str(t) for t in (Target("cx22"), Target("cx22", "fsn1"))] == ["cx22", "cx22@fsn1"]


@pytest.mark.parametrize("bad", ["CX22", "cx22@", "@fsn1", "cx22@fsn1@x", "*", "*@*", "a b@c!"])
def test_malformed_targets_name_key_and_value(bad: str) -> None:
    with pytest.raises(FaultConfigError, match="never_ready"):
        parse_targets("never_ready", bad)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30.0),
        ("2.5", 2.5),
        (".5", 0.5),
        ("500ms", 0.5),
        ("30s", 30.0),
        ("2m", 120.0),
        ("1h", 3600.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration("boot_delay", text) == seconds


@pytest.mark.parametrize("bad", ["", "-1", "soon", "1d", "1m30s"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(FaultConfigError, match="boot_delay"):
        parse_duration("boot_delay", bad)


def test_parse_faults_reads_every_key_and_ignores_others() -> None:
    faults = parse_faults(
        {
            "unavailable": "cx22",
            "boot_delay": "5s",
            "never_ready": "cpx11@fsn1",
            "create_error": "ccx13",
            "failed": "cx52",
            "faults_namespace": "default",
        }
    )
    assert faults == Faults(
        unavailable=frozenset({Target("cx22")}),
        never_ready=frozenset({Target("cpx11", "fsn1")}),
        create_error=frozenset({Target("ccx13")}),
        failed=frozenset({Target("cx52")}),
        boot_delay=5.0,
    )
    assert parse_faults({}) == NO_FAULTS
    assert parse_faults({"boot_delay": " "}).boot_delay is None


def test_merge_unites_lists_and_override_delay_wins() -> None:
    base = parse_faults({"unavailable": "cx22", "boot_delay": "10"})
    assert base.merged(parse_faults({"unavailable": "cx32"})) == Faults(
        unavailable=frozenset({Target("cx22"), Target("cx32")}), boot_delay=10.0
    )
    assert base.merged(parse_faults({"boot_delay": "0"})).delay == 0.0


class FakeConfigMap:
    def __init__(self) -> None:
        self.data: Mapping[str, str] | None = None
        self.error: Exception | None = None
        self.reads = 0

    def __call__(self) -> Mapping[str, str] | None:
        self.reads += 1
        if self.error is not None:
            raise self.error
        return self.data


def test_source_without_reader_is_just_the_settings() -> None:
    base = parse_faults({"unavailable": "cx22"})
    assert FaultSource(base=base).current() is base


def test_source_rereads_at_most_every_refresh_seconds() -> None:
    now = [100.0]
    cm = FakeConfigMap()
    source = FaultSource(
        base=parse_faults({"unavailable": "cx22"}), reader=cm, refresh=1.0, clock=lambda: now[0]
    )
    assert source.current().unavailable == {Target("cx22")}
    cm.data = {"unavailable": "cax11"}
    now[0] += 0.5
    assert source.current().unavailable == {Target("cx22")}  # cached
    assert cm.reads == 1
    now[0] += 0.5
    assert source.current().unavailable == {Target("cx22"), Target("cax11")}
    assert cm.reads == 2
    cm.data = None  # ConfigMap deleted: back to the settings
    now[0] += 1
    assert source.current().unavailable == {Target("cx22")}


def test_source_keeps_last_good_faults_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    cm = FakeConfigMap()
    cm.data = {"boot_delay": "3"}
    source = FaultSource(reader=cm, clock=lambda: now[0])
    assert source.current().delay == 3.0
    cm.data = {"boot_delay": "later"}
    for _ in range(3):
        now[0] += 1
        assert source.current().delay == 3.0
    cm.error = RuntimeError("HTTP 403: forbidden")
    now[0] += 1
    assert source.current().delay == 3.0
    messages = [r.getMessage() for r in caplog.records]
    assert sum("boot_delay" in m and "'later'" in m for m in messages) == 1
    assert any("HTTP 403" in m for m in messages)
