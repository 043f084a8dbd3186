"""The GrowthRS pytest plugin (entry point ``pytest11``: ``growthrs``).

Provides the session fixture ``kube_cluster``, a real local control plane for
end-to-end tests, the fixtures most end-to-end tests build on it (``kubeconfig``,
``kube``, ``ns``, ``operators``), and registers the ``e2e`` marker. Every test
tree that has the kit installed gets them, so one session starts at most one
cluster. A test module or conftest overrides any of them by defining its own.

If ``GROWTHRS_E2E_KUBECONFIG`` is set, the tests use that cluster and leave it
alone. Otherwise the first test that asks starts ``growthrs-e2e-<pid>`` with
:mod:`growthrs_testkit.controlplane` and it is deleted at the end of the session;
``GROWTHRS_E2E_KEEP=1`` keeps it running for a look afterwards. Clusters of
earlier sessions whose pytest process no longer exists are deleted first.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from growthrs_testkit import controlplane
from growthrs_testkit.controlplane import KubeCluster

if TYPE_CHECKING:  # the kit's client and launcher import the core; loading the plugin stays cheap
    from growthrs_testkit.kube import Kube
    from growthrs_testkit.operator import Operator

__all__ = [
    "E2E_PREFIX",
    "OPERATOR_LOG_TAIL",
    "KubeCluster",
    "kube",
    "kube_cluster",
    "kubeconfig",
    "ns",
    "operators",
]

E2E_PREFIX = "growthrs-e2e"
OPERATOR_LOG_TAIL = 60
"""Lines of each operator's log the ``operators`` fixture prints after a test."""


def reap_abandoned() -> list[str]:
    """Delete clusters of earlier sessions that died without tearing theirs down."""
    reaped = []
    for name in controlplane.list_clusters():
        prefix, _, pid = name.rpartition("-")
        if prefix != E2E_PREFIX or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            controlplane.down(name)
            reaped.append(name)
        except PermissionError:
            pass  # alive, someone else's
    return reaped


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: end-to-end tests against the real local control plane "
        "(need GROWTHRS_E2E_KUBECONFIG or start one)",
    )


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[KubeCluster]:
    """A running cluster: ``.kubeconfig`` (path), ``.name`` and ``.started_here``."""
    kubeconfig = os.environ.get("GROWTHRS_E2E_KUBECONFIG")
    if kubeconfig:
        if not Path(kubeconfig).is_file():
            pytest.fail(f"GROWTHRS_E2E_KUBECONFIG={kubeconfig} does not exist", pytrace=False)
        yield KubeCluster("external", kubeconfig, started_here=False)
        return
    reap_abandoned()
    name = f"{E2E_PREFIX}-{os.getpid()}"
    try:
        started = controlplane.up(name)
    except controlplane.ClusterError as exc:
        pytest.fail(f"could not start the local control plane: {exc}", pytrace=False)
    try:
        yield KubeCluster(name, started.kubeconfig, started_here=True)
    finally:
        if os.environ.get("GROWTHRS_E2E_KEEP") != "1":
            controlplane.down(name)


@pytest.fixture(scope="module")
def kubeconfig(kube_cluster: KubeCluster) -> str:
    """The path of ``kube_cluster``'s kubeconfig."""
    return str(kube_cluster.kubeconfig)


@pytest.fixture(scope="module")
def kube(kubeconfig: str) -> Kube:
    """A client for the cluster, with the CRDs of the core and every installed plugin
    installed (and Established) once per module."""
    from growthrs_testkit.kube import install_crds, kube_for

    client = kube_for(kubeconfig)
    install_crds(client)
    return client


@pytest.fixture
def ns(kube: Kube) -> Iterator[str]:
    """A fresh namespace ``e2e-<6 hex digits>``, deleted after the test."""
    from growthrs_testkit.kube import create_namespace

    name = f"e2e-{uuid.uuid4().hex[:6]}"
    create_namespace(kube, name)
    yield name
    kube.delete(f"/api/v1/namespaces/{name}")


@pytest.fixture
def operators(tmp_path: Path) -> Iterator[list[Operator]]:
    """A list for the operators a test starts (:func:`growthrs_testkit.operator.start_operator`);
    after the test those still running are stopped and each log's tail is printed."""
    from growthrs_testkit.operator import stop_all

    started: list[Operator] = []
    yield started
    stop_all(started, OPERATOR_LOG_TAIL)
