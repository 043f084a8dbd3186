"""Fixtures for the kwok provider's tests.

The end-to-end tests reuse the repository's ``kube_cluster`` fixture
(``tests/e2e/conftest.py``: starts the local control plane, or uses
``GROWTHRS_E2E_KUBECONFIG``) instead of keeping a second way to get a cluster.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

_REPO_E2E = Path(__file__).resolve().parents[3] / "tests" / "e2e" / "conftest.py"


def _load_repo_e2e() -> Any:
    name = "growthrs_repo_e2e_conftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _REPO_E2E)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


if _REPO_E2E.exists():
    kube_cluster = _load_repo_e2e().kube_cluster
else:

    @pytest.fixture(scope="session")
    def kube_cluster() -> Any:
        """Outside a GrowthRS checkout: only an existing cluster can be used."""
        kubeconfig = os.environ.get("GROWTHRS_E2E_KUBECONFIG")
        if not kubeconfig:
            pytest.fail(
                f"the kwok e2e tests need {_REPO_E2E} (the kube_cluster fixture) or "
                "GROWTHRS_E2E_KUBECONFIG pointing at a cluster with a kwok controller"
            )
        return SimpleNamespace(kubeconfig=kubeconfig)


@pytest.fixture(scope="session")
def api_client(kube_cluster: Any) -> Iterator[Any]:
    from kubernetes import config

    client = config.new_client_from_config(config_file=str(kube_cluster.kubeconfig))
    yield client
    client.close()


@pytest.fixture
def cluster_name() -> str:
    """A cluster name of its own per test, so tests never see each other's nodes."""
    return f"kwok-e2e-{uuid.uuid4().hex[:8]}"
