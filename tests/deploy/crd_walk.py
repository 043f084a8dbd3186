"""Walks a CRD's structural schema the way ``kubectl explain`` shows it: every field."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

MARKUP = re.compile(r"`|:(class|func|meth|attr|data|mod|obj|ref):|\*\*|^\s*\.\. ", re.M)
"""Backticks (Python double backticks, Markdown code), reST roles, bold and directives."""


def fields(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path, schema)`` of every named field below ``schema``, arrays and maps included."""
    for name, sub in (schema.get("properties") or {}).items():
        here = f"{path}.{name}"
        yield here, sub
        yield from fields(sub, here)
        yield from _inner(sub, here)


def _inner(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    items = schema.get("items")
    if isinstance(items, dict):
        yield from fields(items, f"{path}[]")
        yield from _inner(items, f"{path}[]")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from fields(extra, f"{path}{{}}")
        yield from _inner(extra, f"{path}{{}}")


def descriptions(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every ``description`` anywhere in a schema (array items and printer columns too)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                yield path, value
            else:
                yield from descriptions(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from descriptions(value, f"{path}/{i}")


def problems(crd: dict[str, Any]) -> list[str]:
    """Fields without a description, and descriptions with markup a terminal shows raw."""
    kind = crd["spec"]["names"]["kind"]
    found = []
    for version in crd["spec"]["versions"]:
        root = version["schema"]["openAPIV3Schema"]
        for path, sub in [(kind, root), *fields(root, kind)]:
            if path == f"{kind}.metadata":
                continue  # the apiserver puts ObjectMeta, described, in its place
            text = sub.get("description")
            if not isinstance(text, str) or not text.strip():
                found.append(f"{path}: no description")
        for where, text in descriptions(version, kind):
            if MARKUP.search(text):
                found.append(f"{where}: markup in {text!r}")
    return found
