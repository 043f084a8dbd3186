"""Simulated cloud trouble, so fallback and timeouts can be shown without a cloud.

Faults come from two places that are merged: the provider settings
(``GROWTHRS_KWOK_UNAVAILABLE=cx22@fsn1`` …, fixed for the process) and an
optional ConfigMap that is re-read at most once per ``refresh`` seconds, so a
test or a demo can change them while the operator runs. Lists are united; a
``boot_delay`` in the ConfigMap wins over the setting.

Targets are ``type`` (everywhere), ``type@location`` or ``*@location`` (every
type in one location), comma or whitespace separated.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

FAULT_KEYS = ("unavailable", "boot_delay", "never_ready", "create_error", "failed")
CONFIGMAP_NAME = "growthrs-kwok-faults"
DEFAULT_NAMESPACE = "kube-system"

_NAME = re.compile(r"^(\*|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)$")
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(ms|s|m|h)?\s*$")
_UNIT = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class FaultConfigError(ValueError):
    """A fault setting that cannot be understood; names the key and the value."""


@dataclass(frozen=True, slots=True)
class Target:
    """``cx22`` (any location), ``cx22@fsn1`` or ``*@hel1``."""

    instance_type: str
    location: str | None = None

    def matches(self, instance_type: str, location: str) -> bool:
        return self.instance_type in ("*", instance_type) and self.location in (None, location)

    def __str__(self) -> str:
        return (
            self.instance_type if self.location is None else f"{self.instance_type}@{self.location}"
        )


@dataclass(frozen=True, slots=True)
class Faults:
    unavailable: frozenset[Target] = frozenset()
    never_ready: frozenset[Target] = frozenset()
    create_error: frozenset[Target] = frozenset()
    failed: frozenset[Target] = frozenset()
    boot_delay: float | None = None
    """Seconds a new node waits before it turns Ready; ``None`` = not set here."""

    def hits(self, kind: str, instance_type: str, location: str) -> Target | None:
        """The first target of fault ``kind`` that covers this offering, if any."""
        targets: frozenset[Target] = getattr(self, kind)
        for target in sorted(targets, key=str):
            if target.matches(instance_type, location):
                return target
        return None

    @property
    def delay(self) -> float:
        return self.boot_delay or 0.0

    def merged(self, override: Faults) -> Faults:
        """These faults plus ``override``'s; its boot delay wins when it sets one."""
        return Faults(
            unavailable=self.unavailable | override.unavailable,
            never_ready=self.never_ready | override.never_ready,
            create_error=self.create_error | override.create_error,
            failed=self.failed | override.failed,
            boot_delay=override.boot_delay if override.boot_delay is not None else self.boot_delay,
        )


NO_FAULTS = Faults()


def parse_targets(key: str, text: str) -> frozenset[Target]:
    targets = set()
    for raw in re.split(r"[\s,]+", text.strip()):
        if not raw:
            continue
        type_, sep, location = raw.partition("@")
        if not _NAME.match(type_) or (sep and (not location or not _NAME.match(location))):
            raise FaultConfigError(f"{key}: {raw!r} is not 'type', 'type@location' or '*@location'")
        if location == "*":
            location = ""
        if type_ == "*" and not location:
            raise FaultConfigError(f"{key}: {raw!r} would match everything; name a location")
        targets.add(Target(type_, location or None))
    return frozenset(targets)


def parse_duration(key: str, text: str) -> float:
    """Seconds, plain (``30``, ``2.5``) or with a unit (``500ms``, ``30s``, ``2m``)."""
    match = _DURATION.match(text)
    if match is None:
        raise FaultConfigError(f"{key}: {text!r} is not a duration (e.g. 30, 30s, 2m)")
    return float(match[1]) * _UNIT[match[2]]


def parse_faults(data: Mapping[str, str]) -> Faults:
    """Faults from settings or ConfigMap data; unknown keys are ignored."""
    delay = data.get("boot_delay")
    return Faults(
        unavailable=parse_targets("unavailable", data.get("unavailable", "")),
        never_ready=parse_targets("never_ready", data.get("never_ready", "")),
        create_error=parse_targets("create_error", data.get("create_error", "")),
        failed=parse_targets("failed", data.get("failed", "")),
        boot_delay=parse_duration("boot_delay", delay) if delay and delay.strip() else None,
    )


ConfigMapReader = Callable[[], Mapping[str, str] | None]
"""Returns the ConfigMap's ``data`` or ``None`` when it does not exist; may raise."""


@dataclass
class FaultSource:
    """Settings faults merged with the ConfigMap's, re-read at most every ``refresh`` s.

    A ConfigMap that cannot be read or parsed keeps the last good faults and
    logs why (once per distinct problem), so a typo never crashes a demo.
    """

    base: Faults = NO_FAULTS
    reader: ConfigMapReader | None = None
    refresh: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _dynamic: Faults = field(default=NO_FAULTS, init=False)
    _read_at: float | None = field(default=None, init=False)
    _last_problem: str | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def current(self) -> Faults:
        if self.reader is None:
            return self.base
        with self._lock:
            now = self.clock()
            if self._read_at is None or now - self._read_at >= self.refresh:
                self._read_at = now
                self._reload()
            return self.base.merged(self._dynamic)

    def _reload(self) -> None:
        assert self.reader is not None
        try:
            data = self.reader()
            self._dynamic = NO_FAULTS if data is None else parse_faults(data)
        except FaultConfigError as exc:
            self._report(f"ConfigMap {CONFIGMAP_NAME} ignored: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - faults are a test aid; never break the provider
            self._report(f"cannot read ConfigMap {CONFIGMAP_NAME}: {type(exc).__name__}: {exc}")
            return
        self._last_problem = None

    def _report(self, problem: str) -> None:
        if problem != self._last_problem:
            log.warning("kwok faults: %s; keeping the previous faults", problem)
            self._last_problem = problem
