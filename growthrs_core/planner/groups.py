"""Which node group a pending pod belongs to, and which of its slots it fits (SPEC §4 step 2).

The nodeSelector ``growthrs.io/node-group`` pins a pod to a group. Otherwise a
group matches when the pod tolerates its taints and its nodeSelector and
required node affinity accept the labels of at least one offering the group
can create. Several matches are ambiguous, except that a group whose
``PreferNoSchedule`` taints the pod does not tolerate yields to one whose it does.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from growthrs_core.cluster import (
    NodeSelectorTerm,
    PodInfo,
    Requirement,
)
from growthrs_core.domain import Taint, format_amount, format_extended
from growthrs_core.labels import (
    ARCH_LABEL,
    GPU_MODEL_LABEL,
    HOSTNAME_LABEL,
    INSTANCE_TYPE_LABEL,
    NODE_GROUP_LABEL,
    OS_LABEL,
    POOL_LABEL,
    REGION_LABEL,
    ZONE_LABEL,
)
from growthrs_core.planner import outcome
from growthrs_core.planner.matching import (
    accepts_labels,
    preference_weight,
    soft_untolerated,
    untolerated,
)
from growthrs_core.planner.selection import PodClass, demand_text
from growthrs_core.planner.slots import GroupContext, Slot
from growthrs_core.planner.volumes import (
    TOPOLOGY_ALIASES,
    VolumeNeed,
    accepts_new_node,
    alias_labels,
    describe,
    unknown_keys,
)
from growthrs_core.quantity import format_memory

OFFERING_KEYS = frozenset(
    {
        POOL_LABEL,
        INSTANCE_TYPE_LABEL,
        REGION_LABEL,
        ZONE_LABEL,
        ARCH_LABEL,
        OS_LABEL,
        GPU_MODEL_LABEL,
        HOSTNAME_LABEL,
    }
)
"""Labels an offering (not the group) decides; unknown while a group has no offerings."""


@dataclass
class GroupMatch:
    """Where a class of pods goes: a group and its slots, or why nowhere (``code``,
    one of :data:`~growthrs_core.planner.outcome.REASONS`, and ``reason`` in words)."""

    group: str | None = None
    code: str = ""
    reason: str | None = None
    label_slots: frozenset[int] = frozenset()
    slots: frozenset[int] = frozenset()
    preference: dict[int, int] = field(default_factory=dict)


def _taint_text(t: Taint) -> str:
    return f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}"


def _group_level(pod: PodInfo, ctx: GroupContext) -> bool:
    """Selectors checked against the group's own labels only (offering keys ignored)."""
    labels = dict(ctx.spec.labels)
    labels[NODE_GROUP_LABEL] = ctx.name
    selector = {k: v for k, v in pod.node_selector.items() if k not in OFFERING_KEYS}
    terms = tuple(
        NodeSelectorTerm(
            expressions=tuple(r for r in t.expressions if r.key not in OFFERING_KEYS)
            or (Requirement(NODE_GROUP_LABEL, "Exists"),),
            has_field_selectors=t.has_field_selectors,
        )
        for t in pod.required_terms
    )
    return accepts_labels(selector, terms, labels)


def slot_fits(pod: PodInfo, slot: Slot, *, ignore_block: bool = False) -> bool:
    """Whether a new node of ``slot`` has room for ``pod`` next to its DaemonSet pods
    (a blocked pool's slot never, unless ``ignore_block``)."""
    req = pod.requests
    if not (slot.has_room if ignore_block else slot.usable):
        return False
    if req.cpu_millis > slot.cpu or req.memory_mib > slot.memory or req.gpu > slot.gpu:
        return False
    if (req.ephemeral_storage_gib or 0) > slot.ephemeral:
        return False
    if req.extended and not slot.extended.covers(req.extended):
        return False
    return all((port, proto) not in slot.ds_ports for port, proto, _ in pod.host_ports)


