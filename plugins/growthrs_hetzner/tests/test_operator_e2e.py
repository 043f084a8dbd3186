"""End-to-end: the operator with the Hetzner provider, against the stand-in and a real cluster.

Per test: a fresh ``hcloud_standin`` served over HTTP on localhost (in this
process), the companion kubelet (a thread) that turns the stand-in's running
servers into kwok-managed Nodes of the local control plane, a
``HetznerNodeClass`` whose image, network, firewall and SSH key exist in the
stand-in (and whose join Secret exists in the cluster), a
``NodeGroupWithPriority`` with Hetzner pools pointing at it, and
``growthrs run`` as its own process, configured through
``GROWTHRS_HETZNER_ENDPOINT``/``GROWTHRS_HETZNER_TOKEN`` exactly as a user would.

Scenarios: scale-up and scale-down; fallback to the next pool on
``resource_unavailable``; short rate limits retried inside the provider, and a
long one (``Retry-After`` beyond ``MAX_RETRY_WAIT``) waited out by the operator;
a failed create action (the server is deleted and replaced), also when its
DELETE fails at first; look-alike servers of another cluster (and one with our
cluster label that GrowthRS did not make) surviving scale-up, scale-down, orphan
collection and ``growthrs nuke``.

Every test states its bounds. After every test, once the operator has settled,
the stand-in's servers of this cluster must be exactly the group's Nodes (no
leaked server, no Node without a server), the API token must not appear in the
operator's log, and everything the stand-in served must match Hetzner's OpenAPI
description.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from growthrs_core.controller.kube import Kube, KubeError, ngp_path
from growthrs_hetzner import labels as hlabels
from growthrs_testkit import kube as support
from growthrs_testkit.kube import wait_for
from growthrs_testkit.operator import Operator, print_log_tail
from hcloud_standin import Fault, StandIn
from hcloud_standin.contract import Contract
from hcloud_standin.kubelet import FakeKubelet
from hcloud_standin.server import Exchange

pytestmark = pytest.mark.e2e

TOKEN = "hz-op-e2e-TOKEN-8d1e5c0b7a9f"
ACTION_DELAY = 1.0
"""Seconds the stand-in's create (and delete) actions take; start takes twice as long."""
SCALE_UP_BOUND = 60.0
"""Seconds from creating a Deployment until all its pods run on new Hetzner nodes."""
SCALE_DOWN_BOUND = 45.0
"""Seconds from scaling to 0 until the servers and their Nodes are gone (unneededTime 2 s)."""
SETTLE_BOUND = 30.0
"""Seconds the after-test check waits for servers and Nodes to agree."""
IN_FLIGHT = ("Pending", "Provisioning")
NODE_CLASS_PATH = "/apis/growthrs.io/v1alpha1/hetznernodeclasses"


