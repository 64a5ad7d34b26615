"""Inputs of an NI card: lick/beam lines and the continuous neural signal.

Digital inputs: all input lines of a device are read by one task (a card has one DI timing
engine), one channel per line. With change detection the card stores a sample the moment any line
changes, so a reader thread blocked in ``read`` wakes per edge and no touch is missed, however
short. Without it (lines outside port0 on X series, most USB cards) the lines are polled every
``di_poll_period_s``; a touch shorter than the period can be missed and an edge is stamped up to one
period late. Edges become ``InputEvent``s named by role (1 rising, 0 falling), stamped with the
session clock when they are read.

Analog input: a continuous, hardware-timed AI task; a reader thread hands the samples on in chunks
of ``signal_chunk_s``. Chunk times come from the sample count (``t0 = start + first / rate``), so
they are gap-free and jitter-free; the card's clock may drift from the host's by its crystal's
tolerance (tens of ppm).

A reader that gets a DAQmx error other than a read timeout reports it through ``sink.fail``: the
session then ends ``aborted`` with that message after every output is turned off.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from rigctl.hardware.interfaces import Clock, EventSink, InputEvent, SignalChunk
from rigctl.hardware.nidaq.lines import close_task
from rigctl.hardware.nidaq.ni import Ni
from rigctl.hardware.nidaq.settings import NiDaqSettings

_READ_TIMEOUT_S = 0.1  # a blocked reader looks at its stop flag this often
_CD_BUFFER = 1000  # change-detection samples the driver may hold before we read them


def _levels(sample: Any, n: int) -> list[bool]:
    """A one-sample read: a bool for one channel, a list of bools for several."""
    values = [sample] if n == 1 and not isinstance(sample, (list, tuple, np.ndarray)) else sample
    return [bool(v) for v in values]


class DigitalInputs:
    """Every lick/beam line of one device: one task, one reader thread."""

    def __init__(self, ni: Ni, settings: NiDaqSettings, clock: Clock, sink: EventSink) -> None:
        self.ni, self.settings, self.clock, self.sink = ni, settings, clock, sink
        self.lines: list[str] = []
        self.roles: list[str] = []
        self.mode: str | None = None
        self.task: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._levels: list[bool] = []

    def add(self, line: str, role: str) -> None:
        self.lines.append(line)
        self.roles.append(role)

    @property
    def what(self) -> str:
        return f"inputs on {', '.join(self.lines)}"

    def _choose_mode(self) -> str:
        mode = self.settings.di_mode
        if mode == "auto":
            capable = all(self.ni.supports(ln, "di_change_detect_supported") for ln in self.lines)
            mode = "change_detection" if capable else "polled"
        return mode

    def _add_channels(self, task: Any) -> None:
        for line in self.lines:
            task.di_channels.add_di_chan(
                line, line_grouping=self.ni.constants.LineGrouping.CHAN_PER_LINE
            )

    def _read_levels(self, task: Any, timeout: float) -> list[bool]:
        raw = _levels(task.read(timeout=timeout), len(self.lines))
        return [v != self.settings.di_active_low for v in raw]

    def start(self) -> None:
        """Read the idle levels, then start the task and the reader thread."""
        if not self.lines:
            return
        self.mode = self._choose_mode()
        with self.ni.translated(self.what):
            if self.mode == "change_detection":
                # The first change-detection sample comes with the first edge: read the idle
                # levels on demand first, so that edge can be told from the state before it.
                probe = self.ni.task("inputs idle", self.what)
                try:
                    self._add_channels(probe)
                    self._levels = self._read_levels(probe, 1.0)
                finally:
                    close_task(probe)
            self.task = self.ni.task("inputs", self.what)
            self._add_channels(self.task)
            if self.mode == "change_detection":
                lines = ", ".join(self.lines)
                self.task.timing.cfg_change_detection_timing(
                    rising_edge_chan=lines, falling_edge_chan=lines,
                    sample_mode=self.ni.constants.AcquisitionType.CONTINUOUS,
                    samps_per_chan=_CD_BUFFER,
                )
                self.task.start()
            else:
                self._levels = self._read_levels(self.task, 1.0)
        target = self._run_change_detection if self.mode == "change_detection" else self._run_polled
        self._thread = threading.Thread(target=target, name=f"nidaq-{self.ni.device}-di",
                                        daemon=True)
        self._thread.start()

    def _emit(self, levels: Sequence[bool]) -> None:
        now = self.clock.now()
        for k, (old, new) in enumerate(zip(self._levels, levels, strict=True)):
            if old != new:
                self.sink.put(InputEvent(t=now, name=self.roles[k], value=1.0 if new else 0.0))
        self._levels = list(levels)

    def _failed(self, exc: BaseException) -> None:
        if not self._stop.is_set():
            self.sink.fail(self.ni.device_error(f"{self.what} stopped", exc))

    def _run_change_detection(self) -> None:
        while not self._stop.is_set():
            try:
                levels = self._read_levels(self.task, _READ_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - any failure ends the session cleanly
                if self.ni.is_timeout(exc):
                    continue
                self._failed(exc)
                return
            self._emit(levels)

    def _run_polled(self) -> None:
        period = self.settings.di_poll_period_s
        due = time.perf_counter() + period
        while not self._stop.wait(max(0.0, due - time.perf_counter())):
            due += period
            try:
                levels = self._read_levels(self.task, _READ_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001
                self._failed(exc)
                return
            self._emit(levels)
            now = time.perf_counter()
            if due < now:  # fell behind (a stall): poll again from now, do not burst
                due = now + period

    def stop_reading(self) -> None:
        """Ask the reader to end (it does within one read timeout); see :meth:`close`."""
        self._stop.set()

    def close(self) -> None:
        """Stop the reader, then the task (no call races a blocked read), close it. Never
        raises."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self.task is not None:
            with contextlib.suppress(Exception):  # closing anyway
                self.task.stop()
            close_task(self.task)
            self.task = None


