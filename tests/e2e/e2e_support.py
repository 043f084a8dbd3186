"""Helpers for end-to-end tests: the operator as its own process, waits, objects.

Tests talk to the cluster through the official ``kubernetes`` client's
``ApiClient`` (via the core's raw JSON layer), and run ``growthrs`` exactly as
a user would: ``python -m growthrs_core.cli run ...`` in a subprocess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import config

from growthrs_core.controller.kube import Kube, KubeError, ngp_path, node_path, nr_path
from growthrs_core.crd.generate import all_crds
from growthrs_core.plugins.manager import PluginManager

T = TypeVar("T")

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def kube_for(kubeconfig: str) -> Kube:
    return Kube(config.new_client_from_config(config_file=kubeconfig))


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


def install_crds(kube: Kube) -> None:
    for crd in all_crds(PluginManager()):
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        try:
            kube.create(path, crd)
        except KubeError as exc:
            if exc.status != 409:
                raise
            current = kube.get(f"{path}/{crd['metadata']['name']}")
            crd = {
                **crd,
                "metadata": {
                    **crd["metadata"],
                    "resourceVersion": current["metadata"]["resourceVersion"],
                },
            }
            kube.replace(f"{path}/{crd['metadata']['name']}", crd)

    def established() -> bool:
        for crd in all_crds(PluginManager()):
            obj = kube.get(
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}"
            )
            conds = {
                c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or ()
            }
            if conds.get("Established") != "True":
                return False
        return True

    wait_for("CRDs to be Established", established, 30)


class Operator:
    """``growthrs run`` as a child process with fast settings for tests."""

    def __init__(
        self, kubeconfig: str, log_dir: Path, *, env: dict[str, str] | None = None, **flags: Any
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_dir / f"operator-{int(time.time() * 1000)}.log"
        self.env = {**os.environ, **(env or {})}
        defaults: dict[str, Any] = {
            "batch_idle": 0.3,
            "batch_max": 2,
            "tick_interval": 0.5,
            "resync_interval": 3,
            "metrics_port": 0,
            "scale_down_new_node_grace": 0,
            "offering_backoff": 60,
            "log_level": "DEBUG",
            "cluster_name": "growthrs-e2e",
        }
        defaults.update(flags)
        self.args = [sys.executable, "-m", "growthrs_core.cli", "run", "--kubeconfig", kubeconfig]
        for key, value in defaults.items():
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                self.args.append(flag if value else "--no-" + flag[2:])
            else:
                self.args += [flag, str(value)]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Operator:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            self.args, stdout=self._log, stderr=subprocess.STDOUT, env=self.env
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return int(self.proc.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> Operator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()


# -- objects ------------------------------------------------------------------------------


def group_body(name: str, pools: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
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
    try:
        kube.create(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )
    except KubeError as exc:
        if exc.status != 409:
            raise


def pods(kube: Kube, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
    query = {"labelSelector": selector} if selector else {}
    return kube.list_all(f"/api/v1/namespaces/{namespace}/pods", query)[0]


def running(pod_list: list[dict[str, Any]]) -> int:
    return sum(1 for p in pod_list if (p.get("status") or {}).get("phase") == "Running")


def node_requests(kube: Kube, group: str | None = None) -> list[dict[str, Any]]:
    items = kube.list_all(nr_path())[0]
    return [i for i in items if group is None or i["spec"]["nodeGroup"] == group]


def group_nodes(kube: Kube, group: str) -> list[dict[str, Any]]:
    return kube.list_all(node_path(), {"labelSelector": f"growthrs.io/node-group={group}"})[0]


def events_for(kube: Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    return kube.list_all(
        f"/api/v1/namespaces/{namespace}/events", {"fieldSelector": f"involvedObject.name={name}"}
    )[0]


def delete_group_and_nodes(kube: Kube, group: str) -> None:
    """Tear down what a test made: the group (its NodeRequests go with it) and its nodes."""
    kube.delete(ngp_path(group))
    for nr in node_requests(kube, group):
        kube.delete(nr_path(nr["metadata"]["name"]))
    for node in group_nodes(kube, group):
        kube.delete(node_path(node["metadata"]["name"]))
