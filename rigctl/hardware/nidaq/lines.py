"""Digital output lines: cues written on demand, laser lines timed by a counter.

A cue or a gate changes a few times a trial and must change *now*, so it is an on-demand task on
its own line (no sample clock, which an X-series card has only one of and the valves use). Every
line is driven low when created and when closed; a broken task is bypassed by a fresh one on close.
A laser line (gate, TTL laser) is a counter pulse instead, so the card ends it after ``max_on_s``
even when the host stops (:class:`TimedLine`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
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


def pfi_terminal(line: str) -> str | None:
    """The PFI terminal of a port1/port2 line on X- and M-series cards (``Dev1/port1/line2`` →
    ``/Dev1/PFI2``, port2 lines are PFI 8-15), or None for a line with no PFI (port0)."""
    try:
        device, port, number = line.split("/")
        p, n = int(port.lower().removeprefix("port")), int(number.lower().removeprefix("line"))
    except ValueError:
        return None
    if p not in (1, 2) or not 0 <= n < 8:
        return None
    return f"/{device}/PFI{n + 8 * (p - 1)}"


class TimedLine(DigitalOutputDriver):
    """A laser line (gate or TTL laser) that the card itself drops after ``max_on_s``.

    Raising the line starts one finite counter pulse (``add_co_pulse_chan_time``, idle low, no
    sample timing: DAQmx's single pulse) whose high time is what is left of ``max_on_s`` since
    the line last went high, on the counter output routed to the line's PFI terminal. The card
    ends the pulse on its own timebase, so a stalled or dead host cannot keep the line high
    longer. Raising it again while the pulse runs changes nothing (it cannot extend the pulse);
    once the pulse has ended it starts a new one. Lowering it closes the counter task (which
    releases the terminal) and drives the line low through an on-demand write, so the early
    close does not depend on how a stopped counter leaves its output.
    """

    def __init__(self, ni: Ni, line: str, role: str, counter: str, max_on_s: float,
                 now: Callable[[], float]) -> None:
        terminal = pfi_terminal(line)
        if terminal is None:
            raise DeviceError(
                f"device {ni.device!r}: {role} on {line} has no PFI terminal for the counter "
                f"{counter} to time it (max_on_s on the card); wire it to a port1/port2 line, or "
                f"set devices.{ni.device}.laser_counter: null to drive it untimed"
            )
        self.ni, self.line, self.role = ni, line, role
        self.counter, self.terminal = f"{ni.device}/{counter}", terminal
        self.max_on_s, self._now = max_on_s, now
        self.what = f"{role} on {line} ({counter} -> {terminal})"
        self.task: Any = None
        self.high_since: float | None = None
        self.high_until = 0.0  # when the pulse running now ends on the card
        self.dead = False
        problem = ni.write_once([line], False, self.what)
        if problem:
            raise DeviceError(f"device {ni.device!r}: {problem}")

    def set(self, level: bool) -> None:
        if self.dead:
            raise DeviceError(f"device {self.ni.device!r}: {self.what} was shut down after an "
                              "error")
        if not level:
            problem = self.off()
            if problem:
                raise DeviceError(f"device {self.ni.device!r}: {problem}")
            return
        now = self._now()
        if self.high_since is not None and now < self.high_until:
            return  # the pulse is running: it ends where it was going to end
        self._close_task()
        self.high_since, self.high_until = now, now + self.max_on_s
        task = self.ni.task(self.role, self.what)
        self.task = task
        with self.ni.translated(self.what):
            chan = task.co_channels.add_co_pulse_chan_time(
                self.counter, units=self.ni.constants.TimeUnits.SECONDS,
                idle_state=self.ni.constants.Level.LOW, initial_delay=0.0,
                low_time=0.01, high_time=self.max_on_s,
            )
            chan.co_pulse_term = self.terminal
            task.start()

    def _close_task(self) -> None:
        if self.task is not None:
            close_task(self.task)
            self.task = None

    def off(self) -> str | None:
        """Pulse ended, terminal released, line low. Never raises; returns what failed."""
        self.high_since = None
        self._close_task()
        return self.ni.write_once([self.line], False, self.what)

    def close(self) -> str | None:
        problem = self.off()
        self.dead = True
        return problem
