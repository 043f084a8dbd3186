"""The CRD models reject what the operator cannot act on, and generate structural schemas."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from growthrs_core.crd.models import (
    Attempt,
    NodeGroupWithPrioritySpec,
    NodeRequestSpec,
    NodeRequestStatus,
    Pool,
    ScaleDown,
    core_crds,
    parse_duration,
)
from growthrs_core.crd.schema import structural_schema

SPEC_EXAMPLE: dict[str, Any] = {
    "pools": [
        {"provider": "hetzner", "serverType": ["cax11"], "priority": 90},
        {"provider": "hetzner", "serverType": ["cx33", "cpx32"], "priority": 50},
    ]
}


def group(**overrides: Any) -> dict[str, Any]:
    spec = {
        "pools": [{"provider": "kwok", "serverType": ["cx22"], "priority": 50}],
        **overrides,
    }
    return spec


def pool(**overrides: Any) -> dict[str, Any]:
    return {"provider": "kwok", "serverType": ["cx22"], "priority": 50, **overrides}


def rejects(spec: dict[str, Any], *fragments: str) -> None:
    with pytest.raises(ValidationError) as err:
        NodeGroupWithPrioritySpec.model_validate(spec)
    text = str(err.value)
    for fragment in fragments:
        assert fragment in text, text


# -- accepted -----------------------------------------------------------------------------------


def test_accepts_the_spec_example() -> None:
    spec = NodeGroupWithPrioritySpec.model_validate(SPEC_EXAMPLE)
    assert [p.serverType for p in spec.pools] == [["cax11"], ["cx33", "cpx32"]]
    assert [p.priority for p in spec.pools] == [90, 50]
    assert spec.minNodes == 0 and spec.maxNodes is None
    assert spec.scaleDown.enabled and spec.scaleDown.unneeded_seconds == 600
    assert spec.labels == {} and spec.taints == []


def test_accepts_every_optional_field() -> None:
    spec = NodeGroupWithPrioritySpec.model_validate(
        {
            "pools": [
                pool(
                    locations=["fsn1", "nbg1"],
                    minNodes=1,
                    maxNodes=5,
                    nodeClassRef={"kind": "HetznerNodeClass", "name": "default"},
                ),
                pool(serverType=["cax11"], priority=0),
                pool(serverType=["cx52"], priority=1000),
            ],
            "minNodes": 1,
            "maxNodes": 10,
            "locations": ["hel1"],
            "labels": {"team": "a", "example.com/tier": ""},
            "taints": [{"key": "dedicated", "value": "ci", "effect": "NoExecute"}, {"key": "x"}],
            "nodeClassRef": {"kind": "HetznerNodeClass", "name": "base"},
            "scaleDown": {"enabled": False, "unneededTime": "1h30m"},
        }
    )
    assert spec.pool_locations(spec.pools[0]) == ["fsn1", "nbg1"]
    assert spec.pool_locations(spec.pools[1]) == ["hel1"]
    assert spec.taints[1].effect == "NoSchedule"
    assert spec.pools[0].nodeClassRef is not None
    assert spec.pools[0].nodeClassRef.apiVersion == "growthrs.io/v1alpha1"
    assert spec.scaleDown.unneeded_seconds == 5400


def test_same_types_in_other_locations_are_different_pools() -> None:
    NodeGroupWithPrioritySpec.model_validate(
        group(
            pools=[
                pool(locations=["fsn1"]),
                pool(locations=["nbg1"]),
                pool(provider="hetzner"),
            ]
        )
    )


# -- rejected -----------------------------------------------------------------------------------


def test_rejects_no_pools() -> None:
    rejects({"pools": []}, "pools")
    rejects({}, "pools")


def test_rejects_empty_server_type_list() -> None:
    rejects(group(pools=[pool(serverType=[])]), "serverType")


def test_rejects_empty_server_type_name() -> None:
    rejects(group(pools=[pool(serverType=[""])]), "serverType")
    rejects(group(pools=[pool(serverType=["cx22", ""])]), "serverType")


def test_rejects_a_type_listed_twice() -> None:
    rejects(group(pools=[pool(serverType=["cx22", "cx22"])]), "twice")


@pytest.mark.parametrize("priority", [-1, 1001, 5000])
def test_rejects_priority_out_of_range(priority: int) -> None:
    rejects(group(pools=[pool(priority=priority)]), "priority")


def test_rejects_missing_priority_or_provider() -> None:
    rejects(group(pools=[{"provider": "kwok", "serverType": ["cx22"]}]), "priority")
    rejects(group(pools=[{"serverType": ["cx22"], "priority": 1}]), "provider")


@pytest.mark.parametrize("provider", ["", "Hetzner", "-kwok", "a b"])
def test_rejects_provider_names_no_plugin_could_register(provider: str) -> None:
    rejects(group(pools=[pool(provider=provider)]), "provider")


def test_rejects_duplicate_pools() -> None:
    rejects(group(pools=[pool(), pool(priority=10)]), "duplicate pools")
    # The order of types and locations does not make a pool different.
    rejects(
        group(
            pools=[
                pool(serverType=["cx22", "cx32"], locations=["fsn1", "nbg1"]),
                pool(serverType=["cx32", "cx22"], locations=["nbg1", "fsn1"], priority=1),
            ]
        ),
        "duplicate pools",
    )


@pytest.mark.parametrize(
    "spec",
    [
        group(colour="red"),
        group(pools=[pool(colour="red")]),
        group(scaleDown={"enabled": True, "after": "5m"}),
        group(taints=[{"key": "a", "effect": "NoSchedule", "operator": "Exists"}]),
        group(nodeClassRef={"kind": "K", "name": "n", "namespace": "x"}),
    ],
)
def test_rejects_unknown_fields(spec: dict[str, Any]) -> None:
    rejects(spec, "Extra inputs are not permitted")


def test_rejects_min_nodes_above_max_nodes() -> None:
    rejects(group(minNodes=3, maxNodes=2), "minNodes must not exceed maxNodes")
    NodeGroupWithPrioritySpec.model_validate(group(minNodes=2, maxNodes=2))


def test_rejects_pool_min_nodes_above_pool_max_nodes() -> None:
    rejects(group(pools=[pool(minNodes=3, maxNodes=2)]), "minNodes must not exceed maxNodes")
    Pool.model_validate(pool(minNodes=2, maxNodes=2))


@pytest.mark.parametrize("field", ["minNodes", "maxNodes"])
def test_rejects_negative_node_counts(field: str) -> None:
    rejects(group(**{field: -1}), field)
    rejects(group(pools=[pool(**{field: -1})]), field)


def test_rejects_bad_taint_effect() -> None:
    rejects(group(taints=[{"key": "a", "effect": "NoWay"}]), "effect")


@pytest.mark.parametrize("bad", ["10", "ten minutes", "-5m", "", "5d", "1.m", "m", "5 m", "PT5M"])
def test_rejects_bad_unneeded_time(bad: str) -> None:
    rejects(group(scaleDown={"unneededTime": bad}), "unneededTime")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("1h", 3600),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("1.5h", 5400),
        ("2m30s", 150),
        ("0s", 0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert ScaleDown(unneededTime=text).unneeded_seconds == seconds


@pytest.mark.parametrize("bad", ["", "10", "1d", "-1s", "1h 30m", "s"])
def test_parse_duration_rejects_with_the_value(bad: str) -> None:
    with pytest.raises(ValueError, match=f"invalid duration {bad!r}"):
        parse_duration(bad)


def test_models_are_frozen() -> None:
    spec = NodeGroupWithPrioritySpec.model_validate(SPEC_EXAMPLE)
    with pytest.raises(ValidationError):
        spec.minNodes = 3  # type: ignore[misc]


# -- NodeRequest ----------------------------------------------------------------------------------


def test_node_request_spec_and_status() -> None:
    spec = NodeRequestSpec.model_validate(
        {
            "nodeGroup": "default",
            "requirements": {"cpu": "4", "memory": "8Gi", "gpu": 1, "arch": ["amd64"]},
            "pods": [{"namespace": "default", "name": "p"}],
        }
    )
    assert spec.requirements.cpu == "4" and spec.requirements.gpu == 1
    status = NodeRequestStatus.model_validate({})
    assert status.phase == "Pending" and status.attempts == []
    with pytest.raises(ValidationError, match="phase"):
        NodeRequestStatus.model_validate({"phase": "Done"})
    with pytest.raises(ValidationError, match="result"):
        Attempt.model_validate({"pool": 0, "result": "Maybe"})
    with pytest.raises(ValidationError, match="requirements"):
        NodeRequestSpec.model_validate({"nodeGroup": "default"})
    with pytest.raises(ValidationError, match="gpu"):
        NodeRequestSpec.model_validate(
            {"nodeGroup": "default", "requirements": {"cpu": "1", "memory": "1Gi", "gpu": -1}}
        )


# -- generated schemas -------------------------------------------------------------------------------


def walk(node: Any, path: str = "") -> list[tuple[str, str, Any]]:
    """Every (path, key, value) in a JSON-like tree."""
    out: list[tuple[str, str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((path, key, value))
            out.extend(walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(walk(value, f"{path}[{i}]"))
    return out


FORBIDDEN = {"$ref", "$defs", "anyOf", "allOf", "oneOf", "title", "definitions"}


@pytest.mark.parametrize(
    "model",
    [NodeGroupWithPrioritySpec, NodeRequestSpec, NodeRequestStatus],
    ids=lambda m: m.__name__,
)
def test_structural_schema_has_no_ref_anyof_or_title(model: Any) -> None:
    schema = structural_schema(model)
    bad = [
        f"{path}.{key}"
        for path, key, _ in walk(schema)
        if key in FORBIDDEN and not path.endswith(".properties")
    ]
    assert bad == []
    # Every object says what it holds (or explicitly keeps unknown fields).
    for path, key, value in walk({"root": schema}):
        if isinstance(value, dict) and value.get("type") == "object":
            assert (
                "properties" in value
                or "additionalProperties" in value
                or value.get("x-kubernetes-preserve-unknown-fields")
            ), f"{path}.{key}"
        if key == "default":
            assert value is not None, path


def test_crd_manifests_are_structural_and_carry_validation() -> None:
    crds = {c["spec"]["names"]["kind"]: c for c in core_crds()}
    assert set(crds) == {"NodeGroupWithPriority", "NodeRequest", "NodeRemoval"}
    for crd in crds.values():
        assert [k for _, k, _ in walk(crd) if k in FORBIDDEN] == []
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        assert crd["spec"]["scope"] == "Cluster"
    assert crds["NodeGroupWithPriority"]["spec"]["names"]["shortNames"] == ["ngp"]
    assert crds["NodeRequest"]["spec"]["names"]["shortNames"] == ["nr"]
    assert crds["NodeRemoval"]["spec"]["names"]["shortNames"] == ["nrm"]
    spec = crds["NodeGroupWithPriority"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
        "properties"
    ]["spec"]
    pool = spec["properties"]["pools"]["items"]
    assert pool["properties"]["priority"]["minimum"] == 0
    assert pool["properties"]["priority"]["maximum"] == 1000
    assert pool["properties"]["serverType"]["minItems"] == 1
    assert pool["properties"]["serverType"]["items"]["minLength"] == 1
    assert set(pool["required"]) == {"provider", "serverType", "priority"}
    assert spec["properties"]["maxNodes"]["nullable"] is True
    rules = [v["rule"] for _, k, vs in walk(spec) if k == "x-kubernetes-validations" for v in vs]
    assert any("minNodes <= self.maxNodes" in r for r in rules)
    assert any("exists_one" in r for r in rules)  # duplicate pools
    unneeded = spec["properties"]["scaleDown"]["properties"]["unneededTime"]
    assert unneeded["pattern"].startswith("^")