class TimedStandIn(StandIn):
    """The stand-in, also noting when (monotonic seconds) it answered each request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answered: list[tuple[float, Exchange]] = []

    def _record(self, exchange: Exchange) -> None:
        super()._record(exchange)
        with self._lock:
            self.answered.append((time.monotonic(), exchange))


@dataclass
class HetznerE2E:
    """One test's world: stand-in, cluster objects, kubelet and (once started) the operator."""

    kube: Kube
    kubeconfig: str
    api: TimedStandIn
    log_dir: Path
    run: str
    cluster: str
    group: str
    ns: str
    node_class: str
    ids: dict[str, int]
    """IDs of the stand-in's network, firewall and SSH key the node class names."""
    operator: Operator | None = None
    stopped: bool = False
    """The test stopped the operator itself (no after-test settle check then)."""
    started: float = field(default_factory=time.monotonic)

    # -- setup -------------------------------------------------------------------------

    def pool(self, server_type: str, priority: int) -> dict[str, Any]:
        return {
            "provider": "hetzner",
            "serverType": [server_type],
            "priority": priority,
            "nodeClassRef": {"kind": "HetznerNodeClass", "name": self.node_class},
        }

    def create_group(self, pools: list[dict[str, Any]], *, scale_down: dict[str, Any]) -> None:
        self.kube.create(
            ngp_path(),
            support.group_body(self.group, pools, locations=["fsn1"], scaleDown=scale_down),
        )

    def start_operator(self, env: dict[str, str] | None = None, **flags: Any) -> Operator:
        env = {
            "GROWTHRS_HETZNER_ENDPOINT": self.api.url,
            "GROWTHRS_HETZNER_TOKEN": TOKEN,
            **(env or {}),
        }
        # Orphan collection stays out of reach: a leaked server must show up in the
        # after-test check instead of being tidied away.
        settings = {"cluster_name": self.cluster, "orphan_grace": 3600, **flags}
        self.operator = Operator(self.kubeconfig, self.log_dir, env=env, **settings).start()
        return self.operator

    def stop_operator(self) -> None:
        assert self.operator is not None and self.operator.alive(), "the operator is not running"
        self.operator.stop()
        self.stopped = True

    def deploy(self, name: str, replicas: int, *, cpu: str = "1", memory: str = "1Gi") -> None:
        body = support.deployment_body(
            name,
            self.ns,
            replicas,
            cpu=cpu,
            memory=memory,
            node_selector={"growthrs.io/node-group": self.group},
        )
        self.kube.create(f"/apis/apps/v1/namespaces/{self.ns}/deployments", body)
        self.started = time.monotonic()

    def scale(self, name: str, replicas: int) -> None:
        self.kube.patch(
            f"/apis/apps/v1/namespaces/{self.ns}/deployments/{name}",
            {"spec": {"replicas": replicas}},
        )

    # -- observing ---------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def servers(self) -> list[dict[str, Any]]:
        """The stand-in's servers GrowthRS made for this cluster (also those being deleted)."""
        return [s for s in self.api.servers() if hlabels.is_owned(s["labels"], self.cluster)]

    def nodes(self) -> list[dict[str, Any]]:
        return list(support.group_nodes(self.kube, self.group))

    def node_requests(self) -> list[dict[str, Any]]:
        return list(support.node_requests(self.kube, self.group))

    def all_running(self, app: str, count: int) -> bool:
        current = support.pods(self.kube, self.ns, f"app={app}")
        return len(current) == count and support.running(current) == count

    def wait_running(self, app: str, count: int, bound: float = SCALE_UP_BOUND) -> float:
        wait_for(f"{count} {app} pods Running", lambda: self.all_running(app, count), bound)
        return self.elapsed()

    def ready_requests(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        def ready() -> list[dict[str, Any]] | None:
            items = self.node_requests()
            phases = [(i.get("status") or {}).get("phase") for i in items]
            return items if items and all(p == "Ready" for p in phases) else None

        result: list[dict[str, Any]] = wait_for("every NodeRequest Ready", ready, timeout)
        return result

    def posts(self) -> list[Any]:
        return self.api.requests("POST", "/servers")


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def core_v1(kubeconfig: str) -> Iterator[Any]:
    api_client = k8s_config.new_client_from_config(config_file=kubeconfig)
    yield k8s.CoreV1Api(api_client)
    api_client.close()


def _settle_problems(hz: HetznerE2E) -> list[str]:
    """Wait until the cluster's servers are exactly the group's Nodes and nothing is in flight.

    Two matching looks a second apart count as settled; otherwise the difference is a problem.
    """
    last: tuple[list[str], list[str], list[str]] = ([], [], [])
    agreed = 0
    deadline = time.monotonic() + SETTLE_BOUND
    while time.monotonic() < deadline:
        servers = sorted(s["name"] for s in hz.servers())
        nodes = sorted(n["metadata"]["name"] for n in hz.nodes())
        busy = sorted(
            f"{nr['metadata']['name']}={(nr.get('status') or {}).get('phase', 'new')}"
            for nr in hz.node_requests()
            if (nr.get("status") or {}).get("phase", "Pending") in IN_FLIGHT
        )
        last = (servers, nodes, busy)
        agreed = agreed + 1 if servers == nodes and not busy else 0
        if agreed >= 2:
            break
        time.sleep(1.0)
    else:
        servers, nodes, busy = last
        leaked = sorted(set(servers) - set(nodes))
        orphaned = sorted(set(nodes) - set(servers))
        return [
            f"not settled within {SETTLE_BOUND:.0f}s: servers without a Node (leaked) {leaked}, "
            f"Nodes without a server {orphaned}, NodeRequests in flight {busy}"
        ]
    problems = []
    by_name = {s["name"]: s for s in hz.servers()}
    for node in hz.nodes():
        name = node["metadata"]["name"]
        server = by_name.get(name)
        want = f"hcloud://{server['id']}" if server else None
        if node["spec"].get("providerID") != want:
            problems.append(
                f"node {name} has providerID {node['spec'].get('providerID')}, not {want}"
            )
        if server and server["status"] != "running":
            problems.append(f"server {name} is {server['status']}, its Node is still there")
    return problems


def _node_class_body(name: str, secret: str) -> dict[str, Any]:
    """Everything it names exists: the image (per arch), network, firewall and SSH key in
    the stand-in, the join Secret in the cluster."""
    return {
        "apiVersion": "growthrs.io/v1alpha1",
        "kind": "HetznerNodeClass",
        "metadata": {"name": name},
        "spec": {
            "image": {"amd64": {"name": "ubuntu-24.04"}, "arm64": {"name": "ubuntu-24.04"}},
            "locations": ["fsn1", "nbg1"],
            "networks": ["cluster-net"],
            "firewalls": ["nodes"],
            "sshKeys": ["ops"],
            "labels": {"team": "e2e"},
            "userData": {"kind": "k3s"},
            "joinSecretRef": {"namespace": "default", "name": secret},
        },
    }


@pytest.fixture
def hz(
    kube: Kube,
    kubeconfig: str,
    core_v1: Any,
    contract: Contract,
    tmp_path: Path,
) -> Iterator[HetznerE2E]:
    """Stand-in, node class, join Secret, namespace and companion kubelet; the operator is
    started by the test. Afterwards: the leak check, teardown, the contract check."""
    run = uuid.uuid4().hex[:6]
    secret = f"hz-join-{run}"
    api = TimedStandIn(token=TOKEN, action_delay=ACTION_DELAY).start()
    env = HetznerE2E(
        kube=kube,
        kubeconfig=kubeconfig,
        api=api,
        log_dir=tmp_path,
        run=run,
        cluster=f"hz-op-{run}",
        group=f"hz-{run}",
        ns=f"hz-{run}",
        node_class=f"hz-{run}",
        ids={},
    )
    kubelet = FakeKubelet(
        api.url, core_v1, token=TOKEN, label_selector=hlabels.owned_selector(env.cluster)
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=kubelet.run, args=(stop, 0.5), name="hcloud-kubelet", daemon=True
    )
    problems: list[str] = []
    try:
        env.ids.update(
            network=int(api.create_network("cluster-net")["id"]),
            firewall=int(api.create_firewall("nodes")["id"]),
            ssh_key=int(
                api.create_ssh_key("ops", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA e2e")["id"]
            ),
        )
        kube.create(
            "/api/v1/namespaces/default/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": secret},
                "stringData": {
                    "server": "https://10.0.0.2:6443",
                    "token": f"K10e2e::{run}",
                    "version": "v1.33.4+k3s1",
                },
            },
        )
        kube.create(NODE_CLASS_PATH, _node_class_body(env.node_class, secret))
        support.create_namespace(kube, env.ns)
        thread.start()
        yield env
        if env.operator is not None and env.operator.alive():
            problems += _settle_problems(env)
        elif env.operator is not None and not env.stopped:
            problems.append(f"the operator exited with {env.operator.proc.returncode}")
    finally:
        if env.operator is not None:
            env.operator.stop()
            log = env.operator.log()
            if TOKEN in log:
                problems.append("the Hetzner API token appears in the operator's log")
            print_log_tail(env.operator, 80)
        stop.set()
        if thread.is_alive():
            thread.join(timeout=10)
        kubelet.http.close()
        for path in (
            f"/api/v1/namespaces/{env.ns}",
            f"{NODE_CLASS_PATH}/{env.node_class}",
            f"/api/v1/namespaces/default/secrets/{secret}",
        ):
            try:
                kube.delete(path)
            except KubeError as exc:
                problems.append(f"cleanup: cannot delete {path}: {exc}")
        try:
            support.delete_group_and_nodes(kube, env.group)
        except KubeError as exc:
            problems.append(f"cleanup: {exc}")
        api.stop()
    problems += contract.check_all(api.exchanges)
    if problems:
        pytest.fail("after the test:\n  " + "\n  ".join(problems[:40]), pytrace=False)


