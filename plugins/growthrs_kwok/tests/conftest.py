"""Fixtures for the kwok provider's tests.

The end-to-end tests get the ``kube_cluster`` fixture (a local control plane, or
the cluster ``GROWTHRS_E2E_KUBECONFIG`` names) from the GrowthRS test kit's
pytest plugin (``growthrs-testkit``), shared with every other test tree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from growthrs_testkit.pytest_plugin import KubeCluster


@pytest.fixture(scope="session")
def api_client(kube_cluster: KubeCluster) -> Iterator[Any]:
    from kubernetes import config

    client = config.new_client_from_config(config_file=str(kube_cluster.kubeconfig))
    yield client
    client.close()


@pytest.fixture
def cluster_name() -> str:
    """A cluster name of its own per test, so tests never see each other's nodes."""
    return f"kwok-e2e-{uuid.uuid4().hex[:8]}"
