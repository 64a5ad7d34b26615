"""Simulated drivers: the same interfaces as real hardware, acting on the simulated world."""

from __future__ import annotations

from collections.abc import Callable

from rigctl.hardware.interfaces import DigitalOutputDriver, LaserDriver, PulseTrain, ValveDriver
from sim_backend.world import SimWorld


class SimValve(ValveDriver):
    """A valve whose opening is timed by the 'hardware' (the world records the interval)."""

    def __init__(self, world: SimWorld, side: str, nominal_ul: Callable[[float], float]) -> None:
        self.world, self.side, self.nominal_ul = world, side, nominal_ul

    def open_for(self, duration_s: float) -> None:
        self.world.valve_open(self.side, duration_s, self.nominal_ul)

    def close(self) -> None:
        self.world.valve_close(self.side)


class SimCue(DigitalOutputDriver):
    """A digital output line of the box; the agent perceives every change (none without a
    world: the laser gate, whose effect the simulated laser's power already carries)."""

    def __init__(self, world: SimWorld | None, name: str) -> None:
        self.world, self.name = world, name
        self.level = False

    def set(self, level: bool) -> None:
        if level != self.level:
            self.level = level
            if self.world is not None:
                self.world.output(self.name, level)


class SimLaser(LaserDriver):
    """One laser (fibre) of the box; ``name`` tells its light from the other lasers'."""

    def __init__(self, world: SimWorld, name: str = "laser") -> None:
        self.world, self.name = world, name
        world.add_laser(name)

    def emit(self, power_mw: float, pulses: PulseTrain | None = None) -> None:
        self.world.laser(power_mw, pulses, name=self.name)

    def stop(self, ramp_down_s: float) -> None:
        self.world.laser_ramp_down(ramp_down_s, name=self.name)

    def force_off(self) -> None:
        if self.world.laser_powers.get(self.name, 0.0) > 0:
            self.world.laser(0.0, name=self.name)
