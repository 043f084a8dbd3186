"""End-to-end: the chart installed in a real cluster, and its RBAC is exactly enough.

The chart's rendered manifests (namespace, ServiceAccount, RBAC, CRDs; not the
Deployment, for there is no image) are applied to the local control plane. A
token for the chart's ServiceAccount comes from the TokenRequest API, and
``growthrs run`` runs with a kubeconfig holding only that token, configured with
the Deployment's own arguments and environment. It takes a KWOK group and a
Hetzner group (the hcloud stand-in, with a companion "kubelet" that makes KWOK
nodes for its servers) through scale-up and scale-down, and its log must not
say "forbidden" once. Then single rules are taken away and the feature that
needs each fails, visibly.

The operator reaches the apiserver through a recording proxy in the first
scenario, so the test also sees every request as RBAC does: none is denied, and
every rule the chart grants is used but for the few a short run cannot reach
(each listed with its reason).

Also here: the chart and the kustomize base pass a server-side dry run, and
``kubectl explain`` / ``kubectl get`` show what the CRDs promise.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import re
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from growthrs_core.controller.kube import Kube, ngp_path
from growthrs_core.controller.state import cluster_identity
from growthrs_hetzner import labels as hlabels
from growthrs_testkit import controlplane
from growthrs_testkit.kube import (
    create_namespace,
    delete_group_and_nodes,
    deployment_body,
    events_for,
    gone,
    group_body,
    group_nodes,
    install_crds,
    kube_for,
    node_requests,
    pods,
    running,
    wait_for,
)
from growthrs_testkit.operator import TEST_FLAGS, Operator, print_log_tail
from hcloud_standin import StandIn
from hcloud_standin.contract import Contract
from hcloud_standin.kubelet import FakeKubelet

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "chart"
KUSTOMIZE = REPO / "deploy" / "kustomize"
NS = "growthrs-system"
SA = "growthrs"
# Both providers on; the cluster identity derived (so the kube-system read is used);
# the join Secrets live in the operator's namespace (read.secrets' default).
VALUES: dict[str, Any] = {"providers": {"kwok": {"enabled": True}}}
TOKEN = "hz-install-e2e-TOKEN-5c1f0d"
SCALE_UP_BOUND = 90.0
SCALE_DOWN_BOUND = 60.0
FORBIDDEN = re.compile(r"forbidden|not allowed \(403\)", re.I)
TERMINATING = "because it is being terminated"
"""A 403 that is no RBAC denial: an Event for a pod of a namespace being deleted
(another test's, as the operator watches every namespace)."""


# -- tools --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    return controlplane.build(quiet=True)


def run(*args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args[:4])}... failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def render(tools: dict[str, str], values: dict[str, Any]) -> list[dict[str, Any]]:
    text = run(
        tools["HELM"], "template", "growthrs", str(CHART), "--include-crds",
        "--values", "-", stdin=json.dumps(values),
    )  # fmt: skip
    return [d for d in yaml.safe_load_all(text) if d]


def apply(tools: dict[str, str], kubeconfig: str, docs: list[dict[str, Any]], *extra: str) -> str:
    """Server-side apply, as a user's ``kubectl apply --server-side`` would."""
    stream = "\n---\n".join(yaml.safe_dump(d) for d in docs)
    return run(
        tools["KUBECTL"], "--kubeconfig", kubeconfig, "apply", "--server-side",
        "--force-conflicts", "--field-manager", "growthrs-install-e2e", "-f", "-", *extra,
        stdin=stream,
    )  # fmt: skip


def kubectl(tools: dict[str, str], kubeconfig: str, *args: str) -> str:
    return run(tools["KUBECTL"], "--kubeconfig", kubeconfig, *args)


# -- the installation ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kube(kubeconfig: str) -> Kube:
    """The client without the CRDs: the chart brings them (``installed``)."""
    return kube_for(kubeconfig)


