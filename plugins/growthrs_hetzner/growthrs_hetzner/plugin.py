"""GrowthRS plugin entry point (``[project.entry-points.growthrs] hetzner``).

Registers the ``hetzner`` provider and contributes the ``HetznerNodeClass`` CRD.
Importing this module does no I/O: the provider is built lazily by the core.
"""

from __future__ import annotations

from typing import Any

from growthrs_core import MissingConfig, ProviderContext, ProviderRegistry, hookimpl
from growthrs_hetzner import nodeclass
from growthrs_hetzner.provider import ConfigMapReader, HetznerProvider
from growthrs_hetzner.settings import HetznerSettings

PROVIDER_NAME = "hetzner"


def config_map_reader(api_client: Any) -> ConfigMapReader:
    """``read_config_map(namespace, name, key)`` on the operator's Kubernetes client.

    The core's :class:`ProviderContext` offers ``read_secret`` but no ConfigMap
    reader, so custom user-data templates are read here through ``api_client``.
    """

    def read(namespace: str, name: str, key: str) -> str:
        if api_client is None:
            raise MissingConfig(
                f"cannot read ConfigMap {namespace}/{name} key {key!r}: no cluster access"
            )
        from kubernetes import client as k8s
        from kubernetes.client.exceptions import ApiException

        try:
            cm = k8s.CoreV1Api(api_client).read_namespaced_config_map(name, namespace)
        except ApiException as exc:
            raise MissingConfig(
                f"cannot read ConfigMap {namespace}/{name}: HTTP {exc.status} {exc.reason}"
            ) from None
        data = cm.data or {}
        if key not in data:
            raise MissingConfig(f"ConfigMap {namespace}/{name} has no key {key!r}")
        return str(data[key])

    return read


def create_provider(context: ProviderContext) -> HetznerProvider:
    """The ``hetzner`` provider factory: settings from ``GROWTHRS_HETZNER_*``."""
    return HetznerProvider(
        HetznerSettings.from_mapping(context.settings),
        cluster_name=context.cluster_name,
        read_secret=context.read_secret,
        read_config_map=config_map_reader(context.api_client),
    )


@hookimpl
def growthrs_register_providers(registry: ProviderRegistry) -> None:
    registry.add(PROVIDER_NAME, create_provider)


@hookimpl
def growthrs_crds() -> list[dict[str, Any]]:
    return [nodeclass.crd()]
