"""Manual rig control outside a session: pulse and flush valves, test the laser, read sensors.

For the operator at the rig (priming lines, checking a lick sensor, a laser test pulse) and for
the calibration procedures, from the command line or the GUI. A ``ManualRig`` opens the devices
of a rig config and builds the same :class:`~rigctl.hardware.rig.Rig` a session uses, so the same
interlocks hold: valve ``max_open_s``, laser power ceiling, laser ``max_on_s`` (cut by an engine
timer) and ramp-down. Outside a session nothing else runs those timers, so every operation runs a
small service loop (the engine's: wait for the next input or timer, whichever comes first) in the
caller's thread until it is over. When an operation returns, its outputs are off; if it raises
(an interlock, a device error, a progress callback, ``cancel()`` from another thread), the output
it drives is turned off before the exception leaves it; leaving the ``with`` block turns every
output off, whatever happened inside.

UI-free by design: progress arrives through callbacks and a GUI runs the operations in a worker
thread (or its rig process) and calls ``cancel()`` to stop one.

    with ManualRig.open("hardware_configs/sim.yaml") as rig:
        rig.pulse_valve("left", open_ms=40, count=100, interval_s=0.3)
        rig.laser_pulse(power_mw=5, duration_s=2)
        licks = rig.read_events(1.0)
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from rigctl.config.rig import RigConfig
from rigctl.config.subject import Subject
from rigctl.engine.loop import ControlLoop
from rigctl.errors import DeviceError, RigctlError
from rigctl.hardware.calibration import CalibrationError, laser_record, valve_record
from rigctl.hardware.interfaces import Clock, InputEvent, PulseTrain, SignalChunk
from rigctl.hardware.rig import Laser, RewardPort, open_rig
from rigctl.timing.clock import WallClock
from rigctl.timing.timers import Timers

if TYPE_CHECKING:
    from rigctl.config.calibration import LaserCalibrationConfig, ValveCalibrationConfig

#: ``progress(done, total)``: openings done of total, or seconds of emission of total
ProgressFn = Callable[[float, float], None]
LogFn = Callable[[float, str, str, str], None]

#: how often a laser pulse reports progress (s)
PROGRESS_EVERY_S = 0.1
#: most recent inputs and log lines kept in memory
KEEP = 10_000


class Cancelled(RigctlError):
    """The operator cancelled the operation in progress; its outputs are off."""


@runtime_checkable
class RawCommandLaser(Protocol):
    """A laser driver that can also emit an uncalibrated command (for calibration only).

    Proposed for analog lasers (``command_unit = "V"``); a driver without it is calibrated
    through its power set-point in mW (serial lasers, the simulated laser).
    """

    command_unit: str

    def emit_command(self, value: float) -> None: ...


@dataclass(frozen=True)
class LaserPulseResult:
    """What a laser test pulse did: ``on_s`` is shorter than ``requested_s`` when the max
    on-time interlock cut it."""

    command: float
    unit: str
    requested_s: float
    on_s: float
    cut_by_interlock: bool


class ManualRig:
    """A rig opened from its config for manual control (a context manager).

    ``calibrated_laser=False`` opens the laser without its calibration, so laser commands are
    raw set-points (used to measure a new calibration). ``neural_signal`` starts the signal
    input and hands its chunks to ``on_signal``. ``clock`` defaults to the wall clock; a virtual
    clock works with the simulated rig only (tests, demos). Inputs go to ``on_event`` as they
    arrive and are kept for :meth:`read_events`; log lines (time, kind, name, value) go to
    ``log`` and are kept in ``log_lines``.
    """

    def __init__(
        self,
        cfg: RigConfig,
        *,
        source: str = "<config>",
        clock: Clock | None = None,
        subject: Subject | None = None,
        seed: int | None = None,
        calibrated_laser: bool = True,
        neural_signal: bool = False,
        log: LogFn | None = None,
        on_event: Callable[[InputEvent], None] | None = None,
        on_signal: Callable[[SignalChunk], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.source = source
        self.clock = clock if clock is not None else WallClock()
        self.calibrated_laser = calibrated_laser
        self.timers = Timers()
        self.log_lines: collections.deque[tuple[float, str, str, str]] = collections.deque(
            maxlen=KEEP
        )
        self._user_log = log
        self.on_event = on_event
        self.on_signal = on_signal
        self._events: collections.deque[InputEvent] = collections.deque(maxlen=KEEP)
        self._cancel = threading.Event()
        self._busy = threading.Lock()
        self._closed = False
        build = cfg
        if not calibrated_laser:
            build = build.with_lasers({"calibration": None})
        if not neural_signal:
            build = build.model_copy(update={"neural_signal": None})
        self.rig = open_rig(build, self.clock, self.timers, self._log,  # type: ignore[arg-type]
                            subject=subject or Subject(id="manual"),
                            seed=np.random.SeedSequence(seed), source=source)
        # the engine's loop, without a state machine: each operation serves it for its span
        self.loop = ControlLoop(self.clock, self.rig.events, self.timers, None,  # type: ignore[arg-type]
                                self._log, watch=False)
        self.loop.on_input = self._input
        self.loop.on_signal = on_signal
        try:
            if not getattr(self.clock, "realtime", True) and not self.rig.simulated:
                raise RigctlError(
                    f"{source}: a virtual clock needs a simulated rig; real devices run on the "
                    "wall clock"
                )
            self.rig.start()
        except BaseException:
            self.rig.all_off()
            self.rig.close()
            raise

    @classmethod
    def open(cls, path: str | Path, **kwargs: object) -> ManualRig:
        """Load the rig config at ``path`` (ConfigError naming the file) and open the rig."""
        from rigctl.config import load_rig

        return cls(load_rig(str(path)), source=str(path), **kwargs)  # type: ignore[arg-type]

    # --- context manager and shutdown -------------------------------------------------------
    def __enter__(self) -> ManualRig:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        failures = self.close()
        if failures and exc is None:
            raise DeviceError("turning outputs off failed: " + "; ".join(failures))

    def close(self) -> list[str]:
        """Laser off, valves closed, cues off, devices closed. Never raises; returns what failed
        to turn off (also logged). Safe to call twice."""
        if self._closed:
            return []
        self._closed = True
        self.cancel()  # an operation running in another thread stops at its next step
        got = self._busy.acquire(timeout=2.0)
        try:
            failures = self.rig.all_off()
        finally:
            if got:
                self._busy.release()
        now = self.clock.now()
        self._log(now, "output", "all_off", "laser off, valves closed")
        for failure in failures:
            self._log(now, "error", "all_off", failure)
        self.timers.clear()
        self.rig.close()
        with contextlib.suppress(Exception):  # closing must not hide the outputs-off result
            self.rig.events.close()
        return failures

    @property
    def closed(self) -> bool:
        return self._closed

    def cancel(self) -> None:
        """From any thread: stop the operation in progress (it raises Cancelled, outputs off)."""
        self._cancel.set()
        self.rig.events.wake()

    # --- what the rig has --------------------------------------------------------------------
    def now(self) -> float:
        """Seconds since the rig was opened."""
        return self.clock.now()

    @property
    def sides(self) -> tuple[str, ...]:
        return tuple(self.rig.ports)

    @property
    def cues(self) -> tuple[str, ...]:
        """Cues wired in the config (others exist in the rig but drive nothing)."""
        return tuple(n for n, c in self.rig.cues.items() if c.driver is not None)

    @property
    def has_laser(self) -> bool:
        return self.rig.laser is not None

    @property
    def lasers(self) -> tuple[str, ...]:
        """The rig's lasers by the names tasks use (``laser`` for a single ``laser:``)."""
        return tuple(self.rig.lasers)

    @property
    def laser_command_unit(self) -> str:
        """Unit of :meth:`laser_command` for the first laser (see :meth:`laser_unit`)."""
        return self.laser_unit()

    def laser_unit(self, laser: str | None = None) -> str:
        """Unit of :meth:`laser_command`: the driver's raw command (V) or the set-point (mW)."""
        las = self._laser(laser)
        return las.driver.command_unit if isinstance(las.driver, RawCommandLaser) else "mW"

    # --- valves ----------------------------------------------------------------------------
    def pulse_valve(
        self, side: str, open_ms: float, count: int = 1, interval_s: float = 0.5,
        progress: ProgressFn | None = None,
    ) -> int:
        """Open the valve of ``side`` ``count`` times for ``open_ms`` each, with ``interval_s``
        closed between openings; returns when the last opening has closed (openings done).

        The opening itself is timed by the device where it can be; ``max_open_s`` applies.
        """
        port = self._port(side)
        port.check_ms(open_ms)  # before the first opening
        if count < 1:
            raise RigctlError(f"count must be at least 1 (got {count})")
        if not (math.isfinite(interval_s) and interval_s >= 0):
            raise RigctlError(f"interval_s must be >= 0 (got {interval_s:g})")
        return self._pulses(port, [open_ms] * count, interval_s, progress)

    def flush_valve(
        self, side: str, duration_s: float, gap_s: float = 0.05,
        progress: ProgressFn | None = None,
    ) -> float:
        """Keep the valve of ``side`` open for ``duration_s`` in total, to prime or rinse a line.

        ``max_open_s`` still holds: the flush is a series of openings of at most ``max_open_s``
        with ``gap_s`` closed between them. Returns the open time (s); progress counts openings.
        """
        port = self._port(side)
        if not (math.isfinite(duration_s) and duration_s > 0):
            raise RigctlError(f"duration_s must be > 0 (got {duration_s:g})")
        if not (math.isfinite(gap_s) and gap_s >= 0):
            raise RigctlError(f"gap_s must be >= 0 (got {gap_s:g})")
        full_ms = port.max_open_s * 1000.0
        n_full, rest_ms = divmod(duration_s * 1000.0, full_ms)
        durations = [full_ms] * int(n_full) + ([rest_ms] if rest_ms > 1e-6 else [])
        self._pulses(port, durations, gap_s, progress)
        return sum(durations) / 1000.0

    def _pulses(
        self, port: RewardPort, durations_ms: Sequence[float], interval_s: float,
        progress: ProgressFn | None,
    ) -> int:
        with self._operation():
            done = 0
            try:
                t_next = self.clock.now()
                closes_at = t_next
                for ms in durations_ms:
                    self._service_until(t_next)
                    t_open = self.clock.now()
                    port.open_for_ms(ms)
                    done += 1
                    closes_at = t_open + ms / 1000.0
                    t_next = closes_at + interval_s
                    if progress is not None:
                        progress(done, len(durations_ms))
                self._service_until(closes_at)
            except BaseException:
                self._safe(f"valve_{port.side}", port.close)
                raise
            return done

    # --- laser -------------------------------------------------------------------------------
    def laser_pulse(
        self, power_mw: float, duration_s: float, pulses: PulseTrain | None = None,
        progress: ProgressFn | None = None, laser_name: str | None = None,
    ) -> LaserPulseResult:
        """Emit ``power_mw`` for ``duration_s`` (optionally as a pulse train), then ramp down.

        The power ceiling refuses the pulse before any light; the max on-time interlock cuts it
        (``cut_by_interlock``). Returns after the ramp-down has finished. ``laser_name``: which
        laser (default the first).
        """
        laser = self._laser(laser_name)
        _check_duration(duration_s)
        with self._operation():
            try:
                t0 = self.clock.now()
                laser.on(power_mw, pulses)
                on_s, cut = self._emit_for(t0, duration_s, lambda: not laser.is_on, progress)
                laser.off()
                self._service_until(self.clock.now() + laser.cfg.ramp_down_s)
            except BaseException:
                self._safe("laser", laser.force_off)
                raise
        return LaserPulseResult(power_mw, "mW", duration_s, on_s, cut)

    def laser_command(
        self, command: float, duration_s: float, progress: ProgressFn | None = None,
        laser_name: str | None = None,
    ) -> LaserPulseResult:
        """Emit an uncalibrated command for ``duration_s`` (laser calibration only).

        With a driver that takes raw commands (``RawCommandLaser``, e.g. volts) the command is
        sent as is; otherwise it is the power set-point in mW, which needs the rig opened with
        ``calibrated_laser=False`` so no stored calibration is applied. Max on-time and
        ramp-down hold either way; the ceiling holds for set-points (it cannot for volts).
        """
        laser = self._laser(laser_name)
        _check_duration(duration_s)
        driver = laser.driver
        if not isinstance(driver, RawCommandLaser):
            if self.calibrated_laser:
                raise RigctlError(
                    "laser: raw set-points need the rig opened with calibrated_laser=False"
                )
            result = self.laser_pulse(command, duration_s, progress=progress,
                                      laser_name=laser.name)
            return LaserPulseResult(command, "mW", duration_s, result.on_s,
                                    result.cut_by_interlock)
        if not math.isfinite(command):
            raise RigctlError(f"laser: command {command!r} is not a number")
        cfg = laser.cfg
        with self._operation():
            limit: int | None = None
            state = {"on": True}
            try:
                t0 = self.clock.now()
                self._log(t0, "output", laser.name, f"command {command:g}{driver.command_unit}")
                driver.emit_command(command)
                if laser.gate is not None:
                    laser.gate.set(True)

                def cut() -> None:
                    self._log(self.clock.now(), "interlock", laser.name,
                              f"max_on_s {cfg.max_on_s:g} s reached; laser off")
                    state["on"] = False

                limit = self.timers.set_at(t0 + cfg.max_on_s, cut)
                on_s, was_cut = self._emit_for(t0, duration_s, lambda: not state["on"], progress)
                self.timers.cancel(limit)
                self._log(self.clock.now(), "output", laser.name,
                          f"off ramp {cfg.ramp_down_s:g}s")
                driver.stop(cfg.ramp_down_s)
                self._service_until(self.clock.now() + cfg.ramp_down_s)
                if laser.gate is not None:
                    laser.gate.set(False)
            except BaseException:
                self.timers.cancel(limit)
                self._safe("laser", laser.force_off)
                raise
        return LaserPulseResult(command, driver.command_unit, duration_s, on_s, was_cut)

    def _emit_for(
        self, t0: float, duration_s: float, is_cut: Callable[[], bool],
        progress: ProgressFn | None,
    ) -> tuple[float, bool]:
        """Service the rig while light is on; (seconds on, whether the interlock cut it)."""
        t_end = t0 + duration_s
        if progress is not None:
            progress(0.0, duration_s)
        while True:
            now = self.clock.now()
            if now >= t_end or is_cut():
                break
            self._service_until(min(now + PROGRESS_EVERY_S, t_end), stop=is_cut)
            if progress is not None:
                progress(min(self.clock.now() - t0, duration_s), duration_s)
        return min(self.clock.now(), t_end) - t0, is_cut()

    # --- cues and inputs ---------------------------------------------------------------------
    def set_cue(self, name: str, level: bool) -> None:
        """Set a cue line (door, light, tone); it stays until changed or the rig closes."""
        cue = self.rig.cues.get(name)
        if cue is None or cue.driver is None:
            wired = ", ".join(self.cues) or "none"
            raise RigctlError(f"cue {name!r} is not wired in the rig config (wired: {wired})")
        self._require_open()
        cue.set(level)

    def read_events(self, duration_s: float = 0.0) -> list[InputEvent]:
        """Service the rig for ``duration_s`` and return every input since the last read."""
        if not (math.isfinite(duration_s) and duration_s >= 0):
            raise RigctlError(f"duration_s must be >= 0 (got {duration_s:g})")
        with self._operation():
            self._service_until(self.clock.now() + duration_s)
        out = list(self._events)
        self._events.clear()
        return out

    def wait(self, duration_s: float) -> None:
        """Service the rig for ``duration_s`` (inputs are kept for ``read_events``)."""
        if not (math.isfinite(duration_s) and duration_s >= 0):
            raise RigctlError(f"duration_s must be >= 0 (got {duration_s:g})")
        with self._operation():
            self._service_until(self.clock.now() + duration_s)

    # --- internals ---------------------------------------------------------------------------
    def _log(self, t: float, kind: str, name: str, value: str,
             device_t: float | None = None) -> None:
        self.log_lines.append((t, kind, name, value))
        if self._user_log is not None:
            self._user_log(t, kind, name, value)

    def _require_open(self) -> None:
        if self._closed:
            raise RigctlError("the manual rig is closed")

    @contextlib.contextmanager
    def _operation(self):  # type: ignore[no-untyped-def]
        """One operation at a time; a cancel() issued before it started does not stop it."""
        self._require_open()
        if not self._busy.acquire(blocking=False):
            raise RigctlError("another manual operation is in progress")
        self._cancel.clear()
        try:
            yield
        finally:
            self._busy.release()

    def _port(self, side: str) -> RewardPort:
        port = self.rig.ports.get(side)
        if port is None:
            raise RigctlError(f"unknown port {side!r} (ports: {', '.join(self.rig.ports)})")
        return port

    def _laser(self, name: str | None = None) -> Laser:
        if self.rig.laser is None:
            raise RigctlError(f"{self.source}: the rig config has no laser")
        if name is None:
            return self.rig.laser
        laser = self.rig.lasers.get(name)
        if laser is None:
            raise RigctlError(f"{self.source}: the rig has no laser {name!r} (lasers: "
                              f"{', '.join(self.rig.lasers)})")
        return laser

    def _safe(self, what: str, action: Callable[[], None]) -> None:
        """Turn one output off on an error path without hiding the error that got us here."""
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - the original exception is re-raised
            self._log(self.clock.now(), "error", what, f"turning off failed: {exc}")

    def _input(self, event: InputEvent) -> None:
        self._events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _service_until(self, t_end: float, stop: Callable[[], bool] | None = None) -> None:
        """Run timers and take inputs until ``t_end`` (or ``stop()``): the engine's loop
        (``ControlLoop.serve``), which returns once nothing is due up to the current time, so
        an output issued next never comes before an input that already happened. Raises
        Cancelled (outputs are turned off by the operation) when ``cancel()`` was called."""
        cancel = self._cancel
        self.loop.serve(t_end, lambda: cancel.is_set() or (stop is not None and stop()))
        if cancel.is_set():
            raise Cancelled("cancelled by the operator")


