"""Test-wide settings.

Under CI, hypothesis runs derandomized: the same examples every run, so a
submission is judged on its code rather than on which random examples came up.
Locally the examples stay random, which is where new counterexamples are found.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
