"""The pair of pluggy markers named after the host."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "growthrs"
"""The pluggy project name and the entry-point group plugins declare."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
