"""Turn pydantic models into Kubernetes structural schemas and CRD manifests.

Plugins use the same helpers for their own CRDs (e.g. ``HetznerNodeClass``), so
every GrowthRS CRD follows the same rules: no ``$ref``, nullable instead of
``anyOf null``, unknown fields rejected, CEL rules carried from the model.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

CEL_KEY = "x-kubernetes-validations"
_DROP = {"title", "discriminator", "propertyNames"}  # not allowed in structural schemas


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema rewritten into a structural OpenAPI v3 schema."""
    raw: dict[str, Any] = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    result: dict[str, Any] = _convert(raw, defs)
    return result


def _convert(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_convert(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].split("/")[-1]])
        extra = {k: v for k, v in node.items() if k != "$ref"}
        target.update(extra)
        return _convert(target, defs)
    out: dict[str, Any] = {}
    any_of = node.get("anyOf")
    if any_of is not None:
        non_null = [s for s in any_of if s.get("type") != "null"]
        if len(non_null) == 1 and len(non_null) < len(any_of):
            merged = {k: v for k, v in node.items() if k != "anyOf"}
            merged.update(non_null[0])
            merged.pop("default", None) if node.get("default", 0) is None else None
            converted = _convert(merged, defs)
            converted["nullable"] = True
            return converted
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "default" and value is None:
            continue
        if key == "additionalProperties" and value is False:
            continue  # structural schemas reject unknown fields by pruning + strict validation
        if key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = _convert(value, defs)
    if (
        out.get("type") == "object"
        and "properties" not in out
        and "additionalProperties" not in out
    ):
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


API_VERSION_DESCRIPTION = (
    "The versioned schema of this representation of the object, e.g. growthrs.io/v1alpha1."
)
KIND_DESCRIPTION = "The REST resource this object represents, in CamelCase."


def _described(schema: dict[str, Any], fallback: str) -> dict[str, Any]:
    """``schema`` with ``fallback`` as its description when the model has no docstring."""
    if not schema.get("description"):
        schema["description"] = fallback
    return schema


def crd_manifest(
    *,
    kind: str,
    plural: str,
    short_names: list[str],
    spec_model: type[BaseModel],
    status_model: type[BaseModel] | None,
    group: str = "growthrs.io",
    version: str = "v1alpha1",
    printer_columns: list[dict[str, Any]] | None = None,
    categories: list[str] | None = None,
    description: str = "",
) -> dict[str, Any]:
    """A complete ``apiextensions.k8s.io/v1`` CRD for a cluster-scoped resource."""
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string", "description": API_VERSION_DESCRIPTION},
        "kind": {"type": "string", "description": KIND_DESCRIPTION},
        # The apiserver allows nothing here but name and generateName restrictions, and
        # publishes ObjectMeta (with its description) in the CRD's OpenAPI instead.
        "metadata": {"type": "object"},
        "spec": _described(structural_schema(spec_model), f"What the {kind} should be."),
    }
    if status_model is not None:
        properties["status"] = _described(
            structural_schema(status_model), f"What the {kind} is, written by its controller."
        )
    schema: dict[str, Any] = {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": properties,
    }
    version_entry: dict[str, Any] = {
        "name": version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
    }
    if status_model is not None:
        version_entry["subresources"] = {"status": {}}
    if printer_columns:
        version_entry["additionalPrinterColumns"] = printer_columns
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
        "shortNames": short_names,
    }
    if categories:
        names["categories"] = categories
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Cluster",
            "names": names,
            "versions": [version_entry],
        },
    }