class GroupMatcher:
    """Matches classes to groups, caching selector evaluations per group."""

    def __init__(
        self,
        groups: Mapping[str, GroupContext],
        invalid: Mapping[str, str],
        aliases: Mapping[str, str] = TOPOLOGY_ALIASES,
    ) -> None:
        self.groups = groups
        self.invalid = invalid
        self.aliases = aliases
        self._labels: dict[tuple[str, Hashable], frozenset[int]] = {}
        self._fits: dict[tuple[str, Hashable], frozenset[int]] = {}
        self._volume_labels: dict[int, dict[str, str]] = {}

    def label_slots(self, ctx: GroupContext, pod: PodInfo) -> frozenset[int]:
        sig = (tuple(sorted(pod.node_selector.items())), pod.required_terms)
        key = (ctx.name, sig)
        found = self._labels.get(key)
        if found is None:
            if not pod.node_selector and not pod.required_terms:
                found = frozenset(s.index for s in ctx.slots)
            else:
                found = frozenset(
                    s.index
                    for s in ctx.slots
                    if accepts_labels(pod.node_selector, pod.required_terms, s.match_labels)
                )
            self._labels[key] = found
        return found

    def volume_slots(
        self, ctx: GroupContext, need: VolumeNeed, among: frozenset[int]
    ) -> frozenset[int]:
        """The slots of ``among`` where the volumes of ``need`` can attach."""
        key = (ctx.name, ("volumes", need.terms, among))
        found = self._labels.get(key)
        if found is None:
            found = frozenset(
                i for i in among if accepts_new_node(need, self._slot_volume_labels(ctx.slots[i]))
            )
            self._labels[key] = found
        return found

    def _slot_volume_labels(self, slot: Slot) -> dict[str, str]:
        key = id(slot)
        labels = self._volume_labels.get(key)
        if labels is None:
            zone = slot.topology.get(ZONE_LABEL, str(slot.offering.region))
            labels = alias_labels(slot.match_labels, str(slot.offering.region), zone, self.aliases)
            self._volume_labels[key] = labels
        return labels

    def _why_not(self, ctx: GroupContext, pod: PodInfo) -> str | None:
        blocking = untolerated(pod.tolerations, ctx.taints)
        if blocking:
            return "taint " + ", ".join(_taint_text(t) for t in blocking) + " not tolerated"
        if ctx.slots:
            if not self.label_slots(ctx, pod):
                return "node selector/affinity matches none of its offerings"
        elif not _group_level(pod, ctx):
            return "node selector/affinity does not match its labels"
        return None

    def match(self, cls: PodClass) -> GroupMatch:
        m = self._match(cls)
        if m.group is None or m.reason is not None or cls.volume is None:
            return m
        ctx = self.groups[m.group]
        label_slots = self.volume_slots(ctx, cls.volume, m.label_slots)
        if not label_slots:
            return GroupMatch(
                group=ctx.name,
                code=outcome.VOLUME_TOPOLOGY,
                reason=self._why_no_volume(ctx, cls.volume, m.label_slots),
            )
        slots = m.slots & label_slots
        if not slots:
            blocked = blocked_match(ctx, cls.proto, label_slots)
            if blocked is not None:
                return blocked
            return GroupMatch(
                group=ctx.name,
                label_slots=label_slots,
                code=outcome.NO_OFFERING_FITS,
                reason=too_big(ctx, cls.proto, label_slots),
            )
        preference = {i: w for i, w in m.preference.items() if i in slots}
        return GroupMatch(
            group=ctx.name, label_slots=label_slots, slots=slots, preference=preference
        )

    def _why_no_volume(self, ctx: GroupContext, need: VolumeNeed, among: frozenset[int]) -> str:
        places = sorted(
            {
                f"{s.offering.region}/{s.offering.zone}"
                if s.offering.zone
                else str(s.offering.region)
                for s in (ctx.slots[i] for i in sorted(among))
            }
        )
        text = f"{describe(need)}; node group {ctx.name} creates no node there for this pod (it can use {', '.join(places)})"
        sample = ctx.slots[min(among)] if among else None
        unknown = unknown_keys(need, sample.match_labels, self.aliases) if sample else []
        if unknown:
            text += (
                f"; new nodes carry no {', '.join(unknown)} label and it is not a known "
                "zone or region key"
            )
        return text

    def _match(self, cls: PodClass) -> GroupMatch:
        pod = cls.proto
        pinned = pod.node_selector.get(NODE_GROUP_LABEL)
        if pinned is not None:
            if pinned in self.invalid:
                return GroupMatch(
                    code=outcome.INVALID_NODE_GROUP,
                    reason=f"pinned to node group {pinned}, but node group {pinned} is invalid: "
                    f"{self.invalid[pinned]}",
                )
            ctx = self.groups.get(pinned)
            if ctx is None:
                return GroupMatch(
                    code=outcome.NODE_GROUP_NOT_FOUND,
                    reason=f"pod is pinned to node group {pinned!r}, which does not exist",
                )
            why = self._why_not(ctx, pod)
            if why is not None:
                return GroupMatch(
                    code=outcome.NO_MATCHING_GROUP,
                    reason=f"pinned to node group {pinned}, but {why}",
                )
            return self._fit(ctx, pod)
        matches: list[GroupContext] = []
        reasons: list[str] = []
        for ctx in self.groups.values():
            why = self._why_not(ctx, pod)
            if why is None:
                matches.append(ctx)
            else:
                reasons.append(f"{ctx.name}: {why}")
        if not matches:
            if not self.groups:
                return GroupMatch(
                    code=outcome.NO_MATCHING_GROUP, reason="no valid NodeGroupWithPriority exists"
                )
            shown = "; ".join(reasons[:4]) + ("; ..." if len(reasons) > 4 else "")
            return GroupMatch(
                code=outcome.NO_MATCHING_GROUP, reason=f"no node group matches ({shown})"
            )
        if len(matches) > 1:
            clean = [c for c in matches if not soft_untolerated(pod.tolerations, c.taints)]
            if len(clean) == 1:
                return self._fit(clean[0], pod)
            names = ", ".join(sorted(c.name for c in matches))
            return GroupMatch(
                code=outcome.AMBIGUOUS_NODE_GROUP,
                reason=f"pod matches several node groups ({names}); no scale-up until only one "
                "matches (pin it with the nodeSelector growthrs.io/node-group)",
            )
        return self._fit(matches[0], pod)

    def _fit(self, ctx: GroupContext, pod: PodInfo) -> GroupMatch:
        if not ctx.slots and ctx.blocked:
            problems = "; ".join([ctx.blocked_text(ctx.blocked), *ctx.pool_problems])
            return GroupMatch(
                group=ctx.name,
                code=outcome.SCALE_UP_BLOCKED,
                reason=f"node group {ctx.name} has no offerings it may use: {problems}",
            )
        if not ctx.slots:
            problems = "; ".join(ctx.pool_problems) or "no pools"
            return GroupMatch(
                group=ctx.name,
                code=outcome.NO_OFFERING_FITS,
                reason=f"node group {ctx.name} has no offerings: {problems}",
            )
        label_slots = self.label_slots(ctx, pod)
        key = (ctx.name, (label_slots, pod.requests, pod.host_ports))
        fitting = self._fits.get(key)
        if fitting is None:
            fitting = frozenset(i for i in label_slots if slot_fits(pod, ctx.slots[i]))
            self._fits[key] = fitting
        if not fitting:
            blocked = blocked_match(ctx, pod, label_slots)
            if blocked is not None:
                return blocked
            if _ports_only(ctx, pod, label_slots):
                ports = ", ".join(f"{p}/{proto}" for p, proto, _ in pod.host_ports)
                return GroupMatch(
                    group=ctx.name,
                    label_slots=label_slots,
                    code=outcome.UNSATISFIABLE,
                    reason=f"host ports are taken by DaemonSet pods ({ports}) on every "
                    f"offering of node group {ctx.name} big enough for the pod",
                )
            return GroupMatch(
                group=ctx.name,
                label_slots=label_slots,
                code=outcome.NO_OFFERING_FITS,
                reason=too_big(ctx, pod, label_slots),
            )
        preference = {}
        if pod.preferred_terms:
            for i in fitting:
                w = preference_weight(pod, ctx.slots[i].match_labels)
                if w:
                    preference[i] = w
        return GroupMatch(
            group=ctx.name, label_slots=label_slots, slots=fitting, preference=preference
        )


