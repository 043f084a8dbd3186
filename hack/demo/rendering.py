"""How the demo shows what it observed: the live view, plain lines, and the summary."""

from __future__ import annotations

import math
import time
from collections import Counter

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .tracking import NodeView, Tracker, fallback_count


def fmt_s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


# --------------------------------------------------------------------------- display


def node_rows(nodes: list[NodeView]) -> list[tuple[str, str, str, int, int, int, int]]:
    """(pool, type, location, nodes, ready, marked, tainted) per pool and instance type."""
    groups: dict[tuple[str, str, str], list[NodeView]] = {}
    for n in nodes:
        groups.setdefault((n.pool, n.instance_type, n.region), []).append(n)
    return [
        (
            pool,
            itype,
            region,
            len(ns),
            sum(n.ready for n in ns),
            sum(n.marked for n in ns),
            sum(n.tainted for n in ns),
        )
        for (pool, itype, region), ns in sorted(groups.items())
    ]


def render(tr: Tracker, title: str) -> Group:
    """The live view: counters, nodes by pool and type, recent operator events."""
    snap = tr.last
    elapsed = time.monotonic() - (tr.t_deploy or tr.started)
    head = Table.grid(padding=(0, 3))
    head.add_row(
        f"[bold]phase[/bold] {tr.phase}",
        f"[bold]elapsed[/bold] {elapsed:5.1f}s",
        f"[bold]pods[/bold] [green]{snap.pods_running} running[/green] / "
        f"[yellow]{snap.pods_pending} pending[/yellow] (of {snap.pods_total})",
        f"[bold]nodes[/bold] {len(snap.nodes)} (peak {tr.peak_nodes})",
    )
    phases = Table.grid(padding=(0, 3))
    phases.add_row(
        "[bold]NodeRequests[/bold]",
        *(f"{p} {snap.nr_phases.get(p, 0)}" for p in ("Pending", "Provisioning", "Ready", "Unmet")),
        f"fallbacks {fallback_count(tr)}",
    )
    nodes = Table("pool", "type", "location", "nodes", "ready", "marked / tainted for removal")
    for pool, itype, region, total, ready, marked, tainted in node_rows(snap.nodes):
        label = tr.pools[int(pool)] if pool.isdigit() and int(pool) < len(tr.pools) else pool
        nodes.add_row(
            label,
            itype,
            region,
            str(total),
            str(ready),
            f"{marked} / {tainted}" if marked or tainted else "",
        )
    if not snap.nodes:
        nodes.add_row("-", "-", "-", "0", "0", "")
    counts = " · ".join(f"{reason} {n}" for reason, n in tr.event_counts.items())
    events = Text(counts or "(none yet)", style="bold", overflow="ellipsis", no_wrap=True)
    for line in tr.events:
        events.append("\n" + line, style="")
    milestones = Table.grid(padding=(0, 3))
    milestones.add_row(
        f"first NodeRequest {fmt_s(tr.since_deploy(tr.t_first_nr))}",
        f"all Running {fmt_s(tr.since_deploy(tr.t_all_running))}",
        f"first marked {fmt_s(tr.since_scale_in(tr.t_first_marked))}",
        f"all nodes gone {fmt_s(tr.since_scale_in(tr.t_all_gone))}",
    )
    return Group(
        Panel(Group(head, phases, milestones), title=title, title_align="left"),
        nodes,
        Panel(events, title="operator events", title_align="left"),
    )


def plain_line(tr: Tracker) -> str:
    snap = tr.last
    elapsed = time.monotonic() - (tr.t_deploy or tr.started)
    by_pool = ", ".join(
        f"pool{pool} {itype}@{region}={total}"
        for pool, itype, region, total, *_ in node_rows(snap.nodes)
    )
    marked = sum(n.marked for n in snap.nodes)
    tainted = sum(n.tainted for n in snap.nodes)
    nr = "/".join(
        str(snap.nr_phases.get(p, 0)) for p in ("Pending", "Provisioning", "Ready", "Unmet")
    )
    return (
        f"[{elapsed:6.1f}s] {tr.phase}: pods {snap.pods_running} running, {snap.pods_pending} pending"
        f" | NodeRequests P/Pr/R/U {nr} | nodes {len(snap.nodes)} ({by_pool or 'none'}), marked/tainted {marked}/{tainted}"
    )


