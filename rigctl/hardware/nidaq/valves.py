"""Valves on NI digital lines, timed by the card's DO sample clock or by a driver thread.

Hardware timing: an X-series card has a single DO sample clock, so the hardware-timed valve lines
of a device share one finite DO task (:class:`ValveBank`). An opening writes one waveform for all
of them: the opened line high for exactly ``round(duration * do_rate_hz)`` samples, any other valve
still open kept high for the rest of its opening, one trailing low sample on every line. The pulse
width is then set by the card's clock, not by Python. Two overlapping openings restart the task; the
other valve's remaining time is measured on the host (sub-millisecond error on that valve only).

Thread timing (lines without a sample clock): the line is set high on demand and a per-valve
thread sets it low at the deadline, sleeping until 1 ms before and spinning the rest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from rigctl.errors import DeviceError
from rigctl.hardware.interfaces import ValveDriver
from rigctl.hardware.nidaq import waveforms
from rigctl.hardware.nidaq.lines import NiDigitalOutput, close_task
from rigctl.hardware.nidaq.ni import Ni

_SPIN_S = 0.001
_DONE_TIMEOUT_S = 0.5


class ValveBank:
    """The hardware-timed valve lines of one device, played out by one finite DO task."""

    def __init__(self, ni: Ni, rate_hz: float) -> None:
        self.ni = ni
        self.rate_hz = rate_hz
        self.lines: list[str] = []
        self.roles: list[str] = []
        self._close_at: list[float] = []  # perf_counter time each line's opening ends
        self._task: Any = None
        self._lock = threading.Lock()

    def add(self, line: str, role: str) -> BankValve:
        if self._task is not None:
            raise DeviceError(f"device {self.ni.device!r}: {role}: valves must be added before "
                              "the first opening")
        self.lines.append(line)
        self.roles.append(role)
        self._close_at.append(0.0)
        return BankValve(self, len(self.lines) - 1)

    @property
    def what(self) -> str:
        return f"valves on {', '.join(self.lines)}"

    def start(self) -> None:
        """Create the task (one channel per line) and drive every valve closed."""
        with self._lock:
            self._ensure()
            self._generate(time.perf_counter())

    def _ensure(self) -> None:
        if self._task is not None:
            return
        task = self.ni.task("valves", self.what)
        try:
            with self.ni.translated(self.what):
                for line in self.lines:
                    task.do_channels.add_do_chan(
                        line, line_grouping=self.ni.constants.LineGrouping.CHAN_PER_LINE
                    )
        except BaseException:
            close_task(task)
            raise
        self._task = task

    def open(self, index: int, duration_s: float) -> None:
        with self._lock:
            self._ensure()
            now = time.perf_counter()
            self._close_at[index] = now + duration_s
            self._generate(now)

    def close_line(self, index: int) -> None:
        with self._lock:
            if self._task is None:
                return
            now = time.perf_counter()
            self._close_at[index] = min(self._close_at[index], now)
            self._generate(now)

    def _generate(self, now: float) -> None:
        counts = [waveforms.samples_for(end - now, self.rate_hz) for end in self._close_at]
        data = waveforms.valve_bank(counts)
        c = self.ni.constants
        task = self._task
        with self.ni.translated(self.what):
            task.stop()
            task.timing.cfg_samp_clk_timing(
                self.rate_hz, sample_mode=c.AcquisitionType.FINITE, samps_per_chan=data.shape[1]
            )
            task.write(data if len(self.lines) > 1 else data[0], auto_start=False)
            task.start()

    def close(self) -> str | None:
        """All valves closed, task closed. Never raises; returns what failed."""
        with self._lock:
            task = self._task
            if task is None:
                return None  # never started: nothing was ever driven high
            self._close_at = [0.0] * len(self.lines)
            broken = False
            try:
                self._generate(time.perf_counter())
                task.wait_until_done(timeout=_DONE_TIMEOUT_S)
                task.stop()
            except Exception:  # noqa: BLE001 - broken task: close it, drive lines from a fresh one
                broken = True
            finally:
                self._task = None
            close_task(task)
            return self.ni.write_once(self.lines, False, self.what) if broken else None


class BankValve(ValveDriver):
    """One line of a :class:`ValveBank`."""

    def __init__(self, bank: ValveBank, index: int) -> None:
        self.bank, self.index = bank, index

    def open_for(self, duration_s: float) -> None:
        self.bank.open(self.index, duration_s)

    def close(self) -> None:
        self.bank.close_line(self.index)


class ThreadValve(ValveDriver):
    """A valve on an on-demand line, closed at its deadline by its own thread."""

    def __init__(self, ni: Ni, line: str, role: str, fail: Callable[[DeviceError], None]) -> None:
        self.output = NiDigitalOutput(ni, line, role)
        self._fail = fail
        self._cond = threading.Condition()
        self._close_at: float | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"nidaq-{role}", daemon=True)
        self._thread.start()

    def open_for(self, duration_s: float) -> None:
        with self._cond:
            self.output.set(True)
            self._close_at = time.perf_counter() + duration_s
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._close_at = None
            self._cond.notify()
            problem = self.output.off()  # through a fresh task if this one is broken
        if problem:
            raise DeviceError(f"device {self.output.ni.device!r}: {problem}")

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and self._close_at is None:
                    self._cond.wait()
                if self._stopping:
                    return
                target = self._close_at
                remaining = target - time.perf_counter()
                if remaining > _SPIN_S:
                    self._cond.wait(remaining - _SPIN_S)
                    continue
            while time.perf_counter() < target:
                pass  # spin the last millisecond: a sleep would overshoot by a scheduler tick
            with self._cond:
                if self._close_at != target or self._stopping:
                    continue  # re-armed or closed meanwhile
                self._close_at = None
                try:
                    self.output.set(False)
                except DeviceError as exc:
                    self._fail(exc)
                    return

    def shutdown(self) -> str | None:
        """Stop the thread, line low, task closed. Never raises; returns what failed."""
        with self._cond:
            self._stopping = True
            self._close_at = None
            self._cond.notify()
        self._thread.join(timeout=1.0)
        return self.output.close()
