"""The Node object a KWOK "machine" is, and how to read one back. Pure functions.

All state the provider needs lives on the Node (labels and annotations), so
the provider keeps nothing in memory and an operator restart loses nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from growthrs_core import (
    ARCH_LABEL,
    CLUSTER_LABEL,
    GPU_MODEL_LABEL,
    GPU_RESOURCE,
    HOSTNAME_LABEL,
    INSTANCE_TYPE_LABEL,
    NOT_READY_TAINT_KEY,
    OS_LABEL,
    PROVIDER_LABEL,
    REGION_LABEL,
    ZONE_LABEL,
    CreateRequest,
    Resources,
    format_cpu,
    format_memory,
)
from growthrs_kwok import offerings

PROVIDER_NAME = "kwok"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
"""The kwok controller keeps Nodes with ``kwok.x-k8s.io/node: fake`` Ready."""
KWOK_ANNOTATION_VALUE = "fake"
READY_AT_ANNOTATION = "kwok.growthrs.io/ready-at"
"""When a delayed node is handed to the kwok controller (RFC 3339, UTC)."""
FAILED_ANNOTATION = "kwok.growthrs.io/failed"
"""Set by hand (or a test) to make ``status()`` report ``Failed(<value>)``."""

TYPE_LABEL = "type"
"""kwok's own: ``type: kwok`` marks a node as simulated."""


def provider_id(name: str) -> str:
    return f"kwok://{name}"


def format_time(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def parse_time(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def resource_list(res: Resources, max_pods: int) -> dict[str, str]:
    """``status.capacity`` / ``status.allocatable`` as the kubelet would report them,
    extended resources and hugepages included, so the scheduler sees them."""
    out = {
        "cpu": format_cpu(res.cpu_millis),
        "memory": f"{res.memory_mib}Mi",
        "pods": str(max_pods),
    }
    if res.ephemeral_storage_gib is not None:
        out["ephemeral-storage"] = f"{res.ephemeral_storage_gib}Gi"
    if res.gpu:
        out[GPU_RESOURCE] = str(res.gpu)
    for name, amount in res.extended.items():
        out[name] = _quantity(name, amount)
    return out


def _quantity(name: str, amount: int) -> str:
    """An extended resource's amount as a quantity: a count, or bytes for hugepages
    (written in MiB when whole, as a kubelet reports them)."""
    if name.startswith("hugepages-") and amount % 2**20 == 0:
        return format_memory(amount // 2**20)
    return str(amount)


def node_info(name: str, arch: str) -> dict[str, str]:
    """``status.nodeInfo``: every field the API schema requires, with stable fake IDs."""
    machine = uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.kwok.growthrs.io")
    return {
        "architecture": arch,
        "operatingSystem": "linux",
        "machineID": machine.hex,
        "systemUUID": str(machine),
        "bootID": str(machine),
        "kernelVersion": "kwok",
        "osImage": "kwok (simulated Hetzner Cloud server)",
        "containerRuntimeVersion": "kwok",
        "kubeletVersion": "fake",
        "kubeProxyVersion": "",
    }


def node_labels(request: CreateRequest, cluster_name: str) -> dict[str, str]:
    """The request's labels plus the facts a kubelet and cloud controller would set.

    The provider's own facts win: a node is what it is, whatever was asked.
    """
    o = request.offering
    labels = dict(request.labels)
    labels.update(
        {
            HOSTNAME_LABEL: request.node_name,
            TYPE_LABEL: PROVIDER_NAME,
            PROVIDER_LABEL: PROVIDER_NAME,
            CLUSTER_LABEL: cluster_name,
            INSTANCE_TYPE_LABEL: str(o.instance_type),
            REGION_LABEL: str(o.region),
            ARCH_LABEL: o.arch,
            OS_LABEL: "linux",
        }
    )
    if o.zone is not None:
        labels[ZONE_LABEL] = str(o.zone)
    if o.resources.gpu_model:
        labels[GPU_MODEL_LABEL] = o.resources.gpu_model
    return labels


BOOTING_TAINT = {"key": NOT_READY_TAINT_KEY, "effect": "NoSchedule"}
"""What keeps the scheduler off a booting Node, as on a real one whose kubelet is starting."""


def booting_condition(ready_at: float) -> dict[str, Any]:
    """``Ready=False`` on a Node not yet handed to kwok, like a starting kubelet reports.

    The control plane's node lifecycle controller keeps taints in step with the
    conditions: a Node with no ``Ready`` condition loses the not-ready taint within
    seconds (and the scheduler then binds pods to a Node kwok is not running), while
    ``Ready=False`` keeps it.
    """
    return {
        "type": "Ready",
        "status": "False",
        "reason": "KubeletNotReady",
        "message": f"booting: handed to kwok at {format_time(ready_at)} (simulated boot delay)",
    }


def build_node(
    request: CreateRequest, cluster_name: str, *, ready_at: float | None
) -> dict[str, Any]:
    """The Node to POST. ``ready_at=None`` hands it to kwok at once; otherwise the
    kwok annotation is left off and the time to add it is recorded instead, and the
    Node boots like a real one: tainted ``node.kubernetes.io/not-ready:NoSchedule``
    and ``Ready=False`` until it is handed over (:func:`booted_node`)."""
    o = request.offering
    server = offerings.server_type(str(o.instance_type))
    capacity = offerings.capacity(server) if server is not None else o.resources
    annotations = {}
    if ready_at is None:
        annotations[KWOK_ANNOTATION] = KWOK_ANNOTATION_VALUE
    else:
        annotations[READY_AT_ANNOTATION] = format_time(ready_at)
    spec: dict[str, Any] = {"providerID": provider_id(request.node_name)}
    taints = [t.to_dict() for t in request.taints]
    if ready_at is not None:
        taints.append(dict(BOOTING_TAINT))
    if taints:
        spec["taints"] = taints
    status: dict[str, Any] = {
        "capacity": resource_list(capacity, o.max_pods),
        "allocatable": resource_list(o.resources, o.max_pods),
        "nodeInfo": node_info(request.node_name, o.arch),
    }
    if ready_at is not None:
        status["conditions"] = [booting_condition(ready_at)]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": request.node_name,
            "labels": node_labels(request, cluster_name),
            "annotations": annotations,
        },
        "spec": spec,
        "status": status,
    }


SYSTEM_TAINTS = frozenset(
    {
        NOT_READY_TAINT_KEY,
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/unschedulable",
    }
)
"""Taints the control plane manages; they are left for it to add again."""


def booted_node(node: Mapping[str, Any]) -> dict[str, Any]:
    """The same Node as ``node``, handed to kwok: what it looks like after booting.

    Exactly what :func:`build_node` makes for a Node handed over at once: the booting
    taint and ``Ready=False`` go. The apiserver's ``TaintNodesByCondition`` admission
    taints the new Node not-ready again, and the node lifecycle controller removes that
    as soon as kwok reports ``Ready=True`` (the end-to-end tests watch it happen).
    """
    meta = node.get("metadata") or {}
    spec = dict(node.get("spec") or {})
    status = node.get("status") or {}
    annotations = {k: v for k, v in annotations_of(node).items() if k != READY_AT_ANNOTATION}
    annotations[KWOK_ANNOTATION] = KWOK_ANNOTATION_VALUE
    taints = [t for t in spec.pop("taints", None) or () if t.get("key") not in SYSTEM_TAINTS]
    if taints:
        spec["taints"] = taints
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": meta.get("name"),
            "labels": dict(labels_of(node)),
            "annotations": annotations,
        },
        "spec": spec,
        "status": {
            key: status[key] for key in ("capacity", "allocatable", "nodeInfo") if key in status
        },
    }


