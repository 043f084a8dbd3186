"""Everything under tests/e2e is an end-to-end test.

The ``kube_cluster`` fixture comes from the test kit's pytest plugin
(``growthrs_testkit.pytest_plugin``), shared with every other test tree.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is an end-to-end test, marked or not."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
