"""What the operator benchmarks share: a cluster, the operator process, watches, figures.

Each benchmark starts its own local control plane (``growthrs_testkit.controlplane``,
a unique name, torn down at the end, also on error or SIGTERM) unless
``--kubeconfig`` or ``GROWTHRS_E2E_KUBECONFIG`` names one to use. The operator
runs exactly as a user runs it, ``python -m growthrs_core.cli run`` in a
subprocess, through the test kit's launcher (:class:`growthrs_testkit.operator.Operator`).

Times are wall-clock (``time.time()``) taken in this process when a watch event
arrives, so they compare with each other to the millisecond and with the API
server's timestamps (same machine, same clock) to its one-second resolution.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psutil

from growthrs_core.controller.kube import Kube, KubeError, ngp_path, node_path, nr_path
from growthrs_testkit import controlplane
from growthrs_testkit.controlplane import KubeCluster
from growthrs_testkit.kube import (
    PAUSE_IMAGE,
    create_namespace,
    group_body,
    install_crds,
    kube_for,
    wait_for,
)
from growthrs_testkit.operator import Operator

__all__ = ["PAUSE_IMAGE", "KubeCluster", "Operator", "create_namespace", "group_body", "wait_for"]

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
START_LOAD = psutil.getloadavg()
"""Load average when the benchmark started: the machine may be shared."""
T = TypeVar("T")

OPERATOR_FLAGS: dict[str, Any] = {
    # The product's defaults, not the end-to-end tests' fast ones ...
    "tick_interval": 1.0,
    "resync_interval": 30.0,
    "log_level": "INFO",
    # ... except what a benchmark must pin or keep out of the way.
    "batch_idle": 1.0,
    "batch_max": 10.0,
    "metrics_port": 0,
    "scale_down_new_node_grace": 60.0,
    "offering_backoff": 300.0,
}


# -- command line -----------------------------------------------------------------------------


def arguments(description: str, runs: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="a small, quick run (< ~60 s)")
    parser.add_argument("--runs", type=int, default=runs, help=f"repetitions (default {runs})")
    parser.add_argument("--json", dest="json_path", help="write the results here")
    parser.add_argument(
        "--kubeconfig",
        default=os.environ.get("GROWTHRS_E2E_KUBECONFIG"),
        help="use this cluster instead of starting one (also GROWTHRS_E2E_KUBECONFIG)",
    )
    return parser


# -- the cluster ------------------------------------------------------------------------------


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def cluster(kubeconfig: str | None, prefix: str) -> Iterator[KubeCluster]:
    """The given cluster, or a fresh one that is deleted at the end.

    SIGTERM unwinds like an error meanwhile, so the operator is stopped and
    what the benchmark created is cleaned up.
    """
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if kubeconfig:
            yield KubeCluster("external", kubeconfig, started_here=False)
            return
        name = f"{prefix}-{os.getpid()}"
        try:
            log(f"starting control plane {name}")
            started = time.monotonic()
            up = controlplane.up(name)
            log(f"control plane {name} up in {time.monotonic() - started:.1f}s")
            yield KubeCluster(name, str(up.kubeconfig), started_here=True)
        finally:
            with contextlib.suppress(Exception):
                controlplane.down(name)
    finally:
        signal.signal(signal.SIGTERM, previous)


def connect(kubeconfig: str, pool: int = 32) -> Kube:
    """A client whose connection pool fits the benchmarks' concurrent requests.

    The official client's default pool (5 per CPU) is smaller than the thread
    pools here; it would open and discard a TLS connection per surplus request.
    """
    return kube_for(kubeconfig, pool_size=pool)


def prepare(kubeconfig: str) -> Kube:
    """A client for ``kubeconfig``, with GrowthRS's CRDs installed and Established."""
    kube = connect(kubeconfig)
    install_crds(kube)
    return kube


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the operator -----------------------------------------------------------------------------


def log_time(line: str) -> float | None:
    """Epoch seconds of an operator log line (``%(asctime)s``: local time, milliseconds)."""
    try:
        stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    except ValueError:
        return None
    return stamp.timestamp()


