"""A real, local Kubernetes control plane for GrowthRS demos and end-to-end tests.

The binaries come from ``build.sh`` (built once from Go modules, then cached).
``kwokctl``'s *binary* runtime runs them as local processes: etcd,
kube-apiserver, kube-controller-manager, kube-scheduler and the kwok
controller, which keeps fake nodes (annotation ``kwok.x-k8s.io/node: fake``)
Ready and runs the pods bound to them.  Every binary path handed to kwokctl is
a local file, so kwokctl never downloads anything.

Usage (the command line is ``growthrs_testkit.controlplane.cli``)::

    python -m growthrs_testkit.controlplane build
    python -m growthrs_testkit.controlplane up --name dev [--kubeconfig PATH]
    python -m growthrs_testkit.controlplane env --name dev
    python -m growthrs_testkit.controlplane list
    python -m growthrs_testkit.controlplane down --name dev   # or: down --all

State (certificates, etcd data, logs, pid files) lives in
``$GROWTHRS_CACHE/controlplane/kwok/clusters/<name>`` (GROWTHRS_CACHE defaults
to ``~/.cache/growthrs``) and is removed by ``down``.  Nothing is written to
``~/.kube`` or ``~/.kwok``.

Standard library only, so the tool runs before anything else is installed.
``build.sh`` and ``versions.env`` (the one place the versions are pinned) ship
next to this module as package data.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

HERE = Path(__file__).resolve().parent
BUILD_SH = HERE / "build.sh"
VERSIONS_ENV = HERE / "versions.env"

DEFAULT_NAME = "growthrs"
DEFAULT_UP_TIMEOUT = 90.0
# Annotation (value "fake") of the nodes the kwok controller manages.
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# Client rate of kube-controller-manager and kube-scheduler (see _kwokctl_config).
CLIENT_QPS = 300
CLIENT_BURST = 600


class ClusterError(RuntimeError):
    """The control plane could not be built, started, or stopped."""


def log(msg: str) -> None:
    print(f"[cluster] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- paths


def cache_root() -> Path:
    return Path(os.environ.get("GROWTHRS_CACHE") or Path.home() / ".cache" / "growthrs")


def controlplane_dir() -> Path:
    return cache_root() / "controlplane"


def kwok_workdir() -> Path:
    """KWOK_WORKDIR for kwokctl; clusters are at <this>/clusters/<name>.

    One shared workdir for all clusters lets kwokctl see the ports the other
    clusters use, so several clusters can run side by side.
    """
    return controlplane_dir() / "kwok"


def cluster_dir(name: str) -> Path:
    return kwok_workdir() / "clusters" / name


def default_kubeconfig(name: str) -> Path:
    return cluster_dir(name) / "growthrs-kubeconfig.yaml"


def read_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for line in VERSIONS_ENV.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            versions[key.strip()] = value.strip()
    return versions


# --------------------------------------------------------------------------- build


def build(quiet: bool = False) -> dict[str, str]:
    """Run build.sh (a no-op taking well under a second when the cache is warm).

    Returns the KEY=path map it prints (KUBE_APISERVER, ETCD, KWOKCTL, ...).
    """
    proc = subprocess.run(
        ["bash", str(BUILD_SH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if quiet else None,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        detail = (proc.stderr or "")[-4000:] if quiet else "see the build output above"
        raise ClusterError(f"build.sh failed with exit code {proc.returncode}: {detail}")
    paths: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isupper():
            paths[key] = value
    missing = [k for k, v in paths.items() if not os.access(v, os.X_OK)]
    if missing or "KWOKCTL" not in paths:
        raise ClusterError(f"build.sh did not produce executables for {missing or ['KWOKCTL']}")
    return paths


def installed_paths() -> dict[str, str]:
    """Where build.sh puts the binaries, without running it (they may not exist)."""
    v = read_versions()
    cp = controlplane_dir()
    k8s = cp / f"kubernetes-{v['KUBERNETES_VERSION']}"
    kwok = cp / f"kwok-{v['KWOK_VERSION']}"
    return {
        "KUBE_APISERVER": str(k8s / "kube-apiserver"),
        "KUBE_SCHEDULER": str(k8s / "kube-scheduler"),
        "KUBE_CONTROLLER_MANAGER": str(k8s / "kube-controller-manager"),
        "KUBECTL": str(k8s / "kubectl"),
        "ETCD": str(cp / f"etcd-{v['ETCD_VERSION']}" / "etcd"),
        "KWOK": str(kwok / "kwok"),
        "KWOKCTL": str(kwok / "kwokctl"),
    }


# --------------------------------------------------------------------------- kwokctl


def _kwokctl_env() -> dict[str, str]:
    # kwokctl lets KWOK_* variables override its configuration; drop any the
    # caller happens to have so only our config file counts.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KWOK_")}
    env["KWOK_WORKDIR"] = str(kwok_workdir())
    # kwokctl's API client keeps a discovery cache in $HOME/.kube/cache; keep
    # that inside the cache dir too.
    home = kwok_workdir() / "home"
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    return env


def _kwokctl(
    paths: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    env = _kwokctl_env()
    # kwokctl runs the first `kubectl` on PATH (falling back to kubectlBinary);
    # make that the pinned one.
    env["PATH"] = os.pathsep.join([str(Path(paths["KUBECTL"]).parent), env.get("PATH", "")])
    return subprocess.run(
        [paths["KWOKCTL"], *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def _workdir_lock() -> Iterator[None]:
    """Serialise kwokctl create/delete: it picks "unused" ports by reading the
    other clusters' saved configs, so two concurrent creates could pick the same."""
    kwok_workdir().mkdir(parents=True, exist_ok=True)
    with open(kwok_workdir() / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _kwokctl_config(paths: dict[str, str], ports: dict[str, int]) -> str:
    """A KwokctlConfiguration pointing every component at a local binary."""
    versions = read_versions()
    options = {
        "runtime": "binary",
        "bindAddress": "127.0.0.1",
        "kubeVersion": versions["KUBERNETES_VERSION"],
        "etcdVersion": versions["ETCD_VERSION"].lstrip("v"),
        "kwokVersion": versions["KWOK_VERSION"],
        "quietPull": True,
        "kubeApiserverBinary": paths["KUBE_APISERVER"],
        "kubeControllerManagerBinary": paths["KUBE_CONTROLLER_MANAGER"],
        "kubeSchedulerBinary": paths["KUBE_SCHEDULER"],
        "kubectlBinary": paths["KUBECTL"],
        "etcdBinary": paths["ETCD"],
        "kwokControllerBinary": paths["KWOK"],
        **ports,
    }
    # The binary runtime starts the kwok controller with --manage-all-nodes;
    # like kwokctl's other runtimes, manage only nodes annotated as fake, so a
    # Node object without the annotation is left alone (never turns Ready).
    kwok_args = [
        {"key": "manage-all-nodes", "value": "false", "override": True},
        {
            "key": "manage-nodes-with-annotation-selector",
            "value": f"{KWOK_NODE_ANNOTATION}=fake",
            "override": False,
        },
    ]
    # The controller manager (20 QPS) and the scheduler (50 QPS) are throttled by
    # their client defaults. Binding 1,000 pods (a bind, a status patch and an
    # event each) then takes the scheduler about a minute, which would measure
    # the client rate limiter rather than the autoscaler. A control plane sized
    # for a thousand-node cluster raises them; so does this one.
    # ``override: false`` appends the flag. kwokctl only overrides flags that
    # are among its default arguments (it logs "have not match override" and
    # drops the rest), and these are not, so an override would be ignored.
    client_rate = [
        {"key": "kube-api-qps", "value": str(CLIENT_QPS), "override": False},
        {"key": "kube-api-burst", "value": str(CLIENT_BURST), "override": False},
    ]
    # JSON is YAML; kwokctl reads either.
    return json.dumps(
        {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokctlConfiguration",
            "options": options,
            "componentsPatches": [
                {"name": "kwok-controller", "extraArgs": kwok_args},
                {"name": "kube-controller-manager", "extraArgs": client_rate},
                {"name": "kube-scheduler", "extraArgs": client_rate},
            ],
        },
        indent=2,
    )


def _saved_ports(name: str) -> dict[str, int]:
    """Ports kwokctl chose, read from the configuration it saved for the cluster."""
    ports: dict[str, int] = {}
    saved = cluster_dir(name) / "kwok.yaml"
    if saved.exists():
        for key, value in re.findall(r"^\s*(\w+Port):\s*(\d+)\s*$", saved.read_text(), re.M):
            ports.setdefault(key, int(value))
    return ports


PORT_KEYS = (
    "etcdPeerPort",
    "etcdPort",
    "kubeApiserverPort",
    "kubeControllerManagerPort",
    "kubeSchedulerPort",
    "kwokControllerPort",
)
# Below Linux's ephemeral range (32768-60999), so outgoing connections never
# take one of them between our choice and the component binding it.
PORT_RANGE = range(32767, 20000, -1)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _choose_ports() -> dict[str, int]:
    """Free ports for one cluster, avoiding those of every other cluster in the workdir.

    kwokctl's own choice only skips ports that are bound right now (for the
    binary runtime it does not read them back from the other clusters'
    configs), so a stopped cluster's ports could be handed out twice. Call
    this with the workdir lock held.
    """
    reserved: set[int] = set()
    for other in list_clusters():
        reserved.update(_saved_ports(other).values())
    chosen: dict[str, int] = {}
    candidates = (p for p in PORT_RANGE if p not in reserved and _port_free(p))
    for key in PORT_KEYS:
        port = next(candidates, None)
        if port is None:
            raise ClusterError("no free TCP ports left in 20001-32767")
        chosen[key] = port
    return chosen


# --------------------------------------------------------------------------- readiness


def _ssl_context(name: str) -> ssl.SSLContext:
    pki = cluster_dir(name) / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    return ctx


def _insecure_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _get(url: str, ctx: ssl.SSLContext | None, timeout: float = 3.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (OSError, ssl.SSLError) as exc:
        return 0, str(exc)


def _probe(name: str) -> dict[str, str]:
    """Return the checks that are still failing (empty when the cluster serves)."""
    ports = _saved_ports(name)
    api_port = ports.get("kubeApiserverPort")
    if not api_port or not (cluster_dir(name) / "pki" / "admin.key").exists():
        return {"config": "kwokctl has not written the cluster config yet"}
    api = f"https://127.0.0.1:{api_port}"
    ctx = _ssl_context(name)
    failing: dict[str, str] = {}

    status, body = _get(f"{api}/readyz", ctx)
    if status != 200:
        failing["kube-apiserver /readyz"] = f"{status} {body[-300:]}"
        return failing
    # The ServiceAccount controller (kube-controller-manager) creates this one.
    status, body = _get(f"{api}/api/v1/namespaces/default/serviceaccounts/default", ctx)
    if status != 200:
        failing["default ServiceAccount"] = f"{status}"
    # A leader that holds its lease is a controller-manager/scheduler that works.
    for component in ("kube-controller-manager", "kube-scheduler"):
        status, body = _get(
            f"{api}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{component}", ctx
        )
        holder = json.loads(body).get("spec", {}).get("holderIdentity") if status == 200 else None
        if not holder:
            failing[f"{component} leader lease"] = f"{status}"
    for component, key in (
        ("kube-controller-manager", "kubeControllerManagerPort"),
        ("kube-scheduler", "kubeSchedulerPort"),
        ("kwok-controller", "kwokControllerPort"),
    ):
        port = ports.get(key)
        if port:
            status, body = _get(f"https://127.0.0.1:{port}/healthz", _insecure_context())
            if status != 200:
                failing[f"{component} /healthz"] = f"{status} {body[-200:]}"
    return failing


def wait_ready(name: str, timeout: float = DEFAULT_UP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    failing: dict[str, str] = {}
    while time.monotonic() < deadline:
        failing = _probe(name)
        if not failing:
            return
        time.sleep(0.5)
    raise ClusterError(f"cluster {name!r} not ready after {timeout:.0f}s; failing: {failing}")


# --------------------------------------------------------------------------- up / down


@dataclass(frozen=True)
class Cluster:
    name: str
    kubeconfig: str
    server: str
    workdir: str


@dataclass(frozen=True)
class KubeCluster:
    """The cluster a test session or a benchmark uses: one started here (``name``
    under the cache dir) or an external one named by a kubeconfig path."""

    name: str
    kubeconfig: str
    started_here: bool

    def component_pids(self) -> dict[str, int]:
        """Processes of a cluster started here, by component (empty for an external one)."""
        return component_pids(self.name) if self.started_here else {}


def exists(name: str) -> bool:
    return (cluster_dir(name) / "kwok.yaml").exists()


def list_clusters() -> list[str]:
    clusters = kwok_workdir() / "clusters"
    if not clusters.is_dir():
        return []
    return sorted(p.name for p in clusters.iterdir() if p.is_dir())


def _component_log_tail(name: str, lines: int = 15) -> str:
    logs = cluster_dir(name) / "logs"
    out = []
    if logs.is_dir():
        for f in sorted(logs.glob("*.log")):
            tail = f.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {f.name} (last {len(tail)} lines)\n" + "\n".join(tail))
    return "\n".join(out)


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) or len(name) > 50:
        raise ClusterError(f"invalid cluster name {name!r}: use lowercase letters, digits and '-'")


def up(
    name: str = DEFAULT_NAME,
    kubeconfig: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_UP_TIMEOUT,
    paths: dict[str, str] | None = None,
) -> Cluster:
    """Start cluster *name* (or reuse it if it is already running) and wait until it serves.

    Writes a self-contained kubeconfig (embedded certificates, context
    ``kwok-<name>``) to *kubeconfig* (default: inside the cluster's state dir).
    """
    _check_name(name)
    # Not quiet: a cold build takes minutes and should show its progress.
    paths = paths or build(quiet=False)
    kubeconfig_path = Path(kubeconfig) if kubeconfig else default_kubeconfig(name)
    kubeconfig_path = kubeconfig_path.expanduser().resolve()
    kwok_workdir().mkdir(parents=True, exist_ok=True)

    failure = None
    with _workdir_lock():
        existed = exists(name)
        if existed:
            # kwokctl treats a component as running while its pid file names a
            # live pid; drop pid files of dead (or reused) pids so it restarts them.
            _clear_stale_pid_files(name)
        # An existing cluster keeps the configuration (and ports) it was created with.
        config = _kwokctl_config(paths, {} if existed else _choose_ports())
        with tempfile.NamedTemporaryFile(
            "w", prefix="kwokctl-", suffix=".yaml", dir=kwok_workdir(), delete=False
        ) as cfg:
            cfg.write(config)
        try:
            proc = _kwokctl(
                paths,
                "create",
                "cluster",
                "--name",
                name,
                "--config",
                cfg.name,
                "--runtime",
                "binary",
                # Empty: do not touch ~/.kube/config; we write our own kubeconfig.
                "--kubeconfig",
                "",
                "--timeout",
                f"{int(timeout)}s",
                timeout=timeout + 30,
            )
            if proc.returncode != 0:
                failure = f"exit code {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        except subprocess.TimeoutExpired:
            failure = f"timed out after {timeout + 30:.0f}s"
        finally:
            os.unlink(cfg.name)
    if failure:
        tail = _component_log_tail(name)
        if not existed:
            _down_quietly(name, paths)
        raise ClusterError(f"kwokctl create cluster {name!r} failed, {failure}\n{tail}")
    try:
        wait_ready(name, timeout)
    except ClusterError as exc:
        tail = _component_log_tail(name)
        if not existed:
            _down_quietly(name, paths)
        raise ClusterError(f"{exc}\n{tail}") from None

    proc = _kwokctl(paths, "get", "kubeconfig", "--name", name, timeout=60)
    if proc.returncode != 0 or "apiVersion" not in proc.stdout:
        raise ClusterError(f"kwokctl get kubeconfig failed: {proc.stdout}\n{proc.stderr}")
    kubeconfig_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = kubeconfig_path.with_name(kubeconfig_path.name + ".tmp")
    tmp.write_text(proc.stdout)
    tmp.chmod(0o600)
    tmp.replace(kubeconfig_path)
    # Remember where the kubeconfig went so `down` can remove it.
    (cluster_dir(name) / "growthrs-kubeconfig-path").write_text(str(kubeconfig_path))
    server = f"https://127.0.0.1:{_saved_ports(name)['kubeApiserverPort']}"
    return Cluster(
        name=name, kubeconfig=str(kubeconfig_path), server=server, workdir=str(cluster_dir(name))
    )


def component_pids(name: str) -> dict[str, int]:
    """Process IDs of cluster *name*'s components, by component (``kube-scheduler``...),
    from the pid files kwokctl keeps; a component may have exited since."""
    pids: dict[str, int] = {}
    for f in sorted((cluster_dir(name) / "pids").glob("*.pid")):
        with contextlib.suppress(OSError, ValueError):
            pids[f.stem] = int(f.read_text().strip())
    return pids


def component_alive(name: str, component: str) -> bool:
    """True while *component* (``kube-apiserver``, ``etcd`` ...) of cluster *name* runs."""
    pid = component_pids(name).get(component)
    return pid is not None and _is_ours(pid, name)


def signal_component(name: str, component: str, sig: int) -> int:
    """Send *sig* to one component of cluster *name*; return its pid.

    ``SIGSTOP``/``SIGCONT`` freeze and thaw it (its connections stay open and
    silent), ``SIGKILL`` ends it; :func:`restart_components` starts it again.
    """
    pid = component_pids(name).get(component)
    if pid is None or not _is_ours(pid, name):
        raise ClusterError(f"{component} of cluster {name!r} is not running")
    os.kill(pid, sig)
    return pid


def kill_component(name: str, component: str, timeout: float = 10.0) -> int:
    """SIGKILL one component of cluster *name* and wait until it is gone; return its pid."""
    pid = signal_component(name, component, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while _is_ours(pid, name):
        if time.monotonic() >= deadline:
            raise ClusterError(f"{component} (pid {pid}) of {name!r} survived SIGKILL")
        time.sleep(0.05)
    return pid


def dead_components(name: str) -> list[str]:
    """Components of cluster *name* whose process is gone (kube-scheduler and
    kube-controller-manager exit when they lose their lease to an apiserver outage)."""
    return sorted(c for c, pid in component_pids(name).items() if not _is_ours(pid, name))


def restart_components(name: str, timeout: float = DEFAULT_UP_TIMEOUT) -> list[str]:
    """Start again every component of cluster *name* that is not running (same data,
    same ports) and wait until the cluster serves; return the ones restarted."""
    record = cluster_dir(name) / "growthrs-kubeconfig-path"
    kubeconfig = record.read_text().strip() if record.exists() else None
    deadline = time.monotonic() + timeout
    restarted: list[str] = []
    while True:
        dead = dead_components(name)
        restarted += [c for c in dead if c not in restarted]
        try:
            # A component may still be on its way out (kube-scheduler and the controller
            # manager exit a while after losing their lease): start what is dead, check
            # readiness briefly, and go round again if something died meanwhile.
            up(name, kubeconfig, timeout=min(30.0, timeout), paths=installed_paths())
            return restarted
        except ClusterError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


def _pids(name: str) -> list[int]:
    return list(component_pids(name).values())


def _is_ours(pid: int, name: str) -> bool:
    """True if *pid* is still a process of this cluster (guards against pid reuse)."""
    try:
        cmdline = (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return False
    return f"{cluster_dir(name)}/" in cmdline


def _clear_stale_pid_files(name: str) -> None:
    for f in (cluster_dir(name) / "pids").glob("*.pid"):
        try:
            pid = int(f.read_text().strip())
        except (OSError, ValueError):
            pid = -1
        if pid <= 0 or not _is_ours(pid, name):
            f.unlink(missing_ok=True)


def _kill_leftovers(name: str, grace: float = 5.0) -> None:
    pids = [p for p in _pids(name) if _is_ours(p, name)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _is_ours(p, name)]
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def down(name: str = DEFAULT_NAME, paths: dict[str, str] | None = None) -> bool:
    """Stop cluster *name*, remove its state and the kubeconfig `up` wrote.

    Returns False if there was nothing to tear down.
    """
    _check_name(name)
    workdir = cluster_dir(name)
    if not workdir.exists():
        return False
    kubeconfig_record = workdir / "growthrs-kubeconfig-path"
    kubeconfig = kubeconfig_record.read_text().strip() if kubeconfig_record.exists() else None
    # Never build just to tear down; without kwokctl, stop the processes directly.
    paths = paths or installed_paths()
    if os.access(paths["KWOKCTL"], os.X_OK):
        with _workdir_lock():
            proc = _kwokctl(paths, "delete", "cluster", "--name", name, timeout=120)
        if proc.returncode != 0:
            log(
                f"kwokctl delete cluster {name!r} failed ({proc.returncode}); "
                f"killing its processes\n{proc.stderr}"
            )
    if workdir.exists():
        _kill_leftovers(name)
        shutil.rmtree(workdir, ignore_errors=True)
    if kubeconfig:
        Path(kubeconfig).unlink(missing_ok=True)
    return True


def _down_quietly(name: str, paths: dict[str, str]) -> None:
    try:
        down(name, paths)
    except Exception as exc:  # noqa: BLE001 - best effort while reporting another error
        log(f"cleanup of {name!r} failed: {exc}")
