"""The rig as protocols see it: reward ports, laser and cues, with interlocks and logging.

Interlocks live here, above every backend, so a simulated rig and a real one refuse the same
commands: a reward outside the valve's calibration, an opening longer than ``max_open_s``, a
laser power above the ceiling, emission longer than ``max_on_s`` (cut by an engine timer). Every
output command is logged with its time before it is sent.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import numpy as np

from rigctl.config.agent import AgentChoice
from rigctl.config.rig import CUES, DEFAULT_LASER, LaserConfig, RigConfig
from rigctl.config.subject import Subject
from rigctl.errors import ConfigError, DeviceError, InterlockError
from rigctl.hardware.calibration import LaserCurve, ValveCurve
from rigctl.hardware.events import QueueEventSource
from rigctl.hardware.interfaces import (
    Clock,
    Device,
    DigitalOutputDriver,
    EventSource,
    LaserDriver,
    PulseTrain,
    ValveDriver,
)
from rigctl.hardware.registry import BuildContext, open_devices
from rigctl.timing.timers import Timers

LogFn = Callable[[float, str, str, str], None]


class RewardPort:
    """Valve + lick sensor + calibration of one side."""

    def __init__(
        self, side: str, driver: ValveDriver, curve: ValveCurve, max_open_s: float,
        clock: Clock, log: LogFn,
    ) -> None:
        self.side = side
        self.driver = driver
        self.curve = curve
        self.max_open_s = max_open_s
        self._clock = clock
        self._log = log

    def open_ms_for(self, ul: float) -> float:
        """Open time for ``ul`` µL, checked against the calibration and ``max_open_s``."""
        ms = self.curve.ms_for_ul(ul)
        if ms / 1000.0 > self.max_open_s:
            raise InterlockError(
                f"reward_ports.{self.side}: {ul:g} µL needs {ms:.1f} ms, above "
                f"valve.max_open_s = {self.max_open_s:g} s"
            )
        return ms

    def check_ms(self, ms: float) -> None:
        """InterlockError unless ``ms`` is a valid opening: > 0 and within ``max_open_s``."""
        if not (math.isfinite(ms) and ms > 0):
            raise InterlockError(
                f"reward_ports.{self.side}: open time must be > 0 ms (got {ms:g})")
        if ms / 1000.0 > self.max_open_s:
            raise InterlockError(
                f"reward_ports.{self.side}: {ms:g} ms is above valve.max_open_s = "
                f"{self.max_open_s:g} s"
            )

    def open_for_ms(self, ms: float) -> None:
        """Open for ``ms`` (timed by the device where it can be); refuses more than
        ``max_open_s`` and logs the command before sending it."""
        self.check_ms(ms)
        self._log(self._clock.now(), "output", f"valve_{self.side}", f"{ms:.3f}ms")
        self.driver.open_for(ms / 1000.0)

    def deliver(self, ul: float) -> float:
        """Open the valve for the calibrated time of ``ul`` µL; returns the open time in ms."""
        ms = self.open_ms_for(ul)
        self.open_for_ms(ms)
        return ms

    def close(self) -> None:
        self.driver.close()


class Output:
    """A named digital output (door, tone, light, sync line): every change is logged first.

    A cue the config leaves unwired has no driver: setting it is logged and does nothing, so
    the built-in tasks run on rigs without, say, a trial-start light."""

    def __init__(self, name: str, driver: DigitalOutputDriver | None, clock: Clock, log: LogFn,
                 log_name: str | None = None):
        self.name = name
        self.driver = driver
        self.level = False
        self._clock = clock
        self._log = log
        self._log_name = log_name or name

    def set(self, level: bool) -> None:
        level = bool(level)
        if level == self.level:
            return
        self.level = level
        self._log(self._clock.now(), "output", self._log_name, "1" if level else "0")
        if self.driver is not None:
            self.driver.set(level)

    def on(self) -> None:
        self.set(True)

    def off(self) -> None:
        self.set(False)


Cue = Output  # the built-in tasks' cues are outputs with a `cue_` log name


class Laser:
    """Laser with power ceiling, calibrated range, max continuous on-time and ramp-down.

    With ``laser.calibration`` a power outside the calibrated tip powers is refused here, for
    every backend, before any driver converts it (``command_for_mw``).

    With a gate line, the gate opens after the power is set and closes when the ramp-down has
    finished, so light never appears at a stale power and the ramp is not cut short.

    The emergency laser-off *latches* (``latch``/``rearm``): light off at once and every ``on``
    refused (logged, nothing emitted) until the operator re-arms, while the session goes on.

    ``name`` is the name tasks use and events carry (``laser`` for a config's single
    ``laser:``); ``field`` is its config path (``laser`` or ``lasers.NAME``), for messages.
    """

    #: the emergency latch: set by ``latch``, cleared by ``rearm`` (class defaults, per instance
    #: once set); ``latches`` counts latch presses so a trial can tell one happened in its delay
    latched = False
    latched_at: float | None = None
    latches = 0

    def __init__(
        self, cfg: LaserConfig, driver: LaserDriver, clock: Clock, timers: Timers, log: LogFn,
        gate: DigitalOutputDriver | None = None, name: str = DEFAULT_LASER,
        field: str = "laser",
    ) -> None:
        self.name = name
        self.field = field
        self._who = "" if name == DEFAULT_LASER else f"{name}: "  # in rig-wide latch lines
        self.cfg = cfg
        self.driver = driver
        self.gate = gate
        self._gate_timer: int | None = None
        self._clock = clock
        self._timers = timers
        self._log = log
        self.power_mw = 0.0
        self.pulses: PulseTrain | None = None
        self.on_since: float | None = None
        self._limit_timer: int | None = None
        self.curve = None if cfg.calibration is None else LaserCurve(
            cfg.calibration, name=f"{field}.calibration")

    def calibration_problem(self, power_mw: float) -> str | None:
        """Why ``power_mw`` at the tip is outside the laser's calibration, or None."""
        return laser_calibration_problem(self.cfg, power_mw, self.curve, self.field)

    @property
    def is_on(self) -> bool:
        return self.on_since is not None

    @property
    def duty(self) -> float:
        """Fraction of time emitting while on (1 for continuous light)."""
        if self.on_since is None:
            return 0.0
        if self.pulses is None:
            return 1.0
        return min(1.0, self.pulses.width_s * self.pulses.frequency_hz)

    def on(self, power_mw: float, pulses: PulseTrain | None = None) -> None:
        """Emit at ``power_mw``; refuses powers above the ceiling; arms the max on-time cut.
        While latched off, emits nothing (logged; ``is_on`` stays False)."""
        if self.latched:
            self._log(self._clock.now(), "interlock", "laser_latch",
                      f"{self._who}{power_mw:g}mW refused: latched off")
            return
        if not 0 < power_mw <= self.cfg.max_power_mw:
            raise InterlockError(
                f"{self.field}: {power_mw:g} mW refused, outside (0, {self.field}.max_power_mw = "
                f"{self.cfg.max_power_mw:g} mW]"
            )
        if self.curve is not None:  # the tip power must be one the calibration can give
            self.curve.command_for_mw(power_mw)
        now = self._clock.now()
        train = "" if pulses is None else f" {pulses.frequency_hz:g}Hz x {pulses.width_s:g}s"
        self._log(now, "output", self.name, f"{power_mw:g}mW{train}")
        self.driver.emit(power_mw, pulses)
        self.pulses = pulses
        if self.gate is not None:
            self._timers.cancel(self._gate_timer)
            self.gate.set(True)
        self.power_mw = power_mw
        if self.on_since is None:
            self.on_since = now
            self._limit_timer = self._timers.set_at(now + self.cfg.max_on_s, self._cut)

    def off(self) -> None:
        """Stop emission with the configured ramp-down."""
        if self.on_since is None:
            return
        self._timers.cancel(self._limit_timer)
        self._log(self._clock.now(), "output", self.name, f"off ramp {self.cfg.ramp_down_s:g}s")
        self.on_since = None
        self.power_mw = 0.0
        self.driver.stop(self.cfg.ramp_down_s)
        if self.gate is not None:
            gate = self.gate
            self._gate_timer = self._timers.set_at(
                self._clock.now() + self.cfg.ramp_down_s, lambda: gate.set(False)
            )

    def _cut(self) -> None:
        self._log(self._clock.now(), "interlock", self.name,
                  f"max_on_s {self.cfg.max_on_s:g} s reached; laser off")
        self.off()

    def force_off(self) -> None:
        """Emission off now, gate closed, no ramp (error and exit paths)."""
        self._timers.cancel(self._limit_timer)
        self._timers.cancel(self._gate_timer)
        self.on_since = None
        self.power_mw = 0.0
        try:
            if self.gate is not None:
                self.gate.set(False)
        finally:
            self.driver.force_off()


    def latch(self, source: str) -> None:
        """Emergency laser-off: emission off now (no ramp), refused until ``rearm``.

        Called in the control-loop thread (see ``Session.request_laser_off``); every press is
        logged, a press while already latched changes nothing but is still logged.
        """
        now = self._clock.now()
        again = self.latched
        self.latched, self.latched_at = True, now
        self.latches += 1
        self._log(now, "interlock", "laser_latch",
                  f"{self._who}pressed again ({source}): still latched off" if again
                  else f"{self._who}latched off ({source})")
        if self.on_since is not None:
            self._log(now, "output", self.name, "off latched")  # no ramp: the light goes now
        self.force_off()

    def rearm(self, source: str) -> None:
        """Lift the emergency latch: the next ``on`` emits again (light is not restored now)."""
        was = self.latched
        self.latched = False
        self._log(self._clock.now(), "interlock", "laser_latch",
                  f"{self._who}re-armed ({source})" if was
                  else f"{self._who}re-arm ({source}): was not latched")


