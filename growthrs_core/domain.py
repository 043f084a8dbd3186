"""Plain typed data shared by the planner, the controller and every provider.

Nothing here talks to Kubernetes or a cloud; these are the words the rest of the
code base is written in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NewType

Region = NewType("Region", str)
"""A provider location such as ``fsn1``; kept apart from zones and types by mypy."""
Zone = NewType("Zone", str)
InstanceType = NewType("InstanceType", str)
NodeId = NewType("NodeId", str)
"""A provider's handle for one machine; by convention the node (and server) name."""

TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


@dataclass(frozen=True, slots=True)
class Resources:
    """Schedulable resources of a node or demand of a pod.

    Memory is in MiB so fractional GiB never need rounding; CPU in millicores
    matches pod requests such as ``250m``. ``ephemeral_storage_gib=None`` on an
    offering means "not limited"; on a demand it means "nothing requested".
    """

    cpu_millis: int
    memory_mib: int
    ephemeral_storage_gib: int | None = None
    gpu: int = 0
    gpu_model: str | None = None

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            cpu_millis=self.cpu_millis + other.cpu_millis,
            memory_mib=self.memory_mib + other.memory_mib,
            ephemeral_storage_gib=_add_optional(
                self.ephemeral_storage_gib, other.ephemeral_storage_gib
            ),
            gpu=self.gpu + other.gpu,
            gpu_model=self.gpu_model or other.gpu_model,
        )


def _add_optional(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


ZERO = Resources(cpu_millis=0, memory_mib=0)


@dataclass(frozen=True, slots=True)
class Offering:
    """One kind of machine a provider can create in one place, with its price.

    ``resources`` is what pods can use on the node (allocatable), which is what
    the planner packs against.
    """

    instance_type: InstanceType
    resources: Resources
    cost_per_hour: float
    region: Region
    zone: Zone | None = None
    arch: str = "amd64"
    max_pods: int = 110

    @property
    def key(self) -> str:
        """A stable identifier, e.g. ``cx22@fsn1`` or ``cx22@fsn1/fsn1-dc14``."""
        where = self.region if self.zone is None else f"{self.region}/{self.zone}"
        return f"{self.instance_type}@{where}"


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: TaintEffect = "NoSchedule"

    def to_dict(self) -> dict[str, str]:
        out = {"key": self.key, "effect": self.effect}
        if self.value:
            out["value"] = self.value
        return out


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """What a provider needs to create one node.

    ``node_class`` is the provider-specific configuration the pool points at
    through ``nodeClassRef`` (for Hetzner the ``HetznerNodeClass`` spec), as a
    plain dict. Creating twice with the same ``node_name`` must give one machine.
    """

    node_name: str
    offering: Offering
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    node_class: dict[str, object] = field(default_factory=dict)
    node_group: str = ""
    node_request: str = ""


class ProviderStatus:
    """What a provider knows about one of its machines.

    One of :class:`Creating`, :class:`Running`, :class:`Removing`,
    :class:`NotFound` or :class:`Failed` (which carries a reason).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return type(self).__name__

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self).__name__)


class Creating(ProviderStatus):
    __slots__ = ()


class Running(ProviderStatus):
    __slots__ = ()


class Removing(ProviderStatus):
    __slots__ = ()


class NotFound(ProviderStatus):
    __slots__ = ()


class Failed(ProviderStatus):
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Failed({self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Failed) and other.reason == self.reason

    def __hash__(self) -> int:
        return hash(("Failed", self.reason))
