"""Static digital output lines: cues and laser gates, written on demand.

A cue or a gate changes a few times a trial and must change *now*, so it is an on-demand task on
its own line (no sample clock, which an X-series card has only one of and the valves use). Every
line is driven low when created and when closed; a broken task is bypassed by a fresh one on close.
"""

from __future__ import annotations

import contextlib
from typing import Any

from rigctl.errors import DeviceError
from rigctl.hardware.interfaces import DigitalOutputDriver
from rigctl.hardware.nidaq.ni import Ni


def close_task(task: Any) -> None:
    """Close a task, ignoring errors (it may already be broken or closed)."""
    with contextlib.suppress(Exception):
        task.close()


class NiDigitalOutput(DigitalOutputDriver):
    """One on-demand DO line (``Dev1/port1/line0``), low until set.

    After a failed write the task is given up (closed) on the first off path, and the line is
    driven low from a fresh task; later commands raise instead of touching a closed task.
    """

    def __init__(self, ni: Ni, line: str, role: str) -> None:
        self.ni, self.line, self.role = ni, line, role
        self.what = f"{role} on {line}"
        self.dead = False
        self.task: Any = ni.task(role, self.what)
        try:
            with ni.translated(self.what):
                self.task.do_channels.add_do_chan(
                    line, line_grouping=ni.constants.LineGrouping.CHAN_PER_LINE
                )
                self.task.write(False, auto_start=True)
        except BaseException:
            close_task(self.task)
            raise

    def set(self, level: bool) -> None:
        if self.dead:
            raise DeviceError(f"device {self.ni.device!r}: {self.what} was shut down after an "
                              "error")
        with self.ni.translated(self.what):
            self.task.write(bool(level), auto_start=True)

    def off(self) -> str | None:
        """Line low now, through the task or, if it fails, a fresh one. Never raises."""
        if not self.dead:
            try:
                self.task.write(False, auto_start=True)
                return None
            except Exception:  # noqa: BLE001 - the task is broken: give it up
                self.dead = True
                close_task(self.task)
        return self.ni.write_once([self.line], False, self.what)

    def close(self) -> str | None:
        """Line low, task closed. Never raises; returns what failed, for the log."""
        problem = self.off()
        self.dead = True
        close_task(self.task)
        return problem
