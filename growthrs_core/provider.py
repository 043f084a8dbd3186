"""The provider contract: the five calls a cloud needs to implement.

Methods are synchronous; the controller calls them from worker threads with a
timeout, so a slow cloud never stalls the loop. Every method may raise a
:class:`~growthrs_core.errors.ProviderError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from growthrs_core.domain import CreateRequest, NodeId, Offering, ProviderStatus


@runtime_checkable
class Provider(Protocol):
    """A source of nodes. See the plugin author's guide in the README."""

    def offerings(self, region: str | None) -> list[Offering]:
        """Every offering this provider can create, optionally only in ``region``."""
        ...

    def create(self, request: CreateRequest) -> NodeId:
        """Start creating a node; idempotent for the same ``request.node_name``."""
        ...

    def delete(self, node_id: NodeId) -> None:
        """Remove a node; deleting what is already gone is success."""
        ...

    def status(self, node_id: NodeId) -> ProviderStatus:
        """Where the machine behind ``node_id`` stands."""
        ...

    def list_nodes(self) -> list[NodeId]:
        """Every machine this provider manages for this cluster (for orphan collection)."""
        ...


SecretReader = Callable[[str, str, str], str]
"""``read_secret(namespace, name, key)`` returns the decoded value of a Secret key."""


def _no_secrets(namespace: str, name: str, key: str) -> str:
    from growthrs_core.errors import MissingConfig

    raise MissingConfig(f"cannot read Secret {namespace}/{name} key {key!r}: no cluster access")


@dataclass(frozen=True)
class ProviderContext:
    """What a provider factory receives.

    ``api_client`` is a ``kubernetes.client.ApiClient`` bound to the cluster
    (``None`` when the CLI runs without one, e.g. ``growthrs offerings``).
    ``settings`` holds ``GROWTHRS_<PROVIDER>_*`` environment variables with the
    prefix removed and the key lower-cased, so ``GROWTHRS_HETZNER_TOKEN`` is
    ``settings["token"]``.
    """

    name: str
    cluster_name: str = "growthrs"
    api_client: Any = None
    settings: Mapping[str, str] = field(default_factory=dict)
    read_secret: SecretReader = _no_secrets


def provider_settings_from_env(
    name: str, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Collect ``GROWTHRS_<NAME>_*`` variables for the provider called ``name``."""
    env = os.environ if environ is None else environ
    prefix = f"GROWTHRS_{name.upper().replace('-', '_')}_"
    return {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}


ProviderFactory = Callable[[ProviderContext], Provider]
