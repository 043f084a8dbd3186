"""``growthrs plan``: what one pass of the operator would do now, and why. Writes nothing.

The snapshot, the loop's memory (backoffs from the groups' status) and the
decisions are exactly those of ``growthrs run``; only the execution is left
out. What the running operator keeps only in memory is listed as unknown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from growthrs_core.cli.common import (
    console,
    emit,
    handled,
    output_option,
    provider_hub,
    settings_from,
    settings_options,
)

if TYPE_CHECKING:
    from growthrs_core.decisions.reconcile import DryRun
    from growthrs_core.decisions.snapshot import Snapshot

DECISIONS = {
    "planned": "scale-up",
    "fits_existing": "waiting",
    "in_flight": "waiting",
    "cannot_serve": "no scale-up",
}
"""How each pod outcome reads in the Pods table."""

UNKNOWN_TO_PLAN = [
    "when the running operator last made its disruption pass (it runs one at most every 10 s)",
    "create, delete and status calls a running operator has in flight",
    "waits a provider asked a running operator for (retry-after of a create)",
    "failed deletes a running operator is about to try again",
    "instances a running operator has seen unaccounted for (orphans still in their grace period)",
]
"""What the running operator knows that ``plan`` cannot (it lives in the loop's memory only)."""


def _provider(snapshot: Snapshot, group: str, pool: int) -> str:
    spec = snapshot.groups_by_name[group].spec
    return spec.pools[pool].provider if spec is not None else ""


def plan_report(dry: DryRun, snapshot: Snapshot) -> dict[str, Any]:
    """The dry run as plain data: what ``--output json`` prints and the tables show."""
    new_nodes = [
        {
            "group": n.group,
            "pool": n.pool_index,
            "provider": _provider(snapshot, n.group, n.pool_index),
            "offering": n.offering.key,
            "instanceType": str(n.offering.instance_type),
            "region": str(n.offering.region),
            "zone": str(n.offering.zone) if n.offering.zone else None,
            "cpu": n.requirements.cpu,
            "memory": n.requirements.memory,
            "costPerHour": n.offering.cost_per_hour,
            "pods": [p.key for p in n.pods],
        }
        for n in dry.plan.new_nodes
    ]
    pods = [
        {
            "pod": key,
            "decision": DECISIONS[outcome.kind],
            "reason": outcome.reason,
            "message": outcome.message,
        }
        for key, outcome in sorted(dry.plan.outcomes.items())
    ]
    down = dry.scale_down
    pending = [p for p in snapshot.pods if p.unschedulable and not p.node_name]
    return {
        "summary": {
            "unschedulablePods": len(pending),
            "nodes": len(snapshot.nodes),
            "groups": len(snapshot.groups),
            "nodeRequests": len(snapshot.node_requests),
            "at": snapshot.now.isoformat(timespec="seconds"),
        },
        "newNodes": new_nodes,
        "pods": pods,
        "scaleDown": {
            "mark": [{"node": m.node, "at": m.at} for m in down.marks],
            "unmark": [{"node": u.node, "reason": u.reason} for u in down.unmarks],
            "remove": [
                {"node": r.node, "provider": r.provider, "reason": r.reason} for r in down.removals
            ],
        },
        "disrupt": _disruption(dry),
        "backingOff": [
            {"provider": p, "offering": o, "until": b.until.isoformat(timespec="seconds")}
            for (p, o), b in dry.backing_off.items()
        ],
        "unknown": UNKNOWN_TO_PLAN,
    }


def _disruption(dry: DryRun) -> dict[str, Any]:
    decision = dry.disruption
    batch = decision.batch
    moves = []
    if batch is not None:
        for move in batch.moves:
            moves.append(
                {
                    "node": move.node.name,
                    "group": move.group,
                    "reason": move.reason,
                    "pods": [p.key for p in move.pods],
                    "message": batch.message(move),
                }
            )
    return {
        "moves": moves,
        "replacements": [n.offering.key for n in batch.replacements] if batch else [],
        "savingPerHour": batch.saving if batch else None,
        "skipped": dict(sorted(decision.skipped.items())),
        "waiting": decision.waiting,
    }


def render_tables(report: dict[str, Any]) -> None:
    s = report["summary"]
    console.print(
        f"{s['unschedulablePods']} unschedulable pod(s), {s['nodes']} node(s), {s['groups']} group(s), "
        f"{s['nodeRequests']} NodeRequest(s)"
    )
    create = Table(
        "group", "pool", "offering", "cpu", "memory", "pods", "EUR/h", title="Would create"
    )
    for node in report["newNodes"]:
        shown = node["pods"]
        create.add_row(
            node["group"],
            str(node["pool"]),
            node["offering"],
            node["cpu"],
            node["memory"],
            ", ".join(shown[:3]) + (f" (+{len(shown) - 3})" if len(shown) > 3 else ""),
            f"{node['costPerHour']:.4f}",
        )
    console.print(create)
    why = Table("pod", "decision", "reason", title="Pods")
    for row in report["pods"]:
        reason = f"{row['reason']}: {row['message']}" if row["reason"] else row["message"]
        why.add_row(row["pod"], row["decision"], reason)
    console.print(why)
    remove = Table("node", "decision", "detail", title="Scale-down")
    down = report["scaleDown"]
    for mark in down["mark"]:
        remove.add_row(mark["node"], "would mark", f"empty; removal at {mark['at']}")
    for unmark in down["unmark"]:
        remove.add_row(unmark["node"], "would unmark", unmark["reason"])
    for removal in down["remove"]:
        remove.add_row(
            removal["node"], "would remove", f"{removal['provider']}: {removal['reason']}"
        )
    console.print(remove)
    moves = report["disrupt"]["moves"]
    if moves or report["disrupt"]["waiting"]:
        disrupt = Table("node", "reason", "detail", title="Would disrupt")
        for move in moves:
            disrupt.add_row(move["node"], move["reason"], move["message"])
        if report["disrupt"]["waiting"]:
            disrupt.add_row("-", "waiting", report["disrupt"]["waiting"])
        console.print(disrupt)
    if report["backingOff"]:
        back = Table("provider", "offering", "until", title="Backing off")
        for b in report["backingOff"]:
            back.add_row(b["provider"], b["offering"], b["until"])
        console.print(back)
    console.print("Not known to a dry run: " + "; ".join(report["unknown"]) + ".")


@click.command()
@output_option
@settings_options
@handled
def plan(output: str, **flags: Any) -> None:
    """Dry run on the current cluster: what would be created and removed, and why. Writes nothing."""
    from growthrs_core.controller.disruption import listed_removals
    from growthrs_core.controller.kube import Kube
    from growthrs_core.controller.loop import decision_config
    from growthrs_core.controller.state import listed_snapshot
    from growthrs_core.decisions.memory import LoopMemory, seed_from_groups
    from growthrs_core.decisions.reconcile import dry_run
    from growthrs_core.timeutil import now

    settings = settings_from(flags)
    hub = provider_hub(settings, need_cluster=True)
    kube = Kube(hub.api_client)
    snapshot = listed_snapshot(kube, hub, now())
    removals = listed_removals(kube)
    memory = LoopMemory()
    seed_from_groups(memory, snapshot.groups)
    chain = hub.manager.strategy_chain(settings.strategies)
    dry = dry_run(snapshot, memory, decision_config(settings), chain, removals)
    report = plan_report(dry, snapshot)
    if not emit(report, output):
        render_tables(report)
