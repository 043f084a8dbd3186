"""`make demo`: GrowthRS autoscaling a real workload on a local control plane, live.

Steps: pick a cluster (``KUBECONFIG`` if it runs a kwok controller, otherwise a
fresh one from ``growthrs_testkit.controlplane`` named ``growthrs-demo``),
install the CRDs and ``examples/kwok-demo-group.yaml``, optionally make the
top pool's type "no capacity" (``--fallback``, the default), start
``growthrs run`` as its own process, create a Deployment that needs several
nodes, watch it scale out, scale the Deployment to zero, watch the nodes
leave, print a summary, and clean up (also on Ctrl-C and errors).

What it shows with the example group: the top pool (cax21, at most 4 nodes)
is tried first; with ``--fallback`` the kwok provider has no cax21 capacity
in fsn1, so those requests record an ``Unavailable`` attempt and get cax21 in
nbg1; pods beyond the top pool's 4 nodes go to the CX pool. Then empty nodes
are marked, tainted and removed after the group's ``unneededTime``.

``--ci`` prints plain timestamped lines instead of the live view and exits
non-zero, with a one-line reason, when the scenario misses its time bounds.

Is the ``KUBECONFIG`` cluster a KWOK cluster? Only a kwok controller turns a
Node without a kubelet Ready, so the demo creates a tainted probe Node
annotated ``kwok.x-k8s.io/node: fake``, waits up to 15 s for it to become
Ready and deletes it. It skips the probe (and starts its own cluster) when
the cluster's nodes are all real kubelets, so a production cluster is never
written to.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType

from .cluster import EXAMPLE, DemoFailed
from .scenario import Demo


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--ci",
        action="store_true",
        help="plain lines, no live view; non-zero exit when the scenario misses its bounds",
    )
    p.add_argument(
        "--replicas", type=int, default=40, help="pods in the demo Deployment (default 40)"
    )
    p.add_argument(
        "--group-file",
        default=os.path.relpath(EXAMPLE),
        help="the NodeGroupWithPriority to scale (default examples/kwok-demo-group.yaml)",
    )
    p.add_argument("--cpu", default="1", help="CPU request per pod (default 1)")
    p.add_argument("--memory", default="1Gi", help="memory request per pod (default 1Gi)")
    p.add_argument(
        "--fallback",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="simulate no capacity for the top pool's type in its first location (default on)",
    )
    p.add_argument(
        "--fault",
        help="fault target instead of the default TYPE@LOCATION, e.g. 'cax21' or '*@fsn1'",
    )
    p.add_argument(
        "--keep", action="store_true", help="leave cluster, objects and operator running"
    )
    p.add_argument(
        "--own-cluster", action="store_true", help="start our own cluster even if KUBECONFIG is set"
    )
    p.add_argument(
        "--timeout-running",
        type=float,
        default=120,
        help="seconds until all pods must run (default 120)",
    )
    p.add_argument(
        "--timeout-gone",
        type=float,
        default=0,
        help="seconds after scale-in until all nodes must be gone (default unneededTime + 90)",
    )
    args = p.parse_args(argv)
    if args.replicas < 1:
        p.error("--replicas must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    demo = Demo(args)

    def on_term(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)  # terminal closed: still clean up
    code = 0
    try:
        demo.pick_cluster()
        demo.setup()
        demo.scenario()
        demo.print_summary()
    except KeyboardInterrupt:
        demo.say("interrupted; cleaning up")
        code = 130
    except DemoFailed as exc:
        demo.failure = str(exc)
        demo.say(f"FAILED: {exc}")
        if demo.operator is not None:
            for line in demo.operator.tail(8):
                demo.say(f"  operator: {line}")
        if demo.tracker.t_deploy is not None:
            demo.print_summary()
        code = 1
    except Exception as exc:  # noqa: BLE001 - one line, then clean up
        demo.failure = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        demo.say(f"FAILED: {demo.failure}")
        code = 1
    finally:
        # A second Ctrl-C must not leave a half-deleted cluster behind.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        try:
            demo.cleanup()
        except Exception as exc:  # noqa: BLE001
            demo.say(f"cleanup failed: {type(exc).__name__}: {exc}")
            code = code or 1
    if demo.failure:
        print(f"demo failed: {demo.failure}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