@pytest.fixture(scope="module")
def installed(tools: dict[str, str], kubeconfig: str, kube: Kube) -> list[dict[str, Any]]:
    """The chart applied without its Deployment; returns what was applied."""
    docs = [d for d in render(tools, VALUES) if d["kind"] != "Deployment"]
    kinds = {d["kind"] for d in docs}
    assert {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "Role",
        "CustomResourceDefinition",
    } <= kinds
    apply(tools, kubeconfig, docs)
    install_crds(kube)  # waits until they are Established (same CRDs: crds/ is generated)
    return docs


def deployment(tools: dict[str, str], values: dict[str, Any]) -> dict[str, Any]:
    (found,) = [d for d in render(tools, values) if d["kind"] == "Deployment"]
    return found


def service_account_kubeconfig(
    kube: Kube, admin_kubeconfig: str, path: Path, server: str | None = None
) -> Path:
    """A kubeconfig with nothing but a TokenRequest token for the chart's ServiceAccount
    (and the apiserver's address, or ``server``'s)."""
    answer = kube.create(
        f"/api/v1/namespaces/{NS}/serviceaccounts/{SA}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"expirationSeconds": 3600}},
    )  # fmt: skip
    token = answer["status"]["token"]
    admin = yaml.safe_load(Path(admin_kubeconfig).read_text())
    cluster = {"server": server} if server else admin["clusters"][0]["cluster"]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": cluster}],
                "users": [{"name": SA, "user": {"token": token}}],
                "contexts": [{"name": SA, "context": {"cluster": "local", "user": SA}}],
                "current-context": SA,
            }
        )
    )
    return path


