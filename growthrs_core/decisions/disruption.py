"""Disruption budgets, expiry and drift, and the NodeRemoval record (pure).

A *disruption* is a node GrowthRS takes away while it may still run pods:
an empty node (``Empty``), one whose pods fit elsewhere for less money
(``Underutilized``, :mod:`.consolidation`), one older than the group's
``expireAfter`` (``Expired``) or one the group no longer admits (``Drifted``).
Each node being disrupted (other than an empty one) has a ``NodeRemoval``
record, whose lifecycle :mod:`.drain` steps.

Budgets follow Karpenter's NodePool budgets: each is active always, or for
``duration`` after each time its cron ``schedule`` fires (UTC); the smallest
active budget that names a reason limits how many of the group's nodes may be
disrupted at once for that reason. Nodes already being disrupted, for any
reason, count against it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from growthrs_core.cluster import GroupView, NodeInfo, NodeRequestView
from growthrs_core.crd.models import (
    DisruptionBudget,
    DisruptionReason,
    NodeGroupWithPrioritySpec,
    NodeRemovalSpec,
    NodeRemovalStatus,
    parse_duration,
)
from growthrs_core.decisions.identity import current_pool
from growthrs_core.decisions.memory import LoopMemory
from growthrs_core.timeutil import parse_time

UNLIMITED = 1_000_000
"""What a reason no budget limits may disrupt at once."""

ACTIVE_PHASES = frozenset({"Candidate", "Draining", "Deleting"})
"""Phases of a removal in progress: its node counts as disrupted."""

DEFAULT_BUDGETS: tuple[DisruptionBudget, ...] = (
    DisruptionBudget(nodes="10%", reasons=["Underutilized", "Expired", "Drifted"]),
)
"""Budgets of a group that sets none: empty nodes without limit (as scale-down always
did), the other reasons 10 % of the group's nodes (at least one) at once."""


# -- cron ---------------------------------------------------------------------------------


class CronError(ValueError):
    """A schedule that cannot be read."""