# -- helpers ----------------------------------------------------------------------------


def attempts_of(nr: dict[str, Any]) -> list[dict[str, Any]]:
    return list((nr.get("status") or {}).get("attempts") or [])


def results(nr: dict[str, Any]) -> list[str]:
    return [f"{a['result']}:{a['offering']}" for a in attempts_of(nr)]


def check_nodes_match_servers(hz: HetznerE2E, nrs: list[dict[str, Any]]) -> None:
    """Each Ready NodeRequest: its server (labels, node class) and its Node (name, providerID)."""
    servers = {s["name"]: s for s in hz.servers()}
    nodes = {n["metadata"]["name"]: n for n in hz.nodes()}
    assert set(servers) == set(nodes), (sorted(servers), sorted(nodes))
    for nr in nrs:
        status = nr["status"]
        name = status["nodeName"]
        server = servers[name]
        node = nodes[name]
        assert server["labels"][hlabels.CLUSTER_LABEL] == hlabels.cluster_value(hz.cluster)
        assert server["labels"][hlabels.GROUP_LABEL] == hz.group
        assert server["labels"][hlabels.REQUEST_LABEL] == nr["metadata"]["name"]
        assert server["labels"]["team"] == "e2e"
        assert server["status"] == "running"
        assert server["location"]["name"] == "fsn1"
        assert server["image"]["name"] == "ubuntu-24.04"
        assert [p["network"] for p in server["private_net"]] == [hz.ids["network"]]
        assert [f["id"] for f in server["public_net"]["firewalls"]] == [hz.ids["firewall"]]
        assert node["spec"]["providerID"] == f"hcloud://{server['id']}"
        assert status["providerID"] == node["spec"]["providerID"]
        labels = node["metadata"]["labels"]
        assert labels["growthrs.io/node-request"] == nr["metadata"]["name"]
        assert labels["node.kubernetes.io/instance-type"] == server["server_type"]["name"]
    for post in hz.posts():
        if post.status == 201:
            body = post.request_body
            assert body["ssh_keys"] == ["ops"], body
            assert body["user_data"].startswith("#cloud-config"), body["user_data"][:40]


