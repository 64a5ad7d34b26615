"""Sync pulses timed by the card: the seeded random train played out by a counter.

The engine's timers toggle a line a few ms late on a loaded host. Here the whole train is
computed from its seed (:func:`rigctl.hardware.sync_train.intervals_ms`, the same draw as the
serial controller's firmware) and written once to a counter output with implicit timing: one
``CtrTime`` sample per pulse (high for the width, low until the next pulse), the first pulse
after ``initial_delay``, on the counter output routed to the line's PFI terminal. The card's
timebase times every edge; nothing the host does afterwards can delay one.

The buffer is finite: ``sync_horizon_s`` of pulses (default 24 h; at the default 5 s mean,
~17,000 samples). The session times logged for the edges are the schedule from the moment the
counter started (the midpoint of ``task.start()``), so, as for the card's sampled inputs, the
card's timebase is taken as the session clock: a constant start error ends up in an alignment's
offset, the timebase's accuracy (X series: 50 ppm) in its drift.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from rigctl.errors import DeviceError
from rigctl.hardware.interfaces import DigitalOutputDriver
from rigctl.hardware.nidaq.lines import close_task, pfi_terminal
from rigctl.hardware.nidaq.ni import Ni
from rigctl.hardware.sync_train import SyncEdge, TrainSpec, intervals_ms

MAX_PULSES = 1_000_000


def schedule_s(spec: TrainSpec, horizon_s: float) -> np.ndarray:
    """Rising edges (s after the counter starts) of the train up to ``horizon_s``."""
    rises, t = [], 0
    for dt in itertools.islice(intervals_ms(spec.seed, spec.mean_ms, spec.spread_ms),
                               MAX_PULSES):
        t += dt
        if t > horizon_s * 1000:
            break
        rises.append(t)
    return np.asarray(rises, dtype=float) / 1000.0


class CardSyncTrain(DigitalOutputDriver):
    """The sync line on a port1/port2 line, timed by ``counter`` (see the module docstring)."""

    def __init__(self, ni: Ni, line: str, counter: str, horizon_s: float,
                 now: Callable[[], float]) -> None:
        terminal = pfi_terminal(line)
        if terminal is None:
            raise DeviceError(
                f"device {ni.device!r}: sync on {line} has no PFI terminal for the counter "
                f"{counter} to time it; wire it to a port1/port2 line, or set "
                f"devices.{ni.device}.sync_counter: null to have rigctl time it (less exactly)")
        self.ni, self.line, self.counter = ni, line, f"{ni.device}/{counter}"
        self.terminal, self.horizon_s, self._now = terminal, horizon_s, now
        self.what = f"sync on {line} ({counter} -> {terminal})"
        self.task: Any = None
        self._times = np.empty(0)  # every edge, s after the start: rise, fall, rise, ...
        self._t0 = 0.0
        self._next = 0
        self._until: float | None = None  # stopped at this session time
        problem = ni.write_once([line], False, self.what)
        if problem:
            raise DeviceError(f"device {ni.device!r}: {problem}")

    def start(self, spec: TrainSpec) -> None:
        rises = schedule_s(spec, self.horizon_s)
        if len(rises) < 2:
            raise DeviceError(f"device {self.ni.device!r}: {self.what}: sync_horizon_s "
                              f"{self.horizon_s:g} s holds fewer than two pulses")
        width = spec.width_ms / 1000.0
        lows = np.append(np.diff(rises), 2 * width) - width
        c = self.ni.constants
        ctr_time = self.ni.nidaqmx.types.CtrTime
        task = self.ni.task("sync", self.what)
        self.task = task
        with self.ni.translated(self.what):
            chan = task.co_channels.add_co_pulse_chan_time(
                self.counter, units=c.TimeUnits.SECONDS, idle_state=c.Level.LOW,
                initial_delay=float(rises[0]), low_time=float(lows[0]), high_time=width)
            chan.co_pulse_term = self.terminal
            task.timing.cfg_implicit_timing(sample_mode=c.AcquisitionType.FINITE,
                                            samps_per_chan=len(rises))
            task.write([ctr_time(high_time=width, low_time=float(lo)) for lo in lows],
                       auto_start=False)
            before = self._now()
            task.start()
            after = self._now()
        self._t0 = (before + after) / 2
        self._times = np.column_stack([rises, rises + width]).ravel()
        self._next, self._until = 0, None

    def edges(self) -> list[SyncEdge]:
        """The scheduled edges whose time has come (and none after a stop)."""
        now = self._now() if self._until is None else self._until
        out = []
        times = self._times
        while self._next < len(times) and self._t0 + times[self._next] <= now:
            k = self._next
            out.append(SyncEdge(self._t0 + float(times[k]), k % 2 == 0, float(times[k])))
            self._next += 1
        return out

    def stop(self) -> str | None:
        """Counter stopped and released, line low. Never raises; returns what failed."""
        if self._until is None:
            self._until = self._now()
        if self.task is not None:
            with contextlib.suppress(Exception):
                self.task.stop()
            close_task(self.task)
            self.task = None
        return self.ni.write_once([self.line], False, self.what)

    def set(self, level: bool) -> None:
        if level:
            raise DeviceError(f"device {self.ni.device!r}: {self.what} is timed by the card "
                              "and cannot be set high by hand")
        problem = self.stop()
        if problem:
            raise DeviceError(f"device {self.ni.device!r}: {problem}")

    def close(self) -> str | None:
        return self.stop()
