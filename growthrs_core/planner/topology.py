"""Inter-pod constraints across topology domains other than a single node.

Required pod anti-affinity and affinity and ``DoNotSchedule`` topology spread
over keys such as ``topology.kubernetes.io/zone`` decide *where* (which zone or
region) a pod may get its node. Before packing, every pod with such a
constraint, and every pod such a constraint points at, is pinned to a domain:
spread pods are water-filled across the domains the group can create nodes in
(counting matching pods that already run), anti-affinity excludes domains with
matching pods, affinity requires one. Packing then only considers offerings in
the pinned domain. Hostname-level constraints are the packer's business.

A location without zones counts as one zone: a new node whose offering has no
zone gets the zone existing nodes in its region report (when they all agree),
else the region name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from growthrs_core.cluster import (
    LabelSelector,
    NodeInfo,
    NodeSelectorTerm,
    PodAffinityTerm,
    PodInfo,
    SpreadConstraint,
    Toleration,
)
from growthrs_core.domain import Taint
from growthrs_core.labels import (
    HOSTNAME_LABEL,
    REGION_LABEL,
    ZONE_LABEL,
)
from growthrs_core.planner.matching import accepts_labels, tolerates
from growthrs_core.planner.selection import PodClass
from growthrs_core.planner.slots import Slot


@dataclass(frozen=True)
class PodMatcher:
    """Which pods a term or spread constraint counts: namespaces (None = any) and labels."""

    namespaces: frozenset[str] | None
    selector: LabelSelector

    def matches(self, namespace: str, labels: Mapping[str, str]) -> bool:
        if self.namespaces is not None and namespace not in self.namespaces:
            return False
        return self.selector.matches(labels)

    def matches_pod(self, pod: PodInfo) -> bool:
        return self.matches(pod.namespace, pod.labels)


class MatcherIndex:
    """Answers "does any of these matchers select this pod?" without trying them all:
    matchers with ``matchLabels`` are found through one of their label pairs."""

    def __init__(self, matchers: Iterable[PodMatcher]) -> None:
        self.by_pair: dict[tuple[str, str], list[PodMatcher]] = {}
        self.rest: list[PodMatcher] = []
        for m in set(matchers):
            if m.selector.match_labels:
                self.by_pair.setdefault(m.selector.match_labels[0], []).append(m)
            else:
                self.rest.append(m)

    def __bool__(self) -> bool:
        return bool(self.by_pair or self.rest)

    def any(self, pod: PodInfo) -> bool:
        if self.by_pair:
            for pair in pod.labels.items():
                for m in self.by_pair.get(pair, ()):
                    if m.matches_pod(pod):
                        return True
        return any(m.matches_pod(pod) for m in self.rest)


class Namespaces:
    """Namespace name → labels, to evaluate ``namespaceSelector`` in affinity terms.

    Empty means the namespaces are not known (the caller does not watch them):
    a ``namespaceSelector`` then reads as "any namespace", which errs towards
    keeping pods apart.
    """

    def __init__(self, labels: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.labels = labels or {}
        self._selected: dict[LabelSelector, frozenset[str]] = {}

    def selected(self, selector: LabelSelector) -> frozenset[str] | None:
        """Names of the namespaces ``selector`` selects; None for all of them."""
        if not self.labels or (
            not selector.match_labels and not selector.expressions and not selector.nothing
        ):
            return None
        found = self._selected.get(selector)
        if found is None:
            found = frozenset(n for n, lb in self.labels.items() if selector.matches(lb))
            self._selected[selector] = found
        return found


NO_NAMESPACES = Namespaces()


def term_matcher(
    term: PodAffinityTerm, owner_namespace: str, namespaces: Namespaces = NO_NAMESPACES
) -> PodMatcher:
    """Namespaces of an affinity term, as the scheduler reads them: the union of
    ``namespaces`` and the namespaces ``namespaceSelector`` selects (``{}``: all);
    with neither, the owner's namespace."""
    if term.namespace_selector is not None:
        selected = namespaces.selected(term.namespace_selector)
        if selected is None:
            return PodMatcher(None, term.selector)
        return PodMatcher(selected | frozenset(term.namespaces), term.selector)
    if term.namespaces:
        return PodMatcher(frozenset(term.namespaces), term.selector)
    return PodMatcher(frozenset({owner_namespace}), term.selector)


def spread_matcher(constraint: SpreadConstraint, owner_namespace: str) -> PodMatcher:
    return PodMatcher(frozenset({owner_namespace}), constraint.selector)


