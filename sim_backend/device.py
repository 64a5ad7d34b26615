"""Backend entry point for devices of ``type: sim``: the simulated world and its drivers.

A sim device is the whole simulated rig: it knows by each channel's role which port a valve
waters and which output a line drives, as a real rig knows by its wiring. Which subject is in
the box (the working-memory agent, the generic agent, a user's agent) comes from the session.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rigctl.config.agent import AgentChoice
from rigctl.config.rig import LaserConfig
from rigctl.errors import DeviceError
from rigctl.hardware.interfaces import (
    Device,
    DigitalOutputDriver,
    EventSource,
    LaserDriver,
    ValveDriver,
)
from rigctl.hardware.registry import BuildContext
from sim_backend.agents import make_agent
from sim_backend.devices import SimCue, SimLaser, SimValve
from sim_backend.microscope import MicroscopeLine, SimMicroscope
from sim_backend.mouse import SimMouse
from sim_backend.settings import SimSettings
from sim_backend.wheel import SimWheel
from sim_backend.world import SimWorld

Settings = SimSettings
#: Fastest frame clock the simulated rig records (the virtual clock has no limit; this keeps a
#: --realtime simulation honest about what one host loop handles, docs/sync.md)
SIM_FRAME_HZ = 2000.0


class SimDevice(Device):
    def __init__(self, name: str, settings: SimSettings, ctx: BuildContext) -> None:
        self.name = name
        body = SimMouse(ctx.subject, settings.mouse, ctx.seed)
        # No session, no task (manual control, calibration): a subject that only drinks.
        choice = ctx.agent if ctx.agent is not None else AgentChoice(kind="drinker")
        agent = make_agent(choice, body, settings.generic_agent,
                           np.random.default_rng(ctx.seed.spawn(1)[0]))
        self.world = SimWorld(ctx.clock, settings, agent)
        self._settings, self._seed = settings, ctx.seed
        self.microscope: SimMicroscope | None = None
        self._readback: dict[str, str] = {}  # output role -> input role wired to it
        if settings.microscope is not None:  # its own seed stream: the mouse's is untouched
            seed = np.random.SeedSequence(ctx.seed.entropy, spawn_key=(*ctx.seed.spawn_key, 7))
            self.microscope = SimMicroscope(settings.microscope, ctx.clock, seed)

    def valve(self, channel: str, role: str, nominal_ul: Callable[[float], float]) -> ValveDriver:
        if not role.startswith("valve_"):
            raise DeviceError(f"device {self.name!r}: no simulated valve for {role!r}")
        return SimValve(self.world, role.removeprefix("valve_"), nominal_ul)

    def digital_input(self, channel: str, role: str) -> None:
        if role.endswith("_readback"):  # an input wired to a sync line (`rigctl sync-test`)
            self._readback[role.removesuffix("_readback")] = role
            return
        scope = self.microscope
        if scope is not None and scope.s.frame_out == role:  # the microscope's frame-out
            scope.drive(self.world)
            return
        port = role.removeprefix("lick_") if role.startswith("lick_") else None
        self.world.add_input(role, port)

    def frame_clock_rate_hz(self, channel: str) -> tuple[float, str]:
        """The simulated microscope's frame-out is the only frame clock the simulated rig
        has; its edges are exact (off the 1 ms grid) up to SIM_FRAME_HZ."""
        role = channel.split("/", 1)[-1]
        if self.microscope is None or self.microscope.s.frame_out != role:
            return 0.0, (f"no simulated microscope drives it; set devices.{self.name}."
                         f"microscope.frame_out: {role}")
        return SIM_FRAME_HZ, "the simulated microscope's frame-out"

    def digital_output(self, channel: str, role: str) -> DigitalOutputDriver:
        if role == "laser_gate":  # the simulated laser's power already says what is emitted
            return SimCue(None, role)
        cue: DigitalOutputDriver = SimCue(self.world, role.removeprefix("cue_"))
        if role.startswith("sync"):
            cue = _Wired(cue, self.world, self._readback, role)
        if role == "sync" and self.microscope is not None:
            return MicroscopeLine(cue, self.microscope, self.world.clock)
        return cue

    def laser(self, channel: str, cfg: LaserConfig) -> LaserDriver:
        """A laser named after its channel (``sim/laser`` is ``laser``)."""
        return SimLaser(self.world, channel.split("/", 1)[-1])

    def signal_input(self, channel: str, role: str, rate_hz: float) -> None:
        if role != "neural_signal":  # a named analog input: a running wheel (sim_backend/wheel)
            step = 1000.0 / rate_hz
            if rate_hz > 1000.0 or abs(step - round(step)) > 1e-9:
                raise DeviceError(
                    f"device {self.name!r}: rate_hz {rate_hz:g}: the simulated rig samples on "
                    "its 1 kHz grid; use 1000 Hz divided by a whole number (1000, 500, 200, "
                    "100...)")
            seed = np.random.SeedSequence(self._seed.entropy,
                                          spawn_key=(*self._seed.spawn_key, 11,
                                                     *role.encode()))
            self.world.add_analog(role, SimWheel(self._settings.wheel, rate_hz, seed))
            return
        if rate_hz != 1000.0:
            raise DeviceError(
                f"device {self.name!r}: the simulated rig samples {channel} at 1000 Hz; set "
                "neural_signal.rate_hz: 1000"
            )
        self.world.enable_signal(role)

    def event_source(self) -> EventSource:
        return self.world

    def start(self) -> None:
        self.world.start_agent()
        if self.microscope is not None:
            self.microscope.start()

    def close(self) -> None:
        if self.microscope is not None:
            self.microscope.save()  # the rig closes devices with every error suppressed


class _Wired(DigitalOutputDriver):
    """A sync output whose edges reach an input wired to it, if the config has one."""

    def __init__(self, inner: DigitalOutputDriver, world: SimWorld, readback: dict[str, str],
                 role: str) -> None:
        self.inner, self.world, self.readback, self.role = inner, world, readback, role
        self.level = False

    def set(self, level: bool) -> None:
        self.inner.set(level)
        wired = self.readback.get(self.role)
        if wired is not None and level != self.level:
            self.world.schedule_input(self.world.clock.now(), wired, 1.0 if level else 0.0)
        self.level = level


def open(name: str, settings: SimSettings, ctx: BuildContext) -> SimDevice:  # noqa: A001
    return SimDevice(name, settings, ctx)