def _check_duration(duration_s: float) -> None:
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise RigctlError(f"laser: duration must be > 0 s (got {duration_s:g})")


# --- calibration procedures (shared by `rigctl calibrate` and the GUI) ------------------------


@dataclass(frozen=True)
class CalibrationStep:
    """One measurement of a calibration: ``command`` in ``unit`` (open ms, V or mW)."""

    index: int
    count: int
    command: float
    unit: str
    openings: int = 0
    on_s: float = 0.0


StepFn = Callable[[CalibrationStep], None]
#: returns the measurement of a step: total µL (or mg) of the openings, or mW at the fibre tip
MeasureFn = Callable[[CalibrationStep], float]
StepProgressFn = Callable[[CalibrationStep, float, float], None]


def check_valve_plan(rig_cfg: RigConfig, side: str, times_ms: Sequence[float],
                     openings: int, interval_s: float) -> list[float]:
    """The sorted open times of a valve calibration, or CalibrationError before any pulse."""
    port = rig_cfg.reward_ports.get(side)
    if port is None:
        raise CalibrationError(f"unknown port {side!r} (ports: {', '.join(rig_cfg.reward_ports)})")
    times = sorted(float(t) for t in times_ms)
    if len(times) < 2:
        raise CalibrationError("a calibration needs at least two open times")
    if len(set(times)) != len(times):
        raise CalibrationError("each open time may be measured once (repeated value)")
    for t in times:
        if not (math.isfinite(t) and t > 0):
            raise CalibrationError(f"open times must be > 0 ms (got {t:g})")
        if t / 1000.0 > port.valve.max_open_s:
            raise CalibrationError(
                f"{t:g} ms is above reward_ports.{side}.valve.max_open_s = "
                f"{port.valve.max_open_s:g} s"
            )
    if openings < 1:
        raise CalibrationError(f"openings must be at least 1 (got {openings})")
    if not (math.isfinite(interval_s) and interval_s >= 0):
        raise CalibrationError(f"interval must be >= 0 s (got {interval_s:g})")
    return times


