"""Leader election on a ``coordination.k8s.io`` Lease, with client-go's semantics.

- A follower never compares the holder's ``renewTime`` with its own clock
  (clocks differ between machines). It notes, on its own monotonic clock, when
  it last saw the lease record change, and may take the lease only once it has
  stayed unchanged for ``lease_duration``.
- The leader renews every ``retry_period``. If it has not renewed for
  ``renew_deadline`` (shorter than ``lease_duration``), it stops leading, so it
  has stopped acting before any follower may take over.
- On a clean shutdown the leader releases the lease so a follower takes over
  at once.

The election logic talks to a :class:`LeaseStore`; :class:`KubeLeaseStore`
is the real one, and the tests use an in-memory one with a fake clock.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from growthrs_core.controller.kube import Kube, KubeError
from growthrs_core.timeutil import format_time_micro, now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseRecord:
    holder: str
    lease_duration: float
    acquire_time: str = ""
    renew_time: str = ""
    transitions: int = 0


class LeaseStore(Protocol):
    def get(self) -> tuple[LeaseRecord, str] | None:
        """The record and its resourceVersion, or ``None`` when there is no lease."""

    def create(self, record: LeaseRecord) -> bool: ...

    def update(self, record: LeaseRecord, resource_version: str) -> bool:
        """Write unless someone else wrote since ``resource_version``."""


class LeaderElector:
    def __init__(
        self,
        store: LeaseStore,
        *,
        identity: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = now,
    ) -> None:
        if not 0 < retry_period < renew_deadline < lease_duration:
            raise ValueError("need 0 < retry_period < renew_deadline < lease_duration")
        self.store = store
        self.identity = identity or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.clock = clock
        self.wall = wall
        self._observed: tuple[LeaseRecord, str] | None = None
        self._observed_at = 0.0
        self._renewed_at: float | None = None
        """When this replica last wrote the lease as its holder (its own clock)."""
        self.last_contact: float | None = None
        """When the lease was last read or written at all: the standby's sign of life."""

    # -- one attempt ---------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One attempt to take or renew the lease; ``True`` while we hold it."""
        stamp = format_time_micro(self.wall())
        try:
            found = self.store.get()
        except KubeError:
            return False  # the store said why; a failed read is a failed attempt
        moment = self.clock()
        if found is None:
            mine = LeaseRecord(self.identity, self.lease_duration, stamp, stamp, 0)
            if not self.store.create(mine):
                return False
            self._saw((mine, ""), moment)
            self._renewed_at = moment
            return True
        record, version = found
        if found != self._observed:  # any write changes the resourceVersion
            self._saw(found, moment)
        self.last_contact = moment
        ours = record.holder == self.identity
        if record.holder and not ours and moment < self._observed_at + record.lease_duration:
            return False  # someone else holds it, and we saw it renewed not long ago
        mine = LeaseRecord(
            holder=self.identity,
            lease_duration=self.lease_duration,
            acquire_time=record.acquire_time if ours else stamp,
            renew_time=stamp,
            transitions=record.transitions if ours else record.transitions + 1,
        )
        if not self.store.update(mine, version):
            return False
        self._saw((mine, ""), self.clock())
        self._renewed_at = self._observed_at
        return True

    def _saw(self, found: tuple[LeaseRecord, str], moment: float) -> None:
        self._observed, self._observed_at = found, moment
        self.last_contact = moment

    def leading(self) -> bool:
        """Whether we may act now: we renewed within ``renew_deadline``."""
        return (
            self._renewed_at is not None and self.clock() - self._renewed_at < self.renew_deadline
        )

    # -- the loop --------------------------------------------------------------------------

    def keep(self, stop: threading.Event, on_lost: Callable[[], None]) -> threading.Thread:
        """Renew every ``retry_period`` in the background; call ``on_lost`` once a
        renewal has not succeeded for ``renew_deadline``."""

        def run() -> None:
            while not stop.wait(self.retry_period):
                if self.try_acquire_or_renew():
                    continue
                if not self.leading():
                    log.error("leader election: could not renew the lease in time; stopping")
                    on_lost()
                    return

        thread = threading.Thread(target=run, name="leader", daemon=True)
        thread.start()
        return thread

    def release(self) -> None:
        """Give the lease up (clean shutdown) so a follower takes over at once."""
        if not self.leading():
            return
        try:
            found = self.store.get()
        except KubeError:
            return
        if found is None or found[0].holder != self.identity:
            return
        record, version = found
        if self.store.update(replace(record, holder="", lease_duration=1.0), version):
            self._renewed_at = None


class KubeLeaseStore:
    """A Lease object in the cluster."""

    def __init__(self, kube: Kube, *, namespace: str, name: str = "growthrs-leader") -> None:
        self.kube = kube
        self.name = name
        self.namespace = namespace
        self.collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.path = f"{self.collection}/{name}"

    def get(self) -> tuple[LeaseRecord, str] | None:
        try:
            lease = self.kube.get(self.path)
        except KubeError as exc:
            if exc.status != 404:
                log.warning("cannot read Lease %s/%s: %s", self.namespace, self.name, exc)
                raise
            return None
        spec = lease.get("spec") or {}
        record = LeaseRecord(
            holder=str(spec.get("holderIdentity") or ""),
            lease_duration=float(spec.get("leaseDurationSeconds") or 15),
            acquire_time=str(spec.get("acquireTime") or ""),
            renew_time=str(spec.get("renewTime") or ""),
            transitions=int(spec.get("leaseTransitions") or 0),
        )
        return record, str((lease.get("metadata") or {}).get("resourceVersion", ""))

    def _body(self, record: LeaseRecord, version: str = "") -> dict[str, object]:
        metadata: dict[str, object] = {"name": self.name, "namespace": self.namespace}
        if version:
            metadata["resourceVersion"] = version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": record.holder or None,
                "leaseDurationSeconds": max(1, round(record.lease_duration)),
                "acquireTime": record.acquire_time or None,
                "renewTime": record.renew_time or None,
                "leaseTransitions": record.transitions,
            },
        }

    def create(self, record: LeaseRecord) -> bool:
        try:
            self.kube.create(self.collection, self._body(record))
            return True
        except KubeError:
            return False

    def update(self, record: LeaseRecord, resource_version: str) -> bool:
        try:  # the resourceVersion in the body makes a racing replica get 409
            self.kube.replace(self.path, self._body(record, resource_version))
            return True
        except KubeError:
            return False
