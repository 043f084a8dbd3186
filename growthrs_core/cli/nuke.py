"""``growthrs nuke``: remove every GrowthRS NodeRequest, managed node and provider instance.

Only this cluster's instances are touched (providers list by the cluster
identity). A Node goes only after its instance is gone (or never existed), so
a failure never hides a server that still costs money; ``--force-nodes``
removes the Nodes anyway. Anything left is named, and the exit code is 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import click

from growthrs_core.cli.common import console, err_console, handled, provider_hub
from growthrs_core.errors import GrowthrsError
from growthrs_core.labels import TERMINATION_FINALIZER
from growthrs_core.settings import Settings


@dataclass
class Outcome:
    requests: int = 0
    nodes: int = 0
    instances: int = 0
    left: list[str] = field(default_factory=list)


@click.command()
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.option("--kubeconfig", envvar="GROWTHRS_KUBECONFIG", help="Kubeconfig path.")
@click.option(
    "--cluster-name",
    envvar="GROWTHRS_CLUSTER_NAME",
    help="Cluster identity (default: derived from the kube-system namespace UID).",
)
@click.option(
    "--force-nodes",
    is_flag=True,
    help="Remove Node objects even when their instance could not be removed or listed.",
)
@handled
def nuke(yes: bool, kubeconfig: str | None, cluster_name: str | None, force_nodes: bool) -> None:
    """Remove every GrowthRS NodeRequest, managed node and provider instance of this cluster."""
    from growthrs_core.cluster import parse_group, parse_node
    from growthrs_core.controller.kube import Kube, ngp_path, node_path, nr_path
    from growthrs_core.domain import NodeId
    from growthrs_core.labels import NODE_GROUP_LABEL

    settings = Settings().model_copy(
        update={
            k: v for k, v in {"kubeconfig": kubeconfig, "cluster_name": cluster_name}.items() if v
        }
    )
    hub = provider_hub(settings, need_cluster=True)
    kube = Kube(hub.api_client)
    requests = kube.list_all(nr_path())[0]
    nodes = [
        parse_node(o) for o in kube.list_all(node_path(), {"labelSelector": NODE_GROUP_LABEL})[0]
    ]
    groups = [parse_group(o) for o in kube.list_all(ngp_path())[0]]
    # Providers that may hold instances of this cluster: named by a group, or recorded
    # on a managed node or a NodeRequest. An installed provider nothing uses is skipped.
    in_use = {p.provider for g in groups if g.spec is not None for p in g.spec.pools}
    in_use |= {n.identity.provider for n in nodes if n.identity.provider}
    in_use |= {
        str(a.get("provider", ""))
        for o in requests
        for a in (o.get("status") or {}).get("attempts") or ()
        if a.get("provider")
    }
    instances: dict[str, list[str]] = {}
    unlisted: dict[str, str] = {}
    for name in sorted(in_use & set(hub.manager.providers)):
        try:
            instances[name] = [str(i) for i in hub.get(name).list_nodes()]
        except GrowthrsError as exc:
            unlisted[name] = str(exc)
            err_console.print(f"[yellow]{name}:[/yellow] cannot list its instances ({exc})")
    total = sum(len(v) for v in instances.values())
    listed = ", ".join(f"{k}: {len(v)}" for k, v in instances.items()) or "none"
    console.print(
        f"This removes {len(requests)} NodeRequest(s), {len(nodes)} managed node(s) and "
        f"{total} provider instance(s) ({listed}) of cluster {hub.cluster_name}."
    )
    if not yes and not click.confirm("Proceed?", default=False):
        raise click.Abort()
    done = Outcome()
    for obj in requests:
        kube.delete(nr_path(obj["metadata"]["name"]))
        done.requests += 1
    removed: dict[str, set[str]] = {}
    for provider, ids in instances.items():
        for node_id in ids:
            try:
                hub.get(provider).delete(NodeId(node_id))
            except GrowthrsError as exc:
                done.left.append(f"{provider} instance {node_id}: {exc}")
                continue
            removed.setdefault(provider, set()).add(node_id)
            done.instances += 1
    for node in nodes:
        provider = node.identity.provider
        if provider in unlisted:
            why = f"{provider} could not be listed"
        elif provider and provider not in hub.manager.providers:
            why = f"provider {provider} is not installed"
        elif (
            provider in instances
            and node.name in instances[provider]
            and node.name not in removed.get(provider, set())
        ):
            why = "its instance could not be removed"
        else:
            why = ""
        if why and not force_nodes:
            done.left.append(f"node {node.name}: kept, {why} (--force-nodes removes it anyway)")
            continue
        if TERMINATION_FINALIZER in node.finalizers:  # a drain's: its instance is gone now
            kube.patch(
                node_path(node.name),
                {"metadata": {"$deleteFromPrimitiveList/finalizers": [TERMINATION_FINALIZER]}},
                kind="strategic",
            )
        kube.delete(node_path(node.name))
        done.nodes += 1
    console.print(
        f"removed {done.requests} NodeRequest(s), {done.nodes} node(s), "
        f"{done.instances} instance(s)"
    )
    for provider, why in unlisted.items():
        done.left.append(f"{provider}: its instances could not be listed ({why})")
    if done.left:
        for line in done.left:
            err_console.print(f"[red]left:[/red] {line}", highlight=False)
        raise GrowthrsError(f"{len(done.left)} thing(s) could not be removed; see above")
