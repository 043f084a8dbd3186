"""Every write the operator makes to the Kubernetes API, and nothing else.

Each write puts the object the apiserver returned into the matching watch
cache at once, so the next pass decides on it without waiting for the watch.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from growthrs_core.cluster import GroupView, NodeRequestView
from growthrs_core.controller.kube import JSON, Kube, KubeError, ngp_path, node_path, nr_path
from growthrs_core.controller.state import Caches
from growthrs_core.crd.models import (
    API_VERSION,
    NodeGroupWithPriorityStatus,
    NodeRequestStatus,
)
from growthrs_core.labels import NODE_GROUP_LABEL
from growthrs_core.planner import PlannedNode
from growthrs_core.timeutil import format_time

log = logging.getLogger(__name__)

STATUS_CONFLICT_RETRIES = 5


class ApiWrites:
    def __init__(self, kube: Kube, caches: Caches) -> None:
        self.kube = kube
        self.caches = caches
        self._plurals: dict[tuple[str, str], str] = {}

    # -- NodeRequests ------------------------------------------------------------------

    def create_node_request(
        self, planned: PlannedNode, group: GroupView, now: datetime
    ) -> NodeRequestView | None:
        """Create one NodeRequest (owned by its group) and mark it Pending."""
        body: JSON = {
            "apiVersion": API_VERSION,
            "kind": "NodeRequest",
            "metadata": {
                "generateName": f"{planned.group}-",
                "labels": {NODE_GROUP_LABEL: planned.group},
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": "NodeGroupWithPriority",
                        "name": group.name,
                        "uid": group.uid,
                        "controller": True,
                        "blockOwnerDeletion": False,
                    }
                ],
            },
            "spec": {
                "nodeGroup": planned.group,
                "requirements": planned.requirements.model_dump(exclude_none=True),
                "pods": [
                    {"namespace": p.namespace, "name": p.name, "uid": p.uid} for p in planned.pods
                ],
                "plannedPool": planned.pool_index,
                "plannedOffering": planned.offering.key,
            },
        }
        try:
            created = self.kube.create(nr_path(), body)
        except KubeError as exc:
            log.error("cannot create NodeRequest for group %s: %s", planned.group, exc)
            return None
        view = self.caches.node_requests.put(created)
        status = NodeRequestStatus(
            phase="Pending",
            lastTransitionTime=format_time(now),
            message=f"planned as {planned.offering.key} for {len(planned.pods)} pod(s)",
        )
        return self.node_request_status(view, status) or view

    def node_request_status(
        self, nr: NodeRequestView, status: NodeRequestStatus
    ) -> NodeRequestView | None:
        """Write the status subresource; on a resourceVersion conflict re-read and retry."""
        rv = nr.resource_version
        body_status = status.model_dump(exclude_none=True)
        for _ in range(STATUS_CONFLICT_RETRIES):
            patch = {"metadata": {"resourceVersion": rv}, "status": body_status}
            try:
                obj = self.kube.patch(nr_path(nr.name) + "/status", patch)
                return self.caches.node_requests.put(obj)
            except KubeError as exc:
                if exc.status == 404:
                    self.caches.node_requests.discard(nr.name)
                    return None
                if exc.status != 409:
                    log.warning("cannot write status of NodeRequest %s: %s", nr.name, exc)
                    return None
                try:
                    fresh = self.kube.get(nr_path(nr.name))
                except KubeError:
                    return None
                rv = str((fresh.get("metadata") or {}).get("resourceVersion", ""))
        log.warning("gave up writing status of NodeRequest %s after conflicts", nr.name)
        return None

    def delete_node_request(self, name: str) -> None:
        try:
            self.kube.delete(nr_path(name))
            self.caches.node_requests.discard(name)
        except KubeError as exc:
            log.warning("cannot delete NodeRequest %s: %s", name, exc)

    # -- nodes -------------------------------------------------------------------------

    def patch_node(self, name: str, patch: JSON) -> None:
        try:
            self.caches.nodes.put(self.kube.patch(node_path(name), patch))
        except KubeError as exc:
            log.warning("cannot update node %s: %s", name, exc)

    def delete_node(self, name: str) -> None:
        """Remove the Node object (gone already is fine)."""
        self.kube.delete(node_path(name))

    # -- groups ------------------------------------------------------------------------

    def group_status(self, name: str, status: NodeGroupWithPriorityStatus) -> bool:
        try:
            obj = self.kube.patch(
                ngp_path(name) + "/status", {"status": status.model_dump(exclude_none=True)}
            )
        except KubeError as exc:
            log.warning("cannot write status of group %s: %s", name, exc)
            return False
        self.caches.groups.put(obj)
        return True

    def group_finalizers(self, group: GroupView, finalizers: list[str]) -> None:
        """Set the group's finalizers (guarded by its resourceVersion-free merge patch)."""
        try:
            obj = self.kube.patch(ngp_path(group.name), {"metadata": {"finalizers": finalizers}})
        except KubeError as exc:
            log.warning("cannot update the finalizers of group %s: %s", group.name, exc)
            return
        self.caches.groups.put(obj)

    # -- pods ----------------------------------------------------------------------------

    def evict(self, namespace: str, name: str) -> int:
        """Ask the Eviction API to evict a pod (PodDisruptionBudgets hold): the HTTP
        status, 201 when granted, 429 when a budget refused, 404 when gone already."""
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        try:
            self.kube.create(f"/api/v1/namespaces/{namespace}/pods/{name}/eviction", body)
        except KubeError as exc:
            if exc.status not in (404, 429):
                log.warning("cannot evict pod %s/%s: %s", namespace, name, exc)
            return exc.status
        return 201

    # -- node classes --------------------------------------------------------------------

    def node_class(self, kind: str, name: str, api_version: str) -> dict[str, object]:
        """The spec of a provider's node-class object (``{}`` when it cannot be read)."""
        return self.node_class_lookup(kind, name, api_version)[0]

    def node_class_lookup(
        self, kind: str, name: str, api_version: str
    ) -> tuple[dict[str, object], bool]:
        """The node class's spec, and whether it exists (found through API discovery)."""
        obj = self._node_class_object(kind, name, api_version)
        if obj is None:
            return {}, False
        return dict(obj.get("spec") or {}), True

    def node_class_version(self, kind: str, name: str, api_version: str) -> str:
        obj = self._node_class_object(kind, name, api_version)
        return "absent" if obj is None else str((obj.get("metadata") or {}).get("resourceVersion"))

    def _node_class_object(self, kind: str, name: str, api_version: str) -> Any:
        plural = self._plural(api_version, kind)
        if plural is None:
            log.warning("the API has no kind %s in %s", kind, api_version)
            return None
        try:
            return self.kube.get(f"/apis/{api_version}/{plural}/{name}") or None
        except KubeError as exc:
            if exc.status != 404:
                log.warning("cannot read %s %s: %s", kind, name, exc)
            return None

    def _plural(self, api_version: str, kind: str) -> str | None:
        key = (api_version, kind)
        if key not in self._plurals:
            try:
                listing = self.kube.get(f"/apis/{api_version}")
            except KubeError as exc:
                log.warning("cannot discover %s: %s", api_version, exc)
                return None
            for resource in (listing or {}).get("resources") or ():
                if resource.get("kind") == kind and "/" not in str(resource.get("name", "")):
                    self._plurals[key] = str(resource["name"])
                    break
        return self._plurals.get(key)
