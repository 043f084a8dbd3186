"""From Hetzner server types to GrowthRS offerings: a pure translation.

One offering per (server type, location) that Hetzner lists as supported, not
deprecated, currently available and priced. The choices, also in the README:

* ``region`` is the location name (``fsn1``); ``zone`` is ``None``. Hetzner's
  datacenter (what hcloud-cloud-controller-manager calls the zone) is picked by
  Hetzner at creation, and a network zone (``eu-central``) spans several
  locations, so neither is a zone the planner could choose.
* ``cost_per_hour`` is the hourly net price in that location (``price`` setting).
* cores x 1000 millicores; memory is Hetzner's "GB", which are GiB, x 1024 MiB;
  both minus the configured reserve. The disk is the ephemeral storage in GiB.
* ``arch``: ``x86`` -> ``amd64``, ``arm`` -> ``arm64``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from growthrs_core import InstanceType, Offering, Region, Resources

ARCH = {"x86": "amd64", "arm": "arm64"}
HETZNER_ARCH = {v: k for k, v in ARCH.items()}


@dataclass(frozen=True)
class TypeLocation:
    name: str
    available: bool
    deprecated: bool


@dataclass(frozen=True)
class ServerTypeInfo:
    """The parts of a Hetzner server type an offering needs."""

    name: str
    cores: float
    memory_gb: float
    disk_gb: float
    architecture: str
    locations: tuple[TypeLocation, ...]
    hourly: dict[str, tuple[float, float]] = field(default_factory=dict)
    """location -> (net, gross) hourly price."""


def build_offerings(
    types: list[ServerTypeInfo],
    *,
    locations: frozenset[str] | None = None,
    price: str = "net",
    reserved_memory_mib: int = 0,
    reserved_cpu_millis: int = 0,
) -> list[Offering]:
    """Every offering in every location, sorted by type then location for stable output.

    ``locations`` (from ``/locations``) limits offerings to locations the project can use.
    """
    offerings = []
    for info in types:
        arch = ARCH.get(info.architecture)
        if arch is None:
            continue
        cpu = max(round(info.cores * 1000) - reserved_cpu_millis, 0)
        memory = max(round(info.memory_gb * 1024) - reserved_memory_mib, 0)
        for loc in info.locations:
            if loc.deprecated or not loc.available or loc.name not in info.hourly:
                continue
            if locations is not None and loc.name not in locations:
                continue
            net, gross = info.hourly[loc.name]
            offerings.append(
                Offering(
                    instance_type=InstanceType(info.name),
                    resources=Resources(
                        cpu_millis=cpu,
                        memory_mib=memory,
                        ephemeral_storage_gib=int(info.disk_gb),
                    ),
                    cost_per_hour=net if price == "net" else gross,
                    region=Region(loc.name),
                    zone=None,
                    arch=arch,
                )
            )
    return sorted(offerings, key=lambda o: (o.instance_type, o.region))
