"""``python -m hcloud_standin --port N``: run the stand-in until interrupted.

Prints the API URL (the ``api_endpoint`` for hcloud clients) as the first line
of stdout, so a parent process can read it and go.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from hcloud_standin.server import DEFAULT_TOKEN, StandIn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hcloud_standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="bearer token clients must send")
    parser.add_argument(
        "--action-delay", type=float, default=5.0, help="seconds a create/delete action runs"
    )
    parser.add_argument("--max-per-page", type=int, default=50)
    parser.add_argument(
        "--rate-limit", type=int, default=3600, help="requests per hour; 0 disables"
    )
    parser.add_argument("--server-limit", type=int, default=100)
    parser.add_argument(
        "--record-limit", type=int, default=10000, help="exchanges kept for /__standin/exchanges"
    )
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    api = StandIn(
        token=args.token,
        host=args.host,
        port=args.port,
        action_delay=args.action_delay,
        max_per_page=args.max_per_page,
        rate_limit=args.rate_limit or None,
        server_limit=args.server_limit,
        record_limit=args.record_limit,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with api:
        print(api.url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
