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


@dataclass(frozen=True)
class PoolCheck:
    """A pool as a provider is asked to vet it, before anything is created for it.

    ``node_class`` is the spec of the pool's (or group's) ``nodeClassRef`` object,
    ``{}`` when it names none; ``node_class_ref`` says what it named
    (``"HetznerNodeClass/default"``), or ``None``; ``node_class_missing`` is set
    when it names an object that does not exist.
    """

    group: str
    pool_index: int
    instance_types: tuple[str, ...]
    locations: tuple[str, ...] | None
    node_class: Mapping[str, object] = field(default_factory=dict)
    node_class_ref: str | None = None
    node_class_missing: bool = False


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


@runtime_checkable
class ReportsRateLimit(Protocol):
    """Optional: a provider whose API reports how much of its request budget is left
    (Hetzner's ``RateLimit-Remaining``); shown as ``growthrs_provider_rate_limit_remaining``."""

    def rate_limit_remaining(self) -> int | None: ...


@runtime_checkable
class ValidatesPools(Protocol):
    """Optional: a provider that can tell before creating that a pool cannot work.

    ``validate_pool`` returns problems in words (``"no node class: servers could
    not join"``), or an empty list. A pool with problems gets nothing created;
    its group shows the problems in a ``ScaleUpBlocked`` condition until they
    are fixed. It must not create anything and should be quick (it may read
    its offerings); it is called again when the group or its node class changes.
    """

    def validate_pool(self, check: PoolCheck) -> list[str]: ...


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
    """The cluster's identity: label every instance with it (``CLUSTER_LABEL``) and never
    list, delete or adopt an instance that does not carry it."""
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
