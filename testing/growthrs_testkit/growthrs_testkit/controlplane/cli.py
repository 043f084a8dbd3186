"""A real, local Kubernetes control plane for GrowthRS demos and end-to-end tests.

``python -m growthrs_testkit.controlplane build|up|down|list|env``; see
``growthrs_testkit/controlplane/cluster.py`` for what each does.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import time

from growthrs_testkit.controlplane.cluster import (
    DEFAULT_NAME,
    DEFAULT_UP_TIMEOUT,
    ClusterError,
    build,
    cache_root,
    cluster_dir,
    default_kubeconfig,
    down,
    installed_paths,
    kwok_workdir,
    list_clusters,
    log,
    up,
)


def _cmd_build(args: argparse.Namespace) -> int:
    for key, value in build().items():
        print(f"{key}={value}")
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    start = time.monotonic()
    cluster = up(args.name, args.kubeconfig, timeout=args.timeout)
    log(f"cluster {cluster.name!r} is ready at {cluster.server} ({time.monotonic() - start:.1f}s)")
    print(cluster.kubeconfig)
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    names = list_clusters() if args.all else [args.name]
    paths = installed_paths()
    failed = 0
    for name in names:
        start = time.monotonic()
        try:
            removed = down(name, paths)
        except (ClusterError, OSError, subprocess.SubprocessError) as exc:
            log(f"could not delete cluster {name!r}: {exc}")
            failed += 1
            continue
        if removed:
            log(f"cluster {name!r} deleted ({time.monotonic() - start:.1f}s)")
        else:
            log(f"cluster {name!r} does not exist")
    return 1 if failed else 0


def _cmd_env(args: argparse.Namespace) -> int:
    paths = installed_paths()
    record = cluster_dir(args.name) / "growthrs-kubeconfig-path"
    kubeconfig = (
        record.read_text().strip() if record.exists() else str(default_kubeconfig(args.name))
    )
    lines = {
        "KUBECONFIG": kubeconfig,
        "GROWTHRS_E2E_KUBECONFIG": kubeconfig,
        "GROWTHRS_CACHE": str(cache_root()),
        "KWOK_WORKDIR": str(kwok_workdir()),
        # kubectl's discovery cache, kept with the cluster instead of ~/.kube/cache.
        "KUBECACHEDIR": str(cluster_dir(args.name) / "kube-cache"),
        **paths,
    }
    for key, value in lines.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    for name in list_clusters():
        print(name)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m growthrs_testkit.controlplane", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser(
        "build", help="build (or find cached) binaries and print their paths"
    ).set_defaults(func=_cmd_build)

    p = sub.add_parser("up", help="start a cluster and print its kubeconfig path")
    p.add_argument("--name", default=DEFAULT_NAME)
    p.add_argument(
        "--kubeconfig", help="where to write the kubeconfig (default: in the cluster's state dir)"
    )
    p.add_argument(
        "--timeout", type=float, default=DEFAULT_UP_TIMEOUT, help="seconds to wait for readiness"
    )
    p.set_defaults(func=_cmd_up)

    p = sub.add_parser("down", help="stop a cluster and remove its state")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--name", default=DEFAULT_NAME)
    group.add_argument("--all", action="store_true", help="every cluster under the cache dir")
    p.set_defaults(func=_cmd_down)

    p = sub.add_parser("env", help="print shell exports (KUBECONFIG, binary paths)")
    p.add_argument("--name", default=DEFAULT_NAME)
    p.set_defaults(func=_cmd_env)

    sub.add_parser("list", help="list clusters under the cache dir").set_defaults(func=_cmd_list)

    args = parser.parse_args(argv)
    try:
        rc: int = args.func(args)
        return rc
    except ClusterError as exc:
        log(f"error: {exc}")
        return 1
