"""Every label, annotation and taint name GrowthRS reads or writes, in one place.

Providers label their instances and nodes with these too; they import them
from ``growthrs_core`` rather than spelling them again.
"""

from __future__ import annotations

# -- what GrowthRS puts on the nodes (and instances) it creates -----------------------
NODE_GROUP_LABEL = "growthrs.io/node-group"
"""The NodeGroupWithPriority a node belongs to; also the nodeSelector that pins a pod to one."""
NODE_REQUEST_LABEL = "growthrs.io/node-request"
"""The NodeRequest a node was created for."""
POOL_LABEL = "growthrs.io/pool"
"""Index of the pool the node was created from, when it was created (pools may move since)."""
PROVIDER_LABEL = "growthrs.io/provider"
"""The provider that created the node: the only one ever asked to delete it."""
CLUSTER_LABEL = "growthrs.io/cluster"
"""The cluster identity on every provider instance: instances without ours are never touched."""
MANAGED_PREFIX = "growthrs.io/"
"""Label keys under this prefix are GrowthRS's own; users and node classes may not set them."""
GPU_MODEL_LABEL = "growthrs.io/gpu-model"

GROUP_FINALIZER = "growthrs.io/nodes"
"""On every group: its deletion waits until its nodes and instances are gone (or released)."""
RELEASED_ANNOTATION = "growthrs.io/released"
"""On a node its deleted group released: why and when; GrowthRS no longer manages it."""

# -- scale-down ----------------------------------------------------------------------------
SCALE_DOWN_AT_ANNOTATION = "growthrs.io/scale-down-at"
"""When a node marked as unneeded will be removed (RFC 3339)."""
SCALE_DOWN_DISABLED_ANNOTATION = "growthrs.io/scale-down-disabled"
"""``"true"`` on a node keeps scale-down away from it."""
SCALE_DOWN_TAINT_KEY = "growthrs.io/scale-down"
"""NoSchedule taint on a node marked as unneeded, so nothing new lands there."""
SAFE_TO_EVICT_ANNOTATION = "cluster-autoscaler.kubernetes.io/safe-to-evict"
"""``"false"`` on a pod keeps its node (Cluster Autoscaler's annotation, honoured as is)."""

# -- Kubernetes' own ---------------------------------------------------------------------------
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
HOSTNAME_LABEL = "kubernetes.io/hostname"
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
ARCH_LABEL = "kubernetes.io/arch"
OS_LABEL = "kubernetes.io/os"
NOT_READY_TAINT_KEY = "node.kubernetes.io/not-ready"
UNINITIALIZED_TAINT_KEY = "node.cloudprovider.kubernetes.io/uninitialized"
STARTUP_TAINT_KEYS = frozenset({NOT_READY_TAINT_KEY, UNINITIALIZED_TAINT_KEY})
"""Taints a new node carries until the control plane has seen it Ready (and, with a
cloud controller, initialised it). The scheduler keeps pods off it until then."""

GPU_RESOURCE = "nvidia.com/gpu"

# -- consolidation and disruption -----------------------------------------------------------
DO_NOT_DISRUPT_ANNOTATION = "karpenter.sh/do-not-disrupt"
"""``"true"`` on a pod keeps its node from being consolidated, expired or drifted away
(Karpenter's annotation, honoured as is)."""
SAFE_TO_EVICT_LOCAL_VOLUMES_ANNOTATION = (
    "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes"
)
"""Comma-separated names of a pod's emptyDir/hostPath volumes whose data may be lost
(Cluster Autoscaler's annotation): those volumes do not keep the pod's node."""
TERMINATION_FINALIZER = "growthrs.io/termination"
"""On a node being drained: the Node object stays until its provider instance is deleted,
whoever deletes the Node and whenever the operator restarts."""
REMOVAL_FINALIZER = "growthrs.io/removal"
"""On every NodeRemoval: deleting one cancels the removal (untaints the node) or, once
the instance is being deleted, waits until it is gone."""
TEMPLATE_HASH_ANNOTATION = "growthrs.io/template-hash"
"""On a managed node: a hash of its group's labels, taints and node class when GrowthRS
first saw it; a different hash later means the node has drifted from its group."""
