"""Ctrl-C while rigctl starts: a flag, never a KeyboardInterrupt traceback.

Python turns SIGINT into KeyboardInterrupt wherever the interpreter happens to be: in the middle
of an import, of numba compiling the predictor, of opening a serial port. During start-up that
prints a traceback (and could leave a device half-opened). So the command's entry installs
:class:`StartupInterrupt` before importing anything heavy; SIGINT then only sets ``requested``,
which the command checks at safe points (:mod:`rigctl.cli`, ``rigctl run``). This module imports
nothing but the standard library, so it is installed within milliseconds of the process start.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class StartupInterrupt:
    """While installed, SIGINT sets ``requested`` instead of raising KeyboardInterrupt."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None
        self._installed = False

    def _handler(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():  # signals: main thread only
            self._old = signal.signal(signal.SIGINT, self._handler)
            self._installed = True

    def restore(self) -> None:
        """Put back the handler that was there before (Python's Ctrl-C)."""
        if self._installed:
            signal.signal(signal.SIGINT, self._old)
            self._installed = False
