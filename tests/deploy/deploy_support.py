"""Rendering the chart and the kustomize base, for the tests in this folder.

``helm`` and ``kubectl`` are the pinned builds of the local control plane's cache
(``testing/growthrs_testkit/growthrs_testkit/controlplane/versions.env``), built
once by ``build.sh`` and reused; ``make test`` builds them before the tests.
"""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from growthrs_testkit import controlplane

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "chart"
KUSTOMIZE = REPO / "deploy" / "kustomize"
CRDS = REPO / "crds"

Key = tuple[str, str, str, str]
"""(apiVersion, kind, namespace, name) of one object."""


@functools.cache
def tools() -> dict[str, str]:
    """Paths of the pinned binaries (HELM, KUBECTL, ...): built once, then cached."""
    return controlplane.build(quiet=True)


def run(*args: str) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def helm(*args: str) -> str:
    return run(tools()["HELM"], *args)


def render_chart_text(values: Mapping[str, Any] | None = None, *, crds: bool = True) -> str:
    """``helm template`` of the chart, with ``values`` on top of values.yaml."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as extra:
        json.dump(dict(values or {}), extra)
        extra.flush()
        args = ["template", "growthrs", str(CHART), "--values", extra.name]
        return helm(*args, *(["--include-crds"] if crds else []))


def render_chart(
    values: Mapping[str, Any] | None = None, *, crds: bool = True
) -> list[dict[str, Any]]:
    return documents(render_chart_text(values, crds=crds))


def render_kustomize() -> list[dict[str, Any]]:
    return documents(run(tools()["KUBECTL"], "kustomize", str(KUSTOMIZE)))


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def key(doc: Mapping[str, Any]) -> Key:
    meta = doc.get("metadata") or {}
    return (doc["apiVersion"], doc["kind"], meta.get("namespace", ""), meta["name"])


def by_key(docs: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """Objects by identity; a duplicate is an error (two objects would fight)."""
    out: dict[Key, dict[str, Any]] = {}
    for doc in docs:
        k = key(doc)
        assert k not in out, f"{k} rendered twice"
        out[k] = doc
    return out


def find(docs: list[dict[str, Any]], kind: str, name: str, namespace: str = "") -> dict[str, Any]:
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] == kind and meta["name"] == name and meta.get("namespace", "") == namespace:
            return doc
    raise AssertionError(f"no {kind} {namespace}/{name} among {[key(d) for d in docs]}")


def kinds(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]
