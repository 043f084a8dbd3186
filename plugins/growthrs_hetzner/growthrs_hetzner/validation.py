"""Pool checks: what would keep a pool's servers from being created or from joining.

Pure functions over a :class:`~growthrs_core.PoolCheck`, the parsed node class and
Hetzner's catalogue; :meth:`HetznerProvider.validate_pool` does the reading (token,
ConfigMap, Secret, cached ``/server_types`` and ``/locations``) and joins the
problems. Every problem is a sentence a user can act on; none carries a secret.

The choices:

* A pool needs a ``HetznerNodeClass``: without one a server boots a plain image
  with no cloud-init and never joins, so the operator would create, wait, delete
  and create again for nothing.
* A node class without ``userData`` is fine only when every image the pool needs
  is a snapshot (``id`` or ``labelSelector``) that may join by itself. An image
  by ``name`` is a system image (Hetzner sets names on system images only), and
  that one cannot join without cloud-init.
* A server type or location Hetzner does not have, or does not sell in the pool's
  locations, is a problem; one that is only *currently* unavailable is not (that
  is a capacity answer at creation, and the pool falls back).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from growthrs_core import MissingConfig, PoolCheck
from growthrs_hetzner.nodeclass import KIND, HetznerNodeClassSpec, parse_node_class
from growthrs_hetzner.offerings import ARCH, ServerTypeInfo

NOT_JOIN = "servers could not join the cluster"
ARCHES = ("amd64", "arm64")


def _names(items: Iterable[str]) -> str:
    return ", ".join(sorted(items))


def node_class(check: PoolCheck) -> tuple[list[str], str, HetznerNodeClassSpec | None]:
    """``(problems, name, spec)`` of the pool's node class reference and spec alone.

    ``spec`` is None when there is no usable node class (then ``problems`` says why).
    """
    ref = check.node_class_ref
    if ref is None:
        return (
            [
                f"no node class: {NOT_JOIN} (point the pool's nodeClassRef at a {KIND} "
                "with userData and joinSecretRef)"
            ],
            "",
            None,
        )
    kind, _, name = ref.partition("/")
    if kind != KIND:
        return [f"node class {ref} is not a {KIND}: {NOT_JOIN}"], name, None
    if check.node_class_missing:
        return [f"node class {ref} does not exist: {NOT_JOIN}"], name, None
    try:
        _, spec = parse_node_class(check.node_class, name=name or "(unnamed)")
    except MissingConfig as exc:
        return [exc.message], name, None
    return [], name, spec


def arches_needed(
    check: PoolCheck, spec: HetznerNodeClassSpec, types: Mapping[str, ServerTypeInfo] | None
) -> dict[str, list[str]]:
    """Architecture -> the pool's server types of it. Without the catalogue: each
    architecture the node class has an image for (amd64 when it names none)."""
    if types is None:
        known = [a for a in ARCHES if spec.image_for(a) is not None]
        return {a: [] for a in known or ["amd64"]}
    needed: dict[str, list[str]] = {}
    for name in check.instance_types:
        info = types.get(name)
        arch = ARCH.get(info.architecture) if info is not None else None
        if arch is not None:
            needed.setdefault(arch, []).append(name)
    return needed


def images(name: str, spec: HetznerNodeClassSpec, needed: Mapping[str, list[str]]) -> list[str]:
    """An architecture the pool needs without an image; no user data with a system image."""
    problems = []
    for arch, types in sorted(needed.items()):
        if spec.image_for(arch) is None:
            which = _names(types) if types else f"{arch} servers"
            problems.append(
                f"{KIND} {name} has no image for {arch} (field image.{arch}): "
                f"{which} could not be created"
            )
    if spec.userData is None:
        system = sorted(
            {
                str(image.name)
                for arch in needed
                if (image := spec.image_for(arch)) is not None and image.name is not None
            }
        )
        if system:
            problems.append(
                f"{KIND} {name} has no userData and {_names(system)} is a system image: "
                f"{NOT_JOIN} (set userData and joinSecretRef, or use a snapshot that joins "
                "by itself)"
            )
    return problems


def catalogue(
    check: PoolCheck,
    name: str,
    spec: HetznerNodeClassSpec | None,
    types: Mapping[str, ServerTypeInfo],
    locations: frozenset[str],
) -> list[str]:
    """Server types and locations the pool names that Hetzner does not have or sell there."""
    problems = []
    pool_locations = set(check.locations) if check.locations is not None else set(locations)
    unknown = pool_locations - locations
    if unknown:
        problems.append(
            f"Hetzner has no location {_names(unknown)} (it has {_names(locations)}): "
            "fix the pool's locations"
        )
    usable = pool_locations & locations
    if spec is not None and spec.locations is not None:
        unknown_nc = set(spec.locations) - locations
        if unknown_nc:
            problems.append(
                f"{KIND} {name}: unknown location {_names(unknown_nc)} (field locations; "
                f"Hetzner has {_names(locations)})"
            )
        allowed = set(spec.locations) & locations
        if usable and allowed and not usable & allowed:
            problems.append(
                f"the pool's locations ({_names(usable)}) and {KIND} {name}'s locations "
                f"({_names(allowed)}) have none in common: no server could be created"
            )
        usable &= allowed or usable
    missing = [t for t in check.instance_types if t not in types]
    if missing:
        problems.append(
            f"Hetzner has no server type {', '.join(missing)} "
            "(see `growthrs offerings --provider hetzner`)"
        )
    for type_name in check.instance_types:
        info = types.get(type_name)
        if info is None:
            continue
        if ARCH.get(info.architecture) is None:
            problems.append(
                f"server type {type_name} has architecture {info.architecture}, "
                "which GrowthRS cannot run"
            )
            continue
        sold = {
            loc.name for loc in info.locations if not loc.deprecated and loc.name in info.hourly
        }
        if usable and not sold & usable:
            where = f"only in {_names(sold & locations)}" if sold & locations else "nowhere"
            problems.append(
                f"Hetzner sells server type {type_name} {where}, not in {_names(usable)}"
            )
    return problems
