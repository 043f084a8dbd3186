"""The benchmarks' smoke runs reuse the end-to-end tests' ``kube_cluster`` fixture.

``tests/e2e/conftest.py`` starts the local control plane (or uses
``GROWTHRS_E2E_KUBECONFIG``) once per session; it is imported under another
module name so both directories share the one cluster.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

_E2E_CONFTEST = Path(__file__).resolve().parents[1] / "e2e" / "conftest.py"


def _load_e2e_conftest() -> Any:
    name = "growthrs_repo_e2e_conftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _E2E_CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


kube_cluster = _load_e2e_conftest().kube_cluster
