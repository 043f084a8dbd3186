"""Planner inputs shaped like Karpenter's own scheduling benchmark.

``sigs.k8s.io/karpenter`` v1.14.1,
``pkg/controllers/provisioning/scheduling/scheduling_benchmark_test.go``
(``BenchmarkScheduling*``, build tag ``test_performance``) schedules
``makeDiversePods(n)`` against ``fake.InstanceTypes(400)`` with no existing
nodes. This module builds the same workload as a :class:`PlanningInput`:

- 400 instance types ``fake-it-0`` … ``fake-it-399``: type *i* has ``i+1`` CPUs,
  ``2(i+1)`` GiB and ``10(i+1)`` pods, less the fake provider's kube-reserved
  100m/10Mi; price ``0.1 * CPUs + 0.1 * memory in GB`` (``PriceFromResources``),
  sold in three zones (the fake offerings are spot in zones 1-2 and on-demand in
  zones 1-3; capacity type is not modelled here): 1,200 offerings in one group,
  every pool at the same priority;
- five equal shares of pods (the remainder generic): generic, zone topology
  spread, hostname topology spread (both ``maxSkew`` 1, ``DoNotSchedule``, a
  random ``my-label`` selector), zone self-affinity (a random
  ``my-affininity`` label, spelled as in Karpenter) and hostname anti-affinity
  (``app=nginx`` against itself), each pod with a CPU request of 100m, 250m,
  500m, 1 or 1.5 CPUs and memory of 100Mi, 256Mi, 512Mi, 1Gi, 2Gi or 4Gi,
  drawn uniformly (Go's ``rand.New(rand.NewSource(42))`` there, Python's
  ``random.Random(42)`` here: the same distributions, not the same draws).
"""

from __future__ import annotations

import random

from growthrs_core.cluster import (
    GroupView,
    LabelSelector,
    PodAffinityTerm,
    PodInfo,
    SpreadConstraint,
    parse_group,
)
from growthrs_core.domain import InstanceType, Offering, Region, Resources, Zone
from growthrs_core.labels import HOSTNAME_LABEL, ZONE_LABEL
from growthrs_core.planner import PlanningInput
from growthrs_core.strategies import Strategy

TYPES = 400
TYPES_PER_POOL = 32
ZONES = ("test-zone-1", "test-zone-2", "test-zone-3")
REGION = "test-region"
PROVIDER = "fake"
CPUS = (100, 250, 500, 1000, 1500)
MEMORY_MIB = (100, 256, 512, 1024, 2048, 4096)
LABEL_VALUES = ("a", "b", "c", "d", "e", "f", "g")
GB_PER_GIB = 2**30 / 1e9


def price(cpus: int, memory_gib: int) -> float:
    """``fake.PriceFromResources``: 0.1 per CPU plus 0.1 per GB of memory."""
    return 0.1 * cpus + 0.1 * memory_gib * GB_PER_GIB


def offerings(types: int = TYPES) -> dict[str, list[Offering]]:
    """``fake.InstanceTypes(types)`` in every zone, allocatable after kube-reserved."""
    out = []
    for i in range(types):
        cpus, gib = i + 1, 2 * (i + 1)
        for zone in ZONES:
            out.append(
                Offering(
                    instance_type=InstanceType(f"fake-it-{i}"),
                    resources=Resources(cpu_millis=cpus * 1000 - 100, memory_mib=gib * 1024 - 10),
                    cost_per_hour=round(price(cpus, gib), 9),
                    region=Region(REGION),
                    zone=Zone(zone),
                    max_pods=10 * (i + 1),
                )
            )
    return {PROVIDER: out}


def groups(types: int = TYPES) -> list[GroupView]:
    """One group, like Karpenter's single NodePool: every type at one priority, in
    pools of at most :data:`TYPES_PER_POOL` (the CRD's limit per pool)."""
    names = [f"fake-it-{i}" for i in range(types)]
    pools = [
        {"provider": PROVIDER, "serverType": names[i : i + TYPES_PER_POOL], "priority": 50}
        for i in range(0, types, TYPES_PER_POOL)
    ]
    view = parse_group(
        {"metadata": {"name": "default", "uid": "uid-default"}, "spec": {"pools": pools}}
    )
    assert view.error is None, view.error
    return [view]


def _selector(key: str, value: str) -> LabelSelector:
    return LabelSelector(match_labels=((key, value),))


def diverse_pods(count: int, seed: int = 42) -> list[PodInfo]:
    """``makeDiversePods(count)``: five equal shares, the remainder generic."""
    rng = random.Random(seed)
    share = count // 5
    pods: list[PodInfo] = []

    def make(
        kind: str,
        labels: dict[str, str],
        *,
        spread: tuple[SpreadConstraint, ...] = (),
        affinity: tuple[PodAffinityTerm, ...] = (),
        anti_affinity: tuple[PodAffinityTerm, ...] = (),
    ) -> None:
        cpu, mem = rng.choice(CPUS), rng.choice(MEMORY_MIB)
        name = f"{kind}-{len(pods)}"
        pods.append(
            PodInfo(
                namespace="default",
                name=name,
                uid=name,
                labels={"testing/cluster": "unspecified", **labels},
                requests=Resources(cpu_millis=cpu, memory_mib=mem),
                unschedulable=True,
                spread=spread,
                affinity=affinity,
                anti_affinity=anti_affinity,
            )
        )

    def label() -> str:
        return rng.choice(LABEL_VALUES)

    for _ in range(share):
        make("generic", {"my-label": label()})
    for key, kind in ((ZONE_LABEL, "zone-spread"), (HOSTNAME_LABEL, "host-spread")):
        for _ in range(share):
            own = label()
            spread = SpreadConstraint(
                max_skew=1,
                topology_key=key,
                when_unsatisfiable="DoNotSchedule",
                selector=_selector("my-label", label()),
            )
            make(kind, {"my-label": own}, spread=(spread,))
    for _ in range(share):
        value = label()
        term = PodAffinityTerm(_selector("my-affininity", value), ZONE_LABEL)
        make("zone-affinity", {"my-affininity": value}, affinity=(term,))
    for _ in range(share):
        term = PodAffinityTerm(_selector("app", "nginx"), HOSTNAME_LABEL)
        make("host-anti", {"app": "nginx"}, anti_affinity=(term,))
    while len(pods) < count:
        make("generic", {"my-label": label()})
    return pods


def planning_input(count: int, strategies: list[Strategy], seed: int = 42) -> PlanningInput:
    """Karpenter's benchmark workload of ``count`` pods, no existing nodes."""
    return PlanningInput(
        pods=diverse_pods(count, seed),
        nodes=[],
        daemonsets=[],
        groups=groups(),
        node_requests=[],
        offerings=offerings(),
        strategies=strategies,
    )
