"""A stateful stand-in for the Hetzner Cloud API, answering in the official schema.

Use it in-process (``with StandIn() as api: hcloud.Client(token=api.token,
api_endpoint=api.url)``) or as a process (``python -m hcloud_standin --port N``).
``hcloud_standin.contract`` checks recorded exchanges against Hetzner's OpenAPI
description; ``hcloud_standin.kubelet`` plays the machines that boot.
"""

from __future__ import annotations

from hcloud_standin.faults import Fault
from hcloud_standin.server import DEFAULT_TOKEN, Exchange, StandIn
from hcloud_standin.world import ApiError, Clock

__all__ = ["DEFAULT_TOKEN", "ApiError", "Clock", "Exchange", "Fault", "StandIn"]
