"""Smoke test of the local control plane itself (``growthrs_testkit.controlplane``).

Proves what the operator's end-to-end tests rely on: the kwok controller makes
an annotated fake node Ready and runs pods bound to it, the controller manager
turns a Deployment into pods, and the scheduler reports pods that fit nowhere
as ``PodScheduled=False`` / ``Unschedulable``; and that the controller manager
and the scheduler really run with the raised client rate.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from growthrs_testkit.kube import wait_for as _wait_for
from growthrs_testkit.pytest_plugin import KubeCluster

pytestmark = pytest.mark.e2e

NODE_READY_BOUND = 30.0  # seconds for the kwok controller to mark a new node Ready
PODS_RUNNING_BOUND = 60.0  # seconds for a 2-replica Deployment to be Running on it
UNSCHEDULABLE_BOUND = 30.0  # seconds for the scheduler to give up on a pod that fits nowhere
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def wait_for(what: str, check: Callable[[], Any], timeout: float) -> Any:
    return _wait_for(what, check, timeout, interval=0.25)


def ignore_404(call: Callable[[], Any]) -> None:
    try:
        call()
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(scope="module")
def api(kube_cluster: Any) -> Iterator[client.ApiClient]:
    api_client: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kube_cluster.kubeconfig)
    )
    with api_client:
        yield api_client


@pytest.fixture
def suffix() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture
def namespace(api: client.ApiClient, suffix: str) -> Iterator[str]:
    core = client.CoreV1Api(api)
    name = f"cp-smoke-{suffix}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    ignore_404(lambda: core.delete_namespace(name))


@pytest.fixture
def fake_node(api: client.ApiClient, suffix: str) -> Iterator[str]:
    core = client.CoreV1Api(api)
    name = f"kwok-smoke-{suffix}"
    resources = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    core.create_node(
        client.V1Node(
            metadata=client.V1ObjectMeta(
                name=name,
                annotations={"kwok.x-k8s.io/node": "fake"},
                labels={"type": "kwok", "kubernetes.io/hostname": name},
            ),
            status=client.V1NodeStatus(capacity=resources, allocatable=resources),
        )
    )
    yield name
    ignore_404(lambda: core.delete_node(name))


def condition(obj: Any, kind: str) -> Any:
    for cond in obj.status.conditions or ():
        if cond.type == kind:
            return cond
    return None


def wait_node_ready(core: client.CoreV1Api, node: str) -> None:
    """Ready, and without the not-ready taint a new node starts with."""

    def ready() -> bool:
        obj = core.read_node(node)
        cond = condition(obj, "Ready")
        taints = {t.key for t in (obj.spec.taints if obj.spec else None) or ()}
        return (
            cond is not None
            and cond.status == "True"
            and "node.kubernetes.io/not-ready" not in taints
        )

    wait_for(f"node {node} Ready", ready, NODE_READY_BOUND)


def test_fake_node_ready_and_deployment_running(
    api: client.ApiClient, namespace: str, fake_node: str, suffix: str
) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    wait_node_ready(core, fake_node)

    name = f"web-{suffix}"
    labels = {"app": name}
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        node_selector={"kubernetes.io/hostname": fake_node},
                        termination_grace_period_seconds=0,
                        containers=[
                            client.V1Container(
                                name="app",
                                image=PAUSE_IMAGE,
                                resources=client.V1ResourceRequirements(
                                    requests={"cpu": "100m", "memory": "64Mi"}
                                ),
                            )
                        ],
                    ),
                ),
            ),
        ),
    )

    def running_pods() -> list[Any] | None:
        pods = core.list_namespaced_pod(namespace, label_selector=f"app={name}").items
        running = [p for p in pods if p.status and p.status.phase == "Running"]
        return running if len(running) == 2 else None

    pods = wait_for("2 Deployment pods Running", running_pods, PODS_RUNNING_BOUND)
    assert {p.spec.node_name for p in pods} == {fake_node}
    # Pods belong to a ReplicaSet the controller manager made for the Deployment.
    owners = {ref.kind for p in pods for ref in p.metadata.owner_references or ()}
    assert owners == {"ReplicaSet"}

    # Deleting the Deployment cascades (garbage collector) to its ReplicaSet and pods.
    apps.delete_namespaced_deployment(name, namespace)
    wait_for(
        "Deployment pods to be garbage-collected",
        lambda: not core.list_namespaced_pod(namespace, label_selector=f"app={name}").items,
        PODS_RUNNING_BOUND,
    )


def test_pod_that_fits_nowhere_is_unschedulable(
    api: client.ApiClient, namespace: str, fake_node: str
) -> None:
    core = client.CoreV1Api(api)
    # With the node Ready the only reason left not to schedule is the request.
    wait_node_ready(core, fake_node)
    core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="too-big"),
            spec=client.V1PodSpec(
                termination_grace_period_seconds=0,
                containers=[
                    client.V1Container(
                        name="app",
                        image=PAUSE_IMAGE,
                        resources=client.V1ResourceRequirements(requests={"cpu": "1000"}),
                    )
                ],
            ),
        ),
    )

    def unschedulable() -> Any:
        cond = condition(core.read_namespaced_pod("too-big", namespace), "PodScheduled")
        return cond if cond is not None and cond.status == "False" else None

    cond = wait_for("PodScheduled=False", unschedulable, UNSCHEDULABLE_BOUND)
    assert cond.reason == "Unschedulable"
    assert "Insufficient cpu" in (cond.message or "")
    core.delete_namespaced_pod("too-big", namespace, grace_period_seconds=0)


def test_controller_manager_and_scheduler_run_with_the_raised_client_rate(
    kube_cluster: KubeCluster,
) -> None:
    """kwokctl drops an ``override`` of a flag it does not pass itself; the flags
    must reach the processes, or scheduling 1,000 pods measures client throttling."""
    pids = kube_cluster.component_pids()
    if not pids:
        pytest.skip("GROWTHRS_E2E_KUBECONFIG names a cluster whose processes are not ours")
    for component in ("kube-controller-manager", "kube-scheduler"):
        assert component in pids, f"no pid file for {component}: {sorted(pids)}"
        cmdline = Path(f"/proc/{pids[component]}/cmdline").read_bytes().decode()
        args = cmdline.split("\0")
        assert component in Path(args[0]).name, args[:1]
        assert "--kube-api-qps=300" in args, (component, args)
        assert "--kube-api-burst=600" in args, (component, args)
