"""Scheduling scenarios in the style of Karpenter's suite: pods, groups and offerings in,
node count, types and locations out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from growthrs_core.cluster import GroupView, PodInfo
from growthrs_core.domain import Offering
from growthrs_testkit.planning import (
    CHEAPEST_CHAIN,
    group,
    lineup,
    offering,
    planned,
    pod,
    pods,
    pool,
    run,
    stuck,
    summary,
)

HETZNER_TYPES = ["cx22", "cx32", "cx42", "cx52"]
REGIONS = ("fsn1", "nbg1", "hel1")
ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
HOSTNAME = "kubernetes.io/hostname"


def anti(app: str, key: str = HOSTNAME) -> dict[str, Any]:
    return {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}
            ]
        }
    }


def spread(
    app: str, key: str = ZONE, skew: int = 1, when: str = "DoNotSchedule"
) -> list[dict[str, Any]]:
    return [
        {
            "maxSkew": skew,
            "topologyKey": key,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": app}},
        }
    ]


@dataclass
class Scenario:
    name: str
    pods: list[PodInfo]
    expect: list[tuple[str, int]]
    """Sorted (offering key, pod count) per planned node."""
    groups: list[GroupView] = field(default_factory=lambda: [group(pools=[pool(HETZNER_TYPES)])])
    offerings: list[Offering] = field(default_factory=lambda: lineup(HETZNER_TYPES))
    unplaceable: int = 0


SCENARIOS = [
    Scenario("one small pod gets the smallest node", [pod("a")], [("cx22@fsn1", 1)]),
    Scenario(
        "ten one-cpu pods: cheapest exact packing",
        pods("a", 10, "1", "1Gi"),
        [("cx22@fsn1", 2), ("cx32@fsn1", 4), ("cx32@fsn1", 4)],
    ),
    Scenario(
        "many pods: the cheapest per pod (cx32 beats cx52 per CPU)",
        pods("a", 40, "1", "2Gi"),
        [("cx32@fsn1", 4)] * 10,
    ),
    Scenario(
        "a pod bigger than every offering is unplaceable and gets no node",
        [pod("huge", "64", "1Ti"), pod("small")],
        [("cx22@fsn1", 1)],
        unplaceable=1,
    ),
    Scenario(
        "instance type selector narrows the offerings",
        [pod("a", node_selector={"node.kubernetes.io/instance-type": "cx42"})],
        [("cx42@fsn1", 1)],
    ),
    Scenario(
        "region selector picks the location",
        [pod("a", node_selector={REGION: "hel1"})],
        [("cx22@hel1", 1)],
        offerings=lineup(HETZNER_TYPES, REGIONS),
    ),
    Scenario(
        "zone affinity In picks a zone",
        [
            pod(
                "a",
                affinity={
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": ZONE, "operator": "In", "values": ["nbg1-dc3"]}
                                    ]
                                }
                            ]
                        }
                    }
                },
            )
        ],
        [("cx22@nbg1/nbg1-dc3", 1)],
        offerings=[offering("cx22", "fsn1", "fsn1-dc14"), offering("cx22", "nbg1", "nbg1-dc3")],
    ),
    Scenario(
        "arm64 selector picks the arm pool",
        [pod("a", node_selector={"kubernetes.io/arch": "arm64"})],
        [("cax11@fsn1", 1)],
        groups=[group(pools=[pool(["cx22", "cax11"])])],
        offerings=lineup(["cx22", "cax11"]),
    ),
    Scenario(
        "hostname anti-affinity: one replica per node",
        pods("web", 3, labels={"app": "web"}, affinity=anti("web")),
        [("cx22@fsn1", 1)] * 3,
    ),
    Scenario(
        "zone anti-affinity: one replica per location, the fourth is unplaceable",
        pods("db", 4, labels={"app": "db"}, affinity=anti("db", ZONE)),
        [("cx22@fsn1", 1), ("cx22@hel1", 1), ("cx22@nbg1", 1)],
        offerings=lineup(HETZNER_TYPES, REGIONS),
        unplaceable=1,
    ),
    Scenario(
        "zone spread maxSkew 1 over three locations",
        pods("web", 6, labels={"app": "web"}, spread=spread("web")),
        [("cx22@fsn1", 2), ("cx22@hel1", 2), ("cx22@nbg1", 2)],
        offerings=lineup(HETZNER_TYPES, REGIONS),
    ),
    Scenario(
        "hostname spread maxSkew 2",
        pods("web", 5, labels={"app": "web"}, spread=spread("web", HOSTNAME, 2)),
        [("cx22@fsn1", 1), ("cx22@fsn1", 2), ("cx22@fsn1", 2)],
    ),
    Scenario(
        "ScheduleAnyway spread does not decide feasibility",
        pods("web", 4, labels={"app": "web"}, spread=spread("web", HOSTNAME, 1, "ScheduleAnyway")),
        [("cx22@fsn1", 4)],
    ),
    Scenario(
        "same host port: one pod per node",
        pods("proxy", 3, host_port=8080),
        [("cx22@fsn1", 1)] * 3,
    ),
    Scenario(
        "ephemeral storage picks a node with enough disk",
        [pod("a", ephemeral="100Gi")],
        [("big@fsn1", 1)],
        groups=[group(pools=[pool(["small", "big"])])],
        offerings=[
            offering("small", cpu=2, memory_gib=4, price=0.01, ephemeral_gib=40),
            offering("big", cpu=2, memory_gib=4, price=0.02, ephemeral_gib=160),
        ],
    ),
    Scenario(
        "the node's pod limit caps pods per node",
        pods("a", 5, "10m", "10Mi"),
        [("tiny@fsn1", 2), ("tiny@fsn1", 3)],
        groups=[group(pools=[pool(["tiny"])])],
        offerings=[offering("tiny", cpu=4, memory_gib=8, price=0.01, max_pods=3)],
    ),
    Scenario(
        "GPU model selector picks the model",
        [pod("train", gpu=1, node_selector={"growthrs.io/gpu-model": "nvidia-a100"})],
        [("a100@fsn1", 1)],
        groups=[group(pools=[pool(["l4", "a100"])])],
        offerings=[
            offering("l4", cpu=8, memory_gib=32, price=0.8, gpu=1, gpu_model="nvidia-l4"),
            offering("a100", cpu=16, memory_gib=96, price=2.6, gpu=1, gpu_model="nvidia-a100"),
        ],
    ),
    Scenario(
        "a GPU pod without a model gets the cheapest GPU node",
        [pod("train", gpu=1)],
        [("l4@fsn1", 1)],
        groups=[group(pools=[pool(["cpu", "l4", "a100"])])],
        offerings=[
            offering("cpu", cpu=8, memory_gib=32, price=0.05),
            offering("l4", cpu=8, memory_gib=32, price=0.8, gpu=1, gpu_model="nvidia-l4"),
            offering("a100", cpu=16, memory_gib=96, price=2.6, gpu=1, gpu_model="nvidia-a100"),
        ],
    ),
    Scenario(
        "higher pool priority wins over price",
        [pod("a")],
        [("cax11@fsn1", 1)],
        groups=[group(pools=[pool(["cx22"], 50), pool(["cax11"], 90)])],
        offerings=lineup(["cx22", "cax11"]),
    ),
    Scenario(
        "a constraint only a lower-priority pool meets uses that pool",
        [pod("a", node_selector={"kubernetes.io/arch": "amd64"})],
        [("cx22@fsn1", 1)],
        groups=[group(pools=[pool(["cx22"], 50), pool(["cax11"], 90)])],
        offerings=lineup(["cx22", "cax11"]),
    ),
    Scenario(
        "group locations restrict the offerings",
        [pod("a")],
        [("cx22@nbg1", 1)],
        groups=[group(pools=[pool(["cx22"])], locations=["nbg1"])],
        offerings=lineup(["cx22"], REGIONS),
    ),
    Scenario(
        "pool maxNodes spills into the next pool",
        pods("a", 3, "1500m", "1Gi"),
        [("cax11@fsn1", 1), ("cx22@fsn1", 1), ("cx22@fsn1", 1)],
        groups=[group(pools=[pool(["cx22"], 90, maxNodes=2), pool(["cax11"], 50)])],
        offerings=lineup(["cx22", "cax11"]),
    ),
    Scenario(
        "group maxNodes leaves the rest unplaceable",
        pods("a", 3, "1500m", "1Gi"),
        [("cx22@fsn1", 1), ("cx22@fsn1", 1)],
        groups=[group(pools=[pool(["cx22"])], maxNodes=2)],
        offerings=lineup(["cx22"]),
        unplaceable=1,
    ),
    Scenario(
        "pinned pods mix with flexible pods on the same node",
        [
            pod("pinned", "1", "1Gi", node_selector={REGION: "hel1"}),
            *pods("free", 2, "500m", "1Gi"),
        ],
        [("cx22@hel1", 3)],
        groups=[group(pools=[pool(["cx22"])])],
        offerings=lineup(["cx22"], REGIONS),
    ),
]


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(sc: Scenario) -> None:
    result = run(sc.pods, sc.groups, {"hetzner": sc.offerings}, strategies=CHEAPEST_CHAIN)
    assert summary(result) == sorted(sc.expect)
    assert len(stuck(result)) == sc.unplaceable
    on_nodes = {p.key for n in result.new_nodes for p in n.pods}
    assert not on_nodes & set(stuck(result))
    assert planned(result) == on_nodes
