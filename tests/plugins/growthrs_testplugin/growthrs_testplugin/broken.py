"""An entry point that cannot be imported, as a plugin with a missing dependency would.

The host must log it and skip it while every other plugin keeps working.
"""

from __future__ import annotations

raise ImportError("growthrs_testplugin.broken: this plugin is broken on purpose")