def hard_spread(pod: PodInfo) -> tuple[SpreadConstraint, ...]:
    """Spread constraints that decide feasibility (``ScheduleAnyway`` only steers)."""
    return tuple(c for c in pod.spread if c.when_unsatisfiable == "DoNotSchedule")


@dataclass(frozen=True)
class NodeFilter:
    """Which nodes a spread constraint counts, by its ``nodeAffinityPolicy`` and
    ``nodeTaintsPolicy``: those the owner's node selectors accept (``Honor``) and
    whose taints it tolerates (``Honor``)."""

    node_selector: tuple[tuple[str, str], ...] = ()
    required_terms: tuple[NodeSelectorTerm, ...] = ()
    tolerations: tuple[Toleration, ...] | None = None
    """None: taints are ignored."""

    def accepts(self, labels: Mapping[str, str], taints: Sequence[Taint]) -> bool:
        if (self.node_selector or self.required_terms) and not accepts_labels(
            dict(self.node_selector), self.required_terms, labels
        ):
            return False
        return self.tolerations is None or tolerates(self.tolerations, taints)


def spread_filter(pod: PodInfo, constraint: SpreadConstraint) -> NodeFilter | None:
    """The nodes ``constraint`` of ``pod`` counts; None when it counts every node."""
    honour_affinity = constraint.node_affinity_policy != "Ignore" and bool(
        pod.node_selector or pod.required_terms
    )
    honour_taints = constraint.node_taints_policy == "Honor"
    if not honour_affinity and not honour_taints:
        return None
    return NodeFilter(
        node_selector=tuple(sorted(pod.node_selector.items())) if honour_affinity else (),
        required_terms=pod.required_terms if honour_affinity else (),
        tolerations=pod.tolerations if honour_taints else None,
    )


class RunningPods:
    """Pods that hold a place (bound, or listed on an in-flight NodeRequest), with
    the labels (and taints) of where they are, indexed for selector queries."""

    def __init__(
        self,
        pods: Iterable[PodInfo],
        nodes: Mapping[str, NodeInfo],
        virtual: Iterable[tuple[PodInfo, Mapping[str, str], tuple[Taint, ...]]] = (),
        namespaces: Namespaces = NO_NAMESPACES,
    ) -> None:
        self.namespaces = namespaces
        self.entries: list[tuple[PodInfo, Mapping[str, str]]] = []
        self.taints: list[tuple[Taint, ...]] = []
        for pod in pods:
            if not pod.node_name or pod.terminal or pod.error is not None:
                continue
            node = nodes.get(pod.node_name)
            if node is not None:
                self.entries.append((pod, node.labels))
                self.taints.append(node.taints)
            else:
                self.entries.append((pod, {}))
                self.taints.append(())
        for pod, labels, taints in virtual:
            self.entries.append((pod, labels))
            self.taints.append(taints)
        self._by_namespace: dict[str, list[int]] | None = None
        self._by_label: dict[tuple[str, str], list[int]] | None = None
        self.anti_owners: list[tuple[PodMatcher, str, Mapping[str, str]]] = [
            (term_matcher(t, pod.namespace, namespaces), t.topology_key, labels)
            for pod, labels in self.entries
            for t in pod.anti_affinity
        ]
        """Running pods' required anti-affinity: (matcher, key, their node's labels)."""

    def add(self, entries: Iterable[tuple[PodInfo, Mapping[str, str], tuple[Taint, ...]]]) -> None:
        """Pods the scheduler is expected to place (say, on existing nodes' free room)."""
        for pod, labels, taints in entries:
            self.entries.append((pod, labels))
            self.taints.append(taints)
            self.anti_owners.extend(
                (term_matcher(t, pod.namespace, self.namespaces), t.topology_key, labels)
                for t in pod.anti_affinity
            )
            self._by_namespace = self._by_label = None

    def _candidates(self, matcher: PodMatcher) -> Iterable[int]:
        if self._by_namespace is None or self._by_label is None:
            self._by_namespace, self._by_label = {}, {}
            for i, (pod, _) in enumerate(self.entries):
                self._by_namespace.setdefault(pod.namespace, []).append(i)
                for pair in pod.labels.items():
                    self._by_label.setdefault(pair, []).append(i)
        if matcher.selector.match_labels:
            lists = [self._by_label.get(pair, []) for pair in matcher.selector.match_labels]
            return min(lists, key=len)
        if matcher.namespaces is not None:
            out: list[int] = []
            for ns in sorted(matcher.namespaces):
                out.extend(self._by_namespace.get(ns, ()))
            return out
        return range(len(self.entries))

    def _matching(self, matcher: PodMatcher) -> Iterable[int]:
        for i in self._candidates(matcher):
            if matcher.matches_pod(self.entries[i][0]):
                yield i

    def matching(self, matcher: PodMatcher) -> Iterable[tuple[PodInfo, Mapping[str, str]]]:
        for i in self._matching(matcher):
            yield self.entries[i]

    def counts(
        self,
        matcher: PodMatcher,
        key: str,
        *,
        spread: bool = False,
        where: NodeFilter | None = None,
    ) -> Counter[str]:
        """Matching pods per value of ``key`` on the nodes ``where`` accepts (pods
        being deleted do not count for spread)."""
        out: Counter[str] = Counter()
        for i in self._matching(matcher):
            pod, labels = self.entries[i]
            if spread and pod.deleting:
                continue
            value = labels.get(key)
            if value is None:
                continue
            if where is not None and not where.accepts(labels, self.taints[i]):
                continue
            out[value] += 1
        return out

    def any(self, matcher: PodMatcher) -> bool:
        return next(iter(self.matching(matcher)), None) is not None


