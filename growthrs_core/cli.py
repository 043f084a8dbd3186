"""The ``growthrs`` command line.

Every command prints one clear line on error (no traceback unless ``--debug``)
and exits non-zero.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from growthrs_core.errors import GrowthrsError

F = TypeVar("F", bound=Callable[..., Any])
# Piped output (CI logs, `growthrs plan | less`) gets a wide table instead of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _handled(fn: F) -> F:
    """Turn expected failures into one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except GrowthrsError as exc:
            if debug:
                raise
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
        except ValidationError as exc:
            if debug:
                raise
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            err_console.print(f"[red]error:[/red] invalid setting {where}: {first.get('msg')}")
        except KeyboardInterrupt:
            err_console.print("interrupted")
        except Exception as exc:
            if debug:
                raise
            err_console.print(
                f"[red]error:[/red] {type(exc).__name__}: {exc} (run with --debug for details)",
                highlight=False,
            )
        sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _setup_logging(level: str, fmt: str = "text") -> None:
    if fmt == "json":
        format_ = (
            '{"time":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}'
        )
    else:
        format_ = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO), format=format_, force=True
    )
    for noisy in ("urllib3", "kubernetes"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@click.group()
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(package_name="growthrs-core", prog_name="growthrs")
def main(debug: bool) -> None:
    """GrowthRS: priority-ordered node pools for Kubernetes, from any provider."""
    _setup_logging("DEBUG" if debug else "WARNING")


# -- run ---------------------------------------------------------------------------------------


def _settings_options(fn: F) -> F:
    """One ``--flag`` per Settings field, documented from the field description."""
    from growthrs_core.settings import Settings

    for name, field in reversed(list(Settings.model_fields.items())):
        flag = "--" + name.replace("_", "-")
        annotation = field.annotation
        help_ = f"{field.description} [env GROWTHRS_{name.upper()}]"
        if annotation is bool:
            fn = click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_)(fn)
        else:
            type_: Any = int if annotation is int else float if annotation is float else str
            fn = click.option(flag, name, type=type_, default=None, help=help_)(fn)
    return fn


@main.command()
@_settings_options
@_handled
def run(**flags: Any) -> None:
    """Run the operator against the current cluster until SIGTERM."""
    from growthrs_core.controller.controller import Controller
    from growthrs_core.controller.kube import load_api_client
    from growthrs_core.plugins.manager import get_plugin_manager
    from growthrs_core.settings import Settings

    settings = Settings(**{k: v for k, v in flags.items() if v is not None})
    _setup_logging(settings.log_level, settings.log_format)
    manager = get_plugin_manager()
    log = logging.getLogger("growthrs")
    log.info(
        "plugins: %s; providers: %s; strategy chain: %s",
        ", ".join(manager.plugins),
        ", ".join(manager.providers),
        ",".join(settings.strategies),
    )
    api_client = load_api_client(settings.kubeconfig)
    controller = Controller(settings, manager, api_client)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        controller.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    controller.run()


# -- crds ------------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one file per CRD here.",
)
@_handled
def crds(output_dir: Path | None) -> None:
    """Print (or write) the CRDs of the core and of every installed plugin."""
    from growthrs_core.crd.generate import all_crds, render_stream, write_dir
    from growthrs_core.plugins.manager import get_plugin_manager

    manifests = all_crds(get_plugin_manager())
    if output_dir is None:
        click.echo(render_stream(manifests), nl=False)
        return
    for path in write_dir(manifests, output_dir):
        click.echo(f"wrote {path}")


# -- plugins -------------------------------------------------------------------------------------------


@main.command()
@_handled
def plugins() -> None:
    """List plugins: distribution, version, providers and strategies they register."""
    from growthrs_core.plugins.manager import get_plugin_manager

    manager = get_plugin_manager()
    manager.crds()
    table = Table("plugin", "distribution", "version", "providers", "strategies", "CRDs", "status")
    for info in manager.plugins.values():
        table.add_row(
            info.name,
            info.distribution,
            info.version,
            ", ".join(info.providers) or "-",
            ", ".join(info.strategies) or "-",
            ", ".join(c.split(".")[0] for c in info.crds) or "-",
            "ok" if info.error is None else f"[red]{info.error}[/red]",
        )
    console.print(table)


