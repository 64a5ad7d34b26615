"""The process entry of the ``rigctl`` command (console script and ``python -m rigctl``).

Its only job is to install the start-up Ctrl-C guard (:mod:`rigctl.interrupt`) before the
command line code and its imports load, then hand over to :func:`rigctl.cli.main`.
"""

from __future__ import annotations


def run() -> int:
    from rigctl.interrupt import StartupInterrupt

    interrupt = StartupInterrupt()
    interrupt.install()
    from rigctl.cli import main  # may take a second; a Ctrl-C meanwhile only sets the flag

    return main(interrupt=interrupt)