def laser_calibration_problem(
    cfg: LaserConfig, power_mw: float, curve: LaserCurve | None = None, field: str = "laser",
) -> str | None:
    """Why ``power_mw`` at the fibre tip cannot be given through ``cfg.calibration`` (outside
    the calibrated range), or None when it can or the laser has no calibration. For checks
    before a session (``rigctl check``, protocol parameters) with the interlock's own words."""
    if cfg.calibration is None:
        return None
    try:
        (curve or LaserCurve(cfg.calibration, name=f"{field}.calibration")).command_for_mw(
            power_mw)
    except InterlockError as exc:
        return str(exc)
    return None


class Rig:
    """Everything a protocol may touch, built from a RigConfig by routing channels to devices."""

    def __init__(
        self, cfg: RigConfig, devices: dict[str, Device], queue: QueueEventSource, clock: Clock,
        timers: Timers, log: LogFn,
    ) -> None:
        self.cfg = cfg
        self.devices = devices
        self.queue = queue
        self.ports: dict[str, RewardPort] = {}
        self.cues: dict[str, Output] = {}
        self.outputs: dict[str, Output] = {}  # wired cues and named outputs, by name
        self.inputs: dict[str, str] = {}  # input event name -> channel
        self.lasers: dict[str, Laser] = {}  # by the name tasks use
        self.laser: Laser | None = None  # the first laser (manual controls, pyControl)
        try:
            self._build(clock, timers, log)
        except BaseException:
            self.close()
            raise

    def _device(self, channel: str) -> Device:
        return self.devices[self.cfg.device_of(channel)]

    def _build(self, clock: Clock, timers: Timers, log: LogFn) -> None:
        cfg = self.cfg
        own_sources = {n: d.event_source() for n, d in self.devices.items()}
        own_sources = {n: s for n, s in own_sources.items() if s is not None}
        if own_sources and len(self.devices) > 1:
            raise DeviceError(
                f"devices: {', '.join(own_sources)} schedule their own inputs (simulation) and "
                "cannot be combined with other devices"
            )
        self.events: EventSource = next(iter(own_sources.values()), None) or self.queue
        self.simulated = bool(own_sources)  # the devices simulate the subject too
        for side, pcfg in cfg.reward_ports.items():
            curve = ValveCurve(pcfg.calibration, name=f"reward_ports.{side}.calibration")
            valve = self._device(pcfg.valve.channel).valve(
                pcfg.valve.channel, f"valve_{side}", curve.ul_for_ms
            )
            self.ports[side] = RewardPort(side, valve, curve, pcfg.valve.max_open_s, clock, log)
            self._device(pcfg.lick_sensor.channel).digital_input(
                pcfg.lick_sensor.channel, f"lick_{side}"
            )
            self.inputs[f"lick_{side}"] = pcfg.lick_sensor.channel
        for name, in_cfg in cfg.inputs.items():
            self._device(in_cfg.channel).digital_input(in_cfg.channel, name)
            self.inputs[name] = in_cfg.channel
        for name in CUES:
            cue_cfg = getattr(cfg.cues, name)
            driver = None
            if cue_cfg is not None:
                device = self._device(cue_cfg.channel)
                driver = device.digital_output(cue_cfg.channel, f"cue_{name}")
            self.cues[name] = Output(name, driver, clock, log, log_name=f"cue_{name}")
            if driver is not None:
                self.outputs[name] = self.cues[name]
        for name, out_cfg in cfg.outputs.items():
            driver = self._device(out_cfg.channel).digital_output(out_cfg.channel, name)
            self.outputs[name] = Output(name, driver, clock, log)
        for name, a_cfg in cfg.analog_inputs.items():
            try:
                self._device(a_cfg.channel).signal_input(a_cfg.channel, name, a_cfg.rate_hz)
            except DeviceError as exc:  # which field to change, not only which device refused
                raise DeviceError(f"analog_inputs.{name}: {exc}") from None
        if cfg.neural_signal is not None:
            sig = cfg.neural_signal
            self._device(sig.channel).signal_input(sig.channel, "neural_signal", sig.rate_hz)
        for name, la_cfg in cfg.all_lasers().items():
            driver = self._device(la_cfg.channel).laser(la_cfg.channel, la_cfg)
            gate = None
            if la_cfg.gate_channel is not None:
                gate = self._device(la_cfg.gate_channel).laser_gate(la_cfg.gate_channel, la_cfg)
            self.lasers[name] = Laser(la_cfg, driver, clock, timers, log, gate=gate, name=name,
                                      field=cfg.laser_field(name))
        self.laser = next(iter(self.lasers.values()), None)

    def start(self) -> None:
        """Start input delivery on every device (after all channels exist)."""
        for device in self.devices.values():
            device.start()

    def all_off(self) -> list[str]:
        """Every laser off, valves closed, cues off. Never raises: returns what failed, to be
        logged."""
        failures: list[str] = []
        for name, laser in self.lasers.items():  # every laser, even when one fails
            try:
                laser.force_off()
            except Exception as exc:  # noqa: BLE001 - every path must reach the valves too
                failures.append(f"{name}: {exc}")
        for side, port in self.ports.items():
            try:
                port.close()
            except Exception as exc:  # noqa: BLE001
                failures.append(f"valve_{side}: {exc}")
        for out in {**self.cues, **self.outputs}.values():
            if out.driver is not None:
                try:
                    out.driver.set(False)
                    out.level = False
                except Exception as exc:  # noqa: BLE001
                    failures.append(f"{out._log_name}: {exc}")
        return failures

    def close(self) -> None:
        """Close every device (each turns its own outputs off); never raises."""
        for device in self.devices.values():
            with contextlib.suppress(Exception):  # closing must reach every device
                device.close()