def operator_for(
    tools: dict[str, str], kubeconfig: Path, log_dir: Path, env: dict[str, str], **flags: Any
) -> Operator:
    """``growthrs run`` as the chart's Deployment runs it: its arguments and environment
    (the token Secret's value given directly), plus the test kit's fast loop settings."""
    container = deployment(tools, VALUES)["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[0] == "run", args
    chart_flags: dict[str, Any] = {}
    rest = iter(args[1:])
    for arg in rest:
        name = arg.removeprefix("--").replace("-", "_")
        chart_flags[name] = True if arg == "--leader-election" else next(rest)
    chart_env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    secret_env = {e["name"] for e in container["env"] if "valueFrom" in e}
    assert secret_env == {"GROWTHRS_HETZNER_TOKEN"}, secret_env
    defaults = {k: v for k, v in TEST_FLAGS.items() if k != "cluster_name"}  # derived
    return Operator(
        str(kubeconfig),
        log_dir,
        env={**chart_env, "GROWTHRS_HETZNER_TOKEN": TOKEN, **env},
        defaults=defaults,
        **{**chart_flags, **flags},
    ).start()


# -- what the operator asks the apiserver -------------------------------------------------------

Grant = tuple[str, str, str]
"""(apiGroup, resource[/subresource], verb), as RBAC sees a request."""

UNUSED_IN_THIS_RUN: dict[Grant, str] = {
    ("growthrs.io", "noderequests", "get"): "re-read only after a status write conflict",
    ("", "pods/eviction", "create"): "evictions only drain a deleted or consolidated node",
    (
        "growthrs.io",
        "noderemovals",
        "create",
    ): "a removal record only when a busy node is consolidated",
    ("growthrs.io", "noderemovals", "patch"): "a removal record's finalizer, once its node is gone",
    ("growthrs.io", "noderemovals", "delete"): "finished removal records",
    ("growthrs.io", "noderemovals/status", "patch"): "a removal record's progress",
    ("", "events", "patch"): "a repeated Event's count, sent after a minute",
}
"""Granted rules a short run need not use, and why; every other rule must be used."""


def classify(method: str, path: str, query: str) -> Grant | None:
    """What RBAC checks for one request; None for API discovery (no rule needed)."""
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        group, rest = "", parts[2:]
    elif parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    resource = "/".join([rest[0], *rest[2:3]])
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    if method == "GET":
        verb = "watch" if "watch=true" in query else ("get" if len(rest) > 1 else "list")
    else:
        verb = verbs[method]
    return group, resource, verb


def granted(docs: list[dict[str, Any]]) -> set[Grant]:
    out = set()
    for doc in docs:
        if doc["kind"] in ("ClusterRole", "Role"):
            for r in doc["rules"]:
                for g in r["apiGroups"]:
                    for res in r["resources"]:
                        out |= {(g, res, v) for v in r["verbs"]}
    return out


class RecordingProxy:
    """Plain HTTP on localhost in front of the apiserver's TLS port: forwards every
    request as it is (the ServiceAccount's bearer token included), streams watches,
    and notes method, path and status. The operator's kubeconfig points here."""

    def __init__(self, admin_kubeconfig: str) -> None:
        cluster = yaml.safe_load(Path(admin_kubeconfig).read_text())["clusters"][0]["cluster"]
        upstream = urlsplit(cluster["server"])
        self.host, self.port = upstream.hostname or "127.0.0.1", upstream.port or 443
        self.ssl = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
        self.calls: list[tuple[str, str, str, int]] = []
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> RecordingProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            upstream = list(self.open)
        for sock in upstream:  # wakes the threads still streaming a watch
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def grants(self) -> dict[Grant, list[int]]:
        """Every (group, resource, verb) asked for, with the HTTP statuses it got."""
        out: dict[Grant, list[int]] = {}
        with self.lock:
            calls = list(self.calls)
        for method, path, query, status in calls:
            grant = classify(method, path, query)
            if grant is not None:
                out.setdefault(grant, []).append(status)
        return out

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self
        hop = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
                conn = http.client.HTTPSConnection(
                    proxy.host, proxy.port, context=proxy.ssl, timeout=600
                )
                conn.connect()
                sock = conn.sock
                with proxy.lock:
                    proxy.open.add(sock)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    path, _, query = self.path.partition("?")
                    with proxy.lock:
                        proxy.calls.append((self.command, path, query, resp.status))
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in hop:
                            self.send_header(k, v)
                    if (resp.getheader("Transfer-Encoding") or "").lower() == "chunked":
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        while chunk := resp.read1(65536):
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                            self.wfile.flush()
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        data = resp.read()
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                except (OSError, ValueError, AttributeError, http.client.HTTPException):
                    # the client went away, or stop() closed the upstream connection
                    self.close_connection = True
                finally:
                    conn.close()
                    with proxy.lock:
                        proxy.open.discard(sock)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        return Handler


# -- one scenario's world ---------------------------------------------------------------------


@dataclass
class World:
    kube: Kube
    tools: dict[str, str]
    kubeconfig: str
    sa_kubeconfig: Path
    log_dir: Path
    api: StandIn
    identity: str
    run: str
    ns: str
    operator: Operator | None = None
    groups: list[str] = field(default_factory=list)
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def node_class(self, name: str, secret: str) -> None:
        self.kube.create(
            "/apis/growthrs.io/v1alpha1/hetznernodeclasses",
            {
                "apiVersion": "growthrs.io/v1alpha1",
                "kind": "HetznerNodeClass",
                "metadata": {"name": name},
                "spec": {
                    "image": {"amd64": {"name": "ubuntu-24.04"}, "arm64": {"name": "ubuntu-24.04"}},
                    "networks": ["cluster-net"],
                    "sshKeys": ["ops"],
                    "userData": {"kind": "k3s"},
                    "joinSecretRef": {"namespace": NS, "name": secret},
                },
            },
        )
        path = f"/apis/growthrs.io/v1alpha1/hetznernodeclasses/{name}"
        self.cleanup.append(lambda: self.kube.delete(path))

    def join_secret(self, name: str) -> None:
        self.kube.create(
            f"/api/v1/namespaces/{NS}/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name},
                "stringData": {
                    "server": "https://10.0.0.2:6443",
                    "token": f"K10join::{self.run}",
                    "version": "v1.33.4+k3s1",  # the server's, so the agent matches it
                },
            },
        )
        self.cleanup.append(lambda: self.kube.delete(f"/api/v1/namespaces/{NS}/secrets/{name}"))

    def group(self, name: str, pools: list[dict[str, Any]]) -> str:
        self.kube.create(
            ngp_path(),
            group_body(name, pools, locations=["fsn1"], scaleDown={"unneededTime": "2s"}),
        )
        self.groups.append(name)
        return name

    def deploy(self, app: str, group: str, replicas: int) -> None:
        body = deployment_body(
            app, self.ns, replicas, cpu="500m", memory="512Mi",
            node_selector={"growthrs.io/node-group": group},
        )  # fmt: skip
        self.kube.create(f"/apis/apps/v1/namespaces/{self.ns}/deployments", body)

    def scale(self, app: str, replicas: int) -> None:
        self.kube.patch(
            f"/apis/apps/v1/namespaces/{self.ns}/deployments/{app}",
            {"spec": {"replicas": replicas}},
        )

    def all_running(self, app: str, count: int) -> bool:
        current = pods(self.kube, self.ns, f"app={app}")
        return len(current) == count and running(current) == count

    def start(self, **flags: Any) -> Operator:
        env = {"GROWTHRS_HETZNER_ENDPOINT": self.api.url}
        self.operator = operator_for(
            self.tools, self.sa_kubeconfig, self.log_dir, env, orphan_grace=3600, **flags
        )
        return self.operator

    def servers(self) -> list[dict[str, Any]]:
        value = hlabels.cluster_value(self.identity)
        return [s for s in self.api.servers() if s["labels"].get(hlabels.CLUSTER_LABEL) == value]


