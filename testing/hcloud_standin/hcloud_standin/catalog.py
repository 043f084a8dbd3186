"""What the stand-in sells: Hetzner-like locations, datacenters, server types and images.

The numbers follow Hetzner's public lineup (CX, CPX, CAX, CCX; EU plus US and
Singapore locations; hourly and monthly prices per location) closely enough that
a provider written against this catalog behaves the same against the real API.
Prices are net EUR; gross adds 19 % VAT as Hetzner's German invoices do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

VAT = Decimal("1.19")
"""Gross = net x VAT, as on a German invoice."""
INCLUDED_TRAFFIC_EU = 20 * 1024**4
INCLUDED_TRAFFIC_US = 1 * 1024**4
TRAFFIC_PRICE_NET = {
    "eu-central": Decimal("1.00"),
    "us-east": Decimal("1.00"),
    "us-west": Decimal("1.00"),
    "ap-southeast": Decimal("7.40"),
}


@dataclass(frozen=True)
class LocationSpec:
    id: int
    name: str
    description: str
    country: str
    city: str
    latitude: float
    longitude: float
    network_zone: str
    datacenter_id: int
    datacenter: str


LOCATIONS: tuple[LocationSpec, ...] = (
    LocationSpec(
        1,
        "fsn1",
        "Falkenstein DC Park 1",
        "DE",
        "Falkenstein",
        50.47612,
        12.370071,
        "eu-central",
        4,
        "fsn1-dc14",
    ),
    LocationSpec(
        2,
        "nbg1",
        "Nuremberg DC Park 1",
        "DE",
        "Nuremberg",
        49.452102,
        11.076665,
        "eu-central",
        2,
        "nbg1-dc3",
    ),
    LocationSpec(
        3,
        "hel1",
        "Helsinki DC Park 1",
        "FI",
        "Helsinki",
        60.169855,
        24.938379,
        "eu-central",
        3,
        "hel1-dc2",
    ),
    LocationSpec(
        4, "ash", "Ashburn, VA", "US", "Ashburn, VA", 39.045821, -77.487073, "us-east", 5, "ash-dc1"
    ),
    LocationSpec(
        5,
        "hil",
        "Hillsboro, OR",
        "US",
        "Hillsboro, OR",
        45.54222,
        -122.951924,
        "us-west",
        6,
        "hil-dc1",
    ),
    LocationSpec(
        6, "sin", "Singapore", "SG", "Singapore", 1.283333, 103.833333, "ap-southeast", 7, "sin-dc1"
    ),
)

EU = ("fsn1", "nbg1", "hel1")
EVERYWHERE = ("fsn1", "nbg1", "hel1", "ash", "hil", "sin")
US_SURCHARGE = Decimal("1.19")
"""Hetzner's US and Singapore prices are a little higher than the German ones."""


@dataclass(frozen=True)
class ServerTypeSpec:
    id: int
    name: str
    cores: int
    memory_gb: float
    disk_gb: int
    hourly_net: Decimal
    monthly_net: Decimal
    cpu_type: str
    architecture: str
    category: str
    locations: tuple[str, ...]
    storage_type: str = "local"
    deprecated: bool = False


def _t(
    id: int,
    name: str,
    cores: int,
    memory: float,
    disk: int,
    hourly: str,
    monthly: str,
    *,
    cpu: str = "shared",
    arch: str = "x86",
    category: str = "Shared vCPU",
    locations: tuple[str, ...] = EU,
    deprecated: bool = False,
) -> ServerTypeSpec:
    return ServerTypeSpec(
        id,
        name,
        cores,
        memory,
        disk,
        Decimal(hourly),
        Decimal(monthly),
        cpu,
        arch,
        category,
        locations,
        deprecated=deprecated,
    )