def zone_of_region(nodes: Iterable[NodeInfo]) -> dict[str, str]:
    """Region → the one zone existing nodes there report (regions with several zones omitted)."""
    seen: dict[str, set[str]] = {}
    for node in nodes:
        region, zone = node.labels.get(REGION_LABEL), node.labels.get(ZONE_LABEL)
        if region and zone:
            seen.setdefault(region, set()).add(zone)
    return {r: next(iter(z)) for r, z in seen.items() if len(z) == 1}


# -- pinning ------------------------------------------------------------------------


@dataclass(eq=False)
class _Tracker:
    matcher: PodMatcher
    key: str
    counts: Counter[str]
    where: NodeFilter | None = None
    """Nodes whose pods count (a spread constraint's node policies); None: all."""


@dataclass(eq=False)
class PinRequest:
    """A class of one group that takes part in domain-level constraints."""

    cls: PodClass
    slots: Sequence[Slot]
    """The slots the class can use (labels, taints and resources already checked)."""
    preference: Mapping[int, int] = field(default_factory=dict)
    """Slot index → preferred node-affinity weight (tie-breaker)."""
    taints: tuple[Taint, ...] = ()
    """The group's taints: what its new nodes carry."""


@dataclass
class PinResult:
    pinned: dict[int, list[tuple[tuple[tuple[str, str], ...], list[PodInfo]]]] = field(
        default_factory=dict
    )
    """Class id → [(domain as sorted (key, value) pairs, pods)]."""
    failed: dict[str, str] = field(default_factory=dict)
    """Pod key → why no domain was possible."""


def domain_keys(
    pod: PodInfo,
) -> tuple[list[SpreadConstraint], list[PodAffinityTerm], list[PodAffinityTerm]]:
    """The pod's own spread, anti-affinity and affinity constraints above node level."""
    spread = [c for c in hard_spread(pod) if c.topology_key != HOSTNAME_LABEL]
    anti = [t for t in pod.anti_affinity if t.topology_key != HOSTNAME_LABEL]
    aff = [t for t in pod.affinity if t.topology_key != HOSTNAME_LABEL]
    return spread, anti, aff


def involved_classes(classes: Sequence[PodClass], running: RunningPods) -> set[int]:
    """Ids of classes that must be pinned: they have domain-level constraints, or a
    domain-level anti-affinity/affinity term (of a pending or running pod) selects them."""
    out: set[int] = set()
    terms: list[PodMatcher] = []
    for cls in classes:
        spread, anti, aff = domain_keys(cls.proto)
        if spread or anti or aff:
            out.add(cls.id)
        terms.extend(term_matcher(t, cls.proto.namespace, running.namespaces) for t in anti + aff)
    terms.extend(m for m, key, _ in running.anti_owners if key != HOSTNAME_LABEL)
    index = MatcherIndex(terms)
    if index:
        for cls in classes:
            if cls.id not in out and index.any(cls.proto):
                out.add(cls.id)
    return out


_PinEntry = tuple[
    PinRequest, list[tuple[_Tracker, SpreadConstraint]], list[_Tracker], list[_Tracker]
]
"""A class to pin, with its trackers: spread (with the constraint), anti-affinity, affinity."""


