"""The ``growthrs`` command line.

Every command prints one clear line on error (no traceback unless ``--debug``)
and exits non-zero.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from growthrs_core.cli.common import (
    console,
    emit,
    err_console,
    handled,
    output_option,
    provider_hub,
    settings_from,
    settings_options,
    setup_logging,
)
from growthrs_core.cli.nuke import nuke
from growthrs_core.cli.plan import plan
from growthrs_core.errors import GrowthrsError


@click.group()
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(package_name="growthrs-core", prog_name="growthrs")
def main(debug: bool) -> None:
    """GrowthRS: priority-ordered node pools for Kubernetes, from any provider."""
    setup_logging("DEBUG" if debug else "WARNING")


main.add_command(plan)
main.add_command(nuke)


# -- run ---------------------------------------------------------------------------------------


@main.command()
@click.option("--once", is_flag=True, help="Make one pass (plan, then step everything), then exit.")
@settings_options
@handled
def run(once: bool, **flags: Any) -> None:
    """Run the operator against the current cluster until SIGTERM."""
    from growthrs_core.controller.kube import Kube, load_api_client
    from growthrs_core.controller.loop import Controller
    from growthrs_core.plugins.manager import get_plugin_manager

    settings = settings_from(flags)
    setup_logging(settings.log_level, settings.log_format)
    manager = get_plugin_manager()
    log = logging.getLogger("growthrs")
    log.info(
        "plugins: %s; providers: %s; strategy chain: %s",
        ", ".join(manager.plugins),
        ", ".join(manager.providers),
        ",".join(settings.strategies),
    )
    api_client = load_api_client(settings.kubeconfig)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stopping.set()
        if controller is not None:
            controller.stop()

    controller: Controller | None = None
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    identity = _identity_when_reachable(Kube(api_client), settings, stopping, log)
    if identity is None:
        return
    settings = settings.model_copy(update={"cluster_name": identity})
    log.info("cluster identity: %s (on every instance this operator creates)", identity)
    controller = Controller(settings, manager, api_client)
    if stopping.is_set():
        return
    controller.run(once=once)


def _identity_when_reachable(
    kube: Any, settings: Any, stopping: threading.Event, log: logging.Logger
) -> str | None:
    """The cluster identity, waiting (and saying so) while the API cannot be reached."""
    from growthrs_core.controller.kube import KubeError
    from growthrs_core.controller.state import cluster_identity

    wait = 1.0
    server = getattr(getattr(kube.api_client, "configuration", None), "host", "?")
    while not stopping.is_set():
        try:
            return cluster_identity(kube, settings.cluster_name)
        except KubeError as exc:
            log.warning(
                "cannot reach the Kubernetes API at %s (%s); retrying in %.0fs", server, exc, wait
            )
            stopping.wait(wait)
            wait = min(wait * 2, 30.0)
    return None


# -- crds ------------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one file per CRD here.",
)
@handled
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
@output_option
@handled
def plugins(output: str) -> None:
    """List plugins: distribution, version, providers and strategies they register."""
    from growthrs_core.plugins.manager import get_plugin_manager

    manager = get_plugin_manager()
    manager.crds()
    rows: list[dict[str, Any]] = [
        {
            "plugin": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "providers": list(info.providers),
            "strategies": list(info.strategies),
            "crds": list(info.crds),
            "status": "ok" if info.error is None else info.error,
        }
        for info in manager.plugins.values()
    ]
    if emit(rows, output):
        return
    table = Table("plugin", "distribution", "version", "providers", "strategies", "CRDs", "status")
    for row in rows:
        table.add_row(
            row["plugin"],
            row["distribution"],
            row["version"],
            ", ".join(row["providers"]) or "-",
            ", ".join(row["strategies"]) or "-",
            ", ".join(c.split(".")[0] for c in row["crds"]) or "-",
            "ok" if row["status"] == "ok" else f"[red]{row['status']}[/red]",
        )
    console.print(table)


# -- offerings --------------------------------------------------------------------------------------------


@main.command()
@click.option("--provider", "-p", "provider_name", help="Only this provider.")
@click.option("--region", "-r", help="Only this region / location.")
@click.option(
    "--kubeconfig", envvar="GROWTHRS_KUBECONFIG", help="For providers that need the cluster."
)
@output_option
@handled
def offerings(
    provider_name: str | None, region: str | None, kubeconfig: str | None, output: str
) -> None:
    """List what the providers can create, with prices."""
    from growthrs_core.quantity import format_memory
    from growthrs_core.settings import Settings

    hub = provider_hub(
        Settings(kubeconfig=kubeconfig) if kubeconfig else Settings(), need_cluster=False
    )
    names = [provider_name] if provider_name else list(hub.manager.providers)
    if provider_name and provider_name not in hub.manager.providers:
        installed = ", ".join(hub.manager.providers) or "none"
        raise GrowthrsError(f"provider {provider_name!r} is not installed (installed: {installed})")
    rows: list[dict[str, Any]] = []
    for name in names:
        try:
            offers = hub.get(name).offerings(region)
        except GrowthrsError as exc:
            err_console.print(f"[yellow]{name}:[/yellow] {exc}")
            continue
        for o in sorted(offers, key=lambda o: (o.region, o.cost_per_hour, o.instance_type)):
            res = o.resources
            rows.append(
                {
                    "provider": name,
                    "type": str(o.instance_type),
                    "region": str(o.region),
                    "zone": str(o.zone) if o.zone else None,
                    "arch": o.arch,
                    "cpu": res.cpu_millis / 1000,
                    "memory": format_memory(res.memory_mib),
                    "gpu": res.gpu,
                    "gpuModel": res.gpu_model,
                    "extended": dict(res.extended),
                    "costPerHour": o.cost_per_hour,
                }
            )
    if not rows:
        raise GrowthrsError("no offerings found")
    if emit(rows, output):
        return
    table = Table("provider", "type", "region", "zone", "arch", "cpu", "memory", "gpu", "EUR/h")
    for row in rows:
        gpu = f"{row['gpu']}x {row['gpuModel'] or ''}".strip() if row["gpu"] else "-"
        table.add_row(
            row["provider"],
            row["type"],
            row["region"],
            row["zone"] or "-",
            row["arch"],
            f"{row['cpu']:g}",
            row["memory"],
            gpu,
            f"{row['costPerHour']:.4f}",
        )
    console.print(table)
