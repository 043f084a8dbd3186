"""GrowthRS provider that creates fake nodes for a kwok controller to run.

Registered under the name ``kwok`` through the ``growthrs`` entry point
(:mod:`growthrs_kwok.plugin`).
"""

from __future__ import annotations

from growthrs_kwok.faults import Faults, FaultSource, parse_faults
from growthrs_kwok.offerings import catalogue
from growthrs_kwok.provider import KwokProvider, from_context

__all__ = ["FaultSource", "Faults", "KwokProvider", "catalogue", "from_context", "parse_faults"]