def blocked_match(
    ctx: GroupContext, pod: PodInfo, label_slots: frozenset[int]
) -> GroupMatch | None:
    """``ScaleUpBlocked`` when only slots of blocked pools among ``label_slots`` could
    take ``pod``; None when none could (the pod has another problem)."""
    if not ctx.blocked:
        return None
    pools = {
        s.pool_index
        for s in (ctx.slots[i] for i in label_slots)
        if s.blocked and slot_fits(pod, s, ignore_block=True)
    }
    if not pools:
        return None
    return GroupMatch(
        group=ctx.name,
        label_slots=label_slots,
        code=outcome.SCALE_UP_BLOCKED,
        reason=blocked_reason(ctx, pools),
    )


def blocked_reason(ctx: GroupContext, pools: Iterable[int]) -> str:
    pools = sorted(pools)
    which = "pool" if len(pools) == 1 else "pools"
    return (
        f"only {which} {', '.join(str(i) for i in pools)} of node group {ctx.name} could "
        f"serve it, and no node is planned there: {ctx.blocked_text(pools)}; fix the "
        f"{which} or add one that can serve the pod"
    )


def _ports_only(ctx: GroupContext, pod: PodInfo, label_slots: frozenset[int]) -> bool:
    """Whether only DaemonSet pods' host ports keep the pod off offerings big enough
    for it (a host-port dead end rather than a size problem)."""
    req = pod.requests
    return bool(pod.host_ports) and any(
        s.usable
        and req.cpu_millis <= s.cpu
        and req.memory_mib <= s.memory
        and req.gpu <= s.gpu
        and (req.ephemeral_storage_gib or 0) <= s.ephemeral
        and s.extended.covers(req.extended)
        for s in (ctx.slots[i] for i in label_slots)
    )


