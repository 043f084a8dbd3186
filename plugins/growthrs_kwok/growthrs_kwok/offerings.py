"""The KWOK catalogue: Hetzner Cloud's shared and dedicated lineup plus fictional GPU
and widget types.

Numbers follow Hetzner's published server types (cores, RAM, disk) with
approximate EUR hourly prices, so plans and strategy choices made against
KWOK look like the ones made against the real cloud. Nothing here talks to a
cluster: ``growthrs offerings --provider kwok`` works offline.

What a node offers to pods is its *allocatable* share: capacity minus a small
kubelet reserve (:data:`KUBELET_RESERVE`) and, as a kubelet does, minus the
memory set aside as hugepages. The Node object carries both.

The fictional WX types declare an extended resource (:data:`WIDGET_RESOURCE`)
and 2 MiB hugepages, so extended-resource scheduling can be tried end to end:
their Nodes advertise both in ``status.capacity`` and ``status.allocatable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from growthrs_core import InstanceType, Offering, Region, Resources, Zone


@dataclass(frozen=True, slots=True)
class ServerType:
    """One machine size, as the cloud sells it (capacity, not allocatable)."""

    name: str
    cores: int
    memory_gib: int
    disk_gib: int
    eur_per_hour: float
    arch: str = "amd64"
    gpu: int = 0
    gpu_model: str | None = None
    locations: tuple[str, ...] | None = None
    """Where this type is sold; ``None`` means every location."""
    extended: tuple[tuple[str, int], ...] = ()
    """Other resources a node of this type offers: (name, amount), counts for extended
    resources, bytes for hugepages (``Resources.extended``). Not reserved by the kubelet."""

    @property
    def hugepages_mib(self) -> int:
        """Memory set aside as hugepages, which pods cannot use as ordinary memory."""
        return sum(a for n, a in self.extended if n.startswith("hugepages-")) // 2**20


@dataclass(frozen=True, slots=True)
class Location:
    """A Hetzner-like location: the region is the location, the zone its datacenter."""

    name: str
    datacenter: str


LOCATIONS: tuple[Location, ...] = (
    Location("fsn1", "fsn1-dc14"),
    Location("nbg1", "nbg1-dc3"),
    Location("hel1", "hel1-dc2"),
)

MAX_PODS = 110

WIDGET_RESOURCE = "example.com/widget"
"""The extended resource the fictional WX types offer (as a device plugin would)."""
HUGEPAGES_2MI = "hugepages-2Mi"


@dataclass(frozen=True, slots=True)
class Reserve:
    """What the kubelet keeps back from pods on every node.

    CPU and memory mirror a small ``kube-reserved`` plus the kubelet's default
    hard-eviction threshold (``memory.available<100Mi``); storage mirrors the
    default ``nodefs.available<10%``.
    """

    cpu_millis: int = 100
    memory_mib: int = 256
    storage_percent: int = 10


KUBELET_RESERVE = Reserve()

SERVER_TYPES: tuple[ServerType, ...] = (
    # CX: shared Intel/AMD vCPU, the cheapest x86 line.
    ServerType("cx22", 2, 4, 40, 0.0060),
    ServerType("cx32", 4, 8, 80, 0.0113),
    ServerType("cx42", 8, 16, 160, 0.0273),
    ServerType("cx52", 16, 32, 320, 0.0540),
    # CPX: shared AMD EPYC vCPU.
    ServerType("cpx11", 2, 2, 40, 0.0073),
    ServerType("cpx21", 3, 4, 80, 0.0127),
    ServerType("cpx31", 4, 8, 160, 0.0232),
    ServerType("cpx41", 8, 16, 240, 0.0424),
    ServerType("cpx51", 16, 32, 360, 0.0928),
    # CAX: shared Ampere Altra vCPU (arm64).
    ServerType("cax11", 2, 4, 40, 0.0062, arch="arm64"),
    ServerType("cax21", 4, 8, 80, 0.0108, arch="arm64"),
    ServerType("cax31", 8, 16, 160, 0.0206, arch="arm64"),
    ServerType("cax41", 16, 32, 320, 0.0409, arch="arm64"),
    # CCX: dedicated AMD vCPU.
    ServerType("ccx13", 2, 8, 80, 0.0224),
    ServerType("ccx23", 4, 16, 160, 0.0432),
    ServerType("ccx33", 8, 32, 240, 0.0856),
    ServerType("ccx43", 16, 64, 360, 0.1704),
    ServerType("ccx53", 32, 128, 600, 0.3400),
    ServerType("ccx63", 48, 192, 960, 0.5096),
    # GX: fictional GPU machines (Hetzner sells GPUs only as dedicated servers).
    ServerType(
        "gx-l4-1", 8, 32, 240, 0.7900, gpu=1, gpu_model="nvidia-l4", locations=("fsn1", "nbg1")
    ),
    ServerType(
        "gx-l4-2", 16, 64, 480, 1.5500, gpu=2, gpu_model="nvidia-l4", locations=("fsn1", "nbg1")
    ),
    ServerType(
        "gx-a100-1", 16, 96, 960, 2.6500, gpu=1, gpu_model="nvidia-a100", locations=("fsn1",)
    ),
    ServerType(
        "gx-a100-2", 32, 192, 1920, 5.2000, gpu=2, gpu_model="nvidia-a100", locations=("fsn1",)
    ),
    # WX: fictional machines with widgets (an extended resource) and 2 MiB hugepages.
    ServerType(
        "wx-widget-2",
        4,
        8,
        80,
        0.0150,
        extended=((WIDGET_RESOURCE, 2), (HUGEPAGES_2MI, 2**30)),
    ),
    ServerType(
        "wx-widget-4",
        8,
        16,
        160,
        0.0300,
        extended=((WIDGET_RESOURCE, 4), (HUGEPAGES_2MI, 2 * 2**30)),
    ),
)

_BY_NAME = {t.name: t for t in SERVER_TYPES}
_DATACENTER = {loc.name: loc.datacenter for loc in LOCATIONS}


def server_type(name: str) -> ServerType | None:
    return _BY_NAME.get(name)


def capacity(server: ServerType) -> Resources:
    """The whole machine, as ``status.capacity`` reports it."""
    return Resources(
        cpu_millis=server.cores * 1000,
        memory_mib=server.memory_gib * 1024,
        ephemeral_storage_gib=server.disk_gib,
        gpu=server.gpu,
        gpu_model=server.gpu_model,
        extended=dict(server.extended),
    )


def allocatable(server: ServerType, reserve: Reserve = KUBELET_RESERVE) -> Resources:
    """What pods can use: capacity minus the kubelet reserve (``status.allocatable``)."""
    storage_reserve = -(-server.disk_gib * reserve.storage_percent // 100)  # round up
    return Resources(
        cpu_millis=server.cores * 1000 - reserve.cpu_millis,
        memory_mib=server.memory_gib * 1024 - reserve.memory_mib - server.hugepages_mib,
        ephemeral_storage_gib=server.disk_gib - storage_reserve,
        gpu=server.gpu,
        gpu_model=server.gpu_model,
        extended=dict(server.extended),
    )


def offering(server: ServerType, location: str) -> Offering:
    return Offering(
        instance_type=InstanceType(server.name),
        resources=allocatable(server),
        cost_per_hour=server.eur_per_hour,
        region=Region(location),
        zone=Zone(_DATACENTER[location]),
        arch=server.arch,
        max_pods=MAX_PODS,
    )


def catalogue(region: str | None = None) -> list[Offering]:
    """Every offering, optionally only in ``region`` (an unknown region gives none)."""
    out = []
    for loc in LOCATIONS:
        if region is not None and loc.name != region:
            continue
        for server in SERVER_TYPES:
            if server.locations is None or loc.name in server.locations:
                out.append(offering(server, loc.name))
    return out


def pool_problems(instance_types: Sequence[str], locations: Sequence[str] | None) -> list[str]:
    """Why a pool of these types in these locations (``None``: any) cannot work here, in words.

    Only what the catalogue can never satisfy counts; simulated faults (``unavailable``
    and friends) are capacity answers at creation, not problems of the pool.
    """
    known = [loc.name for loc in LOCATIONS]
    problems = []
    unknown_locations = [loc for loc in locations or () if loc not in known]
    if unknown_locations:
        problems.append(
            f"kwok has no location {', '.join(unknown_locations)} (it has {', '.join(known)})"
        )
    unknown_types = [t for t in instance_types if server_type(t) is None]
    if unknown_types:
        problems.append(
            f"kwok has no server type {', '.join(unknown_types)} "
            "(see `growthrs offerings --provider kwok`)"
        )
    usable = [loc for loc in (known if locations is None else locations) if loc in known]
    for name in instance_types:
        server = server_type(name)
        if server is None or server.locations is None or not usable:
            continue
        if not set(server.locations) & set(usable):
            problems.append(
                f"kwok sells {name} only in {', '.join(server.locations)}, "
                f"not in {', '.join(usable)}"
            )
    return problems
