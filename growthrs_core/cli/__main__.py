"""``python -m growthrs_core.cli`` is the ``growthrs`` command."""

from growthrs_core.cli import main

main()
