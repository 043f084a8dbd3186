"""Karpenter's KWOK provider as a local process, for the side-by-side benchmark (``bench.peer``).

``build.sh karpenter`` (``growthrs_testkit/controlplane``) builds
``sigs.k8s.io/karpenter/kwok`` at the version pinned in ``versions.env`` from
the Go module proxy, once, into ``~/.cache/growthrs/controlplane/karpenter-<v>/``,
with its CRDs. This module installs those CRDs, writes the instance-types file
from our KWOK catalogue (:func:`bench.peer_catalogue.karpenter_instance_types`),
creates a ``KWOKNodeClass`` (and sets its ``Ready`` condition: nothing in
Karpenter does) and a ``NodePool``, and runs the binary against the cluster in
the kubeconfig, with leader election off and its log in a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import yaml

from bench import harness
from bench.peer_catalogue import CAPACITY_TYPE_LABEL, INSTANCE_TYPE_LABEL
from growthrs_core.controller.kube import Kube, KubeError
from growthrs_testkit.controlplane import cluster as controlplane_cluster
from growthrs_testkit.operator import free_port

KARPENTER_GROUP = "karpenter.sh"
NODEPOOLS = "/apis/karpenter.sh/v1/nodepools"
NODECLAIMS = "/apis/karpenter.sh/v1/nodeclaims"
NODECLASSES = "/apis/karpenter.kwok.sh/v1alpha1/kwoknodeclasses"
NODEPOOL_LABEL = "karpenter.sh/nodepool"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
SYSTEM_NAMESPACE = "karpenter"


def build() -> dict[str, str]:
    """Build (or find) Karpenter's KWOK provider; KARPENTER_KWOK, KARPENTER_CRDS, KARPENTER_SRC."""
    proc = subprocess.run(
        ["bash", str(controlplane_cluster.BUILD_SH), "karpenter"],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"build.sh karpenter failed with exit code {proc.returncode}")
    paths = dict(
        line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line and line[0].isupper()
    )
    if not os.access(paths.get("KARPENTER_KWOK", ""), os.X_OK):
        raise RuntimeError(f"build.sh karpenter produced no binary: {proc.stdout!r}")
    return paths


def install_crds(kube: Kube, crds_dir: str, timeout: float = 60.0) -> list[str]:
    """Create or replace every CRD in ``crds_dir``; wait until all are Established."""
    names = []
    for path in sorted(Path(crds_dir).glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd:
                continue
            name = crd["metadata"]["name"]
            names.append(name)
            try:
                kube.create(CRD_PATH, crd)
            except KubeError as exc:
                if exc.status != 409:
                    raise
                current = kube.get(f"{CRD_PATH}/{name}")
                crd["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                kube.replace(f"{CRD_PATH}/{name}", crd)

    def established() -> bool:
        for name in names:
            conds = kube.get(f"{CRD_PATH}/{name}").get("status", {}).get("conditions") or ()
            if not any(c["type"] == "Established" and c["status"] == "True" for c in conds):
                return False
        return True

    harness.wait_for("Karpenter CRDs Established", established, timeout, interval=0.2)
    return names


def nodeclass_body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.kwok.sh/v1alpha1",
        "kind": "KWOKNodeClass",
        "metadata": {"name": name},
        "spec": {},
    }


def nodepool_body(
    name: str,
    nodeclass: str,
    *,
    consolidate_after: str,
    exclude_types: Sequence[str] = (),
) -> dict[str, Any]:
    """A NodePool over every type of the instance-types file (both architectures, on-demand),
    consolidating ``WhenEmptyOrUnderutilized`` after ``consolidate_after``, with a
    disruption budget of 100 % of the nodes, no limits and no expiry."""
    requirements: list[dict[str, Any]] = [
        {"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": ["on-demand"]},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]
    if exclude_types:
        requirements.append(
            {"key": INSTANCE_TYPE_LABEL, "operator": "NotIn", "values": sorted(exclude_types)}
        )
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "requirements": requirements,
                    "nodeClassRef": {
                        "group": "karpenter.kwok.sh",
                        "kind": "KWOKNodeClass",
                        "name": nodeclass,
                    },
                    "expireAfter": "Never",
                }
            },
            "disruption": {
                "consolidationPolicy": "WhenEmptyOrUnderutilized",
                "consolidateAfter": consolidate_after,
                "budgets": [{"nodes": "100%"}],
            },
        },
    }


def mark_nodeclass_ready(kube: Kube, name: str) -> None:
    """Set the KWOKNodeClass's ``Ready`` condition; Karpenter launches nothing for a class
    that is not Ready, and no controller of the KWOK provider sets it."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    obj = kube.get(f"{NODECLASSES}/{name}")
    kube.patch(
        f"{NODECLASSES}/{name}/status",
        {
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "Ready",
                        "message": "",
                        "lastTransitionTime": now,
                        "observedGeneration": obj["metadata"].get("generation", 1),
                    }
                ]
            }
        },
    )


def nodepool_ready(kube: Kube, name: str) -> bool:
    try:
        obj = kube.get(f"{NODEPOOLS}/{name}")
    except KubeError:
        return False
    conds = (obj.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


class Karpenter:
    """The KWOK provider binary as a child process; log in ``log_path``."""

    def __init__(
        self, binary: str, kubeconfig: str, instance_types: Path, log_path: Path, **env: str
    ) -> None:
        self.binary, self.kubeconfig, self.log_path = binary, kubeconfig, log_path
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KUBE")},
            "KUBECONFIG": kubeconfig,
            "INSTANCE_TYPES_FILE_PATH": str(instance_types),
            "SYSTEM_NAMESPACE": SYSTEM_NAMESPACE,
            "DISABLE_LEADER_ELECTION": "true",
            "METRICS_PORT": str(free_port()),
            "HEALTH_PROBE_PORT": str(free_port()),
            "LOG_LEVEL": "info",
            # Karpenter's defaults, written out: the same window as GrowthRS's batch.
            "BATCH_IDLE_DURATION": "1s",
            "BATCH_MAX_DURATION": "10s",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [self.binary],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None


@contextlib.contextmanager
def running(
    binary: str, kubeconfig: str, instance_types: Path, log_path: Path, **env: str
) -> Iterator[Karpenter]:
    proc = Karpenter(binary, kubeconfig, instance_types, log_path, **env)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def write_instance_types(path: Path, types: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(types, indent=1) + "\n")
    return path


def force_cleanup(kube: Kube) -> int:
    """Remove what a Karpenter run left: NodeClaims and nodes, finalizers dropped. Returns
    how many objects had to be forced (a clean run leaves none)."""
    forced = 0
    for nc in kube.list_all(NODECLAIMS)[0]:
        name = nc["metadata"]["name"]
        with contextlib.suppress(KubeError):
            kube.patch(f"{NODECLAIMS}/{name}", {"metadata": {"finalizers": None}})
        kube.delete(f"{NODECLAIMS}/{name}")
        forced += 1
    for node in kube.list_all("/api/v1/nodes", {"labelSelector": NODEPOOL_LABEL})[0]:
        name = node["metadata"]["name"]
        with contextlib.suppress(KubeError):
            kube.patch(f"/api/v1/nodes/{name}", {"metadata": {"finalizers": None}})
        kube.delete(f"/api/v1/nodes/{name}")
        forced += 1
    return forced
