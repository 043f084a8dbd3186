"""The GrowthRS pytest plugin (entry point ``pytest11``: ``growthrs``).

Provides the session fixture ``kube_cluster``, a real local control plane for
end-to-end tests, and registers the ``e2e`` marker. Every test tree that has the
kit installed gets both, so one session starts at most one cluster.

If ``GROWTHRS_E2E_KUBECONFIG`` is set, the tests use that cluster and leave it
alone. Otherwise the first test that asks starts ``growthrs-e2e-<pid>`` with
:mod:`growthrs_testkit.controlplane` and it is deleted at the end of the session;
``GROWTHRS_E2E_KEEP=1`` keeps it running for a look afterwards. Clusters of
earlier sessions whose pytest process no longer exists are deleted first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from growthrs_testkit import controlplane
from growthrs_testkit.controlplane import KubeCluster

__all__ = ["E2E_PREFIX", "KubeCluster", "kube_cluster"]

E2E_PREFIX = "growthrs-e2e"


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
