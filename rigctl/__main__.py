"""``python -m rigctl`` is the ``rigctl`` command (useful where scripts are not on PATH)."""

from rigctl.entry import run

raise SystemExit(run())
