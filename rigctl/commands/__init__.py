"""Sub-commands of ``rigctl``, one module each (see :mod:`rigctl.cli`)."""
