"""What ``kubectl explain`` and ``kubectl get`` show of the core CRDs.

Every field of NodeGroupWithPriority and NodeRequest has a plain-text description
(no Python double backticks or reST markup, which a terminal would show raw), and
the printer columns show every pool and, for NodeRequests, why one is Unmet. The
end-to-end test (tests/e2e/test_install.py) reads the same through a real apiserver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from crd_walk import fields, problems

from growthrs_core.crd.generate import all_crds

CRDS = Path(__file__).resolve().parents[2] / "crds"
CORE = {c["spec"]["names"]["kind"]: c for c in all_crds(None)}


def committed(kind: str) -> dict[str, Any]:
    name = CORE[kind]["metadata"]["name"]
    doc: dict[str, Any] = yaml.safe_load((CRDS / f"{name}.yaml").read_text())
    return doc


@pytest.mark.parametrize("kind", ["NodeGroupWithPriority", "NodeRequest"])
def test_every_field_has_a_plain_text_description(kind: str) -> None:
    for crd in (CORE[kind], committed(kind)):
        found = problems(crd)
        assert not found, f"{kind}:\n  " + "\n  ".join(found)


def test_every_field_of_every_shipped_crd_has_a_description() -> None:
    """The plugins' CRDs too (HetznerNodeClass): every file in crds/."""
    for path in sorted(CRDS.glob("*.yaml")):
        found = problems(yaml.safe_load(path.read_text()))
        assert not found, f"{path.name}:\n  " + "\n  ".join(found)


def test_the_walk_reaches_nested_fields_of_arrays() -> None:
    root = CORE["NodeGroupWithPriority"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    paths = {p for p, _ in fields(root, "ngp")}
    assert {"ngp.spec.pools[].nodeClassRef.kind", "ngp.status.conditions[].reason"} <= paths


def test_the_walk_finds_what_it_must_reject() -> None:
    crd = {
        "spec": {
            "names": {"kind": "X"},
            "versions": [
                {
                    "schema": {
                        "openAPIV3Schema": {
                            "description": "An X.",
                            "properties": {
                                "a": {"type": "string"},
                                "b": {"type": "string", "description": "Like ``a``."},
                                "c": {
                                    "type": "array",
                                    "description": "Cs.",
                                    "items": {
                                        "description": "See :class:`C`.",
                                        "properties": {"d": {"description": " "}},
                                    },
                                },
                            },
                        }
                    }
                }
            ],
        }
    }
    found = "\n".join(problems(crd))
    assert "X.a: no description" in found
    assert "X.c[].d: no description" in found
    assert "Like ``a``" in found and ":class:`C`" in found


def columns(kind: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in CORE[kind]["spec"]["versions"][0]["additionalPrinterColumns"]}


def test_the_pools_column_prints_the_whole_list() -> None:
    # The apiserver's table printer keeps only the first match of a JSONPath:
    # .spec.pools[*].provider would show the first pool alone. The list itself is
    # one match, printed as JSON: every pool's provider, serverType and priority.
    pools = columns("NodeGroupWithPriority")["Pools"]
    assert pools["jsonPath"] == ".spec.pools"
    assert pools["type"] == "string"


def test_node_request_columns_show_readiness_and_the_unmet_reason() -> None:
    cols = columns("NodeRequest")
    assert cols["Message"]["jsonPath"] == ".status.message"
    assert cols["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert cols["Phase"]["jsonPath"] == ".status.phase"
    assert not cols["Message"].get("priority"), "the Unmet reason shows without -o wide"
