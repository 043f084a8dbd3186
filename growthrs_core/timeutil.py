"""Timestamps as Kubernetes writes them (RFC 3339, UTC, ``Z``)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_time_micro(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    """Parse an RFC 3339 timestamp; ``None`` for empty or malformed text."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def age_seconds(text: str | None, moment: datetime) -> float | None:
    parsed = parse_time(text)
    return None if parsed is None else (moment - parsed).total_seconds()