def calibrate_valve(
    rig: ManualRig,
    side: str,
    times_ms: Sequence[float],
    measure: MeasureFn,
    *,
    openings: int = 100,
    interval_s: float = 0.3,
    before_step: StepFn | None = None,
    progress: StepProgressFn | None = None,
    date: dt.date | None = None,
) -> ValveCalibrationConfig:
    """Run ``openings`` openings at each open time, ask ``measure`` for the water they gave
    (total µL; mg is the same number), and fit. Returns the record to store.

    ``before_step`` runs before each step's openings (e.g. "put a weighed tube under the port").
    CalibrationError when the plan or the measurements cannot make a calibration.
    """
    times = check_valve_plan(rig.cfg, side, times_ms, openings, interval_s)
    totals = []
    for i, ms in enumerate(times):
        step = CalibrationStep(i, len(times), ms, "ms", openings=openings)
        if before_step is not None:
            before_step(step)
        rig.pulse_valve(
            side, ms, openings, interval_s,
            progress=None if progress is None else (lambda d, t, s=step: progress(s, d, t)),
        )
        totals.append(float(measure(step)))
    return valve_record(times, totals, openings, date or dt.date.today())


def check_laser_plan(rig_cfg: RigConfig, commands: Sequence[float], on_s: float,
                     unit: str, laser_name: str | None = None) -> list[float]:
    """The sorted commands of a laser calibration, or CalibrationError before any light.
    ``laser_name``: which laser (default the first)."""
    lasers = rig_cfg.all_lasers()
    if not lasers:
        raise CalibrationError("the rig config has no laser")
    name = laser_name if laser_name is not None else next(iter(lasers))
    if name not in lasers:
        raise CalibrationError(f"the rig has no laser {name!r} (lasers: {', '.join(lasers)})")
    laser, field = lasers[name], rig_cfg.laser_field(name)
    cmds = sorted(float(c) for c in commands)
    if len(cmds) < 2:
        raise CalibrationError("a calibration needs at least two commands")
    if len(set(cmds)) != len(cmds):
        raise CalibrationError("each command may be measured once (repeated value)")
    for c in cmds:
        if not math.isfinite(c) or c < 0 or (unit == "mW" and c == 0):
            raise CalibrationError(
                f"commands must be {'> 0' if unit == 'mW' else '>= 0'} {unit} (got {c:g})"
            )
        if unit == "mW" and c > laser.max_power_mw:
            raise CalibrationError(
                f"set-point {c:g} mW is above {field}.max_power_mw = {laser.max_power_mw:g} mW"
            )
    if not (math.isfinite(on_s) and on_s > 0):
        raise CalibrationError(f"emission time must be > 0 s (got {on_s:g})")
    if on_s > laser.max_on_s:
        raise CalibrationError(
            f"emission time {on_s:g} s is above {field}.max_on_s = {laser.max_on_s:g} s"
        )
    return cmds


