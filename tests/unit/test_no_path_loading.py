"""Shared test tooling is found by import, never loaded by file path.

The test kit (``testing/growthrs_testkit``) is an installed distribution: the
``kube_cluster`` fixture comes from its pytest plugin, the control plane, the
operator launcher and the builders from its modules. A module loaded by path or
through ``sys.path`` would be a second copy that the first one cannot see (two
fixtures, two clusters), so this fails as soon as one reappears.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Spelled in two halves, so this file does not match itself.
FORBIDDEN = ("spec_from_" + "file_location", "sys.path" + ".insert", "sys.path" + ".append")
SKIP_DIRS = {".git", ".venv", ".tox", "build", "dist", "__pycache__", ".mypy_cache", ".ruff_cache"}
# The test kit's own tests may exercise loading (none do today).
ALLOWED = (REPO / "testing" / "growthrs_testkit" / "tests",)


def python_files() -> list[Path]:
    found = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        here = Path(root)
        if any(here == a or a in here.parents for a in ALLOWED):
            continue
        found += [here / f for f in files if f.endswith(".py")]
    return found


def test_nothing_is_loaded_by_path_or_sys_path() -> None:
    files = python_files()
    assert len(files) > 50, "the walk missed the repository"
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if any(word in line for word in FORBIDDEN)
    ]
    assert offenders == [], (
        "load shared test code by import from growthrs_testkit instead:\n  "
        + "\n  ".join(offenders)
    )
