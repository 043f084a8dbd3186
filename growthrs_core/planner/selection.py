"""Which pods ask for capacity, and grouping them into equivalence classes.

Pods of one ReplicaSet, Job or StatefulSet are usually identical for
scheduling purposes. The planner works on *classes* of such pods (a count
instead of thousands of records), which is what keeps planning for tens of
thousands of pending pods well under a second.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

from growthrs_core.cluster import PodInfo
from growthrs_core.domain import format_extended
from growthrs_core.planner.volumes import VolumeNeed
from growthrs_core.quantity import format_cpu, format_memory


def unschedulable_pods(pods: Iterable[PodInfo]) -> list[PodInfo]:
    """Pods the scheduler could not place and nobody else is about to (SPEC §4 step 1).

    Skips DaemonSet and mirror pods (their controllers place them), pods being
    deleted, pods nominated to a node (preemption will free room), bound and
    finished pods. Pods whose spec could not be read are kept: the planner
    reports them as broken.
    """
    return [
        p
        for p in pods
        if p.unschedulable
        and not p.node_name
        and not p.nominated_node
        and not p.deleting
        and not p.mirror
        and not p.is_daemonset
        and not p.terminal
    ]


def scheduling_signature(pod: PodInfo) -> Hashable:
    """Everything about a pod that decides where it may run and what it takes.

    Labels are taken in their stored order: pods of one controller share it,
    and a different order merely splits a class in two.
    """
    req = pod.requests
    return (
        pod.namespace,
        tuple(pod.labels.items()),
        req.cpu_millis,
        req.memory_mib,
        req.ephemeral_storage_gib,
        req.gpu,
        req.extended,
        pod.priority,
        tuple(pod.node_selector.items()) if pod.node_selector else (),
        pod.required_terms,
        pod.preferred_terms,
        pod.tolerations,
        pod.affinity,
        pod.anti_affinity,
        pod.spread,
        pod.host_ports,
    )


@dataclass(eq=False)
class PodClass:
    """Pending pods that are interchangeable for scheduling; ``pods`` shrinks as
    they are accounted for (fits an existing node, covered, planned)."""

    id: int
    proto: PodInfo
    pods: list[PodInfo]
    volume: VolumeNeed | None = None
    """Where the volumes its pods mount can attach (part of the class's signature)."""

    @property
    def label(self) -> str:
        """A readable name for messages: the owner or the first pod."""
        p = self.proto
        if p.owner_name:
            return f"{p.namespace}/{p.owner_name}"
        return p.key


def classify(
    pods: Iterable[PodInfo], volumes: Mapping[str, VolumeNeed] | None = None
) -> list[PodClass]:
    """Group pods by :func:`scheduling_signature` and what their volumes need
    (``volumes``: pod key → need); deterministic for the same input.

    Pods are ordered by key, classes by their first pod, so neither the order
    of the watch cache nor hash seeds change a plan.
    """
    by_sig: dict[Hashable, PodClass] = {}
    classes: list[PodClass] = []
    for pod in sorted(pods, key=lambda p: (p.namespace, p.name)):
        sig = scheduling_signature(pod)
        need = volumes.get(pod.key) if volumes and pod.claims else None
        if need is not None:
            sig = (sig, need.terms)
        cls = by_sig.get(sig)
        if cls is None:
            cls = PodClass(id=len(classes), proto=pod, pods=[], volume=need)
            by_sig[sig] = cls
            classes.append(cls)
        cls.pods.append(pod)
    return classes


def demand_text(
    cpu: int,
    memory: int,
    gpu: int = 0,
    ephemeral: int | None = None,
    extended: Mapping[str, int] | None = None,
) -> str:
    """``cpu 500m/memory 1Gi`` for messages."""
    parts = [f"cpu {format_cpu(cpu)}", f"memory {format_memory(memory)}"]
    if gpu:
        parts.append(f"gpu {gpu}")
    if ephemeral:
        parts.append(f"ephemeral-storage {ephemeral}Gi")
    parts.extend(format_extended(n, a) for n, a in (extended or {}).items())
    return "/".join(parts)
