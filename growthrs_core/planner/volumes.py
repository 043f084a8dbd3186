"""Volume topology: a pod gets a node only where the volumes it mounts can attach.

A claim bound to a PersistentVolume carries the volume's required node affinity
(for a zonal disk, say ``topology.kubernetes.io/zone In [fsn1-dc14]``); an
unbound claim whose StorageClass binds on first consumer
(``WaitForFirstConsumer``) carries the class's ``allowedTopologies``. Each
such set of terms must accept the node, as the scheduler's volume binding
checks. An unbound claim whose class binds immediately (or that has no class)
waits for the volume controller: no new node would help.

New nodes do not exist yet, so their labels are what the offering decides
(:func:`~growthrs_core.planner.matching.new_node_labels`). Volume terms often
use a CSI driver's own key (``csi.hetzner.cloud/location``), which the CSI
node plugin puts on a node once it runs there. A key a new node's labels do not
carry is read through :data:`TOPOLOGY_ALIASES`: a key listed as ``region``
holds the offering's region, one listed as ``zone`` its zone (the inferred one
when the offering has none). A requirement on any other key the labels lack
matches nothing: the planner cannot tell where such a volume attaches, and
plans no node for it rather than one the pod could not use.

Claims, volumes and classes the caller does not pass are unknown and constrain
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from growthrs_core.cluster import (
    ClaimInfo,
    NodeSelectorTerm,
    PodInfo,
    StorageClassInfo,
    VolumeInfo,
)
from growthrs_core.labels import (
    REGION_LABEL,
    ZONE_LABEL,
)

TOPOLOGY_ALIASES: Mapping[str, str] = {
    REGION_LABEL: "region",
    ZONE_LABEL: "zone",
    "failure-domain.beta.kubernetes.io/region": "region",
    "failure-domain.beta.kubernetes.io/zone": "zone",
    "csi.hetzner.cloud/location": "region",
}
"""Label keys a new node's CSI drivers (or kubelet) set to its region or zone, so a
volume term on them is matched against the offering's region or zone."""


@dataclass(frozen=True)
class VolumeNeed:
    """What a pod's volumes require of its node."""

    terms: tuple[tuple[NodeSelectorTerm, ...], ...] = ()
    """One entry per constrained volume: its terms (ORed); every entry must accept."""
    sources: tuple[str, ...] = ()
    """Per entry, where it comes from in words (``volume pv-1 (claim data-0)``)."""
    waiting: str = ""
    """Set when no node can help now (a claim that binds immediately is unbound)."""


class VolumeIndex:
    """The claims, volumes and storage classes of the cluster, for pods' needs."""

    def __init__(
        self,
        claims: Sequence[ClaimInfo],
        volumes: Sequence[VolumeInfo],
        classes: Sequence[StorageClassInfo],
    ) -> None:
        self.claims = {(c.namespace, c.name): c for c in claims}
        self.volumes = {v.name: v for v in volumes}
        self.classes = {c.name: c for c in classes}
        defaults = sorted((c for c in classes if c.default), key=lambda c: (c.creation, c.name))
        self.default_class = defaults[-1].name if defaults else None
        """The newest default class, as the API server picks it."""

    def need(self, pod: PodInfo) -> VolumeNeed | None:
        """What ``pod``'s claims require; None when they require nothing known."""
        terms: list[tuple[NodeSelectorTerm, ...]] = []
        sources: list[str] = []
        for name in pod.claims:
            claim = self.claims.get((pod.namespace, name))
            if claim is None:
                continue
            if claim.deleting:
                return VolumeNeed(waiting=f"claim {name} is being deleted")
            if claim.volume_name:
                volume = self.volumes.get(claim.volume_name)
                if volume is not None and volume.terms:
                    terms.append(volume.terms)
                    sources.append(f"volume {volume.name} (claim {name})")
                continue
            class_name = (
                claim.storage_class if claim.storage_class is not None else self.default_class
            )
            if class_name == "":
                return VolumeNeed(
                    waiting=f"claim {name} is not bound and has no StorageClass: it waits "
                    "for a matching PersistentVolume, not for a node"
                )
            sc = self.classes.get(class_name or "")
            if sc is None:
                continue
            if sc.binding_mode != "WaitForFirstConsumer":
                return VolumeNeed(
                    waiting=f"claim {name} is not bound yet and StorageClass {sc.name} binds "
                    "immediately: its volume is provisioned before the pod can be placed"
                )
            if sc.allowed_topologies:
                terms.append(sc.allowed_topologies)
                sources.append(f"StorageClass {sc.name} (claim {name})")
        if not terms:
            return None
        return VolumeNeed(tuple(terms), tuple(sources))


def alias_labels(
    labels: Mapping[str, str],
    region: str,
    zone: str,
    aliases: Mapping[str, str] = TOPOLOGY_ALIASES,
) -> dict[str, str]:
    """A new node's labels plus the aliased zone and region keys it lacks."""
    out = dict(labels)
    for key, kind in aliases.items():
        if key not in out:
            out[key] = region if kind == "region" else zone
    return out


def _strict_term(term: NodeSelectorTerm, labels: Mapping[str, str]) -> bool:
    """A term against a new node: a key its labels lack matches nothing."""
    if not term.expressions or term.has_field_selectors:
        return False
    return all(r.key in labels and r.matches(labels) for r in term.expressions)


def accepts_new_node(need: VolumeNeed, labels: Mapping[str, str]) -> bool:
    """Whether the volumes can attach to a new node with ``labels`` (aliases applied)."""
    return all(any(_strict_term(t, labels) for t in terms) for terms in need.terms)


def accepts_node(need: VolumeNeed, labels: Mapping[str, str]) -> bool:
    """Whether the volumes can attach to an existing node, by its own labels."""
    return all(
        any(t.expressions and not t.has_field_selectors and t.matches(labels) for t in terms)
        for terms in need.terms
    )


def describe(need: VolumeNeed) -> str:
    """``volume pv-1 (claim data-0) can attach only where topology.kubernetes.io/zone
    In [fsn1-dc14]`` for every constrained volume."""
    parts = []
    for source, terms in zip(need.sources, need.terms, strict=True):
        where = " or ".join(
            " and ".join(
                f"{r.key} {r.operator} [{', '.join(r.values)}]"
                if r.values
                else f"{r.key} {r.operator}"
                for r in t.expressions
            )
            or "nowhere"
            for t in terms
        )
        parts.append(f"{source} can attach only where {where}")
    return "; ".join(parts)


def unknown_keys(
    need: VolumeNeed, labels: Mapping[str, str], aliases: Mapping[str, str] = TOPOLOGY_ALIASES
) -> list[str]:
    """Keys the volume terms use that neither new nodes' labels nor the aliases give."""
    return sorted(
        {
            r.key
            for terms in need.terms
            for t in terms
            for r in t.expressions
            if r.key not in labels and r.key not in aliases
        }
    )