def open_rig(
    cfg: RigConfig, clock: Clock, timers: Timers, log: LogFn, *, subject: Subject,
    seed: np.random.SeedSequence, source: str = "<config>", agent: AgentChoice | None = None,
) -> Rig:
    """Open the devices of ``cfg`` and build the :class:`Rig` on them: the one way a session
    and manual control get a rig, so both hold the same interlocks. Nothing is left open when
    it fails (ConfigError for device keys, DeviceError for a device that cannot open)."""
    queue = QueueEventSource(clock)
    devices = open_devices(cfg, BuildContext(clock, subject, seed, queue, source=source,
                                             agent=agent))
    rig = Rig(cfg, devices, queue, clock, timers, log)
    problems = frame_clock_problems(cfg, devices)
    if problems:
        rig.close()
        raise ConfigError(source, problems)
    return rig


def frame_clock_problems(cfg: RigConfig, devices: dict[str, Device]) -> list[str]:
    """A frame clock faster than its input's device records: one line each, naming the
    field (asked once the channels exist: a device's rate may depend on its other lines)."""
    out = []
    for name, inp in cfg.frame_clocks().items():
        assert inp.frame_clock is not None
        want = inp.frame_clock.max_rate_hz
        device = cfg.device_of(inp.channel)
        rate, why = devices[device].frame_clock_rate_hz(inp.channel)
        if rate <= 0:
            out.append(f"inputs.{name}.frame_clock: device {device!r} records no frame clock on "
                       f"{inp.channel} ({why})")
        elif want > rate:
            out.append(f"inputs.{name}.frame_clock.max_rate_hz: {want:g} Hz is faster than "
                       f"device {device!r} records on {inp.channel} ({rate:g} Hz: {why}); "
                       "record the frame clock on a faster input, or lower the frame rate")
    return out