def wait_log(op: Any, text: str, timeout: float) -> tuple[float, str]:
    """Wait until the operator logs ``text``; return when this process saw it and the line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in op.log().splitlines():
            if text in line:
                return time.time(), line
        if not op.alive():
            raise RuntimeError(f"operator exited:\n{tail(op)}")
        time.sleep(0.05)
    raise TimeoutError(f"operator did not log {text!r} within {timeout:.0f}s:\n{tail(op)}")


def tail(op: Any, lines: int = 30) -> str:
    return "\n".join(op.log().splitlines()[-lines:])


@contextlib.contextmanager
def operator(kubeconfig: str, log_dir: Path, **flags: Any) -> Iterator[Operator]:
    """``growthrs run`` with :data:`OPERATOR_FLAGS` (overridable), stopped at the end.

    It never outlives the benchmark: an operator left running against a deleted
    cluster retries forever.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    op = Operator(kubeconfig, log_dir, die_with_parent=True, **{**OPERATOR_FLAGS, **flags})
    op.start()
    try:
        yield op
    finally:
        op.stop()


# -- watching ---------------------------------------------------------------------------------


class Watch:
    """List+watch one path in a thread, calling ``on_event(type, obj, seen)`` for each.

    ``seen`` is ``time.time()`` when the event was read. Objects present at the
    start arrive as ``ADDED``. The watch resumes after a server timeout.
    """

    def __init__(
        self,
        kube: Kube,
        path: str,
        on_event: Callable[[str, dict[str, Any], float], None],
        query: dict[str, Any] | None = None,
    ) -> None:
        self.kube, self.path, self.on_event, self.query = kube, path, on_event, query or {}
        self._stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch {path}", daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        if not self.ready.wait(30):
            raise TimeoutError(f"could not list {self.path}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _run(self) -> None:
        rv: str | None = None
        while not self._stop.is_set():
            try:
                if rv is None:
                    items, rv = self.kube.list_all(self.path, self.query)
                    seen = time.time()
                    for obj in items:
                        self.on_event("ADDED", obj, seen)
                    self.ready.set()
                for event in self.kube.watch(self.path, rv, self.query, timeout_seconds=60):
                    if self._stop.is_set():
                        return
                    seen = time.time()
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        raise KubeError(int(obj.get("code") or 0), str(obj.get("message")))
                    rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                    if event.get("type") != "BOOKMARK":
                        self.on_event(str(event.get("type")), obj, seen)
            except Exception as exc:  # noqa: BLE001 - relist and carry on, loudly
                if self._stop.is_set():
                    return  # torn down (e.g. its namespace deleted) after the benchmark
                # A relist replays what exists as ADDED; deletions in the gap are missed.
                log(f"watch {self.path} broke ({type(exc).__name__}: {exc}); relisting")
                self.error, rv = exc, None
                self._stop.wait(0.5)


def parse_k8s_time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def unschedulable_condition(pod: dict[str, Any]) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            return dict(cond)
    return None


# -- objects ----------------------------------------------------------------------------------


def pod_body(
    name: str,
    *,
    cpu: str,
    memory: str,
    labels: dict[str, str] | None = None,
    node_selector: dict[str, str] | None = None,
    node_name: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "terminationGracePeriodSeconds": 0,
        "containers": [
            {
                "name": "app",
                "image": PAUSE_IMAGE,
                "resources": {"requests": {"cpu": cpu, "memory": memory}},
            }
        ],
    }
    if node_selector:
        spec["nodeSelector"] = node_selector
    if node_name:
        spec["nodeName"] = node_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
    }


def group_pods(names: Iterable[str], group: str, *, cpu: str, memory: str) -> list[dict[str, Any]]:
    """Pods pinned to ``group`` by its node-group label, one body per name."""
    return [
        pod_body(
            n,
            cpu=cpu,
            memory=memory,
            labels={"app": group},
            node_selector={"growthrs.io/node-group": group},
        )
        for n in names
    ]


@contextlib.contextmanager
def kwok_group(kube: Kube, prefix: str, scale_down: dict[str, Any]) -> Iterator[str]:
    """A fresh name for both a namespace and a NodeGroupWithPriority: KWOK ``cx32``
    at priority 90, ``cpx31`` at 50, in fsn1. Both are deleted on the way out, with
    what the group left behind."""
    group = unique(prefix)
    create_namespace(kube, group)
    kube.create(
        ngp_path(),
        group_body(
            group,
            [
                {"provider": "kwok", "serverType": ["cx32"], "priority": 90},
                {"provider": "kwok", "serverType": ["cpx31"], "priority": 50},
            ],
            locations=["fsn1"],
            scaleDown=scale_down,
        ),
    )
    try:
        yield group
    finally:
        kube.delete(f"/api/v1/namespaces/{group}")
        delete_group(kube, group)


