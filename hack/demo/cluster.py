"""The demo's cluster: which one to use, what the demo puts in it, and taking it out again.

The cluster comes from ``KUBECONFIG`` when a kwok controller serves it (see
:func:`runs_kwok`), otherwise from the test kit's local control plane
(:mod:`growthrs_testkit.controlplane`, cluster ``growthrs-demo``). Objects are
written through the test kit's client (:func:`growthrs_testkit.kube.kube_for`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from growthrs_core.controller.kube import Kube, KubeError, ngp_path, node_path, nr_path
from growthrs_testkit import controlplane
from growthrs_testkit.kube import PAUSE_IMAGE, create_namespace, install_crds, kube_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "kwok-demo-group.yaml"

CLUSTER_NAME = "growthrs-demo"
NAMESPACE = "growthrs-demo"
DEPLOYMENT = "demo-workload"
FAULTS_NAMESPACE = "kube-system"
FAULTS_CONFIGMAP = "growthrs-kwok-faults"
PROBE_NODE = "growthrs-demo-kwok-probe"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
GROUP_LABEL = "growthrs.io/node-group"
POOL_LABEL = "growthrs.io/pool"
SCALE_DOWN_AT = "growthrs.io/scale-down-at"
SCALE_DOWN_TAINT = "growthrs.io/scale-down"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
REGION_LABEL = "topology.kubernetes.io/region"
REQUEST_TIMEOUT = 10.0
"""Seconds per API request: the demo polls, a slow answer is better skipped."""

Say = Callable[[str], None]


class DemoFailed(Exception):
    """The scenario did not complete; the message is the one-line reason."""


def connect(kubeconfig: str) -> Kube:
    return kube_for(kubeconfig, timeout=REQUEST_TIMEOUT)


def is_ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def namespace_path(name: str = NAMESPACE) -> str:
    return f"/api/v1/namespaces/{name}"


def deployment_path(name: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments" + (f"/{name}" if name else "")


def faults_path(name: str = "") -> str:
    return f"{namespace_path(FAULTS_NAMESPACE)}/configmaps" + (f"/{name}" if name else "")


# --------------------------------------------------------------------------- which cluster


def runs_kwok(kube: Kube) -> tuple[bool, str]:
    """Whether a kwok controller serves this cluster.

    Only a kwok controller turns a Node without a kubelet Ready, so this creates a
    tainted probe Node annotated ``kwok.x-k8s.io/node: fake``, waits up to 15 s for
    it to become Ready and deletes it. It skips the probe when the cluster's nodes
    are all real kubelets, so a production cluster is never written to.
    """
    try:
        nodes = kube.get(node_path())["items"]
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        return False, f"cannot list nodes ({type(exc).__name__}: {str(exc)[:120]})"
    kwok_nodes = [
        n
        for n in nodes
        if KWOK_ANNOTATION in (n["metadata"].get("annotations") or {})
        or str((n.get("status") or {}).get("nodeInfo", {}).get("kubeletVersion", "")).startswith(
            "kwok"
        )
    ]
    if nodes and not kwok_nodes:
        return False, f"its {len(nodes)} node(s) are real kubelets, no kwok nodes"
    body = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": PROBE_NODE,
            "annotations": {KWOK_ANNOTATION: "fake"},
            "labels": {"type": "kwok", "growthrs.io/demo-probe": "true"},
        },
        "spec": {"taints": [{"key": "growthrs.io/demo-probe", "effect": "NoSchedule"}]},
    }
    try:
        try:
            kube.create(node_path(), body)
        except KubeError as exc:
            if exc.status != 409:
                raise
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if is_ready(kube.get(node_path(PROBE_NODE))):
                return True, "a kwok controller turned a probe node Ready"
            time.sleep(0.3)
        return False, "a probe node annotated kwok.x-k8s.io/node=fake did not turn Ready in 15s"
    except KubeError as exc:
        return False, f"cannot create a probe node ({exc.status} {exc.reason or exc})"
    finally:
        with contextlib.suppress(Exception):
            kube.delete(node_path(PROBE_NODE), gracePeriodSeconds=0)


def stop_stale_operator(pid_path: Path, say: Say) -> None:
    """A `--keep` run leaves its operator running; stop it before starting another."""
    try:
        pid = int(pid_path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        pid_path.unlink(missing_ok=True)
        return
    if "growthrs_core.cli run" in cmdline and CLUSTER_NAME in cmdline:
        say(f"stopping the operator a previous --keep run left (pid {pid})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    pid_path.unlink(missing_ok=True)


class DemoCluster:
    """The cluster the demo runs on and what the demo put into it."""

    def __init__(self, state_dir: Path, group: str, say: Say) -> None:
        self.state_dir = state_dir
        self.group = group
        self.say = say
        self.own = False
        """The demo started this cluster (and deletes it at the end)."""
        self.kube: Kube | None = None
        self.kubeconfig = ""
        self.saved_faults: dict[str, Any] | None = None
        self.touched_faults = False

    @property
    def api(self) -> Kube:
        assert self.kube is not None, "no cluster picked yet"
        return self.kube

    def pick(self, own_cluster: bool) -> None:
        """``KUBECONFIG`` if a kwok controller serves it, otherwise a cluster of our own."""
        env = os.environ.get("KUBECONFIG", "")
        if env and not own_cluster:
            if os.pathsep in env:
                self.say(
                    f"KUBECONFIG lists several files; using its first, {env.split(os.pathsep)[0]}"
                )
                env = env.split(os.pathsep)[0]
            try:
                kube = connect(env)
                ok, why = runs_kwok(kube)
            except Exception as exc:  # noqa: BLE001 - unusable config: start our own
                ok, why = False, f"{type(exc).__name__}: {str(exc)[:160]}"
            if ok:
                self.say(f"using the cluster in KUBECONFIG={env} ({why})")
                self.kube, self.kubeconfig = kube, env
                return
            self.say(f"not using KUBECONFIG={env}: {why}; starting a cluster of our own")
        if controlplane.exists(CLUSTER_NAME):
            self.say(f"removing the cluster {CLUSTER_NAME!r} an earlier run left")
            controlplane.down(CLUSTER_NAME)
        self.say(
            f"starting a local control plane {CLUSTER_NAME!r} (etcd, apiserver, scheduler, controller-manager, kwok)"
        )
        started = time.monotonic()
        self.own = True
        cluster = controlplane.up(CLUSTER_NAME, self.state_dir / "kubeconfig.yaml")
        self.kubeconfig = cluster.kubeconfig
        self.kube = connect(self.kubeconfig)
        self.say(
            f"cluster ready at {cluster.server} in {time.monotonic() - started:.1f}s; kubeconfig {self.kubeconfig}"
        )

    # -- what the demo puts in ----------------------------------------------------------

    def install_crds(self) -> list[str]:
        """The CRDs of the core and the installed plugins, Established."""
        try:
            return install_crds(self.api)
        except AssertionError as exc:
            raise DemoFailed(str(exc)) from None

    def other_groups(self) -> list[str]:
        return [
            g["metadata"]["name"]
            for g in self.api.get(ngp_path())["items"]
            if g["metadata"]["name"] != self.group
        ]

    def apply_group(self, group: dict[str, Any]) -> None:
        """Create or replace the example NodeGroupWithPriority."""
        name = group["metadata"]["name"]
        try:
            self.api.create(ngp_path(), group)
        except KubeError as exc:
            if exc.status != 409:
                raise
            current = self.api.get(ngp_path(name))
            group = {**group, "metadata": {**group["metadata"]}}
            group["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            self.api.replace(ngp_path(name), group)

    def set_fault(self, fault: str, enabled: bool) -> None:
        """The kwok provider re-reads this ConfigMap every second (plugins/growthrs_kwok/README.md)."""
        try:
            self.saved_faults = self.api.get(faults_path(FAULTS_CONFIGMAP))
        except KubeError as exc:
            if exc.status != 404:
                raise
            self.saved_faults = None
        if not enabled:
            if self.saved_faults is not None:
                self.say(
                    f"note: {FAULTS_NAMESPACE}/{FAULTS_CONFIGMAP} exists and stays in force: {self.saved_faults.get('data')}"
                )
            return
        body = {
            "metadata": {
                "name": FAULTS_CONFIGMAP,
                "namespace": FAULTS_NAMESPACE,
                "labels": {"app.kubernetes.io/part-of": "growthrs-demo"},
            },
            "data": {"unavailable": fault},
        }
        self.touched_faults = True
        if self.saved_faults is None:
            self.api.create(faults_path(), body)
        else:
            self.api.replace(faults_path(FAULTS_CONFIGMAP), body)
        self.say(
            f"simulated fault: kwok has no capacity for {fault} (ConfigMap {FAULTS_NAMESPACE}/{FAULTS_CONFIGMAP})"
        )

    def ensure_namespace(self) -> None:
        if not self.namespace_exists():
            create_namespace(self.api, NAMESPACE)

    def namespace_exists(self) -> bool:
        try:
            ns = self.api.get(namespace_path())
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        if ns["metadata"].get("deletionTimestamp"):
            self.wait_namespace_gone()
            return False
        return True

    def wait_namespace_gone(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.api.get(namespace_path())
            except KubeError as exc:
                if exc.status == 404:
                    return
                raise
            time.sleep(0.5)
        raise DemoFailed(f"namespace {NAMESPACE} still terminating after {timeout:.0f}s")

    def create_deployment(self, replicas: int, cpu: str, memory: str) -> None:
        self.api.create(deployment_path(), deployment(replicas, cpu, memory, self.group))

    def scale_deployment(self, replicas: int) -> None:
        self.api.patch(f"{deployment_path(DEPLOYMENT)}/scale", {"spec": {"replicas": replicas}})

    # -- taking it out again ------------------------------------------------------------

    def delete_workload(self) -> None:
        """Remove the Deployment an earlier, interrupted run on the same cluster may have left."""
        self.api.delete(deployment_path(DEPLOYMENT), gracePeriodSeconds=0)

    def delete_objects(self) -> None:
        """Everything the demo made on a cluster it did not start (the CRDs stay)."""
        kube = self.api
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("namespace", lambda: kube.delete(namespace_path())),
            ("node group", lambda: kube.delete(ngp_path(self.group))),
            ("node requests", self.delete_node_requests),
            (
                "nodes",
                lambda: kube.delete(node_path(), labelSelector=f"{GROUP_LABEL}={self.group}"),
            ),
            ("faults", self.restore_faults),
        ]
        for what, step in steps:
            try:
                step()
            except KubeError as exc:
                if exc.status != 404:  # gone already is what we wanted
                    self.say(f"cleanup of {what} failed: {exc}")
            except Exception as exc:  # noqa: BLE001 - keep cleaning up the rest
                self.say(f"cleanup of {what} failed: {exc}")
        self.say("demo objects deleted (the CRDs stay)")

    def delete_node_requests(self) -> None:
        for nr in self.api.get(nr_path())["items"]:
            if (nr.get("spec") or {}).get("nodeGroup") == self.group:
                self.api.delete(nr_path(nr["metadata"]["name"]))

    def restore_faults(self) -> None:
        if not self.touched_faults:
            return
        if self.saved_faults is None:
            self.api.delete(faults_path(FAULTS_CONFIGMAP))
            return
        meta = self.saved_faults["metadata"]
        body = {
            "metadata": {
                k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta
            },
            "data": self.saved_faults.get("data") or {},
        }
        self.api.replace(faults_path(FAULTS_CONFIGMAP), body)

    def down(self) -> None:
        """Delete the cluster the demo started."""
        controlplane.down(CLUSTER_NAME)


def deployment(replicas: int, cpu: str, memory: str, group: str) -> dict[str, Any]:
    """Pause pods pinned to the demo group; kwok "runs" them without pulling the image."""
    labels = {"app": DEPLOYMENT}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {GROUP_LABEL: group},
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {
                            "name": "pause",
                            "image": PAUSE_IMAGE,
                            "resources": {
                                "requests": {"cpu": cpu, "memory": memory},
                                "limits": {"cpu": cpu, "memory": memory},
                            },
                        }
                    ],
                },
            },
        },
    }
