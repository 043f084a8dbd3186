"""Installing the provider installs the provider: no stand-in, no schema validators.

The Hetzner API stand-in (``hcloud-standin``) and the OpenAPI/JSON-schema
validators its contract check uses are test dependencies only. This installs
the core and the provider exactly as the README says (``pip install ./
./plugins/growthrs_hetzner``, so growthrs-core resolves from the checkout and
everything else from the index, through pip's cache) into a fresh virtual
environment without system site packages, and looks at what arrived.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FORBIDDEN = re.compile(r"^(openapi.*|jsonschema.*|hcloud-standin)$")


def _copy_sources(dest: Path) -> None:
    """The two distributions' sources, so pip's in-tree build leaves the checkout alone."""
    ignore = shutil.ignore_patterns("*.egg-info", "build", "__pycache__", "tests")
    shutil.copy2(REPO / "pyproject.toml", dest / "pyproject.toml")
    shutil.copy2(REPO / "README.md", dest / "README.md")
    shutil.copytree(REPO / "growthrs_core", dest / "growthrs_core", ignore=ignore)
    shutil.copytree(
        REPO / "plugins" / "growthrs_hetzner", dest / "plugins" / "growthrs_hetzner", ignore=ignore
    )


@pytest.mark.timeout(600)
def test_installing_the_provider_brings_no_standin_and_no_validators(tmp_path: Path) -> None:
    src, venv = tmp_path / "src", tmp_path / "venv"
    src.mkdir()
    _copy_sources(src)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "./", "./plugins/growthrs_hetzner"],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    listing = subprocess.run(
        [
            python,
            "-c",
            "import importlib.metadata as m, json; "
            "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    names = {re.sub(r"[-_.]+", "-", n).lower() for n in json.loads(listing.stdout)}
    assert {"growthrs-core", "growthrs-hetzner", "hcloud"} <= names, sorted(names)
    assert sorted(n for n in names if FORBIDDEN.match(n)) == []
    assert not (venv / "bin" / "hcloud-standin").exists()
    assert not (venv / "bin" / "hcloud-standin-kubelet").exists()
    standin = subprocess.run(
        [python, "-c", "import hcloud_standin"], env=env, capture_output=True, check=False
    )
    assert standin.returncode != 0, "hcloud_standin is importable from the provider's install"
    # What the README's install line promises: the provider registers itself (its CRD is
    # among `growthrs crds`), and the built-in cloud-init templates came along.
    crds = subprocess.run(
        [venv / "bin" / "growthrs", "crds"], env=env, capture_output=True, text=True, check=True
    )
    assert "name: hetznernodeclasses.growthrs.io" in crds.stdout
    templates = subprocess.run(
        [
            python,
            "-c",
            "from growthrs_hetzner import userdata; "
            "print(all(userdata.builtin_template(k).startswith('#cloud-config') "
            "for k in userdata.BUILTIN_TEMPLATES))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert templates.stdout.strip() == "True"
