"""Which pool a managed node belongs to now, and which provider deletes it.

A node's labels record what it was created as (:class:`~growthrs_core.cluster.NodeIdentity`).
Groups are edited afterwards: pools are reordered, shrunk or removed. Decisions
therefore never index ``spec.pools`` with the label alone; they ask here.
"""

from __future__ import annotations

from growthrs_core.cluster import NodeIdentity
from growthrs_core.crd.models import NodeGroupWithPrioritySpec, Pool


def pool_admits(pool: Pool, spec: NodeGroupWithPrioritySpec, identity: NodeIdentity) -> bool:
    """Whether ``pool`` could have created a node like this one (provider, type, location)."""
    if pool.provider != identity.provider:
        return False
    if identity.instance_type and identity.instance_type not in pool.serverType:
        return False
    locations = spec.pool_locations(pool)
    return not (locations is not None and identity.region and identity.region not in locations)


def current_pool(identity: NodeIdentity, spec: NodeGroupWithPrioritySpec | None) -> int | None:
    """The index of the pool this node belongs to in ``spec`` now, or ``None``.

    The pool it was created from, if it is still at the recorded index and still
    admits the node; otherwise the first pool that admits it (the pools were
    reordered); ``None`` when no pool does (removed or changed): the node then
    counts for its group only. A node with no provider label (created by an
    older GrowthRS) trusts the recorded index.
    """
    if spec is None:
        return None
    pools = spec.pools
    recorded = identity.pool_index
    if not identity.provider:
        return recorded if recorded is not None and recorded < len(pools) else None
    if (
        recorded is not None
        and recorded < len(pools)
        and pool_admits(pools[recorded], spec, identity)
    ):
        return recorded
    for index, pool in enumerate(pools):
        if pool_admits(pool, spec, identity):
            return index
    return None
