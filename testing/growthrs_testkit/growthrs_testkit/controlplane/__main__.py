"""``python -m growthrs_testkit.controlplane build|up|down|list|env``."""

from __future__ import annotations

import sys

from growthrs_testkit.controlplane.cli import main

sys.exit(main())