# --------------------------------------------------------------------------- summary


def summary(tr: Tracker, fallback: bool, fault: str) -> list[tuple[str, str]]:
    created = Counter((n.pool, n.instance_type, n.region) for n in tr.nodes_seen.values())
    created_text = ", ".join(f"pool {p} {t}@{r}: {c}" for (p, t, r), c in sorted(created.items()))
    unavailable = Counter(
        f"pool {a.get('pool')} {a.get('offering')}"
        for atts in tr.attempts.values()
        for a in atts
        if a.get("result") == "Unavailable"
    )
    served_after = sum(
        1
        for atts in tr.attempts.values()
        if any(a.get("result") == "Unavailable" for a in atts)
        and any(a.get("result") == "Created" for a in atts)
    )
    fits = [n.fit for n in tr.nodes_seen.values() if n.fit > 0]
    best_fit = max(fits) if fits else 0
    lower = math.ceil(tr.replicas / best_fit) if best_fit else 0
    rows = [
        ("nodes created", f"{len(tr.nodes_seen)} ({created_text or 'none'})"),
        ("node requests", str(len(tr.nr_seen))),
        (
            "fallback",
            (
                f"fault 'unavailable: {fault}'; {sum(unavailable.values())} attempt(s) Unavailable"
                f" ({', '.join(f'{k}: {v}' for k, v in unavailable.items()) or 'none'}),"
                f" {served_after} request(s) then served by another offering"
            )
            if fallback
            else f"off; {sum(unavailable.values())} attempt(s) Unavailable",
        ),
        ("unmet node requests", str(len(tr.unmet))),
        ("time to first NodeRequest", fmt_s(tr.since_deploy(tr.t_first_nr))),
        ("time to first node Ready", fmt_s(tr.since_deploy(tr.t_first_ready_node))),
        ("time to all pods Running", fmt_s(tr.since_deploy(tr.t_all_running))),
        (
            "time to first node marked (after scale to 0)",
            fmt_s(tr.since_scale_in(tr.t_first_marked)),
        ),
        ("time to all nodes gone (after scale to 0)", fmt_s(tr.since_scale_in(tr.t_all_gone))),
        (
            "peak nodes vs. lower bound",
            f"{tr.peak_nodes} vs. {lower} (ceil({tr.replicas} pods / {best_fit} per node, the"
            " roomiest type used))",
        ),
    ]
    return rows


def summary_keys(tr: Tracker, fallback: bool) -> list[tuple[str, str]]:
    """The same numbers as stable `key: value` lines for CI logs."""
    created = Counter(f"pool{n.pool}/{n.instance_type}@{n.region}" for n in tr.nodes_seen.values())
    fits = [n.fit for n in tr.nodes_seen.values() if n.fit > 0]
    best_fit = max(fits) if fits else 0

    def num(x: float | None) -> str:
        return "none" if x is None else f"{x:.2f}"

    return [
        ("nodes_created", str(len(tr.nodes_seen))),
        ("nodes_by_pool", ",".join(f"{k}={v}" for k, v in sorted(created.items())) or "none"),
        ("node_requests", str(len(tr.nr_seen))),
        ("fallback_enabled", str(fallback).lower()),
        ("fallback_unavailable_attempts", str(fallback_count(tr))),
        ("unmet_node_requests", str(len(tr.unmet))),
        ("time_to_first_noderequest_s", num(tr.since_deploy(tr.t_first_nr))),
        ("time_to_first_node_ready_s", num(tr.since_deploy(tr.t_first_ready_node))),
        ("time_to_all_running_s", num(tr.since_deploy(tr.t_all_running))),
        ("time_to_first_marked_s", num(tr.since_scale_in(tr.t_first_marked))),
        ("time_to_all_nodes_gone_s", num(tr.since_scale_in(tr.t_all_gone))),
        ("peak_nodes", str(tr.peak_nodes)),
        ("min_nodes_lower_bound", str(math.ceil(tr.replicas / best_fit) if best_fit else 0)),
    ]
