"""A trial's Hetzner world: the API stand-in, its companion kubelet, a node class
whose network, firewall and SSH key exist, and the join Secret.

As in ``plugins/growthrs_hetzner/tests/test_operator_e2e.py``: the stand-in
serves the Hetzner Cloud API on localhost, the companion turns its running
servers (of this trial's cluster identity only) into kwok-managed Nodes, and
the operator is pointed at it with ``GROWTHRS_HETZNER_ENDPOINT`` and
``GROWTHRS_HETZNER_TOKEN`` exactly as a user would. Every trial has its own
token and join secret, so a search for them in what the run wrote means something.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from growthrs_core.controller.kube import Kube, KubeError
from growthrs_hetzner import labels as hlabels
from hcloud_standin import StandIn
from hcloud_standin.kubelet import FakeKubelet
from hcloud_standin.server import Exchange

NODE_CLASS_PATH = "/apis/growthrs.io/v1alpha1/hetznernodeclasses"


class TimedStandIn(StandIn):
    """The stand-in, also noting when (wall clock) it answered each request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answered: list[tuple[float, Exchange]] = []

    def _record(self, exchange: Exchange) -> None:
        super()._record(exchange)
        with self._lock:
            self.answered.append((time.time(), exchange))


@dataclass
class HetznerWorld:
    kube: Kube
    kubeconfig: str
    cluster: str
    name: str
    action_delay: float = 1.0
    token: str = field(default_factory=lambda: "hz-rel-" + secrets.token_hex(12))
    join_token: str = field(default_factory=lambda: "K10rel::" + secrets.token_hex(16))
    api: TimedStandIn | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _api_client: Any = None
    kubelet: FakeKubelet | None = None

    @property
    def node_class(self) -> str:
        return self.name

    @property
    def secret_name(self) -> str:
        return f"{self.name}-join"

    def start(self) -> HetznerWorld:
        self.api = TimedStandIn(token=self.token, action_delay=self.action_delay).start()
        self.api.create_network("cluster-net")
        self.api.create_firewall("nodes")
        self.api.create_ssh_key("ops", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA reliability")
        self.kube.create(
            "/api/v1/namespaces/default/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": self.secret_name},
                "stringData": {
                    "server": "https://10.0.0.2:6443",
                    "token": self.join_token,
                    # The k3s agent's version must be the server's (the provider requires it).
                    "version": "v1.33.4+k3s1",
                },
            },
        )
        self.kube.create(
            NODE_CLASS_PATH,
            {
                "apiVersion": "growthrs.io/v1alpha1",
                "kind": "HetznerNodeClass",
                "metadata": {"name": self.node_class},
                "spec": {
                    "image": {"amd64": {"name": "ubuntu-24.04"}, "arm64": {"name": "ubuntu-24.04"}},
                    "locations": ["fsn1", "nbg1"],
                    "networks": ["cluster-net"],
                    "firewalls": ["nodes"],
                    "sshKeys": ["ops"],
                    "userData": {"kind": "k3s"},
                    "joinSecretRef": {"namespace": "default", "name": self.secret_name},
                },
            },
        )
        self._api_client = k8s_config.new_client_from_config(config_file=self.kubeconfig)  # type: ignore[no-untyped-call]
        self.kubelet = FakeKubelet(
            self.api.url,
            k8s.CoreV1Api(self._api_client),
            token=self.token,
            label_selector=hlabels.owned_selector(self.cluster),
        )
        self._thread = threading.Thread(
            target=self.kubelet.run, args=(self._stop, 0.5), name="hcloud-kubelet", daemon=True
        )
        self._thread.start()
        return self

    def env(self, token: str | None = None) -> dict[str, str]:
        assert self.api is not None
        return {
            "GROWTHRS_HETZNER_ENDPOINT": self.api.url,
            "GROWTHRS_HETZNER_TOKEN": self.token if token is None else token,
        }

    def pool(self, server_type: str, priority: int, **extra: Any) -> dict[str, Any]:
        return {
            "provider": "hetzner",
            "serverType": [server_type],
            "priority": priority,
            "nodeClassRef": {"kind": "HetznerNodeClass", "name": self.node_class},
            **extra,
        }

    def servers(self) -> list[dict[str, Any]]:
        """The stand-in's servers this cluster identity owns (also those being deleted)."""
        assert self.api is not None
        return [s for s in self.api.servers() if hlabels.is_owned(s["labels"], self.cluster)]

    def calls(self, since: float = 0.0) -> dict[str, int]:
        """Server creates and deletes the stand-in answered since ``since`` (wall clock)."""
        assert self.api is not None
        with self.api._lock:
            answered = list(self.api.answered)
        creates = sum(
            1 for t, e in answered if t >= since and (e.method, e.path) == ("POST", "/servers")
        )
        deletes = sum(
            1
            for t, e in answered
            if t >= since and e.method == "DELETE" and e.path.startswith("/servers/")
        )
        return {"creates": creates, "deletes": deletes}

    def creates_by_offering(self, since: float = 0.0) -> dict[str, int]:
        assert self.api is not None
        with self.api._lock:
            answered = list(self.api.answered)
        out: dict[str, int] = {}
        for t, e in answered:
            if t < since or (e.method, e.path) != ("POST", "/servers"):
                continue
            body = e.request_body if isinstance(e.request_body, dict) else {}
            key = f"{body.get('server_type')}@{body.get('location')}"
            out[key] = out.get(key, 0) + 1
        return out

    def stop(self) -> list[str]:
        """Stop the companion and the stand-in, delete the node class and Secret;
        return what could not be cleaned up."""
        problems = []
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.kubelet is not None:
            self.kubelet.http.close()
        for path in (
            f"{NODE_CLASS_PATH}/{self.node_class}",
            f"/api/v1/namespaces/default/secrets/{self.secret_name}",
        ):
            try:
                self.kube.delete(path)
            except KubeError as exc:
                problems.append(f"cleanup: cannot delete {path}: {exc}")
        if self._api_client is not None:
            with contextlib.suppress(Exception):
                self._api_client.close()
        if self.api is not None:
            self.api.stop()
        return problems
