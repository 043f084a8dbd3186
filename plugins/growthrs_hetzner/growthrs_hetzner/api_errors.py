"""Hetzner API errors in GrowthRS's words: which provider error, and whether to retry.

``hcloud`` raises ``APIException`` with Hetzner's error ``code`` (a string, or
the HTTP status when the body was not Hetzner's JSON). The controller only
understands the ``ProviderError`` family, so every call goes through
:func:`to_provider_error`. Messages carry Hetzner's message and the fields it
names, never request headers or the token.
"""

from __future__ import annotations

from typing import Any

from hcloud import APIException

from growthrs_core import (
    CreationFailed,
    DeletionFailed,
    MissingConfig,
    OfferingUnavailable,
    ProviderError,
    ProviderInternal,
)

RETRIED_CODES = frozenset(
    {"rate_limit_exceeded", "server_error", "unavailable", "timeout", "bad_gateway", "conflict"}
)
"""Worth repeating the same call after a wait (inside the provider, a bounded number of times)."""
CAPACITY_CODES = frozenset({"resource_unavailable", "placement_error"})
AUTH_CODES = frozenset({"unauthorized", "token_readonly", "forbidden"})
AUTH_STATUSES = frozenset({401, 403})
"""HTTP statuses that hcloud reports as the code when the answer was not Hetzner's JSON
(a proxy, a gateway): without Hetzner's words, 401/403 mean the token was not accepted."""

NODE_CLASS_FIELDS = {
    "image": "image",
    "ssh_keys": "sshKeys",
    "networks": "networks",
    "firewalls": "firewalls",
    "placement_group": "placementGroup",
    "user_data": "userData",
    "labels": "labels",
    "location": "locations",
    "public_net": "publicNet",
}
"""Hetzner request fields that come from the HetznerNodeClass, and the node class field."""


def is_auth(exc: APIException) -> bool:
    """The token was rejected or lacks rights: a configuration error, never retried."""
    code = exc.code
    return code in AUTH_STATUSES if isinstance(code, int) else code in AUTH_CODES


def is_retried(exc: APIException) -> bool:
    code = exc.code
    if isinstance(code, int):
        return code >= 500 or code == 429
    return code in RETRIED_CODES


def invalid_fields(exc: APIException) -> list[str]:
    details: Any = exc.details
    if not isinstance(details, dict):
        return []
    found = details.get("fields") or []
    return [str(f.get("name")) for f in found if isinstance(f, dict) and f.get("name")]


def to_provider_error(
    exc: APIException,
    *,
    operation: str,
    subject: str,
    retry_after: float | None = None,
) -> ProviderError:
    """The provider error for ``exc`` raised while doing ``operation`` on ``subject``.

    ``operation`` is ``create``, ``delete`` or anything else (reads); ``subject``
    names what was acted on, e.g. ``server node-1 (cx22@fsn1)``.
    """
    code = exc.code
    message = f"Hetzner API: {operation} {subject}: {exc.message} ({code})"
    if code in CAPACITY_CODES:
        return OfferingUnavailable(message)
    if code == "resource_limit_exceeded":
        return CreationFailed(
            f"{message}: quota exceeded: the Hetzner project's limit is reached; ask Hetzner "
            "to raise it or lower the pool's maxNodes",
            retryable=False,
        )
    if is_auth(exc):
        return MissingConfig(
            f"{message}: the API token was rejected; check GROWTHRS_HETZNER_TOKEN or the "
            "Secret named by GROWTHRS_HETZNER_TOKEN_SECRET (a read/write token is needed)"
        )
    if is_retried(exc):
        return ProviderInternal(message, retryable=True, retry_after=retry_after)
    if code == "invalid_input":
        fields = invalid_fields(exc)
        config = [NODE_CLASS_FIELDS[f] for f in fields if f in NODE_CLASS_FIELDS]
        named = f" (field {', '.join(fields)})" if fields else ""
        if config:
            return MissingConfig(
                f"{message}{named}: check HetznerNodeClass field {', '.join(config)}"
            )
        return CreationFailed(f"{message}{named}", retryable=False)
    if operation == "create":
        if code == "not_found":
            return MissingConfig(f"{message}: something the HetznerNodeClass names does not exist")
        if code in ("locked", "maintenance"):
            return CreationFailed(message, retryable=True)
        return CreationFailed(message, retryable=False)
    if operation == "delete":
        return DeletionFailed(message, retryable=True)
    return ProviderInternal(message, retryable=True, retry_after=retry_after)