# -- tests ------------------------------------------------------------------------------


def test_scale_up_creates_labelled_servers_and_scale_down_deletes_them(hz: HetznerE2E) -> None:
    hz.create_group(
        [hz.pool("cx23", 90), hz.pool("cpx22", 50)],
        scale_down={"enabled": True, "unneededTime": "2s"},
    )
    hz.start_operator()
    # cx23: 2 vCPU, 4 GB (3840 MiB for pods): two 1-CPU pods per node, so 6 pods need 3.
    hz.deploy("web", 6)
    up = hz.wait_running("web", 6)
    nrs = hz.ready_requests()
    assert len(nrs) == 3, [n["metadata"]["name"] for n in nrs]
    for nr in nrs:
        assert results(nr) == ["Created:cx23@fsn1"], results(nr)
        assert nr["status"]["nodeName"] == nr["metadata"]["name"]
    check_nodes_match_servers(hz, nrs)
    assert {s["server_type"]["name"] for s in hz.servers()} == {"cx23"}
    created = [p for p in hz.posts() if p.status == 201]
    assert len(created) == 3, [(p.status, p.response_body) for p in hz.posts()]
    server_ids = {s["id"] for s in hz.servers()}
    print(f"6 pods Running on 3 Hetzner nodes after {up:.1f}s (bound {SCALE_UP_BOUND:.0f}s)")

    hz.scale("web", 0)
    hz.started = time.monotonic()
    wait_for(
        "the servers and their Nodes to be gone",
        lambda: not hz.servers() and not hz.nodes(),
        SCALE_DOWN_BOUND,
    )
    down = hz.elapsed()
    deleted = {int(e.path.rsplit("/", 1)[1]) for e in hz.api.requests("DELETE", r"/servers/\d+")}
    assert deleted == server_ids, (deleted, server_ids)
    print(f"scaled down to 0 after {down:.1f}s (bound {SCALE_DOWN_BOUND:.0f}s)")