def calibrate_laser(
    rig: ManualRig,
    commands: Sequence[float],
    measure: MeasureFn,
    *,
    on_s: float = 3.0,
    before_step: StepFn | None = None,
    progress: StepProgressFn | None = None,
    date: dt.date | None = None,
    laser_name: str | None = None,
) -> LaserCalibrationConfig:
    """Emit each command for ``on_s`` (the operator reads the meter meanwhile), ask ``measure``
    for the mW read at the fibre tip once the light is off, and fit.

    Needs the rig opened with ``calibrated_laser=False``. The command unit is the driver's raw
    command (V) or the power set-point (mW), see :meth:`ManualRig.laser_command`.
    ``laser_name``: which laser (default the first); each laser has its own calibration.
    """
    unit = rig.laser_unit(laser_name)
    cmds = check_laser_plan(rig.cfg, commands, on_s, unit, laser_name)
    readings = []
    for i, command in enumerate(cmds):
        step = CalibrationStep(i, len(cmds), command, unit, on_s=on_s)
        if before_step is not None:
            before_step(step)
        rig.laser_command(
            command, on_s,
            progress=None if progress is None else (lambda d, t, s=step: progress(s, d, t)),
            laser_name=laser_name,
        )
        readings.append(float(measure(step)))
    return laser_record(cmds, readings, unit, date or dt.date.today())