class SignalInput:
    """The neural signal on ``Dev1/aiN``: continuous, hardware-timed, delivered in chunks."""

    def __init__(self, ni: Ni, channel: str, role: str, rate_hz: float,
                 settings: NiDaqSettings, clock: Clock, sink: EventSink) -> None:
        self.ni, self.channel, self.role, self.rate_hz = ni, channel, role, rate_hz
        self.clock, self.sink = clock, sink
        self.chunk = max(1, round(settings.signal_chunk_s * rate_hz))
        self.what = f"{role} on {channel}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t_start = 0.0
        c = ni.constants
        terminal = {
            "default": c.TerminalConfiguration.DEFAULT, "rse": c.TerminalConfiguration.RSE,
            "nrse": c.TerminalConfiguration.NRSE, "differential": c.TerminalConfiguration.DIFF,
            "pseudo_differential": c.TerminalConfiguration.PSEUDO_DIFF,
        }[settings.ai_terminal]
        self.task: Any = ni.task(role, self.what)
        try:
            with ni.translated(self.what):
                self.task.ai_channels.add_ai_voltage_chan(
                    channel, terminal_config=terminal,
                    min_val=settings.ai_min_v, max_val=settings.ai_max_v,
                )
                self.task.timing.cfg_samp_clk_timing(
                    rate_hz, sample_mode=c.AcquisitionType.CONTINUOUS,
                    samps_per_chan=max(self.chunk * 2, round(settings.ai_buffer_s * rate_hz)),
                )
        except BaseException:
            close_task(self.task)
            raise

    def start(self) -> None:
        with self.ni.translated(self.what):
            self._t_start = self.clock.now()
            self.task.start()
        self._thread = threading.Thread(target=self._run, name=f"nidaq-{self.ni.device}-ai",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        first = 0
        timeout = max(_READ_TIMEOUT_S, 5 * self.chunk / self.rate_hz)
        while not self._stop.is_set():
            try:
                data = self.task.read(number_of_samples_per_channel=self.chunk, timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - any failure ends the session cleanly
                if self._stop.is_set():
                    return
                if self.ni.is_timeout(exc):
                    continue
                self.sink.fail(self.ni.device_error(f"{self.what} stopped", exc))
                return
            samples = np.asarray(data, dtype=float).reshape(-1)
            self.sink.put_signal(SignalChunk(
                t0=self._t_start + first / self.rate_hz, first=first, samples=samples,
                rate_hz=self.rate_hz, name=self.role,
            ))
            first += samples.size

    def stop_reading(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stop the reader, then the task, and close it. Never raises."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        with contextlib.suppress(Exception):  # closing anyway
            self.task.stop()
        close_task(self.task)
