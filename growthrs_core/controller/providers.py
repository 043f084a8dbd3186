"""Provider instances and their calls, off the controller's thread.

Providers are created lazily, the first time a pool names them. Every call runs
in a worker thread; the controller never blocks on one and treats a call that
outlives ``timeout`` as failed (a late success is caught by orphan collection).
Offerings are cached and refreshed in the background.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from growthrs_core.controller.metrics import PROVIDER_CALL_DURATION, PROVIDER_ERRORS
from growthrs_core.decisions.budget import TokenBucket
from growthrs_core.domain import Offering
from growthrs_core.errors import MissingConfig, ProviderError, ProviderInternal, UnknownProvider
from growthrs_core.plugins.manager import PluginManager
from growthrs_core.provider import (
    Provider,
    ProviderContext,
    SecretReader,
    provider_settings_from_env,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

RESTART_AFTER = 30.0
"""Seconds before a provider that could not start is started again."""


@dataclass
class _OfferingCache:
    offerings: list[Offering] | None = None
    fetched_at: float = 0.0
    error: str | None = None
    refreshing: bool = False


class ProviderHub:
    def __init__(
        self,
        manager: PluginManager,
        *,
        cluster_name: str,
        api_client: Any,
        read_secret: SecretReader,
        workers: int = 8,
        timeout: float = 60.0,
        offerings_ttl: float = 300.0,
        qps: float = 10.0,
        burst: float = 20.0,
    ) -> None:
        self.manager = manager
        self.cluster_name = cluster_name
        self.api_client = api_client
        self.read_secret = read_secret
        self.secrets_for: Callable[[str], SecretReader] = lambda _provider: read_secret
        """The Secret reader each provider gets (the loop records what each one read)."""
        self.timeout = timeout
        self.offerings_ttl = offerings_ttl
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="provider")
        self._instances: dict[str, Provider | ProviderError] = {}
        self._failed_at: dict[str, float] = {}
        self._offerings: dict[str, _OfferingCache] = {}
        self._lock = threading.Lock()
        self._qps, self._burst = qps, burst
        self._budgets: dict[str, TokenBucket] = {}

    def installed(self, name: str) -> bool:
        return name in self.manager.providers

    def get(self, name: str) -> Provider:
        """The provider instance, created on first use; raises its creation error.

        A provider that could not start (a Secret missing, say) is tried again
        after :data:`RESTART_AFTER` seconds, so fixing its configuration is enough.
        """
        with self._lock:
            instance = self._instances.get(name)
            stale = (
                isinstance(instance, ProviderError)
                and time.monotonic() - self._failed_at.get(name, 0.0) > RESTART_AFTER
            )
            if instance is None or stale:
                instance = self._create(name)
                self._instances[name] = instance
                if isinstance(instance, ProviderError):
                    self._failed_at[name] = time.monotonic()
        if isinstance(instance, ProviderError):
            raise instance
        return instance

    def reset(self, name: str) -> None:
        """Forget provider ``name``'s instance and offerings: the next use starts it
        again, re-reading its configuration (its Secrets changed)."""
        with self._lock:
            self._instances.pop(name, None)
            self._failed_at.pop(name, None)
            self._offerings.pop(name, None)

    def _create(self, name: str) -> Provider | ProviderError:
        if name not in self.manager.providers:
            installed = ", ".join(self.manager.providers) or "none"
            return UnknownProvider(f"provider {name!r} is not installed (installed: {installed})")
        context = ProviderContext(
            name=name,
            cluster_name=self.cluster_name,
            api_client=self.api_client,
            settings=provider_settings_from_env(name),
            read_secret=self.secrets_for(name),
        )
        try:
            return self.manager.providers[name](context)
        except ProviderError as exc:
            log.error("provider %s could not start: %s", name, exc)
            return exc
        except Exception as exc:  # noqa: BLE001 - a broken plugin is logged and skipped
            log.error("provider %s could not start: %s: %s", name, type(exc).__name__, exc)
            return MissingConfig(f"provider {name} could not start: {type(exc).__name__}")

    def instantiated(self) -> dict[str, Provider]:
        with self._lock:
            return {n: p for n, p in self._instances.items() if not isinstance(p, ProviderError)}

    def submit(self, fn: Callable[..., T], *args: Any, provider: str = "") -> Future[T]:
        """Run ``fn(*args)`` in a worker; with ``provider``, within that provider's budget."""

        def run() -> T:
            if provider:
                self._spend(provider)
            return fn(*args)

        return self.executor.submit(run)

    def budget(self, name: str) -> TokenBucket:
        """The request budget of provider ``name``, shared by every call to it."""
        with self._lock:
            bucket = self._budgets.get(name)
            if bucket is None:
                bucket = TokenBucket(self._qps, self._burst, time.monotonic)
                self._budgets[name] = bucket
        return bucket

    def _spend(self, name: str) -> None:
        wait = self.budget(name).reserve()
        if wait > 0:
            time.sleep(wait)

    def call(self, name: str, method: str, *args: Any) -> Future[Any]:
        """Run ``provider.method(*args)`` in a worker, within the provider's request
        budget; errors come back as ProviderError."""

        def run() -> Any:
            provider = self.get(name)
            self._spend(name)
            started = time.monotonic()
            try:
                return getattr(provider, method)(*args)
            except ProviderError as exc:
                PROVIDER_ERRORS.labels(name, method, type(exc).__name__).inc()
                raise
            except Exception as exc:
                PROVIDER_ERRORS.labels(name, method, "ProviderInternal").inc()
                log.exception("provider %s.%s raised", name, method)
                raise ProviderInternal(f"{name}.{method} raised {type(exc).__name__}") from None
            finally:
                PROVIDER_CALL_DURATION.labels(name, method).observe(time.monotonic() - started)

        return self.executor.submit(run)

    # -- offerings -----------------------------------------------------------------------

    def offerings(self, name: str, *, wait: bool = False) -> list[Offering] | None:
        """Cached offerings of ``name``; refreshed in the background when stale.

        With ``wait`` the first fetch is awaited (up to the call timeout).
        """
        with self._lock:
            cache = self._offerings.setdefault(name, _OfferingCache())
            stale = time.monotonic() - cache.fetched_at > self.offerings_ttl
            start = stale and not cache.refreshing and self.installed(name)
            if start:
                cache.refreshing = True
        if start:
            future = self.executor.submit(self._refresh, name)
            if wait and cache.offerings is None:
                # A failure is recorded by _refresh; here we only wait for it.
                with contextlib.suppress(Exception):
                    future.result(timeout=self.timeout)
        return cache.offerings

    def offerings_error(self, name: str) -> str | None:
        cache = self._offerings.get(name)
        return cache.error if cache else None

    def _refresh(self, name: str) -> None:
        cache = self._offerings[name]
        try:
            provider = self.get(name)
            self._spend(name)
            result = list(provider.offerings(None))
            cache.offerings, cache.error = result, None
        except ProviderError as exc:
            cache.error = exc.message
            log.warning("offerings of %s unavailable: %s", name, exc.message)
        except Exception as exc:
            cache.error = f"{type(exc).__name__}"
            log.exception("offerings of %s raised", name)
        finally:
            cache.fetched_at = (
                time.monotonic()
                if cache.error is None
                else time.monotonic() - self.offerings_ttl + 10
            )
            cache.refreshing = False

    def shutdown(self, wait: float = 5.0) -> None:
        deadline = time.monotonic() + wait
        self.executor.shutdown(wait=False, cancel_futures=True)
        for thread in list(getattr(self.executor, "_threads", ())):
            thread.join(max(0.0, deadline - time.monotonic()))
