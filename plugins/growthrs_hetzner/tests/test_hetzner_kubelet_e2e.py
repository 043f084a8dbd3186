"""The companion kubelet against a real apiserver and kwok controller.

Proves what the unit tests cannot: the apiserver accepts the Node (with its
status), kwok keeps it Ready, and the Node goes when the server goes. This is
the set-up the operator's Hetzner end-to-end tests will run against.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hetzner_support import create_request, k3s_class

from growthrs_core import NodeId, Taint
from growthrs_hetzner.provider import HetznerProvider
from growthrs_testkit.kube import wait_for
from hcloud_standin import StandIn
from hcloud_standin.kubelet import FakeKubelet

pytestmark = pytest.mark.e2e


def _wait(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    return wait_for(what, check, timeout, interval=0.25)


def test_running_servers_become_ready_nodes_and_go_with_them(
    kube_cluster: Any, api: StandIn, make_provider: Callable[..., HetznerProvider]
) -> None:
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    api_client = config.new_client_from_config(config_file=str(kube_cluster.kubeconfig))
    core = client.CoreV1Api(api_client)
    run = uuid.uuid4().hex[:6]
    cluster = f"hz-e2e-{run}"
    name = f"hz-{run}-1"
    provider = make_provider(cluster=cluster)
    kubelet = FakeKubelet(
        api.url, core, token=api.token, label_selector=f"growthrs.io/cluster=={cluster}"
    )
    stop = threading.Event()
    thread = threading.Thread(target=kubelet.run, args=(stop, 0.2), daemon=True)
    thread.start()

    def node() -> Any:
        try:
            return core.read_node(name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    try:
        provider.create(
            create_request(
                provider,
                name,
                "cax21",
                "nbg1",
                node_class=k3s_class(),
                labels={"pool": "arm"},
                taints=(Taint("arch", "arm64"),),
            )
        )
        # Deliberately let time pass: the kubelet (polling every 0.2 s) must register
        # nothing while the server is still booting. There is no event to wait for.
        time.sleep(0.5)
        assert node() is None  # still booting
        api.finish_actions()

        def ready() -> Any:
            current = node()
            conditions = (current.status.conditions or []) if current else []
            return (
                current
                if any(c.type == "Ready" and c.status == "True" for c in conditions)
                else None
            )

        registered = _wait("the node to be Ready", ready)
        server = api.server(name)
        assert server is not None
        assert registered.spec.provider_id == f"hcloud://{server['id']}"
        assert provider.provider_id(name) == registered.spec.provider_id
        labels = registered.metadata.labels
        assert labels["node.kubernetes.io/instance-type"] == "cax21"
        assert labels["topology.kubernetes.io/region"] == "nbg1"
        assert labels["kubernetes.io/arch"] == "arm64"
        assert labels["pool"] == "arm"
        ours = [
            (t.key, t.value, t.effect)
            for t in registered.spec.taints
            if not t.key.startswith("node.kubernetes.io/")  # the node controller's, briefly
        ]
        assert ours == [("arch", "arm64", "NoSchedule")]
        assert registered.status.capacity["cpu"] == "4"
        assert registered.status.allocatable["memory"] == "8092Mi"

        provider.delete(NodeId(name))
        api.finish_actions()
        _wait("the node to be removed", lambda: node() is None)
    finally:
        stop.set()
        thread.join(timeout=5)
        if node() is not None:
            core.delete_node(name)
        api_client.close()
