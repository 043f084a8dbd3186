"""Hetzner labels that tie a server to its cluster, node group and node request.

A server is ours when it carries this cluster's identity (``growthrs.io/cluster``)
*and* GrowthRS's managed marker (``growthrs.io/provider=hetzner``): only such
servers are listed, adopted, reported on or deleted (:func:`is_owned`). A cloud
project shared with other clusters, or with servers made by hand, is safe.

Hetzner's label rules are close to Kubernetes' but not the same, and a label
value may come from user input (a group name, a cluster name), so values are
sanitised rather than rejected: a server must be creatable for any valid
NodeRequest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from growthrs_core import CLUSTER_LABEL
from growthrs_core import NODE_GROUP_LABEL as GROUP_LABEL
from growthrs_core import NODE_REQUEST_LABEL as REQUEST_LABEL
from growthrs_core import PROVIDER_LABEL as MANAGED_LABEL

MANAGED_VALUE = "hetzner"
"""``growthrs.io/provider=hetzner``: GrowthRS's Hetzner provider created this server. With the
cluster label it is what makes a server ours; a server without both is never touched."""

RESERVED_PREFIX = "hetzner.cloud/"

LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")
DNS_SUBDOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
)
_INVALID = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX = 63


def sanitize_value(value: str) -> str:
    """A valid Hetzner label value for ``value``; long or rewritten values keep a hash.

    The hash suffix keeps two different inputs from collapsing into one value.
    """
    if LABEL_VALUE.match(value):
        return value
    cleaned = _INVALID.sub("-", value).strip("-_.")
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    if len(cleaned) > _MAX:
        cleaned = cleaned[: _MAX - 9].rstrip("-_.")
    cleaned = f"{cleaned}-{digest}" if cleaned else digest
    return cleaned


def key_error(key: str) -> str | None:
    """Why ``key`` is not a valid Hetzner label key, or None when it is."""
    prefix, _, name = key.rpartition("/")
    if not LABEL_NAME.match(name):
        return f"label key {key!r}: the name part must be 1-63 alphanumerics, '-', '_' or '.'"
    if prefix and not DNS_SUBDOMAIN.match(prefix):
        return f"label key {key!r}: the prefix must be a DNS subdomain"
    if key.startswith(RESERVED_PREFIX):
        return f"label key {key!r}: the {RESERVED_PREFIX} prefix is reserved by Hetzner"
    return None


def value_error(value: str) -> str | None:
    if not LABEL_VALUE.match(value):
        return f"label value {value!r}: at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
    return None


def cluster_value(cluster_name: str) -> str:
    return sanitize_value(cluster_name)


def cluster_selector(cluster_name: str) -> str:
    """The label selector that finds every server of this cluster."""
    return f"{CLUSTER_LABEL}=={cluster_value(cluster_name)}"


def owned_selector(cluster_name: str) -> str:
    """The label selector that finds every server GrowthRS manages for this cluster."""
    return f"{cluster_selector(cluster_name)},{MANAGED_LABEL}=={MANAGED_VALUE}"


def owner_labels(cluster_name: str) -> dict[str, str]:
    """The labels that make a server this cluster's and GrowthRS's."""
    return {CLUSTER_LABEL: cluster_value(cluster_name), MANAGED_LABEL: MANAGED_VALUE}


def is_owned(labels: Mapping[str, str] | None, cluster_name: str) -> bool:
    """Whether a server with ``labels`` is GrowthRS's, for this cluster."""
    return all((labels or {}).get(k) == v for k, v in owner_labels(cluster_name).items())


def server_labels(
    *, cluster_name: str, node_group: str, node_request: str, extra: dict[str, str]
) -> dict[str, str]:
    """The labels a new server carries: the node class's extras plus GrowthRS's own.

    GrowthRS's labels win; the node class model already refuses ``growthrs.io/`` keys.
    """
    labels = dict(extra)
    labels.update(owner_labels(cluster_name))
    if node_group:
        labels[GROUP_LABEL] = sanitize_value(node_group)
    if node_request:
        labels[REQUEST_LABEL] = sanitize_value(node_request)
    return labels
