"""How many nodes each group and pool has or is getting, against its limits.

The planner keeps within ``maxNodes`` when it plans, but it plans pools, not
instances: a request planned for a lower pool may be created in a higher one
that must then still have room, and create calls in flight count before their
nodes exist. These counts are what the NodeRequest lifecycle checks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from growthrs_core.cluster import NodeIdentity, NodeRequestView
from growthrs_core.crd.models import NodeGroupWithPrioritySpec
from growthrs_core.decisions.identity import current_pool
from growthrs_core.decisions.memory import CreateCall
from growthrs_core.decisions.snapshot import Snapshot

PoolKey = tuple[str, int | None]
"""(group, current pool index); ``None`` for a node whose pool was removed or changed."""


def request_identity(nr: NodeRequestView) -> NodeIdentity:
    """What a NodeRequest's node is being created as, from its last successful create."""
    created = next((a for a in reversed(nr.status.attempts) if a.result == "Created"), None)
    provider = created.provider if created else ""
    offering = nr.status.offering or (created.offering if created else "")
    instance_type, _, where = offering.partition("@")
    region, _, zone = where.partition("/")
    return NodeIdentity(
        group=nr.group,
        pool_index=nr.status.currentPool,
        provider=provider,
        instance_type=instance_type,
        region=region,
        zone=zone,
        node_request=nr.name,
    )


def pool_usage(snapshot: Snapshot, creating: Mapping[str, CreateCall]) -> Counter[PoolKey]:
    """Nodes each (group, pool) has or is getting: live nodes, Provisioning
    NodeRequests whose node has not registered yet, and create calls in flight."""
    specs = {g.name: g.spec for g in snapshot.groups}
    usage: Counter[PoolKey] = Counter()
    for node in snapshot.nodes:
        identity = node.identity
        if not identity.managed or node.deleting:
            continue
        usage[(identity.group, current_pool(identity, specs.get(identity.group)))] += 1
    for nr in snapshot.node_requests:
        if (
            nr.phase == "Provisioning"
            and nr.status.nodeName not in snapshot.nodes_by_name
            and nr.name not in creating
        ):
            usage[(nr.group, current_pool(request_identity(nr), specs.get(nr.group)))] += 1
    for call in creating.values():
        spec = specs.get(call.group)
        index = call.pool_index if spec is not None and call.pool_index < len(spec.pools) else None
        usage[(call.group, index)] += 1
    return usage


@dataclass(frozen=True)
class Headroom:
    """Room left under a group's limits for one more node."""

    group_full: str | None
    """Why the group as a whole can take no more, or ``None``."""
    full_pools: Mapping[int, str]
    """Pool index -> why that pool can take no more."""


def headroom(
    group: str,
    spec: NodeGroupWithPrioritySpec,
    usage: Mapping[PoolKey, int],
    *,
    own_pool: tuple[bool, int | None] = (False, None),
) -> Headroom:
    """Whether ``group`` and each of its pools may get one more node.

    ``own_pool`` is ``(True, pool)`` when the request asking already has a node
    of its own in the group (it is being replaced, not added), which therefore
    does not count against it.
    """
    used: Counter[int | None] = Counter({p: n for (g, p), n in usage.items() if g == group})
    has_own, own = own_pool
    if has_own:
        used[own] -= 1
    group_full = None
    if spec.maxNodes is not None and used.total() >= spec.maxNodes:
        group_full = f"node group {group} has maxNodes {spec.maxNodes} nodes"
    full: dict[int, str] = {}
    for index, pool in enumerate(spec.pools):
        if pool.maxNodes is not None and used[index] >= pool.maxNodes:
            full[index] = f"has maxNodes {pool.maxNodes} nodes"
    return Headroom(group_full, full)


def count_by_pool(usage: Mapping[PoolKey, int], group: str, pools: Sequence[object]) -> list[int]:
    """Nodes per pool of ``group``, in pool order."""
    return [usage.get((group, index), 0) for index in range(len(pools))]
