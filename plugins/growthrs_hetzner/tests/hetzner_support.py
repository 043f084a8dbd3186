"""Helpers shared by the Hetzner provider tests (a module name no other test tree uses)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from growthrs_core import CreateRequest, Offering, Taint
from growthrs_hetzner.provider import HetznerProvider

TOKEN = "hz-test-TOKEN-3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c1e"
"""Distinctive, so a leak into logs or messages is easy to find."""
CLUSTER = "test-cluster"
JOIN = ("kube-system", "growthrs-join")
JOIN_SECRET = {
    "server": "https://10.0.0.2:6443",
    "token": "K10join-SECRET-value::server:abc123",
    "version": "v1.33.4+k3s1",
    "endpoint": "10.0.0.2:6443",
    "caCertHash": "sha256:" + "ab" * 32,
    "kubernetesVersion": "v1.33",
}


def offering(provider: HetznerProvider, instance_type: str, region: str = "fsn1") -> Offering:
    for candidate in provider.offerings(region):
        if candidate.instance_type == instance_type:
            return candidate
    raise AssertionError(f"no offering {instance_type}@{region}")


def create_request(
    provider: HetznerProvider,
    name: str = "node-1",
    instance_type: str = "cx22",
    region: str = "fsn1",
    *,
    node_class: Mapping[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    taints: tuple[Taint, ...] = (),
) -> CreateRequest:
    return CreateRequest(
        node_name=name,
        offering=offering(provider, instance_type, region),
        labels=labels or {},
        taints=taints,
        node_class=dict(node_class or {}),
        node_group="default",
        node_request=f"nr-{name}",
    )


def k3s_class(**extra: object) -> dict[str, object]:
    return {
        "userData": {"kind": "k3s"},
        "joinSecretRef": {"namespace": JOIN[0], "name": JOIN[1]},
        **extra,
    }