def test_resource_unavailable_falls_back_to_the_next_pool(hz: HetznerE2E) -> None:
    hz.api.inject(
        Fault(code="resource_unavailable", server_type="cx23", location="fsn1", times=None)
    )
    hz.create_group([hz.pool("cx23", 90), hz.pool("cpx22", 50)], scale_down={"enabled": False})
    hz.start_operator()
    hz.deploy("fb", 2, cpu="500m", memory="512Mi")  # one node's worth
    up = hz.wait_running("fb", 2)
    nrs = hz.ready_requests()
    assert len(nrs) == 1
    attempts = attempts_of(nrs[0])
    assert [(a["result"], a["offering"], a["pool"]) for a in attempts] == [
        ("Unavailable", "cx23@fsn1", 0),
        ("Created", "cpx22@fsn1", 1),
    ], attempts
    assert "unavailable" in attempts[0]["message"], attempts[0]
    check_nodes_match_servers(hz, nrs)
    assert [s["server_type"]["name"] for s in hz.servers()] == ["cpx22"]
    assert hz.nodes()[0]["metadata"]["labels"]["growthrs.io/pool"] == "1"
    refused = [p for p in hz.posts() if p.request_body.get("server_type") == "cx23"]
    assert refused and all(p.status == 412 for p in refused), [p.status for p in refused]
    print(f"fallback: pods Running on cpx22 after {up:.1f}s (bound {SCALE_UP_BOUND:.0f}s)")


def test_rate_limits_are_waited_out_and_creates_succeed(hz: HetznerE2E) -> None:
    # Three 429s on server creation (two with only RateLimit-Reset, one with Retry-After)
    # and one on the status poll's action listing.
    hz.api.inject(Fault(code="rate_limit_exceeded", method="POST", path="/servers", times=2))
    hz.api.inject(
        Fault(code="rate_limit_exceeded", method="POST", path="/servers", retry_after=1.0)
    )
    hz.api.inject(Fault(code="rate_limit_exceeded", method="GET", path=r"/servers/\d+/actions"))
    hz.create_group([hz.pool("cx23", 90)], scale_down={"enabled": False})
    hz.start_operator()
    hz.deploy("rl", 4)  # two cx23 nodes
    up = hz.wait_running("rl", 4)
    nrs = hz.ready_requests()
    assert len(nrs) == 2
    for nr in nrs:  # the provider absorbed the 429s: no failed attempt reached the NodeRequest
        assert results(nr) == ["Created:cx23@fsn1"], results(nr)
    check_nodes_match_servers(hz, nrs)
    posts = hz.posts()
    statuses = sorted(p.status for p in posts)
    assert statuses == [201, 201, 429, 429, 429], statuses
    limited = [e for e in hz.api.requests("GET", r"/servers/\d+/actions") if e.status == 429]
    assert len(limited) == 1
    assert all(p.headers.get("RateLimit-Remaining") == "0" for p in posts if p.status == 429)
    log = hz.operator.log()
    assert log.count("rate_limit_exceeded; retry") >= 4, "provider retries not logged"
    assert up < SCALE_UP_BOUND
    print(
        f"4 pods Running after {up:.1f}s despite 4 rate-limit answers (bound {SCALE_UP_BOUND:.0f}s)"
    )


