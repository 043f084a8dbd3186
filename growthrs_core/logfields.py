"""Structured log fields: which NodeRequest, group, pod, provider or node a line is about.

Log calls pass ``extra=fields(...)``; with ``--log-format json`` each becomes a
field of the line's JSON object, so logs can be searched by object. The text
format leaves them out (the message names the object anyway).
"""

from __future__ import annotations

FIELDS = ("noderequest", "group", "pod", "provider", "node")


def fields(
    *,
    noderequest: str = "",
    group: str = "",
    pod: str = "",
    provider: str = "",
    node: str = "",
) -> dict[str, str]:
    """``extra`` for a log call; empty values are left out."""
    given = {
        "noderequest": noderequest,
        "group": group,
        "pod": pod,
        "provider": provider,
        "node": node,
    }
    return {k: v for k, v in given.items() if v}
