"""Two replicas with leader election: a standby stays live and ready, takes over within
lease duration + retry period when the leader freezes, and the frozen leader, once it
wakes, acts no more. No NodeRequest is made twice and no node is deleted twice."""

from __future__ import annotations

import re
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest

from growthrs_core.controller.kube import Kube, ngp_path
from growthrs_testkit.kube import (
    delete_group_and_nodes,
    deployment_body,
    group_body,
    group_nodes,
    node_requests,
    pods,
    running,
    wait_for,
)
from growthrs_testkit.operator import Operator, free_port

pytestmark = pytest.mark.e2e

LEASE, RENEW, RETRY = 6.0, 4.0, 1.0


def status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def replica(kubeconfig: str, tmp_path: Path, port: int, lease_ns: str) -> Operator:
    return Operator(
        kubeconfig,
        tmp_path,
        leader_election=True,
        namespace=lease_ns,
        leader_lease_duration=LEASE,
        leader_renew_deadline=RENEW,
        leader_retry_period=RETRY,
        metrics_port=port,
        scale_down_new_node_grace=0,
    ).start()


def test_a_frozen_leader_is_replaced_in_time_and_acts_no_more(
    kube: Kube, kubeconfig: str, ns: str, tmp_path: Path
) -> None:
    name = f"e2e-ha-{uuid.uuid4().hex[:4]}"
    kube.create(
        ngp_path(),
        group_body(name, [{"provider": "kwok", "serverType": ["cx22"], "priority": 50}],
                   locations=["fsn1"], scaleDown={"enabled": True, "unneededTime": "3s"}),
    )  # fmt: skip
    port_a, port_b = free_port(), free_port()
    a = replica(kubeconfig, tmp_path, port_a, ns)
    b: Operator | None = None
    try:
        wait_for("A to lead", lambda: status(port_a, "/leader") == 200, 60)
        b = replica(kubeconfig, tmp_path, port_b, ns)
        wait_for("B ready as a warm standby", lambda: status(port_b, "/readyz") == 200, 60)
        for _ in range(int(LEASE * 2)):  # a standby stays live, ready and a standby
            assert (status(port_b, "/healthz"), status(port_b, "/leader")) == (200, 503)
            time.sleep(1)
        body = deployment_body(
            "web", ns, 2, cpu="1500m", node_selector={"growthrs.io/node-group": name}
        )
        kube.create(f"/apis/apps/v1/namespaces/{ns}/deployments", body)
        wait_for("2 pods Running", lambda: running(pods(kube, ns, "app=web")) == 2, 120)

        assert a.proc is not None
        a.proc.send_signal(signal.SIGSTOP)
        frozen = time.monotonic()
        wait_for("B to lead", lambda: status(port_b, "/leader") == 200, LEASE + RETRY + 10)
        took = time.monotonic() - frozen
        assert took <= LEASE + RETRY + 1.5, f"B took over after {took:.1f}s"

        kube.patch(f"/apis/apps/v1/namespaces/{ns}/deployments/web", {"spec": {"replicas": 4}})
        wait_for("4 pods Running", lambda: running(pods(kube, ns, "app=web")) == 4, 120)

        woke = time.time()
        a.proc.send_signal(signal.SIGCONT)
        wait_for("the old leader to exit", lambda: not a.alive(), RENEW + 15)
        acted = [
            line
            for line in a.log().splitlines()
            if _after(line, woke) and re.search(r"creating \S+ with|removing node|Pending:", line)
        ]
        assert not acted, "the old leader acted after it woke:\n" + "\n".join(acted)

        kube.patch(f"/apis/apps/v1/namespaces/{ns}/deployments/web", {"spec": {"replicas": 0}})
        wait_for("every node gone", lambda: not group_nodes(kube, name), 120)
        listed = Counter(
            f"{p['namespace']}/{p['name']}"
            for nr in node_requests(kube, name)
            for p in nr["spec"]["pods"]
        )
        assert not [k for k, n in listed.items() if n > 1], f"pods in two NodeRequests: {listed}"
        removed = Counter(
            m.group(1)
            for log in (a.log(), b.log())
            for m in re.finditer(r"removing node (\S+) ", log)
        )
        assert removed and max(removed.values()) == 1, f"deleted twice: {removed}"
    finally:
        for op in (a, b):
            if op is not None:
                op.stop()  # also closes the log of one that exited by itself
        for op in (a, b):
            if op is not None:
                print(f"--- {op.log_path} ---\n" + "\n".join(op.log().splitlines()[-30:]))
        delete_group_and_nodes(kube, name)


def _after(line: str, moment: float) -> bool:
    """Whether a log line (``2026-11-30 05:13:15,290 ...``) was written after ``moment``."""
    from datetime import datetime

    try:
        stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    except ValueError:
        return False
    return stamp >= moment