@pytest.fixture
def world(
    installed: list[dict[str, Any]],
    tools: dict[str, str],
    kubeconfig: str,
    kube: Kube,
    tmp_path: Path,
) -> Iterator[World]:
    run_id = uuid.uuid4().hex[:6]
    identity = cluster_identity(kube, None)  # what the operator derives, too
    api = StandIn(token=TOKEN, action_delay=1.0).start()
    api.create_network("cluster-net")
    api.create_ssh_key("ops", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA install-e2e")
    admin_client = k8s_config.new_client_from_config(config_file=kubeconfig)
    kubelet = FakeKubelet(
        api.url,
        k8s.CoreV1Api(admin_client),
        token=TOKEN,
        label_selector=hlabels.cluster_selector(identity),
    )
    stop = threading.Event()
    thread = threading.Thread(target=kubelet.run, args=(stop, 0.5), daemon=True)
    thread.start()
    ns = f"inst-{run_id}"
    create_namespace(kube, ns)
    w = World(
        kube=kube,
        tools=tools,
        kubeconfig=kubeconfig,
        sa_kubeconfig=service_account_kubeconfig(kube, kubeconfig, tmp_path / "sa.kubeconfig"),
        log_dir=tmp_path,
        api=api,
        identity=identity,
        run=run_id,
        ns=ns,
    )
    try:
        yield w
    finally:
        if w.operator is not None:
            w.operator.stop()
            print_log_tail(w.operator)
        stop.set()  # the kubelet first: it would register Nodes for servers left over
        thread.join(timeout=10)
        kubelet.http.close()
        kube.delete(f"/api/v1/namespaces/{ns}")
        wait_for(f"namespace {ns} to be gone", lambda: gone(kube, f"/api/v1/namespaces/{ns}"), 60)
        for name in w.groups:
            delete_group_and_nodes(kube, name)
        for undo in reversed(w.cleanup):
            undo()
        admin_client.close()
        api.stop()
        problems = Contract.load().check_all(api.exchanges)
        assert not problems, "the stand-in exchange departs from Hetzner's API:\n" + "\n".join(
            problems[:20]
        )


def forbidden_lines(op: Operator) -> list[str]:
    return [
        line for line in op.log().splitlines() if FORBIDDEN.search(line) and TERMINATING not in line
    ]


# -- tests -------------------------------------------------------------------------------------


def test_chart_and_kustomize_pass_a_server_side_dry_run(
    installed: list[dict[str, Any]], tools: dict[str, str], kubeconfig: str
) -> None:
    chart = render(tools, {})  # the defaults, Deployment and CRDs included
    out = apply(tools, kubeconfig, chart, "--dry-run=server")
    assert "deployment.apps/growthrs serverside-applied (server dry run)" in out, out
    base = kubectl(tools, kubeconfig, "kustomize", str(KUSTOMIZE))
    docs = [d for d in yaml.safe_load_all(base) if d]
    assert len(docs) == len(chart)
    out = apply(tools, kubeconfig, docs, "--dry-run=server")
    assert "clusterrole.rbac.authorization.k8s.io/growthrs serverside-applied" in out, out


def test_the_chart_s_rbac_takes_kwok_and_hetzner_groups_up_and_down_without_a_403(
    world: World, installed: list[dict[str, Any]]
) -> None:
    w = world
    secret, node_class = f"inst-join-{w.run}", f"inst-{w.run}"
    w.join_secret(secret)
    w.node_class(node_class, secret)
    kwok = w.group(
        f"inst-kwok-{w.run}", [{"provider": "kwok", "serverType": ["cx22"], "priority": 50}]
    )
    hetzner = w.group(
        f"inst-hz-{w.run}",
        [{"provider": "hetzner", "serverType": ["cx23"], "priority": 50,
          "nodeClassRef": {"kind": "HetznerNodeClass", "name": node_class}}],
    )  # fmt: skip
    proxy = RecordingProxy(w.kubeconfig).start()
    w.cleanup.append(proxy.stop)
    w.sa_kubeconfig = service_account_kubeconfig(
        w.kube, w.kubeconfig, w.log_dir / "recorded.kubeconfig", server=proxy.url
    )
    w.kube.delete(f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/growthrs-leader")
    op = w.start(ready_ttl=3)
    op.wait_for_log(" leads", 60)
    w.deploy("on-kwok", kwok, 3)  # 1.5 CPU, 1.5 GiB: one cx22
    w.deploy("on-hz", hetzner, 2)  # one cx23
    wait_for("pods Running on KWOK nodes", lambda: w.all_running("on-kwok", 3), SCALE_UP_BOUND)
    wait_for("pods Running on Hetzner nodes", lambda: w.all_running("on-hz", 2), SCALE_UP_BOUND)
    assert group_nodes(w.kube, kwok) and group_nodes(w.kube, hetzner)
    (server,) = w.servers()
    # The server was made from the node class (read with get) and the join Secret
    # (read with get in the operator's namespace).
    (post,) = [e for e in w.api.requests("POST", "/servers") if e.status == 201]
    assert post.request_body["ssh_keys"] == ["ops"]
    assert f"K10join::{w.run}" in post.request_body["user_data"]
    # Ready NodeRequests are deleted after ready_ttl.
    wait_for("Ready NodeRequests deleted", lambda: not node_requests(w.kube, kwok) or None, 30)
    # The operator's Events on the pods (TriggeredScaleUp), in their namespace.
    pod_names = [p["metadata"]["name"] for p in pods(w.kube, w.ns, "app=on-hz")]
    ours = [
        e
        for n in pod_names
        for e in events_for(w.kube, w.ns, n)
        if e.get("reportingComponent") == "growthrs"
    ]
    assert ours, "no Event from growthrs on the pods"

    w.scale("on-kwok", 0)
    w.scale("on-hz", 0)
    wait_for(
        "both groups scaled down to no nodes",
        lambda: (
            not group_nodes(w.kube, kwok) and not group_nodes(w.kube, hetzner) and not w.servers()
        ),
        SCALE_DOWN_BOUND,
    )
    assert server["id"] in {
        int(e.path.rsplit("/", 1)[1]) for e in w.api.requests("DELETE", r"/servers/\d+")
    }
    lease = w.kube.get(f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/growthrs-leader")
    assert lease["spec"]["holderIdentity"], lease
    assert op.alive(), op.exit_summary()
    assert not forbidden_lines(op), "\n".join(forbidden_lines(op)[:20])

    # Every request the operator made, as RBAC saw it: none denied, and every
    # granted rule used (but the few a short run cannot reach, each with its reason).
    asked = proxy.grants()
    print(
        "\n".join(
            f"{g or 'core'} {r} {v}: {len(st)} request(s)"
            for (g, r, v), st in sorted(asked.items())
        )
    )
    denied = {grant: st for grant, st in asked.items() if 403 in st}
    assert not denied, f"denied: {denied}"
    allowed = granted(installed)
    assert set(asked) <= allowed, f"asked without a rule: {set(asked) - allowed}"
    unused = allowed - set(asked) - set(UNUSED_IN_THIS_RUN)
    assert not unused, f"granted but never used in this run: {sorted(unused)}"


# -- one rule less ------------------------------------------------------------------------------


@pytest.fixture
def restore_rbac(
    installed: list[dict[str, Any]], tools: dict[str, str], kubeconfig: str
) -> Iterator[None]:
    """Whatever a test takes away, the chart's RBAC is applied again afterwards."""
    yield
    apply(tools, kubeconfig, [d for d in installed if "rbac" in d["apiVersion"]])


def without_verb(docs: list[dict[str, Any]], resource: str, verb: str) -> dict[str, Any]:
    """The chart's ClusterRole with ``verb`` taken off the rule for ``resource``."""
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    role = json.loads(json.dumps(role))
    (target,) = [r for r in role["rules"] if r["resources"] == [resource] and verb in r["verbs"]]
    target["verbs"].remove(verb)
    return role


def test_without_create_on_noderequests_scale_up_stops_with_a_clear_log_line(
    world: World, installed: list[dict[str, Any]], restore_rbac: None
) -> None:
    w = world
    apply(w.tools, w.kubeconfig, [without_verb(installed, "noderequests", "create")])
    kwok = w.group(
        f"inst-nocreate-{w.run}", [{"provider": "kwok", "serverType": ["cx22"], "priority": 50}]
    )
    op = w.start()
    op.wait_for_log(" leads", 60)
    w.deploy("stuck", kwok, 1)
    raw = op.wait_for_log(f"cannot create NodeRequest for group {kwok}", SCALE_UP_BOUND)
    print(raw)
    line = json.loads(raw)["msg"]  # the Deployment logs JSON: one object per line
    assert "forbidden" in line and 'cannot create resource "noderequests"' in line, line
    assert f"system:serviceaccount:{NS}:{SA}" in line, line
    assert not node_requests(w.kube, kwok)
    assert not group_nodes(w.kube, kwok)
    assert not w.all_running("stuck", 1)


def test_without_the_join_secret_namespace_a_hetzner_pool_is_blocked_and_says_why(
    world: World, installed: list[dict[str, Any]], restore_rbac: None
) -> None:
    """Without ``get`` on the join Secret's namespace, the provider's pool check cannot
    read the join values: the pool is blocked before any server is created, the group's
    ScaleUpBlocked condition and the pod's Event name the forbidden read."""
    w = world
    secret, node_class = f"inst-join-{w.run}", f"inst-{w.run}"
    w.join_secret(secret)
    w.node_class(node_class, secret)
    w.kube.delete(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/roles/growthrs-read")
    hetzner = w.group(
        f"inst-nosecret-{w.run}",
        [{"provider": "hetzner", "serverType": ["cx23"], "priority": 50,
          "nodeClassRef": {"kind": "HetznerNodeClass", "name": node_class}}],
    )  # fmt: skip
    op = w.start()
    op.wait_for_log(" leads", 60)
    w.deploy("nojoin", hetzner, 1)

    def blocked() -> dict[str, Any] | None:
        status = w.kube.get(ngp_path(hetzner)).get("status") or {}
        for cond in status.get("conditions") or ():
            if cond["type"] == "ScaleUpBlocked" and cond["status"] == "True":
                return dict(cond)
        return None

    cond = wait_for("the group's ScaleUpBlocked condition", blocked, SCALE_UP_BOUND)
    assert cond["reason"] == "InvalidPool", cond
    why = cond["message"]
    assert f"cannot read Secret {NS}/{secret}" in why and "forbidden" in why, why
    pod_events = wait_for(
        "a ScaleUpBlocked event on the pod",
        lambda: [
            e
            for p in pods(w.kube, w.ns, "app=nojoin")
            for e in events_for(w.kube, w.ns, p["metadata"]["name"])
            if e["reason"] == "ScaleUpBlocked"
        ],
        60,
    )
    assert "forbidden" in pod_events[0]["message"], pod_events[0]
    assert not w.servers(), "no server may be created without its join values"
    assert not node_requests(w.kube, hetzner), "nothing is planned in a blocked pool"
    # kubectl get ngp shows the group as not Ready.
    table = kubectl(w.tools, w.kubeconfig, "get", "nodegroupwithpriorities", hetzner)
    print(table)
    header, row = table.splitlines()[:2]
    assert "READY" in header and "False" in row.split(), (header, row)
    others = [line for line in forbidden_lines(op) if f"Secret {NS}/{secret}" not in line]
    assert not others, "only the Secret read may fail:\n" + "\n".join(others[:10])


# -- what kubectl shows of the CRDs -------------------------------------------------------------


def field_paths(schema: dict[str, Any], prefix: str) -> Iterator[str]:
    """``kubectl explain`` paths of every field below ``schema`` (arrays look through)."""
    for name, sub in (schema.get("properties") or {}).items():
        here = f"{prefix}.{name}"
        yield here
        yield from field_paths(sub, here)
        if isinstance(sub.get("items"), dict):
            yield from field_paths(sub["items"], here)


def explained(tools: dict[str, str], kubeconfig: str, path: str) -> str:
    out = kubectl(tools, kubeconfig, "explain", path)
    _, _, rest = out.partition("DESCRIPTION:")
    return rest.split("FIELDS:")[0].strip()


@pytest.mark.parametrize("plural", ["nodegroupwithpriorities", "noderequests"])
def test_kubectl_explain_shows_a_plain_description_for_every_field(
    installed: list[dict[str, Any]], tools: dict[str, str], kubeconfig: str, plural: str
) -> None:
    (crd,) = [
        d
        for d in installed
        if d["kind"] == "CustomResourceDefinition" and d["spec"]["names"]["plural"] == plural
    ]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    paths = [plural, *field_paths(schema, plural)]
    assert len(paths) > 30, paths
    with ThreadPoolExecutor(max_workers=4) as pool:
        texts = dict(
            zip(paths, pool.map(lambda p: explained(tools, kubeconfig, p), paths), strict=True)
        )
    missing = [p for p, text in texts.items() if not text or text == "<empty>"]
    assert not missing, f"kubectl explain shows no description for {missing}"
    marked = {p: t for p, t in texts.items() if "`" in t and not p.endswith(".metadata")}
    assert not marked, f"markup in kubectl explain: {marked}"


def test_kubectl_get_shows_every_pool_of_a_group(
    installed: list[dict[str, Any]], tools: dict[str, str], kubeconfig: str, kube: Kube
) -> None:
    name = f"inst-columns-{uuid.uuid4().hex[:6]}"
    pools = [
        {"provider": "kwok", "serverType": ["cax11"], "priority": 90},
        {"provider": "hetzner", "serverType": ["cx33", "cpx32"], "priority": 50},
        {"provider": "kwok", "serverType": ["ccx13"], "priority": 10},
    ]
    kube.create(ngp_path(), group_body(name, pools, scaleDown={"enabled": False}))
    try:
        table = kubectl(tools, kubeconfig, "get", "nodegroupwithpriorities", name)
        print(table)
        header, row = table.splitlines()[:2]
        assert header.split() == ["NAME", "NODES", "MIN", "MAX", "READY", "AGE", "POOLS"], header
        shown = row[header.index("POOLS") :]
        for pool in pools:
            assert f'"provider":"{pool["provider"]}"' in shown, shown
            assert json.dumps(pool["serverType"], separators=(",", ":")) in shown, shown
            assert f'"priority":{pool["priority"]}' in shown, shown
    finally:
        kube.delete(ngp_path(name))
