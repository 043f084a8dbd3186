"""Every exception GrowthRS raises on purpose, each saying whether a retry helps.

Providers raise the :class:`ProviderError` family; the controller decides from
``retryable`` (and ``retry_after``) whether to try the same thing again, fall
back to the next pool, or give up and say so in the NodeRequest's status.
"""

from __future__ import annotations


class GrowthrsError(Exception):
    """An error meant for a human: the CLI prints its message as one line."""


class ProviderError(GrowthrsError):
    """Base of every provider failure.

    ``retryable`` says whether the same call may succeed later; ``retry_after``
    (seconds) is a hint, e.g. from a rate limit. Messages must never contain
    secrets such as API tokens.
    """

    retryable: bool = True

    def __init__(
        self, message: str, *, retryable: bool | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after


class CreationFailed(ProviderError):
    """The machine could not be created; ``retryable=False`` for quota-like limits."""


class DeletionFailed(ProviderError):
    """The machine could not be deleted now; the controller tries again."""


class JoinTimeout(ProviderError):
    """The machine exists but never joined the cluster in time."""


class OfferingUnavailable(ProviderError):
    """The provider has no capacity for this offering now: fall back to the next pool.

    Not retryable against the same offering; the offering backs off for a while.
    """

    retryable = False


class MissingConfig(ProviderError):
    """The provider lacks configuration (token, node class field) to act; names the field."""

    retryable = False


class UnknownProvider(ProviderError):
    """A pool names a provider that no installed plugin registered."""

    retryable = False


class ProviderInternal(ProviderError):
    """An unexpected failure inside the provider or its API (5xx, bugs)."""


class QuantityError(GrowthrsError, ValueError):
    """A Kubernetes resource quantity that cannot be parsed; names the value."""

    def __init__(self, value: object, why: str = "not a Kubernetes quantity") -> None:
        super().__init__(f"invalid quantity {value!r}: {why}")
        self.value = value


class PluginError(GrowthrsError):
    """A plugin broke the plugin contract (for example a duplicate provider name)."""
