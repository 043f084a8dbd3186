"""What every ``growthrs`` command shares: error handling, logging, settings flags, providers."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import yaml
from pydantic import ValidationError
from rich.console import Console

from growthrs_core.errors import GrowthrsError
from growthrs_core.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
# Piped output (CI logs, `growthrs plan | less`) gets a wide table instead of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def one_line(exc: GrowthrsError) -> str:
    """An error as one line; an unreachable API says so and names the server."""
    from growthrs_core.controller.kube import KubeError

    if isinstance(exc, KubeError) and exc.status == 0:
        why = str(exc).split(": ", 1)[-1]
        return f"cannot reach the Kubernetes API at {exc.server or '?'}: {why}"
    return str(exc).replace("\n", " ")


def handled(fn: F) -> F:
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
            err_console.print(f"[red]error:[/red] {one_line(exc)}", highlight=False, markup=True)
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


output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
    help="How to print the result.",
)


def emit(data: Any, output: str) -> bool:
    """Print ``data`` as JSON or YAML when asked; ``False`` for a table (the caller's)."""
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    elif output == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False), nl=False)
    else:
        return False
    return True


def setup_logging(level: str, fmt: str = "text") -> None:
    """Text lines, or one JSON object per line (python-json-logger: always valid JSON,
    whatever the message holds) with the structured fields of :mod:`growthrs_core.logfields`."""
    handler = logging.StreamHandler()
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={
                    "asctime": "time",
                    "levelname": "level",
                    "name": "logger",
                    "message": "msg",
                },
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler], force=True)
    # urllib3 warns about each retry of an unreachable server; the error says it once.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)


def settings_options(fn: F) -> F:
    """One ``--flag`` per Settings field, documented from the field description."""
    for name, field in reversed(list(Settings.model_fields.items())):
        flag = "--" + name.replace("_", "-")
        annotation = field.annotation
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(str(v) for v in default)
        shown = "derived" if default is None else default
        help_ = f"{field.description} [default: {shown}; env GROWTHRS_{name.upper()}]"
        if annotation is bool:
            fn = click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_)(fn)
        else:
            type_: Any = int if annotation is int else float if annotation is float else str
            fn = click.option(flag, name, type=type_, default=None, help=help_)(fn)
    return fn


def settings_from(flags: dict[str, Any]) -> Settings:
    """Settings from the environment, with the flags given on the command line on top."""
    return Settings(
        **{k: v for k, v in flags.items() if k in Settings.model_fields and v is not None}
    )


def provider_hub(settings: Settings, *, need_cluster: bool) -> Any:
    """A provider hub for one command; without a cluster, providers that need one fail alone."""
    from growthrs_core.controller.kube import Kube, load_api_client
    from growthrs_core.controller.providers import ProviderHub
    from growthrs_core.controller.state import cluster_identity, secret_reader
    from growthrs_core.plugins.manager import get_plugin_manager

    api_client = None
    try:
        api_client = load_api_client(settings.kubeconfig)
    except GrowthrsError:
        if need_cluster:
            raise
    identity = settings.cluster_name or ""
    if api_client is not None and need_cluster:
        identity = cluster_identity(Kube(api_client), settings.cluster_name)
    return ProviderHub(
        get_plugin_manager(),
        cluster_name=identity or "unknown-cluster",
        api_client=api_client,
        read_secret=secret_reader(Kube(api_client)) if api_client is not None else _no_cluster,
        timeout=settings.provider_timeout,
    )


def _no_cluster(namespace: str, name: str, key: str) -> str:
    raise GrowthrsError(f"cannot read Secret {namespace}/{name}: no cluster configured")