_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class Cron:
    """A five-field cron schedule: minute, hour, day of month, month, day of week."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday."""
    any_day: bool
    """Day of month is ``*``."""
    any_weekday: bool
    """Day of week is ``*``."""

    def day_matches(self, when: datetime) -> bool:
        if when.month not in self.months:
            return False
        dom = when.day in self.days
        dow = (when.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow  # one of them is '*': the other decides
        return dom or dow  # both restricted: either matches (as cron does)

    def matches(self, when: datetime) -> bool:
        return self.day_matches(when) and when.hour in self.hours and when.minute in self.minutes

    def last_fire(self, now: datetime, within: float) -> datetime | None:
        """The latest time this schedule fired at or before ``now``, if less than
        ``within`` seconds ago."""
        start = now.replace(second=0, microsecond=0)
        earliest = now - timedelta(seconds=within)
        day = start.replace(hour=0, minute=0)
        while day + timedelta(days=1) > earliest:
            if self.day_matches(day):
                for hour in sorted(self.hours, reverse=True):
                    for minute in sorted(self.minutes, reverse=True):
                        moment = day.replace(hour=hour, minute=minute)
                        if moment <= start:
                            return moment if moment > earliest else None
            day -= timedelta(days=1)
        return None


def _field(text: str, low: int, high: int, names: Mapping[str, int]) -> tuple[frozenset[int], bool]:
    """The values one field allows, and whether it is ``*`` (every value)."""
    values: set[int] = set()
    star = False

    def number(token: str) -> int:
        token = token.lower()
        if token in names:
            return names[token]
        if not token.isdigit():
            raise CronError(f"{token!r} is not a number or name")
        return int(token)

    for part in text.split(","):
        body, _, raw_step = part.partition("/")
        if raw_step and (not raw_step.isdigit() or int(raw_step) < 1):
            raise CronError(f"bad step {raw_step!r}")
        step = int(raw_step) if raw_step else 1
        if body in ("*", "?"):
            first, last = low, high
            star = star or not raw_step
        elif "-" in body:
            a, _, b = body.partition("-")
            first, last = number(a), number(b)
        else:
            first = number(body)
            last = high if raw_step else first
        if not low <= first <= last <= high:
            raise CronError(f"{part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    if high == 7:  # day of week: 7 is Sunday too
        values = {v % 7 for v in values}
    return frozenset(values), star


def parse_cron(expression: str) -> Cron:
    """Parse a five-field schedule (names, ranges, steps, lists; ``@daily`` and the like)."""
    text = _MACROS.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise CronError(f"{expression!r}: a schedule has five fields")
    minutes, _ = _field(parts[0], 0, 59, {})
    hours, _ = _field(parts[1], 0, 23, {})
    days, any_day = _field(parts[2], 1, 31, {})
    months, _ = _field(parts[3], 1, 12, _MONTHS)
    weekdays, any_weekday = _field(parts[4], 0, 7, _DAYS)
    return Cron(minutes, hours, days, months, weekdays, any_day, any_weekday)


# -- budgets ------------------------------------------------------------------------------


def budget_active(budget: DisruptionBudget, now: datetime) -> bool:
    """Always without a schedule; else for ``duration`` after each time it fires. A
    schedule that cannot be read counts as active (the safe side)."""
    if budget.schedule is None or budget.duration is None:
        return True
    try:
        cron = parse_cron(budget.schedule)
    except CronError:
        return True
    return cron.last_fire(now, parse_duration(budget.duration)) is not None


def budget_nodes(nodes: str, total: int) -> int:
    """``"3"`` → 3; ``"10%"`` → 10 % of ``total``, rounded up (as Karpenter does)."""
    if nodes.endswith("%"):
        return math.ceil(total * int(nodes[:-1]) / 100)
    return int(nodes)


def allowed_disruptions(
    spec: NodeGroupWithPrioritySpec,
    reason: DisruptionReason,
    total: int,
    disrupting: int,
    now: datetime,
) -> int:
    """How many more of the group's ``total`` nodes may be disrupted for ``reason`` now,
    with ``disrupting`` already under way."""
    budgets = spec.disruption.budgets or DEFAULT_BUDGETS
    limits = [
        budget_nodes(b.nodes, total)
        for b in budgets
        if (b.reasons is None or reason in b.reasons) and budget_active(b, now)
    ]
    if not limits:
        return UNLIMITED
    return max(0, min(limits) - disrupting)


def disrupting_by_group(
    nodes: Iterable[NodeInfo], removals: Iterable[RemovalView], memory: LoopMemory
) -> Counter[str]:
    """Nodes of each group being disrupted: removals in progress, deletes in flight or
    waiting for a retry, and nodes being deleted."""
    groups: dict[str, str] = {}
    busy: set[str] = set()
    for node in nodes:
        groups[node.name] = node.node_group
        if node.deleting or node.name in memory.removing or node.name in memory.delete_retries:
            busy.add(node.name)
    for removal in removals:
        if removal.active and removal.spec is not None:
            busy.add(removal.spec.nodeName)
            groups.setdefault(removal.spec.nodeName, removal.spec.nodeGroup)
    return Counter(groups[name] for name in busy if groups.get(name))


# -- expiry and drift ---------------------------------------------------------------------


def expiry(node: NodeInfo, spec: NodeGroupWithPrioritySpec, now: datetime) -> str | None:
    """Why the node has expired, or ``None``."""
    if spec.expireAfter is None:
        return None
    created = parse_time(node.creation)
    limit = parse_duration(spec.expireAfter)
    if created is None or (now - created).total_seconds() < limit:
        return None
    return f"node is older than expireAfter {spec.expireAfter}"


def template_hash(spec: NodeGroupWithPrioritySpec, pool: int | None) -> str:
    """A short hash of what a node of ``pool`` is made with: the group's labels and
    taints and the node class (the pool's, else the group's)."""
    ref = spec.pools[pool].nodeClassRef if pool is not None else None
    ref = ref or spec.nodeClassRef
    template = {
        "labels": sorted(spec.labels.items()),
        "taints": sorted((t.key, t.value, t.effect) for t in spec.taints),
        "nodeClass": ref.model_dump() if ref is not None else None,
    }
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]


def _direct_drift(node: NodeInfo, spec: NodeGroupWithPrioritySpec, group: str) -> str | None:
    identity = node.identity
    if identity.provider and current_pool(identity, spec) is None:
        where = f" in {identity.region}" if identity.region else ""
        return (
            f"no pool of group {group} admits it any more ({identity.provider} "
            f"{identity.instance_type or '?'}{where})"
        )
    for key, value in sorted(spec.labels.items()):
        if node.labels.get(key) != value:
            return f"label {key} is {node.labels.get(key)!r}; the group sets {value!r}"
    have = {(t.key, t.value, t.effect) for t in node.taints}
    for taint in spec.taints:
        if (taint.key, taint.value, taint.effect) not in have:
            return f"taint {taint.key}={taint.value}:{taint.effect} of the group is missing"
    return None


def drift(node: NodeInfo, group: GroupView) -> str | None:
    """Why the group no longer admits the node, or ``None``.

    Its server type or location left every pool, or a label or taint of the group is
    missing or different on it; or the group's labels, taints or node class changed
    since the node was first seen (its ``growthrs.io/template-hash``).
    """
    spec = group.spec
    if spec is None or not spec.disruption.drift:
        return None
    direct = _direct_drift(node, spec, group.name)
    if direct is not None:
        return direct
    if node.template_hash:
        now_hash = template_hash(spec, current_pool(node.identity, spec))
        if node.template_hash != now_hash:
            return (
                f"the labels, taints or node class of group {group.name} changed since the node"
                f" was created (template {node.template_hash} -> {now_hash})"
            )
    return None


def template_stamps(
    nodes: Iterable[NodeInfo], groups: Mapping[str, GroupView]
) -> list[tuple[str, str]]:
    """(node, hash) for managed nodes that accept pods, not yet stamped, whose group
    admits them now."""
    stamps: list[tuple[str, str]] = []
    for node in nodes:
        group = groups.get(node.node_group)
        if node.template_hash or node.deleting or group is None or group.spec is None:
            continue
        if group.deleting or not node.identity.provider or not node.accepts_pods:
            continue  # a node that has not joined yet may still be getting its labels
        if _direct_drift(node, group.spec, group.name) is not None:
            continue
        pool = current_pool(node.identity, group.spec)
        stamps.append((node.name, template_hash(group.spec, pool)))
    return sorted(stamps)


# -- the NodeRemoval record ---------------------------------------------------------------


@dataclass(slots=True)
class RemovalView:
    """A NodeRemoval read from the cluster (named after its node)."""

    name: str
    uid: str = ""
    spec: NodeRemovalSpec | None = None
    status: NodeRemovalStatus = field(default_factory=NodeRemovalStatus)
    creation: str = ""
    resource_version: str = ""
    deleting: bool = False
    finalizers: tuple[str, ...] = ()
    error: str | None = None

    @property
    def phase(self) -> str:
        return self.status.phase

    @property
    def active(self) -> bool:
        """In progress: its node counts as disrupted and is not judged again."""
        return self.spec is not None and self.status.phase in ACTIVE_PHASES

    @property
    def node(self) -> str:
        return self.spec.nodeName if self.spec is not None else self.name


def parse_removal(obj: Mapping[str, Any]) -> RemovalView:
    meta = obj.get("metadata") or {}
    view = RemovalView(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        creation=str(meta.get("creationTimestamp") or ""),
        resource_version=str(meta.get("resourceVersion") or ""),
        deleting=meta.get("deletionTimestamp") is not None,
        finalizers=tuple(str(f) for f in meta.get("finalizers") or ()),
    )
    try:
        view.spec = NodeRemovalSpec.model_validate(obj.get("spec") or {})
        view.status = NodeRemovalStatus.model_validate(obj.get("status") or {})
    except ValidationError as exc:
        view.error = "; ".join(str(e.get("msg", "invalid")) for e in exc.errors()[:3])
    return view


def protected_nodes(
    removals: Sequence[RemovalView], node_requests: Iterable[NodeRequestView]
) -> frozenset[str]:
    """Nodes that must stay while a removal is in progress: its replacements (they are
    empty until the drain moves pods onto them)."""
    wanted = {name for r in removals if r.active and r.spec for name in r.spec.replacements}
    return frozenset(
        nr.status.nodeName for nr in node_requests if nr.name in wanted and nr.status.nodeName
    )