# -- reading a Node back ---------------------------------------------------------


def labels_of(node: Mapping[str, Any]) -> Mapping[str, str]:
    labels: Mapping[str, str] = (node.get("metadata") or {}).get("labels") or {}
    return labels


def annotations_of(node: Mapping[str, Any]) -> Mapping[str, str]:
    annotations: Mapping[str, str] = (node.get("metadata") or {}).get("annotations") or {}
    return annotations


def is_ours(node: Mapping[str, Any], cluster_name: str) -> bool:
    labels = labels_of(node)
    return labels.get(PROVIDER_LABEL) == PROVIDER_NAME and labels.get(CLUSTER_LABEL) == cluster_name


def is_deleting(node: Mapping[str, Any]) -> bool:
    return (node.get("metadata") or {}).get("deletionTimestamp") is not None


def is_ready(node: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or ()
    )


def handed_to_kwok(node: Mapping[str, Any]) -> bool:
    return annotations_of(node).get(KWOK_ANNOTATION) == KWOK_ANNOTATION_VALUE


def ready_at(node: Mapping[str, Any]) -> float | None:
    raw = annotations_of(node).get(READY_AT_ANNOTATION)
    return parse_time(raw) if raw else None


def placement(node: Mapping[str, Any]) -> tuple[str, str]:
    """``(instance type, location)`` of a node this provider created."""
    labels = labels_of(node)
    return labels.get(INSTANCE_TYPE_LABEL, ""), labels.get(REGION_LABEL, "")
