"""Logs: valid JSON whatever the message says, structured fields, and bad settings refused."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from growthrs_core.cli import main
from growthrs_core.cli.common import setup_logging
from growthrs_core.controller.events import EventRecorder, ObjectRef
from growthrs_core.logfields import fields


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    setup_logging("DEBUG", "json")
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    yield stream
    setup_logging("WARNING")


def test_json_lines_stay_valid_with_quotes_and_carry_fields(captured: io.StringIO) -> None:
    log = logging.getLogger("growthrs.test")
    log.warning(
        'cannot read Secret "a/b": forbidden: User "x" cannot get {}',
        extra=fields(group="g", provider="hetzner"),
    )
    log.info("plain")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert lines[0]["msg"] == 'cannot read Secret "a/b": forbidden: User "x" cannot get {}'
    assert lines[0]["level"] == "WARNING" and lines[0]["logger"] == "growthrs.test"
    assert lines[0]["group"] == "g" and lines[0]["provider"] == "hetzner" and "time" in lines[0]
    assert "group" not in lines[1]


def test_event_log_lines_name_their_object(captured: io.StringIO) -> None:
    recorder = EventRecorder(None, namespace="default")
    recorder.emit(ObjectRef("Pod", "web-1", "shop", "u1"), "Normal", "TriggeredScaleUp", "planned")
    recorder.emit(ObjectRef("NodeRequest", "g-abc"), "Warning", "Unmet", 'no "pool"')
    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert first["pod"] == "shop/web-1" and first["reason"] == "TriggeredScaleUp"
    assert second["noderequest"] == "g-abc" and second["level"] == "WARNING"


@pytest.mark.parametrize(("flag", "value"), [("--log-format", "xml"), ("--log-level", "LOUD")])
def test_an_invalid_format_or_level_is_refused_in_one_line(flag: str, value: str) -> None:
    result = CliRunner().invoke(main, ["run", flag, value, "--kubeconfig", "/nonexistent"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert (
        len(lines) == 1 and "invalid setting" in lines[0] and flag[2:].replace("-", "_") in lines[0]
    )


def test_a_lower_case_level_is_fine() -> None:
    from growthrs_core.settings import Settings

    assert Settings(log_level="debug").log_level == "DEBUG"  # type: ignore[arg-type]
