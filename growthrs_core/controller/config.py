"""What a pool's configuration is made of, and whether it changed: node classes and Secrets.

A create that fails for want of configuration (401/403, a missing Secret, node
class or user data) blocks its pool (:mod:`growthrs_core.decisions.failures`)
until the group, its node class or a Secret its provider read changes. This
module records which Secrets each provider read and the versions of node
classes and Secrets, and reads them again to see whether they changed. It also
runs the providers' pool checks (``validate_pool``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from growthrs_core.cluster import GroupView
from growthrs_core.controller.calls import ProviderCalls
from growthrs_core.controller.kube import Kube, KubeError
from growthrs_core.controller.providers import ProviderHub
from growthrs_core.controller.state import secret_reader
from growthrs_core.controller.writes import ApiWrites
from growthrs_core.decisions.failures import lifted
from growthrs_core.decisions.memory import CallKey, LoopMemory, PoolBlock
from growthrs_core.errors import ProviderError
from growthrs_core.provider import PoolCheck, SecretReader, ValidatesPools

log = logging.getLogger(__name__)

ABSENT = "absent"


class ConfigVersions:
    def __init__(self, kube: Kube, writes: ApiWrites) -> None:
        self.kube = kube
        self.writes = writes
        self._read = secret_reader(kube)
        self._secrets: dict[str, set[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def reader_for(self, provider: str) -> SecretReader:
        """A Secret reader that remembers which Secrets ``provider`` read."""

        def read(namespace: str, name: str, key: str) -> str:
            with self._lock:
                self._secrets.setdefault(provider, set()).add((namespace, name))
            return self._read(namespace, name, key)

        return read

    def fingerprint(self, provider: str, node_class: tuple[str, str, str] | None) -> dict[str, str]:
        """``what -> version`` of the node class and the Secrets ``provider`` read, now."""
        with self._lock:
            secrets = sorted(self._secrets.get(provider, ()))
        out: dict[str, str] = {}
        for namespace, name in secrets:
            out[f"Secret {namespace}/{name}"] = self._version(
                f"/api/v1/namespaces/{namespace}/secrets/{name}"
            )
        if node_class is not None:
            kind, name, api_version = node_class
            out[f"{kind} {name}"] = self.writes.node_class_version(kind, name, api_version)
        return out

    def _version(self, path: str) -> str:
        try:
            obj: Any = self.kube.get(path)
        except KubeError as exc:
            return ABSENT if exc.status == 404 else f"unreadable ({exc.status})"
        return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def node_class_of(group: GroupView, pool_index: int) -> tuple[str, str, str] | None:
    spec = group.spec
    if spec is None or pool_index >= len(spec.pools):
        return None
    ref = spec.pools[pool_index].nodeClassRef or spec.nodeClassRef
    return (ref.kind, ref.name, ref.apiVersion) if ref is not None else None


class PoolConfiguration:
    """Lifts configuration blocks whose cause changed, and runs the providers' pool checks."""

    def __init__(
        self,
        *,
        hub: ProviderHub,
        calls: ProviderCalls,
        memory: LoopMemory,
        versions: ConfigVersions,
        writes: ApiWrites,
        clock: Callable[[], Any],
    ) -> None:
        self.hub = hub
        self.calls = calls
        self.memory = memory
        self.versions = versions
        self.writes = writes
        self.clock = clock

    def lift_blocks(self, groups: dict[str, GroupView]) -> None:
        for (group_name, index), block in list(self.memory.pool_blocks.items()):
            group = groups.get(group_name)
            if group is None or group.spec is None or index >= len(group.spec.pools):
                del self.memory.pool_blocks[(group_name, index)]
                continue
            if block.reason != "ConfigurationError":
                continue
            provider = group.spec.pools[index].provider
            now = self.versions.fingerprint(provider, node_class_of(group, index))
            if lifted(block, group.generation, now):
                log.info(
                    "group %s pool %d: its configuration changed; creating again", group_name, index
                )
                del self.memory.pool_blocks[(group_name, index)]
                self.hub.reset(provider)

    def check_pools(self, groups: dict[str, GroupView]) -> None:
        """Ask each provider that can about each pool it serves (in workers)."""
        for group in groups.values():
            spec = group.spec
            if spec is None or group.deleting:
                continue
            for index, pool in enumerate(spec.pools):
                if not self.hub.installed(pool.provider):
                    continue
                key = CallKey("validate", f"{group.name}/{index}")
                if self.calls.busy(key):
                    continue
                ref = node_class_of(group, index)
                check = PoolCheck(
                    group=group.name,
                    pool_index=index,
                    instance_types=tuple(pool.serverType),
                    locations=tuple(spec.pool_locations(pool) or ()) or None,
                    node_class_ref=f"{ref[0]}/{ref[1]}" if ref else None,
                )
                future = self.hub.submit(self._check, pool.provider, check, ref)
                self.calls.track(key, future, self._recorder(group, index))

    def _check(
        self, provider: str, check: PoolCheck, ref: tuple[str, str, str] | None
    ) -> list[str]:
        try:
            instance = self.hub.get(provider)
        except ProviderError as exc:
            return [f"provider {provider} could not start: {exc.message}"]
        if not isinstance(instance, ValidatesPools):
            return []
        if ref is not None:
            spec, found = self.writes.node_class_lookup(*ref)
            check = PoolCheck(
                group=check.group,
                pool_index=check.pool_index,
                instance_types=check.instance_types,
                locations=check.locations,
                node_class=spec,
                node_class_ref=check.node_class_ref,
                node_class_missing=not found,
            )
        return [str(p) for p in instance.validate_pool(check)]

    def _recorder(self, group: GroupView, index: int) -> Callable[[Any], None]:
        key = (group.name, index)

        def record(result: Any) -> None:
            if isinstance(result, Exception):
                problems = [f"the pool check failed: {result}"]
            else:
                problems = list(result)
            current = self.memory.pool_blocks.get(key)
            if problems:
                if current is None or current.reason == "InvalidPool":
                    self.memory.pool_blocks[key] = PoolBlock(
                        "InvalidPool", "; ".join(problems), self.clock(), group.generation
                    )
            elif current is not None and current.reason == "InvalidPool":
                del self.memory.pool_blocks[key]

        return record