SERVER_TYPES: tuple[ServerTypeSpec, ...] = (
    # Deprecated: still listed (announced, not yet removed) so clients can see it go.
    _t(1, "cx11", 1, 2, 20, "0.0052", "3.29", deprecated=True),
    # Shared vCPU, Intel (x86), EU only.
    _t(104, "cx22", 2, 4, 40, "0.0060", "3.79"),
    _t(105, "cx32", 4, 8, 80, "0.0110", "6.80"),
    _t(106, "cx42", 8, 16, 160, "0.0260", "16.40"),
    _t(107, "cx52", 16, 32, 320, "0.0530", "32.40"),
    # Cost-optimised shared vCPU (x86), EU only: the current CX generation.
    _t(108, "cx23", 2, 4, 40, "0.0048", "2.99"),
    _t(109, "cx33", 4, 8, 80, "0.0080", "4.99"),
    _t(110, "cx43", 8, 16, 160, "0.0152", "9.49"),
    _t(111, "cx53", 16, 32, 320, "0.0280", "17.49"),
    # Shared vCPU, AMD (x86), everywhere: the current CPX generation ...
    _t(112, "cpx12", 1, 2, 40, "0.0072", "4.49", locations=EVERYWHERE),
    _t(113, "cpx22", 2, 4, 80, "0.0128", "7.99", locations=EVERYWHERE),
    _t(114, "cpx32", 4, 8, 160, "0.0224", "13.99", locations=EVERYWHERE),
    _t(115, "cpx42", 8, 16, 320, "0.0408", "25.49", locations=EVERYWHERE),
    _t(116, "cpx52", 12, 24, 480, "0.0584", "36.49", locations=EVERYWHERE),
    _t(117, "cpx62", 16, 32, 640, "0.0792", "49.49", locations=EVERYWHERE),
    # ... and the previous one, still sold.
    _t(22, "cpx11", 2, 2, 40, "0.0070", "4.35", locations=EVERYWHERE),
    _t(23, "cpx21", 3, 4, 80, "0.0130", "7.55", locations=EVERYWHERE),
    _t(24, "cpx31", 4, 8, 160, "0.0240", "13.60", locations=EVERYWHERE),
    _t(25, "cpx41", 8, 16, 240, "0.0440", "25.20", locations=EVERYWHERE),
    _t(26, "cpx51", 16, 32, 360, "0.0970", "54.90", locations=EVERYWHERE),
    # Shared vCPU, Ampere (arm), EU only.
    _t(45, "cax11", 2, 4, 40, "0.0060", "3.79", arch="arm"),
    _t(93, "cax21", 4, 8, 80, "0.0110", "6.49", arch="arm"),
    _t(94, "cax31", 8, 16, 160, "0.0210", "12.49", arch="arm"),
    _t(95, "cax41", 16, 32, 320, "0.0400", "24.49", arch="arm"),
    # Dedicated vCPU, AMD (x86), everywhere.
    _t(
        96,
        "ccx13",
        2,
        8,
        80,
        "0.0200",
        "12.49",
        cpu="dedicated",
        category="Dedicated vCPU",
        locations=EVERYWHERE,
    ),
    _t(
        97,
        "ccx23",
        4,
        16,
        160,
        "0.0390",
        "24.49",
        cpu="dedicated",
        category="Dedicated vCPU",
        locations=EVERYWHERE,
    ),
    _t(
        98,
        "ccx33",
        8,
        32,
        240,
        "0.0770",
        "48.49",
        cpu="dedicated",
        category="Dedicated vCPU",
        locations=EVERYWHERE,
    ),
    _t(
        99,
        "ccx43",
        16,
        64,
        360,
        "0.1540",
        "96.49",
        cpu="dedicated",
        category="Dedicated vCPU",
        locations=EVERYWHERE,
    ),
    _t(
        100,
        "ccx53",
        32,
        128,
        600,
        "0.3080",
        "192.49",
        cpu="dedicated",
        category="Dedicated vCPU",
        locations=EVERYWHERE,
    ),
    _t(
        101,
        "ccx63",
        48,
        192,
        960,
        "0.4610",
        "288.49",
        cpu="dedicated",
        category="Dedicated vCPU",
        locations=EVERYWHERE,
    ),
)


@dataclass
class ImageSpec:
    id: int
    name: str | None
    description: str
    architecture: str
    type: str = "system"
    os_flavor: str = "ubuntu"
    os_version: str | None = None
    created: str = "2024-04-25T13:00:00+00:00"
    disk_size: float = 5
    image_size: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    status: str = "available"
    created_from: dict[str, object] | None = None
    deprecated: str | None = None


def system_images() -> list[ImageSpec]:
    """Public images: each name exists once per architecture, like on Hetzner."""
    images = []
    for base_id, name, flavor, version, created in (
        (67794396, "ubuntu-22.04", "ubuntu", "22.04", "2022-04-21T13:32:38+00:00"),
        (161547269, "ubuntu-24.04", "ubuntu", "24.04", "2024-04-25T13:00:00+00:00"),
        (114690387, "debian-12", "debian", "12", "2023-06-13T06:00:02+00:00"),
    ):
        for offset, arch in ((0, "x86"), (1, "arm")):
            images.append(
                ImageSpec(
                    id=base_id + offset,
                    name=name,
                    description=f"{flavor.capitalize()} {version}",
                    architecture=arch,
                    os_flavor=flavor,
                    os_version=version,
                    created=created,
                )
            )
    return images


def location(name_or_id: str | int) -> LocationSpec | None:
    for loc in LOCATIONS:
        if str(loc.id) == str(name_or_id) or loc.name == name_or_id:
            return loc
    return None


def money(value: Decimal) -> str:
    """Hetzner renders prices as decimal strings with many places."""
    return f"{value:.10f}"


def price_for(spec: ServerTypeSpec, location_name: str) -> dict[str, object]:
    loc = location(location_name)
    assert loc is not None
    factor = Decimal(1) if loc.network_zone == "eu-central" else US_SURCHARGE
    hourly = spec.hourly_net * factor
    monthly = spec.monthly_net * factor
    traffic = TRAFFIC_PRICE_NET[loc.network_zone]
    return {
        "location": location_name,
        "price_hourly": {"net": money(hourly), "gross": money(hourly * VAT)},
        "price_monthly": {"net": money(monthly), "gross": money(monthly * VAT)},
        "included_traffic": INCLUDED_TRAFFIC_EU
        if loc.network_zone == "eu-central"
        else INCLUDED_TRAFFIC_US,
        "price_per_tb_traffic": {"net": money(traffic), "gross": money(traffic * VAT)},
    }