def test_a_long_rate_limit_is_handed_to_the_operator_which_waits_it_out(hz: HetznerE2E) -> None:
    # Retry-After 4 s is more than the provider may sleep in a worker (MAX_RETRY_WAIT 2 s):
    # the provider raises ProviderInternal(retry_after=4) and the operator must not ask again
    # before those 4 s have passed.
    retry_after = 4.0
    hz.api.inject(
        Fault(code="rate_limit_exceeded", method="POST", path="/servers", retry_after=retry_after)
    )
    hz.create_group([hz.pool("cx23", 90), hz.pool("cpx22", 50)], scale_down={"enabled": False})
    hz.start_operator(env={"GROWTHRS_HETZNER_MAX_RETRY_WAIT": "2"})
    hz.deploy("slow", 2)  # one cx23 node
    up = hz.wait_running("slow", 2)
    nrs = hz.ready_requests()
    assert len(nrs) == 1
    attempts = attempts_of(nrs[0])
    assert [(a["result"], a["offering"], a["pool"]) for a in attempts] == [
        ("Failed", "cx23@fsn1", 0),
        ("Created", "cx23@fsn1", 0),
    ], attempts
    assert "rate_limit_exceeded" in attempts[0]["message"] and attempts[0]["retryable"]
    check_nodes_match_servers(hz, nrs)
    posts = [(t, e) for t, e in hz.api.answered if (e.method, e.path) == ("POST", "/servers")]
    assert [e.status for _, e in posts] == [429, 201], [e.status for _, e in posts]
    assert posts[0][1].headers.get("Retry-After") == "4"
    gap = posts[1][0] - posts[0][0]
    assert gap >= retry_after - 0.1, f"asked again {gap:.2f}s after Retry-After: {retry_after:.0f}"
    assert gap <= retry_after + 5.0, f"waited {gap:.2f}s for a {retry_after:.0f}s rate limit"
    print(
        f"retried {gap:.1f}s after a {retry_after:.0f}s Retry-After; pods Running after {up:.1f}s"
    )


def test_failed_create_action_deletes_the_server_and_tries_again(hz: HetznerE2E) -> None:
    hz.api.inject(Fault(code="failing_actions", command="create_server", message="host on fire"))
    hz.create_group([hz.pool("cx23", 90), hz.pool("cpx22", 50)], scale_down={"enabled": False})
    hz.start_operator()
    hz.deploy("fa", 2)  # one cx23 node
    up = hz.wait_running("fa", 2)
    nrs = hz.ready_requests()
    assert len(nrs) == 1
    nr = nrs[0]
    name = nr["metadata"]["name"]
    attempts = attempts_of(nr)
    assert [(a["result"], a.get("nodeName")) for a in attempts] == [
        ("Created", name),
        ("Failed", name),
        ("Created", f"{name}-1"),
    ], attempts
    assert "create_server failed" in attempts[1]["message"]
    assert "host on fire" in attempts[1]["message"]
    assert nr["status"]["nodeName"] == f"{name}-1"
    check_nodes_match_servers(hz, nrs)
    # The failed server was deleted and is gone; it never became a Node.
    assert [s["name"] for s in hz.servers()] == [f"{name}-1"]
    assert len(hz.api.requests("DELETE", r"/servers/\d+")) >= 1
    assert all(n["metadata"]["name"] != name for n in hz.nodes())
    print(f"failed create replaced: pods Running after {up:.1f}s (bound {SCALE_UP_BOUND:.0f}s)")