def parallel(fn: Callable[[T], Any], items: Iterable[T], workers: int = 8) -> list[Any]:
    """``fn`` over ``items`` on a thread pool; the first exception is raised."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def create_pods(kube: Kube, namespace: str, bodies: Sequence[dict[str, Any]], workers: int) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    parallel(lambda body: kube.create(path, body), bodies, workers)


def delete_group(kube: Kube, group: str) -> None:
    """The group, its NodeRequests and its nodes (what a benchmark leaves behind)."""
    kube.delete(ngp_path(group))
    for nr in kube.list_all(nr_path(), {"labelSelector": f"growthrs.io/node-group={group}"})[0]:
        kube.delete(nr_path(nr["metadata"]["name"]))
    selector = {"labelSelector": f"growthrs.io/node-group={group}"}
    names = [n["metadata"]["name"] for n in kube.list_all(node_path(), selector)[0]]
    parallel(lambda n: kube.delete(node_path(n)), names)


# -- figures ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def spread(values: Sequence[float]) -> dict[str, float]:
    """min / median / max of one figure over runs."""
    if not values:
        return {"min": float("nan"), "median": float("nan"), "max": float("nan")}
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


@dataclass(frozen=True)
class Figure:
    """One headline number, with its target (``None``: reported, not judged)."""

    name: str
    unit: str
    values: tuple[float, ...]
    target: float | None = None
    lower_is_better: bool = True

    @property
    def stats(self) -> dict[str, float]:
        return spread(self.values)

    @property
    def met(self) -> bool | None:
        if self.target is None or not self.values:
            return None
        worst = max(self.values) if self.lower_is_better else min(self.values)
        return worst <= self.target if self.lower_is_better else worst >= self.target

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "values": list(self.values),
            **self.stats,
            "target": self.target,
            "met": self.met,
        }


def fmt(value: float | None, unit: str = "") -> str:
    if value is None or value != value:  # NaN
        return "-"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:.{digits}f}{(' ' + unit) if unit else ''}"


def figure_table(benchmark: str, figures: Sequence[Figure | dict[str, Any]]) -> str:
    """One line per figure: min / median / max over runs, target, met."""
    rows = [f.to_json() if isinstance(f, Figure) else f for f in figures]
    head = ("benchmark", "figure", "runs", "min", "median", "max", "target", "met")
    body = [
        (
            benchmark,
            r["name"],
            str(len(r["values"])),
            fmt(r["min"], r["unit"]),
            fmt(r["median"], r["unit"]),
            fmt(r["max"], r["unit"]),
            "-" if r["target"] is None else "≤ " + fmt(r["target"], r["unit"]),
            {True: "yes", False: "NO", None: "-"}[r["met"]],
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    versions = controlplane.read_versions()
    return {
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "kubernetes": versions.get("KUBERNETES_VERSION"),
        "kwok": versions.get("KWOK_VERSION"),
        "etcd": versions.get("ETCD_VERSION"),
        "load_average_at_start": [round(x, 2) for x in START_LOAD],
        "load_average_at_end": [round(x, 2) for x in psutil.getloadavg()],
    }


def git_commit() -> str | None:
    """The checkout's commit (with ``+dirty`` when files differ), so results name the code measured."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def log_dir(benchmark: str) -> Path:
    """Where a run keeps the operator's logs: ``bench/results/logs/<benchmark>-<time>/``."""
    path = RESULTS / "logs" / f"{benchmark}-{time.strftime('%Y%m%d-%H%M%S')}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_results(benchmark: str, path: str | None, data: dict[str, Any]) -> Path:
    """Write the run's JSON (default ``bench/results/<benchmark>-<time>.json``)."""
    out = Path(path) if path else RESULTS / f"{benchmark}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": benchmark,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        **data,
    }
    out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return out


def process_tree_cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) so far of each named process still alive."""
    out = {}
    for name, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            out[name] = t.user + t.system
    return out