# -- offerings --------------------------------------------------------------------------------------------


@main.command()
@click.option("--provider", "-p", "provider_name", help="Only this provider.")
@click.option("--region", "-r", help="Only this region / location.")
@click.option(
    "--kubeconfig", envvar="GROWTHRS_KUBECONFIG", help="For providers that need the cluster."
)
@_handled
def offerings(provider_name: str | None, region: str | None, kubeconfig: str | None) -> None:
    """List what the providers can create, with prices."""
    from growthrs_core.quantity import format_memory

    hub = _hub(kubeconfig, need_cluster=False)
    names = [provider_name] if provider_name else list(hub.manager.providers)
    if provider_name and provider_name not in hub.manager.providers:
        installed = ", ".join(hub.manager.providers) or "none"
        raise GrowthrsError(f"provider {provider_name!r} is not installed (installed: {installed})")
    table = Table("provider", "type", "region", "zone", "arch", "cpu", "memory", "gpu", "EUR/h")
    rows = 0
    for name in names:
        try:
            offers = hub.get(name).offerings(region)
        except GrowthrsError as exc:
            err_console.print(f"[yellow]{name}:[/yellow] {exc}")
            continue
        for o in sorted(offers, key=lambda o: (o.region, o.cost_per_hour, o.instance_type)):
            gpu = (
                f"{o.resources.gpu}x {o.resources.gpu_model or ''}".strip()
                if o.resources.gpu
                else "-"
            )
            table.add_row(
                name,
                o.instance_type,
                o.region,
                o.zone or "-",
                o.arch,
                f"{o.resources.cpu_millis / 1000:g}",
                format_memory(o.resources.memory_mib),
                gpu,
                f"{o.cost_per_hour:.4f}",
            )
            rows += 1
    console.print(table)
    if not rows:
        raise GrowthrsError("no offerings found")


def _hub(kubeconfig: str | None, *, need_cluster: bool) -> Any:
    from growthrs_core.controller.controller import secret_reader
    from growthrs_core.controller.kube import Kube, load_api_client
    from growthrs_core.controller.providers import ProviderHub
    from growthrs_core.plugins.manager import get_plugin_manager
    from growthrs_core.settings import Settings

    settings = Settings(kubeconfig=kubeconfig) if kubeconfig else Settings()
    api_client = None
    try:
        api_client = load_api_client(settings.kubeconfig)
    except GrowthrsError:
        if need_cluster:
            raise
    kube = Kube(api_client) if api_client is not None else None
    return ProviderHub(
        get_plugin_manager(),
        cluster_name=settings.cluster_name,
        api_client=api_client,
        read_secret=secret_reader(kube) if kube is not None else _no_cluster,
        timeout=settings.provider_timeout,
    )


def _no_cluster(namespace: str, name: str, key: str) -> str:
    raise GrowthrsError(f"cannot read Secret {namespace}/{name}: no cluster configured")


# -- plan ---------------------------------------------------------------------------------------------------