def pin_domains(
    requests: Sequence[PinRequest],
    running: RunningPods,
    nodes: Sequence[NodeInfo],
) -> PinResult:
    """Assign every pod of ``requests`` a topology domain, or say why none works."""
    result = PinResult()
    nss = running.namespaces
    trackers: dict[tuple[PodMatcher, str, NodeFilter | None], _Tracker] = {}

    def tracker(
        matcher: PodMatcher, key: str, spread: bool, where: NodeFilter | None = None
    ) -> _Tracker:
        tk = (matcher, key, where)
        if tk not in trackers:
            counts = running.counts(matcher, key, spread=spread, where=where)
            trackers[tk] = _Tracker(matcher, key, counts, where)
        return trackers[tk]

    # Owners of domain-level anti-affinity: (matcher, key) -> values they occupy.
    blocked: dict[tuple[PodMatcher, str], set[str]] = {}
    for matcher, key, labels in running.anti_owners:
        if key != HOSTNAME_LABEL and key in labels:
            blocked.setdefault((matcher, key), set()).add(labels[key])

    plans: list[_PinEntry] = []
    for req in requests:
        pod = req.cls.proto
        spread, anti, aff = domain_keys(pod)
        ns = pod.namespace
        spread_t = [
            (tracker(spread_matcher(c, ns), c.topology_key, True, spread_filter(pod, c)), c)
            for c in spread
        ]
        anti_t = [tracker(term_matcher(t, ns, nss), t.topology_key, False) for t in anti]
        aff_t = [tracker(term_matcher(t, ns, nss), t.topology_key, False) for t in aff]
        plans.append((req, spread_t, anti_t, aff_t))
    # Affinity pods go after the pods they follow.
    plans.sort(key=lambda p: (bool(p[3]), -p[0].cls.proto.priority, p[0].cls.id))
    # Domain-level (anti-)affinity terms of pending pods: the pods they select need a
    # value for their key (a follower's target gets a domain its followers can join).
    pending_terms = list(
        dict.fromkeys(
            (term_matcher(t, other.cls.proto.namespace, nss), t.topology_key)
            for other in requests
            for t in (*domain_keys(other.cls.proto)[1], *domain_keys(other.cls.proto)[2])
        )
    )

    eligible_cache: dict[tuple[NodeFilter | None, str], set[str]] = {}

    def existing_domains(where: NodeFilter | None, key: str) -> set[str]:
        """Domains of existing nodes a spread constraint counts (its node policies)."""
        ck = (where, key)
        if ck not in eligible_cache:
            eligible_cache[ck] = {
                n.labels[key]
                for n in nodes
                if key in n.labels
                and not n.deleting
                and n.error is None
                and (where is None or where.accepts(n.labels, n.taints))
            }
        return eligible_cache[ck]

    domain_cache: dict[
        tuple[object, ...],
        tuple[
            list[tuple[tuple[str, str], ...]], dict[tuple[tuple[str, str], ...], Mapping[str, str]]
        ],
    ] = {}

    def candidate_domains(
        req: PinRequest, keys: list[str], hard_keys: set[str]
    ) -> tuple[
        list[tuple[tuple[str, str], ...]], dict[tuple[tuple[str, str], ...], Mapping[str, str]]
    ]:
        """Candidate domains with a rank: labelled with every key, preference, best pool
        priority, name. Classes that may use the same slots share them (many do)."""
        ck = (
            tuple(map(id, req.slots)),
            tuple(keys),
            frozenset(hard_keys),
            tuple(sorted(req.preference.items())),
        )
        found = domain_cache.get(ck)
        if found is not None:
            return found
        domains: dict[tuple[tuple[str, str], ...], tuple[int, int, int]] = {}
        dom_labels: dict[tuple[tuple[str, str], ...], Mapping[str, str]] = {}
        for slot in req.slots:
            if any(k not in slot.topology for k in hard_keys):
                continue
            dom = tuple((k, slot.topology.get(k, "")) for k in keys)
            pref = req.preference.get(slot.index, 0)
            rank = domains.get(dom, (0, 0, 0))
            unlabelled = sum(1 for _, v in dom if not v)
            domains[dom] = (unlabelled, max(rank[1], pref), max(rank[2], slot.pool.priority))
            dom_labels.setdefault(dom, slot.match_labels)
        ordered = sorted(domains, key=lambda d: (domains[d][0], -domains[d][1], -domains[d][2], d))
        domain_cache[ck] = (ordered, dom_labels)
        return ordered, dom_labels

    def pin(entry: _PinEntry) -> None:
        req, spread_t, anti_t, aff_t = entry
        cls = req.cls
        pod = cls.proto
        keys = sorted(
            {t.key for t, _ in spread_t}
            | {t.key for t in anti_t}
            | {t.key for t in aff_t}
            | {key for (m, key) in blocked if m.matches_pod(pod)}
            | {key for m, key in pending_terms if m.matches_pod(pod)}
        )
        hard_keys = {t.key for t, _ in spread_t} | {t.key for t in aff_t}
        ordered, dom_labels = candidate_domains(req, keys, hard_keys)
        eligible_all = [
            existing_domains(t.where, t.key) | {dict(d)[t.key] for d in ordered}
            for t, _ in spread_t
        ]
        self_spread = [t.matcher.matches_pod(pod) for t, _ in spread_t]
        self_aff = [t.matcher.matches_pod(pod) for t in aff_t]
        my_trackers = [t for t in trackers.values() if t.matcher.matches_pod(pod)]
        my_blocks = [(k, vals) for (m, k), vals in blocked.items() if m.matches_pod(pod)]
        own_anti = [
            (term_matcher(t, pod.namespace, nss), t.topology_key) for t in domain_keys(pod)[1]
        ]
        placed: Counter[tuple[tuple[str, str], ...]] = Counter()
        why = ""
        pods = list(cls.pods)
        done = 0
        for _ in pods:
            best: tuple[tuple[int, int], tuple[tuple[str, str], ...]] | None = None
            for rank_i, dom in enumerate(ordered):
                d = dict(dom)
                ok = True
                for t in anti_t:
                    if t.counts.get(d.get(t.key, ""), 0) > 0 and d.get(t.key):
                        ok, why = (
                            False,
                            f"required pod anti-affinity on {t.key}: every {_short(t.key)} this group can use has a matching pod",
                        )
                        break
                if ok:
                    for k, vals in my_blocks:
                        if d.get(k) in vals:
                            ok, why = (
                                False,
                                f"another pod's anti-affinity on {k} excludes every {_short(k)} this group can use",
                            )
                            break
                if ok:
                    for t, selfm in zip(aff_t, self_aff, strict=True):
                        if t.counts.get(d[t.key], 0) == 0:
                            if selfm and sum(t.counts.values()) == 0:
                                continue
                            ok, why = (
                                False,
                                f"required pod affinity on {t.key}: no {_short(t.key)} this group can use has a matching pod",
                            )
                            break
                score = 0
                if ok:
                    for (t, c), selfm, doms in zip(
                        spread_t, self_spread, eligible_all, strict=True
                    ):
                        if c.min_domains is not None and len(doms) < c.min_domains:
                            low = 0
                        else:
                            low = min((t.counts.get(v, 0) for v in doms), default=0)
                        mine = t.counts.get(d[t.key], 0)
                        if mine + (1 if selfm else 0) - low > c.max_skew:
                            ok, why = (
                                False,
                                f"topology spread on {t.key} (maxSkew {c.max_skew}) allows no more pods in any {_short(t.key)} this group can use",
                            )
                            break
                        score += mine
                if ok and (best is None or (score, rank_i) < best[0]):
                    best = ((score, rank_i), dom)
            if best is None:
                break
            dom = best[1]
            d = dict(dom)
            placed[dom] += 1
            done += 1
            for t in my_trackers:
                if d.get(t.key) and (
                    t.where is None or t.where.accepts(dom_labels[dom], req.taints)
                ):
                    t.counts[d[t.key]] += 1
            for m, k in own_anti:
                if d.get(k):
                    blocked.setdefault((m, k), set()).add(d[k])
        for pod_ in pods[done:]:
            result.failed[pod_.key] = why or "no topology domain this group can create nodes in"
        cursor = 0
        groups: list[tuple[tuple[tuple[str, str], ...], list[PodInfo]]] = []
        for dom in sorted(placed, key=lambda d: ordered.index(d)):
            n = placed[dom]
            groups.append((dom, pods[cursor : cursor + n]))
            cursor += n
        result.pinned[cls.id] = groups

    # A pod with required affinity waits until the pending pods it may follow have
    # their domains, so chains (A follows B follows C) resolve in one pass. What
    # waits on itself in a cycle is pinned last, and fails unless it may start alone.
    left = plans
    while left:
        waiting = []
        for entry in left:
            if entry[3] and any(
                other is not entry and t.matcher.matches_pod(other[0].cls.proto)
                for t in entry[3]
                for other in left
            ):
                waiting.append(entry)
            else:
                pin(entry)
        if len(waiting) == len(left):
            for entry in waiting:
                pin(entry)
            break
        left = waiting
    return result


def _short(key: str) -> str:
    return key.rsplit("/", 1)[-1]
