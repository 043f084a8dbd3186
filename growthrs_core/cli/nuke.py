"""``growthrs nuke``: remove every GrowthRS NodeRequest, managed node and provider instance."""

from __future__ import annotations

import contextlib

import click

from growthrs_core.cli.common import console, err_console, handled, provider_hub
from growthrs_core.errors import GrowthrsError
from growthrs_core.settings import Settings


@click.command()
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.option("--kubeconfig", envvar="GROWTHRS_KUBECONFIG", help="Kubeconfig path.")
@handled
def nuke(yes: bool, kubeconfig: str | None) -> None:
    """Remove every GrowthRS NodeRequest, managed node and provider instance."""
    from growthrs_core.cluster import parse_node
    from growthrs_core.controller.kube import Kube, node_path, nr_path
    from growthrs_core.domain import NodeId
    from growthrs_core.labels import NODE_GROUP_LABEL

    settings = Settings(kubeconfig=kubeconfig) if kubeconfig else Settings()
    hub = provider_hub(settings, need_cluster=True)
    kube = Kube(hub.api_client)
    requests = kube.list_all(nr_path())[0]
    nodes = [
        parse_node(o) for o in kube.list_all(node_path(), {"labelSelector": NODE_GROUP_LABEL})[0]
    ]
    instances: dict[str, list[str]] = {}
    for name in hub.manager.providers:
        try:
            instances[name] = [str(i) for i in hub.get(name).list_nodes()]
        except GrowthrsError as exc:
            err_console.print(f"[yellow]{name}:[/yellow] skipped ({exc})")
    total = sum(len(v) for v in instances.values())
    console.print(
        f"This removes {len(requests)} NodeRequest(s), {len(nodes)} managed node(s) and "
        f"{total} provider instance(s) ({', '.join(f'{k}: {len(v)}' for k, v in instances.items()) or 'none'})."
    )
    if not yes and not click.confirm("Proceed?", default=False):
        raise click.Abort()
    for obj in requests:
        kube.delete(nr_path(obj["metadata"]["name"]))
    failures = 0
    for provider, ids in instances.items():
        for node_id in ids:
            try:
                hub.get(provider).delete(NodeId(node_id))
            except GrowthrsError as exc:
                failures += 1
                err_console.print(f"[red]{provider} {node_id}:[/red] {exc}")
    for node in nodes:
        provider = node.identity.provider
        if provider in hub.manager.providers and node.name not in instances.get(provider, []):
            # Best effort: the instance may be gone already; the Node goes either way.
            with contextlib.suppress(GrowthrsError):
                hub.get(provider).delete(NodeId(node.name))
        kube.delete(node_path(node.name))
    console.print(
        f"removed {len(requests)} NodeRequest(s), {len(nodes)} node(s), {total - failures} instance(s)"
    )
    if failures:
        raise GrowthrsError(f"{failures} instance(s) could not be deleted")