def test_a_failed_server_whose_delete_fails_at_first_is_still_deleted(hz: HetznerE2E) -> None:
    # The create action fails, and so does every DELETE until the operator has given up on
    # its first two (the provider's own delete of the failed server, then the controller's
    # DeleteInstance). Nothing else will ever remove that server (orphan collection is
    # out of reach), so the operator has to try again by itself.
    hz.api.inject(Fault(code="failing_actions", command="create_server", message="host on fire"))
    hz.api.inject(Fault(code="server_error", method="DELETE", path=r"/servers/\d+", times=None))
    hz.create_group([hz.pool("cx23", 90)], scale_down={"enabled": False})
    hz.start_operator(env={"GROWTHRS_HETZNER_MAX_RETRIES": "0"})  # one request per call
    hz.deploy("fd", 2)  # one cx23 node
    failed_deletes = wait_for(
        "two failed DELETEs of the failed server",
        lambda: (lambda found: found if len(found) >= 2 else None)(
            [e for e in hz.api.requests("DELETE", r"/servers/\d+") if e.status == 500]
        ),
        SCALE_UP_BOUND,
    )
    failed_id = int(failed_deletes[0].path.rsplit("/", 1)[1])
    hz.api.clear_faults()
    cleared = time.monotonic()
    gone_bound = 10.0  # retries after 1, 2, 4 s..., and a 1 s delete action
    wait_for(
        "the failed server to be deleted after all",
        lambda: all(s["id"] != failed_id for s in hz.servers()),
        gone_bound,
    )
    gone = time.monotonic() - cleared
    up = hz.wait_running("fd", 2)
    nrs = hz.ready_requests()
    assert len(nrs) == 1
    assert [a["result"] for a in attempts_of(nrs[0])] == ["Created", "Failed", "Created"]
    check_nodes_match_servers(hz, nrs)
    deletes = [e.status for e in hz.api.requests("DELETE", rf"/servers/{failed_id}")]
    assert deletes[-1] == 200 and deletes.count(500) >= 2, deletes
    print(
        f"failed server deleted {gone:.1f}s after DELETE works again (bound {gone_bound:.0f}s), "
        f"after {deletes.count(500)} failed DELETEs; pods Running after {up:.1f}s"
    )


