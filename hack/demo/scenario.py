"""The demo's run: set up, scale out, scale in, summarise, clean up.

:class:`Demo` drives one run. The cluster and its objects are
:class:`~hack.demo.cluster.DemoCluster`'s, the operator is the test kit's
launcher (:class:`growthrs_testkit.operator.Operator`), what happens is
observed by :mod:`~hack.demo.tracking` and shown by :mod:`~hack.demo.rendering`.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

from growthrs_core.crd.models import parse_duration
from growthrs_core.quantity import cpu_millis, memory_mib
from growthrs_testkit import controlplane
from growthrs_testkit.operator import Operator, OperatorExited

from .cluster import (
    CLUSTER_NAME,
    DEPLOYMENT,
    NAMESPACE,
    DemoCluster,
    DemoFailed,
    stop_stale_operator,
)
from .rendering import fmt_s, plain_line, render, summary, summary_keys
from .tracking import Snapshot, Tracker, collect_events, observe

# A demo wants to see empty nodes go within a minute; the operator's default
# grace (60 s) keeps nodes that are seconds old from being marked at all.
NEW_NODE_GRACE = "5"

console = Console()


def demo_operator(kubeconfig: str, log_path: Path, pid_path: Path) -> Operator:
    """`growthrs run` as a child process in its own session (Ctrl-C in the
    terminal reaches only the demo, which then stops the operator in order)."""
    return Operator(
        kubeconfig,
        log_path=log_path,
        pid_path=pid_path,
        env={"GROWTHRS_SCALE_DOWN_NEW_NODE_GRACE": NEW_NODE_GRACE},
        defaults={},
        new_session=True,
        batch_idle="0.5",
        batch_max="3",
        tick_interval="0.5",
        metrics_port="0",
        cluster_name=CLUSTER_NAME,
    )


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.plain: bool = args.ci or not console.is_terminal
        self.state_dir = Path(controlplane.cache_root()) / "demo"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for old_log in sorted(self.state_dir.glob("operator-*.log"))[:-9]:
            old_log.unlink(missing_ok=True)  # keep the last few runs' logs, not all
        self.operator: Operator | None = None
        self.bounds: dict[str, float] = {}
        self.printed_reasons: set[str] = set()
        self.live: Live | None = None
        self.failure = ""
        self.group_doc: dict[str, Any] = yaml.safe_load(Path(args.group_file).read_text())
        self.group = self.group_doc["metadata"]["name"]
        spec = self.group_doc["spec"]
        self.pools = [
            f"pool {i} ({p['provider']} {','.join(p['serverType'])}, prio {p['priority']})"
            for i, p in enumerate(spec["pools"])
        ]
        top = spec["pools"][0]
        locations = top.get("locations") or spec.get("locations") or ["fsn1"]
        self.fault = args.fault or f"{top['serverType'][0]}@{locations[0]}"
        self.unneeded = parse_duration(spec.get("scaleDown", {}).get("unneededTime", "10m"))
        self.cluster = DemoCluster(self.state_dir, self.group, self.say)
        self.tracker = Tracker(
            group=self.group,
            replicas=args.replicas,
            pod_cpu_m=cpu_millis(args.cpu),
            pod_mem_mib=memory_mib(args.memory),
            pools=self.pools,
        )

    def say(self, msg: str) -> None:
        # The terminal may be gone (SIGHUP) while we clean up; cleaning up matters more.
        with contextlib.suppress(OSError):
            if self.plain:
                stamp = datetime.now().strftime("%H:%M:%S")
                print(f"{stamp} {msg}", flush=True)
            else:
                console.print(f"[bold cyan]>[/bold cyan] {msg}", highlight=False)

    # -- setup -------------------------------------------------------------------------

    def pick_cluster(self) -> None:
        stop_stale_operator(self.state_dir / "operator.pid", self.say)
        self.cluster.pick(self.args.own_cluster)

    def setup(self) -> None:
        cl = self.cluster
        crds = cl.install_crds()
        self.say(f"CRDs established: {', '.join(crds)}")
        others = cl.other_groups()
        if others:
            self.say(
                f"note: the cluster has other node groups ({', '.join(others)}); the demo's operator will manage them too"
            )
        cl.delete_workload()
        cl.apply_group(self.group_doc)
        self.say(
            f"applied NodeGroupWithPriority {self.group} from {self.args.group_file}: "
            + "; ".join(self.pools)
        )
        cl.set_fault(self.fault, self.args.fallback)
        cl.ensure_namespace()
        log_path = self.state_dir / f"operator-{datetime.now().strftime('%Y%m%d-%H%M%S')}.log"
        self.operator = demo_operator(cl.kubeconfig, log_path, self.state_dir / "operator.pid")
        self.say(f"starting the operator: {self.operator.command}")
        self.say(f"operator log: {log_path}")
        self.operator.start()
        self.wait_synced()
        self.say(f"operator running (pid {self.operator.pid or '?'}), caches synced")

    def wait_synced(self, timeout: float = 60) -> None:
        """Return once the operator's caches are synced, i.e. it reacts to pods."""
        assert self.operator is not None
        try:
            self.operator.wait_for_log("caches synced", timeout)
        except OperatorExited as exc:
            raise DemoFailed(str(exc)) from None
        except TimeoutError:
            raise DemoFailed(
                f"the operator did not sync its caches in {timeout:.0f}s; see {self.operator.log_path}"
            ) from None

    def check_operator(self) -> None:
        """Fail the run, in one line, when the operator has exited."""
        assert self.operator is not None
        ended = self.operator.exit_summary()
        if ended is not None:
            raise DemoFailed(f"the operator {ended} (log: {self.operator.log_path})")

    # -- scenario ---------------------------------------------------------------------------

    def watch(self, until: Callable[[Snapshot], bool], deadline: float, what: str) -> None:
        """Poll (2/s), redraw (4/s), until *until* holds or *deadline* passes."""
        kube = self.cluster.api
        tr = self.tracker
        next_poll = next_plain = next_events = 0.0
        live = self.live
        try:
            while True:
                moment = time.monotonic()
                if moment >= next_poll:
                    self.check_operator()
                    snap = observe(kube, tr, with_events=moment >= next_events)
                    if moment >= next_events:
                        next_events = moment + 1.0
                    next_poll = moment + 0.5
                    if until(snap):
                        break
                if moment > deadline:
                    raise DemoFailed(
                        f"timed out: {what} not reached within {self.bound_text(what)}: {plain_line(tr)}"
                    )
                if live is not None:
                    live.update(render(tr, self.title()), refresh=True)
                elif moment >= next_plain:
                    self.print_progress()
                    next_plain = moment + 3.0
                time.sleep(0.25)
            collect_events(kube, tr)
        finally:
            if live is not None:
                live.update(render(tr, self.title()), refresh=True)
        if self.plain:
            self.print_progress()

    def print_progress(self) -> None:
        """Plain mode: the state line, new events counted by reason, and the first
        event of each reason in full."""
        tr = self.tracker
        print(datetime.now().strftime("%H:%M:%S ") + plain_line(tr), flush=True)
        if not tr.unprinted:
            return
        fresh = Counter(reason for reason, _ in tr.unprinted)
        print("         events: " + ", ".join(f"{r} +{n}" for r, n in fresh.items()), flush=True)
        for reason, line in tr.unprinted:
            if reason not in self.printed_reasons:
                self.printed_reasons.add(reason)
                print(f"         e.g. {line}", flush=True)
        tr.unprinted.clear()

    def bound_text(self, what: str) -> str:
        return f"{self.bounds.get(what, 0):.0f}s"

    def title(self) -> str:
        where = f"own cluster {CLUSTER_NAME}" if self.cluster.own else "cluster from KUBECONFIG"
        return f"GrowthRS demo · {where} · group {self.group}"

    def scenario(self) -> None:
        """Scale out, then in, under one live view (messages scroll above it)."""
        if not self.plain:
            self.live = Live(
                render(self.tracker, self.title()), console=console, auto_refresh=False
            )
            self.live.start()
        try:
            self.scale_out_and_in()
        finally:
            if self.live is not None:
                self.live.stop()
                self.live = None

    def scale_out_and_in(self) -> None:
        tr = self.tracker
        a = self.args
        up_bound = a.timeout_running
        down_bound = a.timeout_gone if a.timeout_gone else self.unneeded + 90
        self.bounds = {"all pods Running": up_bound, "all nodes gone": down_bound}
        self.say(
            f"creating Deployment {NAMESPACE}/{DEPLOYMENT}: {a.replicas} pods x {a.cpu} CPU / {a.memory}"
            f" (bounds: all Running within {up_bound:.0f}s, all nodes gone within {down_bound:.0f}s of scale-in)"
        )
        tr.phase = "scale-out"
        tr.t_deploy = time.monotonic()
        self.cluster.create_deployment(a.replicas, a.cpu, a.memory)

        def all_running(s: Snapshot) -> bool:
            if (
                s.pods_running >= a.replicas
                and s.pods_total == a.replicas
                and tr.t_all_running is None
            ):
                tr.t_all_running = s.at
            return tr.t_all_running is not None

        self.watch(all_running, tr.t_deploy + up_bound, "all pods Running")
        self.say(
            f"all {a.replicas} pods Running after {fmt_s(tr.since_deploy(tr.t_all_running))}"
            f" on {len(tr.last.nodes)} node(s); scaling the Deployment to 0"
        )
        tr.phase = "scale-in"
        tr.t_scale_in = time.monotonic()
        self.cluster.scale_deployment(0)

        def all_gone(s: Snapshot) -> bool:
            if not s.nodes and s.pods_total == 0 and tr.t_all_gone is None:
                tr.t_all_gone = s.at
            return tr.t_all_gone is not None

        self.watch(all_gone, tr.t_scale_in + down_bound, "all nodes gone")
        tr.phase = "done"
        self.say(f"all nodes gone {fmt_s(tr.since_scale_in(tr.t_all_gone))} after scaling to 0")

    def print_summary(self) -> None:
        tr = self.tracker
        if self.plain:
            print("--- summary", flush=True)
            for key, value in summary_keys(tr, self.args.fallback):
                print(f"{key}: {value}", flush=True)
            return
        table = Table(title="GrowthRS demo summary", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for key, value in summary(tr, self.args.fallback, self.fault):
            table.add_row(key, value)
        console.print(table)

    # -- cleanup ----------------------------------------------------------------------------

    def cleanup(self) -> None:
        if self.args.keep:
            self.keep_notes()
            return
        if self.operator is not None:
            self.operator.stop()
            self.say(f"operator {self.operator.ended}")
        if self.cluster.own:
            self.say(f"deleting cluster {CLUSTER_NAME!r}")
            self.cluster.down()
            return
        if self.cluster.kube is None:
            return
        self.cluster.delete_objects()

    def keep_notes(self) -> None:
        kubectl = controlplane.build(quiet=True).get("KUBECTL", "kubectl")
        pid = self.operator.pid if self.operator else None
        self.say("--keep: leaving everything running")
        self.say(f"  export KUBECONFIG={self.cluster.kubeconfig}")
        self.say(f"  {kubectl} -n {NAMESPACE} scale deployment {DEPLOYMENT} --replicas 20")
        self.say(f"  {kubectl} get ngp,nr,nodes")
        if pid:
            self.say(
                f"  operator pid {pid}, log {self.operator.log_path if self.operator else ''}; stop it: kill {pid}"
            )
        if self.cluster.own:
            self.say(f"  python -m growthrs_testkit.controlplane down --name {CLUSTER_NAME}")
