"""``python -m rigctl`` is the ``rigctl`` command (useful where scripts are not on PATH)."""

from rigctl.cli import main

raise SystemExit(main())