def too_big(ctx: GroupContext, pod: PodInfo, label_slots: frozenset[int]) -> str:
    """``no offering of group default fits cpu 64/memory 1Ti (largest: ccx63 48 CPU/192Gi)``."""
    req = pod.requests
    slots = [ctx.slots[i] for i in sorted(label_slots)]
    short = _extended_short(ctx, req.extended, slots)
    if short is not None:
        return short
    demand = demand_text(
        req.cpu_millis, req.memory_mib, req.gpu, req.ephemeral_storage_gib, req.extended
    )
    largest = max(
        slots,
        key=lambda s: (
            s.offering.resources.gpu >= req.gpu,
            s.offering.resources.cpu_millis,
            s.offering.resources.memory_mib,
        ),
    )
    res = largest.offering.resources
    cores = res.cpu_millis / 1000
    size = f"{cores:g} CPU/{format_memory(res.memory_mib)}"
    if res.gpu:
        size += f"/{res.gpu} GPU"
    note = ""
    raw_fits = (
        req.cpu_millis <= res.cpu_millis and req.memory_mib <= res.memory_mib and req.gpu <= res.gpu
    )
    if raw_fits:
        if any((p, proto) in s.ds_ports for s in slots for p, proto, _ in pod.host_ports):
            note = "; its host ports are taken by DaemonSet pods"
        else:
            note = f"; DaemonSet pods take cpu {largest.ds_overhead.cpu_millis}m/memory {format_memory(largest.ds_overhead.memory_mib)} of it"
    return (
        f"no offering of group {ctx.name} fits {demand} "
        f"(largest: {largest.offering.instance_type} {size}{note})"
    )


def _extended_short(
    ctx: GroupContext, demand: Mapping[str, int], slots: Sequence[Slot]
) -> str | None:
    """Why no offering fits when an extended resource is what is missing: the resources
    no offering the pod may use declares, else those none has enough of."""
    if not demand:
        return None
    absent = [n for n in demand if not any(n in s.offering.resources.extended for s in slots)]
    if absent:
        asked = ", ".join(format_extended(n, demand[n]) for n in absent)
        return (
            f"no offering of node group {ctx.name} the pod may use offers "
            f"{', '.join(absent)} (it requests {asked}); add a pool whose offerings "
            "declare it, or remove the request"
        )
    short = [n for n in demand if not any(s.extended.get(n, 0) >= demand[n] for s in slots)]
    if not short:
        return None
    parts = []
    for n in short:
        best = max(slots, key=lambda s: (s.extended.get(n, 0), s.offering.key))
        parts.append(
            f"{format_extended(n, demand[n])} (most: {best.offering.instance_type} with "
            f"{format_amount(n, best.extended.get(n, 0))}"
            + (" after DaemonSet pods" if best.ds_overhead.extended.get(n) else "")
            + ")"
        )
    return f"no offering of node group {ctx.name} has enough for the pod: {'; '.join(parts)}"
