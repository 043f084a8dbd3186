"""Leader election on a ``coordination.k8s.io`` Lease, so replicas can run side by side.

The holder renews the Lease every ``renew`` seconds; another replica takes it
over once ``lease_duration`` has passed without renewal. Losing the Lease
stops the operator (the process exits and its Deployment restarts it as a
follower), which is the safe answer to "two leaders for a moment".
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from growthrs_core.controller.kube import Kube, KubeError
from growthrs_core.timeutil import format_time_micro, now, parse_time

log = logging.getLogger(__name__)


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        name: str = "growthrs-leader",
        lease_duration: float = 15.0,
        renew: float = 5.0,
        identity: str | None = None,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.kube = kube
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        self.create_path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.name = name
        self.lease_duration = lease_duration
        self.renew = renew
        self.identity = identity or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
        self.clock = clock
        self.is_leader = threading.Event()

    def _spec(self, transitions: int, acquired: str | None = None) -> dict[str, object]:
        stamp = format_time_micro(self.clock())
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "acquireTime": acquired or stamp,
            "renewTime": stamp,
            "leaseTransitions": transitions,
        }

    def try_acquire(self) -> bool:
        """One attempt to take or renew the Lease; True while we hold it."""
        try:
            lease = self.kube.get(self.path)
        except KubeError as exc:
            if exc.status != 404:
                log.warning("cannot read Lease %s: %s", self.name, exc)
                return False
            try:
                self.kube.create(
                    self.create_path,
                    {
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": self.name},
                        "spec": self._spec(0),
                    },
                )
                return True
            except KubeError:
                return False
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renewed = parse_time(spec.get("renewTime"))
        expired = renewed is None or (self.clock() - renewed).total_seconds() > float(
            spec.get("leaseDurationSeconds") or self.lease_duration
        )
        if holder not in (self.identity, None, "") and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder == self.identity else 1)
        acquired = spec.get("acquireTime") if holder == self.identity else None
        body = {**lease, "spec": self._spec(transitions, acquired)}
        try:
            self.kube.replace(self.path, body)  # resourceVersion in body: a racing replica gets 409
            return True
        except KubeError:
            return False

    def acquire(self, stop: threading.Event) -> bool:
        """Block until we lead (True) or ``stop`` is set (False)."""
        while not stop.is_set():
            if self.try_acquire():
                log.info("leader election: %s leads", self.identity)
                self.is_leader.set()
                return True
            stop.wait(self.renew)
        return False

    def keep(self, stop: threading.Event, on_lost: Callable[[], None]) -> threading.Thread:
        """Renew in the background; call ``on_lost`` if renewal fails for a lease duration."""

        def run() -> None:
            last_ok = time.monotonic()
            while not stop.wait(self.renew):
                if self.try_acquire():
                    last_ok = time.monotonic()
                elif time.monotonic() - last_ok > self.lease_duration:
                    log.error("leader election: lost the Lease; stopping")
                    self.is_leader.clear()
                    on_lost()
                    return

        thread = threading.Thread(target=run, name="leader", daemon=True)
        thread.start()
        return thread

    def release(self) -> None:
        """Give the Lease up on clean shutdown so a follower takes over at once."""
        try:
            lease = self.kube.get(self.path)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = None
                lease["spec"]["leaseDurationSeconds"] = 1
                self.kube.replace(self.path, lease)
        except KubeError as exc:
            log.debug("could not release Lease: %s", exc)
