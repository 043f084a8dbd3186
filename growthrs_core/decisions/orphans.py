"""Which provider instances are orphans: listed by a provider, accounted for by nothing.

An instance is accounted for by a Node of that name, by a NodeRequest that is
creating or created it (under its current or next node name), or by a call in
flight. One that stays unaccounted for ``grace`` seconds is removed: long
enough for a create whose answer was lost (a timeout, a crash) to register.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from growthrs_core.decisions.memory import LoopMemory, OfferingRef
from growthrs_core.decisions.node_request import node_name_for
from growthrs_core.decisions.snapshot import Snapshot


def accounted_instances(snapshot: Snapshot, memory: LoopMemory) -> frozenset[str]:
    """Instance ids (node names) something in the cluster or the loop accounts for."""
    known = set(snapshot.nodes_by_name) | memory.removing
    known.update(call.name for call in memory.calls if call.kind in ("create", "status", "delete"))
    for nr in snapshot.node_requests:
        known.add(node_name_for(nr.name, nr.status))
        if nr.status.nodeName:
            known.add(nr.status.nodeName)
    known.update(memory.creating)
    return frozenset(known)


@dataclass(frozen=True)
class OrphanVerdict:
    delete: list[str]
    """Instances to remove now."""
    seen: dict[OfferingRef, datetime]
    """The new first-seen record of this provider's unaccounted instances."""


def find_orphans(
    provider: str,
    listed: Iterable[str],
    accounted: frozenset[str],
    seen: Mapping[OfferingRef, datetime],
    now: datetime,
    grace: float,
) -> OrphanVerdict:
    """Judge what ``provider`` listed; ``seen`` holds every provider's first sightings."""
    current = {(provider, str(i)) for i in listed}
    kept = {k: v for k, v in seen.items() if k[0] != provider or k in current}
    delete: list[str] = []
    for key in sorted(current):
        node_id = key[1]
        if node_id in accounted:
            kept.pop(key, None)
            continue
        first = kept.setdefault(key, now)
        if (now - first).total_seconds() >= grace:
            delete.append(node_id)
            kept.pop(key, None)
    return OrphanVerdict(delete, kept)