@main.command()
@click.option("--kubeconfig", envvar="GROWTHRS_KUBECONFIG", help="Kubeconfig path.")
@_handled
def plan(kubeconfig: str | None) -> None:
    """Dry run on the current cluster: what would be created and removed, and why. Writes nothing."""
    from growthrs_core import planner
    from growthrs_core.cluster import (
        parse_daemonset,
        parse_group,
        parse_node,
        parse_node_request,
        parse_pod,
    )
    from growthrs_core.controller.kube import Kube, ngp_path, node_path, nr_path
    from growthrs_core.scale_down import ScaleDownConfig, plan_scale_down
    from growthrs_core.settings import Settings
    from growthrs_core.timeutil import now

    hub = _hub(kubeconfig, need_cluster=True)
    settings = Settings(kubeconfig=kubeconfig) if kubeconfig else Settings()
    kube = Kube(hub.api_client)
    pods = [parse_pod(o) for o in kube.list_all("/api/v1/pods")[0]]
    nodes = [parse_node(o) for o in kube.list_all(node_path())[0]]
    daemonsets = [parse_daemonset(o) for o in kube.list_all("/apis/apps/v1/daemonsets")[0]]
    groups = [parse_group(o) for o in kube.list_all(ngp_path())[0]]
    requests = [parse_node_request(o) for o in kube.list_all(nr_path())[0]]
    offers: dict[str, list[Any]] = {}
    for group in groups:
        for pool in group.spec.pools if group.spec else ():
            if pool.provider not in offers and hub.installed(pool.provider):
                try:
                    offers[pool.provider] = hub.get(pool.provider).offerings(None)
                except GrowthrsError as exc:
                    err_console.print(f"[yellow]{pool.provider}:[/yellow] {exc}")
    chain = hub.manager.strategy_chain(settings.strategies)
    result = planner.plan(
        planner.PlanningInput(
            pods=pods,
            nodes=nodes,
            daemonsets=daemonsets,
            groups=groups,
            node_requests=requests,
            offerings=offers,
            strategies=chain,
        )
    )
    pending = [p for p in pods if p.unschedulable and not p.node_name]
    console.print(
        f"{len(pending)} unschedulable pod(s), {len(nodes)} node(s), {len(groups)} group(s), "
        f"{len(requests)} NodeRequest(s)"
    )
    create = Table(
        "group", "pool", "offering", "cpu", "memory", "pods", "EUR/h", title="Would create"
    )
    for node in result.new_nodes:
        create.add_row(
            node.group,
            str(node.pool_index),
            node.offering.key,
            node.requirements.cpu,
            node.requirements.memory,
            ", ".join(p.key for p in node.pods[:3])
            + (f" (+{len(node.pods) - 3})" if len(node.pods) > 3 else ""),
            f"{node.offering.cost_per_hour:.4f}",
        )
    console.print(create)
    why = Table("pod", "decision", "reason", title="Pods")
    decisions = {
        "planned": "scale-up",
        "in_flight": "waiting",
        "fits_existing": "waiting",
        "cannot_serve": "no scale-up",
    }
    for key, outcome in result.outcomes.items():
        reason = f"{outcome.reason}: {outcome.message}" if outcome.reason else outcome.message
        why.add_row(key, decisions[outcome.kind], reason)
    console.print(why)
    pods_by_node: dict[str, list[Any]] = {}
    for pod in pods:
        if pod.node_name:
            pods_by_node.setdefault(pod.node_name, []).append(pod)
    down = plan_scale_down(
        nodes=nodes,
        pods_by_node=pods_by_node,
        groups=groups,
        groups_with_waiting_pods=frozenset(
            r.group for r in requests if r.phase in ("Pending", "Provisioning")
        ),
        now=now(),
        cfg=ScaleDownConfig(enabled=settings.scale_down_enabled),
    )
    remove = Table("node", "decision", "detail", title="Scale-down")
    for mark in down.marks:
        remove.add_row(mark.node, "would mark", f"empty; removal at {mark.at}")
    for unmark in down.unmarks:
        remove.add_row(unmark.node, "would unmark", unmark.reason)
    for removal in down.removals:
        remove.add_row(removal.node, "would remove", f"{removal.provider}: {removal.reason}")
    console.print(remove)


# -- nuke ------------------------------------------------------------------------------------------------------


@main.command()
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.option("--kubeconfig", envvar="GROWTHRS_KUBECONFIG", help="Kubeconfig path.")
@_handled
def nuke(yes: bool, kubeconfig: str | None) -> None:
    """Remove every GrowthRS NodeRequest, managed node and provider instance."""
    from growthrs_core.cluster import NODE_GROUP_LABEL, parse_node
    from growthrs_core.controller.kube import Kube, node_path, nr_path
    from growthrs_core.domain import NodeId
    from growthrs_core.scale_down import PROVIDER_LABEL

    hub = _hub(kubeconfig, need_cluster=True)
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
        provider = node.labels.get(PROVIDER_LABEL, "")
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


if __name__ == "__main__":  # pragma: no cover
    main()
