"""The ``kube_cluster`` fixture: a real local control plane for end-to-end tests.

If ``GROWTHRS_E2E_KUBECONFIG`` is set, the tests use that cluster and leave it
alone. Otherwise one fresh cluster (``growthrs-e2e-<pid>``) is started with
``hack/controlplane/cluster.py`` for the whole session and deleted at its end;
``GROWTHRS_E2E_KEEP=1`` keeps it running for a look afterwards.

``plugins/growthrs_kwok/tests/conftest.py`` imports this file under another
module name, so the started cluster is shared through ``sys.modules`` and
both copies of the fixture get the same one.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER_PY = REPO / "hack" / "controlplane" / "cluster.py"
_MODULE_NAME = "growthrs_controlplane_cluster"
_SHARED_NAME = "growthrs_e2e_shared_cluster"


def load_cluster_tool() -> ModuleType:
    """hack/controlplane/cluster.py, imported by path (it is not a package)."""
    if _MODULE_NAME in sys.modules:
        return sys.modules[_MODULE_NAME]
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, CLUSTER_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE_NAME] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class KubeCluster:
    name: str
    kubeconfig: str
    started_here: bool


def _shared() -> Any:
    """Process-wide state shared by every copy of this conftest."""
    shared: Any = sys.modules.get(_SHARED_NAME)
    if shared is None:
        shared = ModuleType(_SHARED_NAME)
        shared.lock = threading.Lock()
        shared.cluster = None
        shared.users = 0
        sys.modules[_SHARED_NAME] = shared
    return shared


def _reap_abandoned(tool: ModuleType) -> None:
    """Delete clusters of earlier sessions that died without tearing theirs down."""
    for name in tool.list_clusters():
        prefix, _, pid = name.rpartition("-")
        if prefix != "growthrs-e2e" or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tool.down(name)
        except PermissionError:
            pass  # alive, someone else's


def _acquire() -> KubeCluster:
    shared = _shared()
    with shared.lock:
        if shared.cluster is None:
            kubeconfig = os.environ.get("GROWTHRS_E2E_KUBECONFIG")
            if kubeconfig:
                if not Path(kubeconfig).is_file():
                    pytest.fail(f"GROWTHRS_E2E_KUBECONFIG={kubeconfig} does not exist")
                shared.cluster = KubeCluster("external", kubeconfig, started_here=False)
            else:
                tool = load_cluster_tool()
                _reap_abandoned(tool)
                name = f"growthrs-e2e-{os.getpid()}"
                try:
                    started = tool.up(name)
                except tool.ClusterError as exc:
                    pytest.fail(f"could not start the local control plane: {exc}", pytrace=False)
                shared.cluster = KubeCluster(name, started.kubeconfig, started_here=True)
        shared.users += 1
        cluster: KubeCluster = shared.cluster
        return cluster


def _release() -> None:
    shared = _shared()
    with shared.lock:
        shared.users -= 1
        cluster = shared.cluster
        if shared.users > 0 or cluster is None:
            return
        shared.cluster = None
    if cluster.started_here and os.environ.get("GROWTHRS_E2E_KEEP") != "1":
        load_cluster_tool().down(cluster.name)


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[KubeCluster]:
    """A running cluster: ``.kubeconfig`` (path) and ``.name``."""
    cluster = _acquire()
    try:
        yield cluster
    finally:
        _release()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is an end-to-end test, marked or not."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
