"""A Kubernetes client for tests, waits, the CRDs, and the objects tests make.

Tests talk to the cluster through the core's raw JSON layer
(:class:`growthrs_core.controller.kube.Kube`: the official client's
authentication, bodies as plain dicts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client, config

from growthrs_core.controller.kube import Kube, KubeError, ngp_path, node_path, nr_path
from growthrs_core.crd.generate import all_crds
from growthrs_core.plugins.manager import PluginManager

__all__ = [
    "PAUSE_IMAGE",
    "Kube",
    "KubeError",
    "create_namespace",
    "delete_group_and_nodes",
    "deployment_body",
    "events_for",
    "gone",
    "group_body",
    "group_nodes",
    "install_crds",
    "kube_for",
    "node_requests",
    "pods",
    "running",
    "wait_for",
]

T = TypeVar("T")

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def kube_for(kubeconfig: str, *, pool_size: int | None = None, timeout: float = 30.0) -> Kube:
    """A client for the cluster in ``kubeconfig``.

    ``pool_size`` widens the connection pool for callers that send many requests
    at once: the official client's default (5 per CPU) would open and discard a
    TLS connection per surplus request.
    """
    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)  # type: ignore[no-untyped-call]
    if pool_size is not None:
        cfg.connection_pool_maxsize = pool_size
    return Kube(client.ApiClient(cfg), timeout=timeout)


def wait_for(what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def install_crds(kube: Kube, timeout: float = 30.0) -> list[str]:
    """Create or replace the CRDs of the core and every installed plugin (what
    ``growthrs crds`` prints), wait until all are Established, return their names."""
    crds = all_crds(PluginManager())
    for crd in crds:
        name = crd["metadata"]["name"]
        try:
            kube.create(CRD_PATH, crd)
        except KubeError as exc:
            if exc.status != 409:
                raise
            current = kube.get(f"{CRD_PATH}/{name}")
            version = current["metadata"]["resourceVersion"]
            kube.replace(
                f"{CRD_PATH}/{name}",
                {**crd, "metadata": {**crd["metadata"], "resourceVersion": version}},
            )
    names = [str(crd["metadata"]["name"]) for crd in crds]

    def established() -> bool:
        for name in names:
            obj = kube.get(f"{CRD_PATH}/{name}")
            conds = {
                c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or ()
            }
            if conds.get("Established") != "True":
                return False
        return True

    wait_for("CRDs to be Established", established, timeout, interval=0.2)
    return names


# -- objects ------------------------------------------------------------------------------


def group_body(name: str, pools: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    """A NodeGroupWithPriority."""
    return {
        "apiVersion": "growthrs.io/v1alpha1",
        "kind": "NodeGroupWithPriority",
        "metadata": {"name": name},
        "spec": {"pools": pools, **spec},
    }


def deployment_body(
    name: str,
    namespace: str,
    replicas: int,
    *,
    cpu: str = "1",
    memory: str = "1Gi",
    node_selector: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Pause pods labelled ``app=<name>``; kwok "runs" them without pulling the image."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations or {}},
                "spec": {
                    "nodeSelector": node_selector or {},
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {
                            "name": "app",
                            "image": PAUSE_IMAGE,
                            "resources": {"requests": {"cpu": cpu, "memory": memory}},
                        }
                    ],
                },
            },
        },
    }


def create_namespace(kube: Kube, name: str) -> None:
    """Create namespace ``name`` unless it exists."""
    try:
        kube.create(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )
    except KubeError as exc:
        if exc.status != 409:
            raise


# -- queries ------------------------------------------------------------------------------


def gone(kube: Kube, path: str) -> bool:
    """Whether the object at ``path`` is gone (the API answers 404)."""
    try:
        kube.get(path)
    except KubeError as exc:
        return exc.status == 404
    return False


def pods(kube: Kube, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
    query = {"labelSelector": selector} if selector else {}
    return kube.list_all(f"/api/v1/namespaces/{namespace}/pods", query)[0]


def running(pod_list: list[dict[str, Any]]) -> int:
    """How many of ``pod_list`` are Running."""
    return sum(1 for p in pod_list if (p.get("status") or {}).get("phase") == "Running")


def node_requests(kube: Kube, group: str | None = None) -> list[dict[str, Any]]:
    """NodeRequests, of one group or all."""
    items = kube.list_all(nr_path())[0]
    return [i for i in items if group is None or i["spec"]["nodeGroup"] == group]


def group_nodes(kube: Kube, group: str) -> list[dict[str, Any]]:
    """The Nodes labelled as the group's."""
    return kube.list_all(node_path(), {"labelSelector": f"growthrs.io/node-group={group}"})[0]


def events_for(kube: Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    """Events in ``namespace`` about the object called ``name``."""
    return kube.list_all(
        f"/api/v1/namespaces/{namespace}/events", {"fieldSelector": f"involvedObject.name={name}"}
    )[0]


def delete_group_and_nodes(kube: Kube, group: str) -> None:
    """Tear down what a test made: the group (its NodeRequests go with it) and its nodes.

    The operator's finalizer is taken off too: the operator that would honour it
    has usually stopped by the time a test cleans up.
    """
    kube.delete(ngp_path(group))
    try:
        kube.patch(ngp_path(group), {"metadata": {"finalizers": None}})
    except KubeError as exc:
        if exc.status != 404:
            raise
    for nr in node_requests(kube, group):
        kube.delete(nr_path(nr["metadata"]["name"]))
    for node in group_nodes(kube, group):
        kube.delete(node_path(node["metadata"]["name"]))
