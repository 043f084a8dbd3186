"""Everything a trial's cluster went through, watched from outside the operator.

The :class:`Recorder` list+watches pods (of the trial's namespace), Nodes,
NodeRequests and node groups with its own client, for the whole trial, and keeps
a history of what it saw, stamped with each object's ``resourceVersion``. One
etcd orders every write of the cluster, so versions of different kinds compare:
that is how "a node was deleted while a pod was still on it" is decided after
the fact, without racing the watches.

It survives an apiserver that goes away (it retries and relists) and counts
every appearance of a secret value in what it saw (labels, annotations, status).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from growthrs_core.controller.kube import Kube, KubeError, ngp_path, node_path, nr_path

log = logging.getLogger(__name__)

IN_FLIGHT = ("Pending", "Provisioning")
NODE_REQUEST_LABEL = "growthrs.io/node-request"
GROUP_LABEL = "growthrs.io/node-group"


def _rv(obj: dict[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _ready(node: dict[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


@dataclass
class PodState:
    rv: int
    node: str
    deleting: bool
    phase: str
    gone: bool = False


@dataclass
class PodHistory:
    uid: str
    name: str
    owner_kind: str
    states: list[PodState] = field(default_factory=list)
    ever_running: bool = False

    def at(self, rv: int) -> PodState | None:
        """The pod as it was just before version ``rv``."""
        found = None
        for state in self.states:
            if state.rv >= rv:
                break
            found = state
        return found


@dataclass
class NodeHistory:
    name: str
    labels: dict[str, str]
    created_rv: int
    deleted_rv: int | None = None
    ever_ready: bool = False
    ready: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    incarnations: int = 1
    """Times a Node of this name was added (a KWOK boot replaces the booting Node)."""


@dataclass
class RequestHistory:
    name: str
    group: str
    pods: frozenset[str]
    created_rv: int
    deleted_rv: int | None = None
    phases: list[tuple[int, str]] = field(default_factory=list)
    node_names: set[str] = field(default_factory=set)
    last: dict[str, Any] = field(default_factory=dict)

    @property
    def phase(self) -> str:
        return self.phases[-1][1] if self.phases else "Pending"

    def alive_at(self, rv: int) -> bool:
        return self.created_rv <= rv and (self.deleted_rv is None or rv < self.deleted_rv)

    def phase_at(self, rv: int) -> str:
        phase = "Pending"
        for at, value in self.phases:
            if at > rv:
                break
            phase = value
        return phase

    def claims_at(self, rv: int) -> bool:
        """Alive at ``rv`` and still holding its pods: in flight, or Unmet (an Unmet
        request holds them until it is deleted). A Ready one's pods may have gone
        elsewhere when others took its room."""
        return self.alive_at(rv) and self.phase_at(rv) in ("Pending", "Provisioning", "Unmet")


class Recorder:
    """Watches a trial's world until :meth:`stop`; see the module docstring."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        *,
        secrets: Iterable[str] = (),
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.secrets = [s for s in secrets if s]
        self.secret_hits: dict[str, int] = defaultdict(int)
        """Where a secret value appeared: ``"<kind> <name>"`` → times seen."""
        self.on_change = on_change
        self.lock = threading.Lock()
        self.pods: dict[str, PodHistory] = {}
        self.nodes: dict[str, NodeHistory] = {}
        self.requests: dict[str, RequestHistory] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.node_objects: dict[str, dict[str, Any]] = {}
        self.pod_objects: dict[str, dict[str, Any]] = {}
        self.request_objects: dict[str, dict[str, Any]] = {}
        self.duplicate_nodes: set[tuple[str, str, str]] = set()
        """(node request, node, node): two Ready Nodes for one NodeRequest at once."""
        self.attempts_seen: dict[tuple[str, int, int], tuple[float, str, str]] = {}
        """(request, its creation version, attempt index) → (wall time first seen,
        provider:type@location, result)."""
        self.max_rv = 0
        self.gaps = 0
        """Times a watch broke and had to relist (an apiserver outage)."""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._synced: dict[str, threading.Event] = {}

    # -- running ---------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> Recorder:
        kinds: list[tuple[str, str, Callable[[str, dict[str, Any], bool], None]]] = [
            ("pods", f"/api/v1/namespaces/{self.namespace}/pods", self._pod),
            ("nodes", node_path(), self._node),
            ("noderequests", nr_path(), self._request),
            ("groups", ngp_path(), self._group),
        ]
        for name, path, handle in kinds:
            self._synced[name] = threading.Event()
            thread = threading.Thread(
                target=self._run, args=(name, path, handle), name=f"rec-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + timeout
        for name, event in self._synced.items():
            if not event.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"recorder: {name} not listed in {timeout:.0f}s")
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(
        self, kind: str, path: str, handle: Callable[[str, dict[str, Any], bool], None]
    ) -> None:
        backoff = 0.2
        rv = ""
        while not self._stop.is_set():
            try:
                if not rv:
                    items, rv = self.kube.list_all(path)
                    with self.lock:
                        self._relisted(kind, items, handle)
                    self._synced[kind].set()
                for event in self.kube.watch(path, rv, timeout_seconds=60):
                    if self._stop.is_set():
                        return
                    kind_ = event.get("type")
                    obj = event.get("object") or {}
                    if kind_ == "ERROR":
                        rv = ""
                        break
                    new_rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
                    if kind_ == "BOOKMARK":
                        rv = new_rv or rv
                        continue
                    with self.lock:
                        handle(str(kind_), obj, False)
                        self.max_rv = max(self.max_rv, _rv(obj))
                    rv = new_rv or rv
                    if self.on_change:
                        self.on_change()
                backoff = 0.2
            except (KubeError, OSError, ValueError) as exc:
                if self._stop.is_set():
                    return
                log.debug("recorder %s: %s", kind, exc)
                self.gaps += 1
                rv = ""
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            except Exception as exc:  # noqa: BLE001 - a watch thread must never die
                if self._stop.is_set():
                    return
                log.warning("recorder %s broke: %s: %s", kind, type(exc).__name__, exc)
                self.gaps += 1
                rv = ""
                self._stop.wait(backoff)

    def _relisted(
        self,
        kind: str,
        items: list[dict[str, Any]],
        handle: Callable[[str, dict[str, Any], bool], None],
    ) -> None:
        """A fresh list: what is missing from it was deleted while we were not looking."""
        seen = set()
        for obj in items:
            meta = obj.get("metadata") or {}
            seen.add(str(meta.get("uid") if kind == "pods" else meta.get("name")))
            handle("ADDED", obj, True)
            self.max_rv = max(self.max_rv, _rv(obj))
        stamp = self.max_rv + 1
        if kind == "pods":
            for uid, pod in self.pods.items():
                if uid not in seen and pod.states and not pod.states[-1].gone:
                    last = pod.states[-1]
                    pod.states.append(PodState(stamp, last.node, True, last.phase, gone=True))
        elif kind == "nodes":
            for name, node in self.nodes.items():
                if name not in seen and node.deleted_rv is None:
                    node.deleted_rv = stamp
        elif kind == "noderequests":
            for name, nr in self.requests.items():
                if name not in seen and nr.deleted_rv is None:
                    nr.deleted_rv = stamp
        elif kind == "groups":
            for name in list(self.groups):
                if name not in seen:
                    self.groups.pop(name, None)

    # -- per kind ----------------------------------------------------------------------

    def _secrets_in(self, where: str, obj: dict[str, Any], parts: Iterable[Any]) -> None:
        if not self.secrets:
            return
        text = json.dumps(list(parts), default=str)
        for secret in self.secrets:
            if secret in text:
                self.secret_hits[where] += 1

    def _pod(self, kind: str, obj: dict[str, Any], listed: bool) -> None:
        meta = obj.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        owner = next(
            (r.get("kind", "") for r in meta.get("ownerReferences") or () if r.get("controller")),
            "",
        )
        pod = self.pods.get(uid)
        if pod is None:
            pod = self.pods[uid] = PodHistory(uid, str(meta.get("name")), str(owner))
        spec = obj.get("spec") or {}
        phase = str((obj.get("status") or {}).get("phase") or "Pending")
        pod.ever_running = pod.ever_running or phase == "Running"
        state = PodState(
            _rv(obj),
            str(spec.get("nodeName") or ""),
            meta.get("deletionTimestamp") is not None or kind == "DELETED",
            phase,
            gone=kind == "DELETED",
        )
        if pod.states and state.rv <= pod.states[-1].rv and not state.gone:
            return
        pod.states.append(state)
        if kind == "DELETED":
            self.pod_objects.pop(uid, None)
        else:
            self.pod_objects[uid] = obj

    def _node(self, kind: str, obj: dict[str, Any], listed: bool) -> None:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name"))
        labels = dict(meta.get("labels") or {})
        annotations = dict(meta.get("annotations") or {})
        self._secrets_in(f"Node {name}", obj, [labels, annotations, obj.get("spec")])
        node = self.nodes.get(name)
        if kind == "DELETED":
            if node is not None:
                node.deleted_rv = _rv(obj)
                node.ready = False
            self.node_objects.pop(name, None)
            return
        if node is None or node.deleted_rv is not None:
            incarnations = node.incarnations + 1 if node is not None else 1
            node = self.nodes[name] = NodeHistory(name, labels, _rv(obj))
            node.incarnations = incarnations
        node.labels = labels
        node.annotations = annotations
        node.ready = _ready(obj)
        node.ever_ready = node.ever_ready or node.ready
        self.node_objects[name] = obj
        request = labels.get(NODE_REQUEST_LABEL)
        if node.ready and request:
            for other in self.nodes.values():
                if (
                    other.name != name
                    and other.ready
                    and other.deleted_rv is None
                    and other.labels.get(NODE_REQUEST_LABEL) == request
                ):
                    pair = tuple(sorted((name, other.name)))
                    self.duplicate_nodes.add((request, pair[0], pair[1]))

    def _request(self, kind: str, obj: dict[str, Any], listed: bool) -> None:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name"))
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        self._secrets_in(f"NodeRequest {name}", obj, [status, meta.get("annotations")])
        nr = self.requests.get(name)
        if kind == "DELETED":
            if nr is not None:
                nr.deleted_rv = _rv(obj)
            self.request_objects.pop(name, None)
            return
        if nr is None or nr.deleted_rv is not None:
            pods = frozenset(str(p.get("uid") or p.get("name")) for p in spec.get("pods") or ())
            nr = self.requests[name] = RequestHistory(
                name, str(spec.get("nodeGroup") or ""), pods, _rv(obj)
            )
        phase = str(status.get("phase") or "Pending")
        if not nr.phases or nr.phases[-1][1] != phase:
            nr.phases.append((_rv(obj), phase))
        if status.get("nodeName"):
            nr.node_names.add(str(status["nodeName"]))
        for index, attempt in enumerate(status.get("attempts") or ()):
            if attempt.get("nodeName"):
                nr.node_names.add(str(attempt["nodeName"]))
            key = (name, nr.created_rv, index)
            if key not in self.attempts_seen:
                self.attempts_seen[key] = (
                    time.time(),
                    f"{attempt.get('provider', '')}:{str(attempt.get('offering', '')).split('/')[0]}",
                    str(attempt.get("result", "")),
                )
        nr.last = obj
        self.request_objects[name] = obj

    def _group(self, kind: str, obj: dict[str, Any], listed: bool) -> None:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name"))
        self._secrets_in(f"NodeGroupWithPriority {name}", obj, [obj.get("status")])
        if kind == "DELETED":
            self.groups.pop(name, None)
        else:
            self.groups[name] = obj

    # -- questions ---------------------------------------------------------------------

    def duplicate_requests(self, groups: set[str]) -> list[tuple[str, str, str]]:
        """(request, request, pod uid): a NodeRequest created for a pod while another still
        claimed it (see :meth:`RequestHistory.claims_at`)."""
        with self.lock:
            found = []
            items = [r for r in self.requests.values() if r.group in groups]
            for i, a in enumerate(items):
                for b in items[i + 1 :]:
                    common = a.pods & b.pods
                    if not common:
                        continue
                    overlap = a.claims_at(b.created_rv) or b.claims_at(a.created_rv)
                    if overlap:
                        found.append((a.name, b.name, sorted(common)[0]))
            return found

    def busy_nodes_removed(
        self, nodes: set[str] | None = None, *, running: bool = True
    ) -> list[tuple[str, list[str]]]:
        """Nodes deleted while a pod that is not a DaemonSet's ran on them (phase Running),
        not evicted (no deletionTimestamp): (node, those pods). ``running=False``: pods
        bound there that had not started yet (a node that never turned Ready can have
        them: the scheduler only looks at taints)."""
        with self.lock:
            out = []
            for node in self.nodes.values():
                if node.deleted_rv is None or (nodes is not None and node.name not in nodes):
                    continue
                busy = []
                for pod in self.pods.values():
                    if pod.owner_kind == "DaemonSet":
                        continue
                    state = pod.at(node.deleted_rv)
                    if (
                        state is not None
                        and state.node == node.name
                        and state.rv >= node.created_rv
                        and not state.deleting
                        and not state.gone
                        and (state.phase == "Running") == running
                        and state.phase not in ("Succeeded", "Failed")
                    ):
                        busy.append(pod.name)
                if busy:
                    out.append((node.name, sorted(busy)))
            return out

    def live_nodes(self, predicate: Callable[[NodeHistory], bool]) -> list[NodeHistory]:
        with self.lock:
            return [n for n in self.nodes.values() if n.deleted_rv is None and predicate(n)]

    def in_flight(self, groups: set[str]) -> list[str]:
        with self.lock:
            return sorted(
                f"{r.name}={r.phase}"
                for r in self.requests.values()
                if r.group in groups and r.deleted_rv is None and r.phase in IN_FLIGHT
            )

    def live_requests(self, groups: set[str]) -> list[RequestHistory]:
        with self.lock:
            return [r for r in self.requests.values() if r.group in groups and r.deleted_rv is None]

    def first_request_after(self, groups: set[str], rv: int) -> RequestHistory | None:
        with self.lock:
            found = [r for r in self.requests.values() if r.group in groups and r.created_rv > rv]
            return min(found, key=lambda r: r.created_rv) if found else None

    def first_failure(self, offering: str, since: float = 0.0) -> float | None:
        """When a failed attempt (no capacity, failed, join timeout) of ``offering``
        (``provider:type@location``) was first seen, at or after ``since``."""
        with self.lock:
            times = [
                t
                for t, key, result in self.attempts_seen.values()
                if key == offering and result != "Created" and t >= since
            ]
        return min(times, default=None)

    def pods_of(self, prefix: str) -> list[PodHistory]:
        with self.lock:
            return [p for p in self.pods.values() if p.name.startswith(prefix)]

    def wait(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(KubeError):
                found = check()
                if found:
                    return found
            time.sleep(0.2)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
