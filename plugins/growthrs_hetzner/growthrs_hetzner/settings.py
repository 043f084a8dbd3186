"""Provider settings from ``GROWTHRS_HETZNER_*`` environment variables.

The core hands every ``GROWTHRS_HETZNER_<KEY>`` variable over as
``context.settings["<key>"]``; this module turns them into one typed object and
names the variable when a value is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

from pydantic import SecretStr

from growthrs_core import MissingConfig

DEFAULT_ENDPOINT = "https://api.hetzner.cloud/v1"
ENV_PREFIX = "GROWTHRS_HETZNER_"


@dataclass(frozen=True)
class HetznerSettings:
    """Everything the Hetzner provider can be tuned with; each field is one variable."""

    token: SecretStr | None = None
    """``GROWTHRS_HETZNER_TOKEN``: the API token (read/write). Never logged."""
    token_secret: str | None = None
    """``GROWTHRS_HETZNER_TOKEN_SECRET``: ``namespace/name/key`` of a Secret holding the token,
    used when ``token`` is not set."""
    endpoint: str = DEFAULT_ENDPOINT
    """``GROWTHRS_HETZNER_ENDPOINT``: API base URL (the stand-in's URL in tests)."""
    offerings_ttl: float = 300.0
    """``GROWTHRS_HETZNER_OFFERINGS_TTL``: seconds server types and prices are cached."""
    price: Literal["net", "gross"] = "net"
    """``GROWTHRS_HETZNER_PRICE``: which hourly price is the offering's cost. Net (without VAT)
    by default: VAT depends on the customer, and comparisons come out the same either way."""
    reserved_memory_mib: int = 256
    """``GROWTHRS_HETZNER_RESERVED_MEMORY_MIB``: memory subtracted from a server type's
    nominal size to get what pods can use: the kubelet's eviction threshold (100Mi) plus
    what the kernel and firmware keep. Planning against the nominal size would create
    nodes that cannot hold the pods they were made for."""
    reserved_cpu_millis: int = 0
    """``GROWTHRS_HETZNER_RESERVED_CPU_MILLIS``: CPU subtracted likewise (none by default)."""
    request_timeout: float = 30.0
    """``GROWTHRS_HETZNER_REQUEST_TIMEOUT``: seconds one HTTP request may take."""
    max_retries: int = 3
    """``GROWTHRS_HETZNER_MAX_RETRIES``: retries of one call on rate limits, 5xx and network errors."""
    max_retry_wait: float = 10.0
    """``GROWTHRS_HETZNER_MAX_RETRY_WAIT``: longest single wait before a retry; a rate limit that
    resets later is handed to the controller as ``ProviderInternal(retry_after=...)`` instead
    of blocking a worker."""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> HetznerSettings:
        """Parse ``context.settings``; a bad value is a :class:`MissingConfig` naming the variable."""
        values: dict[str, object] = {}
        known = {f.name for f in fields(cls)}
        extra = {}
        for key, raw in settings.items():
            name = key.lower()
            if name not in known or name == "extra":
                extra[name] = raw
                continue
            values[name] = _convert(name, raw)
        token = values.get("token")
        if isinstance(token, SecretStr) and not token.get_secret_value().strip():
            values["token"] = None
        secret = values.get("token_secret")
        if secret is not None and len(str(secret).split("/")) != 3:
            raise MissingConfig(
                f"{ENV_PREFIX}TOKEN_SECRET must be namespace/name/key, got {secret!r}"
            )
        return cls(**values, extra=extra)  # type: ignore[arg-type]

    def token_secret_ref(self) -> tuple[str, str, str] | None:
        if not self.token_secret:
            return None
        namespace, name, key = self.token_secret.split("/")
        return namespace, name, key


def _convert(name: str, raw: str) -> object:
    env = f"{ENV_PREFIX}{name.upper()}"
    if name == "token":
        return SecretStr(raw)
    if name == "token_secret":
        return raw.strip() or None
    if name == "endpoint":
        return raw.strip().rstrip("/")
    if name == "price":
        if raw not in ("net", "gross"):
            raise MissingConfig(f"{env} must be net or gross, got {raw!r}")
        return raw
    number: float
    try:
        number = float(raw)
    except ValueError:
        raise MissingConfig(f"{env} must be a number, got {raw!r}") from None
    if number < 0:
        raise MissingConfig(f"{env} must not be negative, got {raw!r}")
    if name in ("reserved_memory_mib", "reserved_cpu_millis", "max_retries"):
        return int(number)
    return number