def _run_nuke(hz: HetznerE2E) -> subprocess.CompletedProcess[str]:
    """``growthrs nuke --yes`` with the operator's kubeconfig, cluster identity and settings."""
    env = {
        **os.environ,
        "GROWTHRS_CLUSTER_NAME": hz.cluster,
        "GROWTHRS_HETZNER_ENDPOINT": hz.api.url,
        "GROWTHRS_HETZNER_TOKEN": TOKEN,
    }
    return subprocess.run(
        [sys.executable, "-m", "growthrs_core.cli", "nuke", "--yes", "--kubeconfig", hz.kubeconfig],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_lookalike_servers_survive_scale_up_scale_down_orphan_collection_and_nuke(
    hz: HetznerE2E,
) -> None:
    """One Hetzner project, two clusters. The other cluster's servers carry the same labels
    as ours but the cluster value (the same group name too), one of them later the name of a
    node we had; a server with our cluster label that GrowthRS did not make (a bastion)
    sits beside them. None of them is ever deleted, while our own orphan is collected and
    ``growthrs nuke`` removes what is ours."""
    other = f"{hz.cluster}-other"

    def server(name: str, labels: dict[str, str], *, start: bool = True) -> dict[str, Any]:
        created: dict[str, Any] = hz.api.world.create_server(
            {
                "name": name,
                "server_type": "cx23",
                "image": "ubuntu-24.04",
                "location": "fsn1",
                "labels": labels,
                "start_after_create": start,
            }
        )["server"]
        return created

    def lookalike(name: str, node_request: str) -> dict[str, Any]:
        labels = hlabels.server_labels(
            cluster_name=other,
            node_group=hz.group,
            node_request=node_request,
            extra={"team": "e2e"},
        )
        return server(name, labels)

    def deleted_ids() -> set[int]:
        return {int(e.path.rsplit("/", 1)[1]) for e in hz.api.requests("DELETE", r"/servers/\d+")}

    def alive(survivor: dict[str, Any]) -> bool:
        now = next((s for s in hz.api.servers() if s["id"] == survivor["id"]), None)
        return now is not None and now["status"] != "deleting" and now["name"] == survivor["name"]

    def survived(phase: str) -> None:
        for what, survivor in survivors.items():
            assert survivor["id"] not in deleted_ids(), f"the {what} was deleted ({phase})"
            assert alive(survivor), f"the {what} is gone ({phase})"

    ours = hlabels.server_labels(
        cluster_name=hz.cluster, node_group=hz.group, node_request="gone", extra={"team": "e2e"}
    )
    survivors = {
        "look-alike": lookalike(f"{hz.group}-lookalike", f"{hz.group}-lookalike"),
        "bastion": server(
            f"{hz.group}-bastion",
            {hlabels.CLUSTER_LABEL: hlabels.cluster_value(hz.cluster), "role": "bastion"},
        ),
    }
    # Ours, but nothing accounts for it: stopped, so it never becomes a Node either.
    orphan = server(f"{hz.group}-orphan", ours, start=False)

    hz.create_group([hz.pool("cx23", 90)], scale_down={"enabled": True, "unneededTime": "2s"})
    hz.start_operator(orphan_grace=5)
    hz.deploy("la", 4)  # two cx23 nodes
    up = hz.wait_running("la", 4)
    wait_for(
        "our orphan to be collected",
        lambda: orphan["id"] in deleted_ids() and not alive(orphan),
        SCALE_DOWN_BOUND,
    )
    wait_for(
        "the orphan's delete to finish",
        lambda: all(s["id"] != orphan["id"] for s in hz.api.servers()),
        10,
    )
    survived("scale-up and orphan collection")
    nrs = hz.ready_requests()
    check_nodes_match_servers(hz, nrs)
    first = sorted(n["metadata"]["name"] for n in hz.nodes())
    assert len(first) == 2, first

    hz.scale("la", 0)
    wait_for(
        "our servers and their Nodes to be gone",
        lambda: not hz.servers() and not hz.nodes(),
        SCALE_DOWN_BOUND,
    )
    survived("scale-down")

    # The other cluster now has a server named like a node we had, and our cluster has a
    # stale Node of that name (cordoned): scale-down tries to delete it through the provider.
    reused = first[0]
    survivors["same-named look-alike"] = lookalike(reused, reused)
    hz.kube.create(
        "/api/v1/nodes",
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": reused,
                "labels": {
                    "growthrs.io/node-group": hz.group,
                    "growthrs.io/provider": "hetzner",
                    "growthrs.io/node-request": reused,
                },
            },
            "spec": {"unschedulable": True},
        },
    )
    assert hz.operator is not None
    operator = hz.operator
    same_named = survivors["same-named look-alike"]
    wait_for(
        "scale-down to refuse (or, wrongly, delete) the same-named look-alike",
        lambda: (
            f"refusing to delete Hetzner server {reused}" in operator.log()
            or same_named["id"] in deleted_ids()
        ),
        SCALE_DOWN_BOUND,
    )
    survived("scale-down of a stale Node")

    hz.scale("la", 2)  # one new node of ours, for nuke to remove
    hz.wait_running("la", 2)
    last = [s for s in hz.servers() if s["status"] == "running"]
    assert len(last) == 1 and last[0]["name"] not in first, [s["name"] for s in last]

    hz.stop_operator()
    nuked = _run_nuke(hz)
    output = nuked.stdout + nuked.stderr
    assert nuked.returncode == 0, output
    assert TOKEN not in output
    assert "1 provider instance(s)" in output, output  # ours only: hetzner 1 (and kwok 0)
    assert last[0]["id"] in deleted_ids()
    wait_for("nuke's delete to finish", lambda: not hz.servers(), 10)
    assert hz.nodes() == []  # the stale Node went too; its look-alike server did not

    survived("nuke")
    print(
        f"look-alikes survived: pods Running after {up:.1f}s, orphan collected, "
        f"scale-down refused {reused}, nuke removed {last[0]['name']} only"
    )
