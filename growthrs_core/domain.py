"""Plain typed data shared by the planner, the controller and every provider.

Nothing here talks to Kubernetes or a cloud; these are the words the rest of the
code base is written in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, NewType

Region = NewType("Region", str)
"""A provider location such as ``fsn1``; kept apart from zones and types by mypy."""
Zone = NewType("Zone", str)
InstanceType = NewType("InstanceType", str)
NodeId = NewType("NodeId", str)
"""A provider's handle for one machine; by convention the node (and server) name."""

TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


HUGEPAGES_PREFIX = "hugepages-"
"""``hugepages-2Mi``, ``hugepages-1Gi``, ...: amounts in bytes."""
NAMED_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "nvidia.com/gpu", "pods"})
"""Resources with a field of their own (``pods`` is ``Offering.max_pods``): never in
:attr:`Resources.extended`."""


class ExtendedResources(Mapping[str, int]):
    """Every resource besides the named ones: resource name → integer amount.

    Immutable and hashable (pods of one workload share one), sorted by name,
    zero amounts left out. Amounts are in the resource's natural unit, the
    quantity's value rounded up to an integer: a count for extended resources
    such as ``example.com/widget``, **bytes** for ``hugepages-<size>`` (exact for
    every page size). Built from a mapping or from (name, amount) pairs.
    """

    __slots__ = ("_items", "_map")

    _items: tuple[tuple[str, int], ...]
    _map: dict[str, int]

    def __init__(self, items: Mapping[str, int] | Iterable[tuple[str, int]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        found: dict[str, int] = {}
        for name, amount in pairs:
            if isinstance(amount, bool) or not isinstance(amount, int):
                raise TypeError(f"resource {name}: amount must be an integer, got {amount!r}")
            if name in NAMED_RESOURCES:
                raise ValueError(
                    f"resource {name} has a field of its own in Resources (or Offering.max_pods)"
                )
            if amount:
                found[str(name)] = found.get(str(name), 0) + amount
        self._items = tuple(sorted((k, v) for k, v in found.items() if v))
        self._map = dict(self._items)

    def __getitem__(self, name: str) -> int:
        return self._map[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._map

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ExtendedResources):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self._items) == {k: v for k, v in other.items() if v}
        return NotImplemented

    def __repr__(self) -> str:
        return f"ExtendedResources({dict(self._items)!r})"

    def plus(self, other: Mapping[str, int], times: int = 1) -> ExtendedResources:
        """This plus ``other`` taken ``times`` times."""
        if not other or not times:
            return self
        if not self and times == 1 and isinstance(other, ExtendedResources):
            return other
        out = dict(self._items)
        for name, amount in other.items():
            out[name] = out.get(name, 0) + amount * times
        return ExtendedResources(out)

    def maximum(self, other: Mapping[str, int]) -> ExtendedResources:
        """The larger amount of each resource."""
        if not other:
            return self
        if not self and isinstance(other, ExtendedResources):
            return other
        out = dict(self._items)
        for name, amount in other.items():
            out[name] = max(out.get(name, 0), amount)
        return ExtendedResources(out)

    def covers(self, demand: Mapping[str, int]) -> bool:
        """Whether every resource of ``demand`` is here in at least that amount."""
        return all(self._map.get(name, 0) >= amount for name, amount in demand.items())

    def missing(self, demand: Mapping[str, int]) -> list[str]:
        """The resources of ``demand`` not here in that amount, by name."""
        return [name for name, amount in demand.items() if self._map.get(name, 0) < amount]


NO_EXTENDED = ExtendedResources()


def format_amount(name: str, amount: int) -> str:
    """An amount of resource ``name`` as people write it: ``2``, or ``1Gi`` for hugepages."""
    if name.startswith(HUGEPAGES_PREFIX) and amount:
        for suffix, size in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
            if amount % size == 0:
                return f"{amount // size}{suffix}"
    return str(amount)


def format_extended(name: str, amount: int) -> str:
    """``example.com/widget 2``, ``hugepages-2Mi 1Gi``: for messages."""
    return f"{name} {format_amount(name, amount)}"


@dataclass(frozen=True, slots=True)
class Resources:
    """Schedulable resources of a node or demand of a pod.

    Memory is in MiB so fractional GiB never need rounding; CPU in millicores
    matches pod requests such as ``250m``. ``ephemeral_storage_gib=None`` on an
    offering means "not limited"; on a demand it means "nothing requested".

    ``extended`` holds every other resource (extended resources such as
    ``example.com/widget``, ``hugepages-2Mi``) as name → integer amount: counts,
    and bytes for hugepages (see :class:`ExtendedResources`). An offering
    declares here what its nodes offer besides CPU, memory, storage and GPUs;
    a pod requesting a resource no offering declares is never given a node.
    Any mapping may be passed; it is kept as an immutable
    :class:`ExtendedResources`.
    """

    cpu_millis: int
    memory_mib: int
    ephemeral_storage_gib: int | None = None
    gpu: int = 0
    gpu_model: str | None = None
    extended: Mapping[str, int] = NO_EXTENDED

    def __post_init__(self) -> None:
        if type(self.extended) is not ExtendedResources:
            object.__setattr__(self, "extended", ExtendedResources(self.extended))

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            cpu_millis=self.cpu_millis + other.cpu_millis,
            memory_mib=self.memory_mib + other.memory_mib,
            ephemeral_storage_gib=_add_optional(
                self.ephemeral_storage_gib, other.ephemeral_storage_gib
            ),
            gpu=self.gpu + other.gpu,
            gpu_model=self.gpu_model or other.gpu_model,
            extended=extended_of(self).plus(other.extended),
        )


def extended_of(resources: Resources) -> ExtendedResources:
    """``resources.extended`` as the :class:`ExtendedResources` it always is."""
    ext = resources.extended
    assert isinstance(ext, ExtendedResources)
    return ext


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
