"""What the engine needs from hardware, independent of how the hardware is driven.

A backend (simulated, NI-DAQ, serial) implements these small driver interfaces. The engine never
sees a backend's own classes, so a protocol run on the simulated rig runs unchanged on a real one.
Interlocks (power ceiling, max on-time, max valve opening) are enforced above these drivers, in
:mod:`rigctl.hardware.rig`, once for all backends.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InputEvent:
    """An input edge or threshold crossing, timestamped on the session clock (s).

    ``name`` is the logical event (``lick_left``); ``value`` is the new level (1 rising,
    0 falling); ``device_t`` is the device's own timestamp when it has one.
    """

    t: float
    name: str
    value: float = 1.0
    device_t: float | None = None


class Clock(Protocol):
    """Session time in seconds since the session started."""

    def now(self) -> float: ...


class EventSource(ABC):
    """Delivers input events in time order.

    On the wall clock ``next_event`` blocks until an input arrives or ``deadline`` passes; on the
    virtual clock it advances the clock to the next event (or to ``deadline``) at once.
    """

    @abstractmethod
    def next_event(self, deadline: float) -> InputEvent | None:
        """The next input event at or before ``deadline``, or None once ``deadline`` is reached."""

    def wake(self) -> None:  # noqa: B027 - optional for sources that never block
        """Interrupt a blocking ``next_event`` from another thread (stop, GUI command)."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release threads and handles; called once at the end of a session."""


class ValveDriver(ABC):
    """One water valve. The opening is timed by the device where it can be."""

    @abstractmethod
    def open_for(self, duration_s: float) -> None:
        """Open now and close after ``duration_s``."""

    @abstractmethod
    def close(self) -> None:
        """Close now (also cancels a timed opening)."""


class DigitalOutputDriver(ABC):
    """A single output line: a cue, a door, a laser gate."""

    @abstractmethod
    def set(self, level: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class PulseTrain:
    """Pulsed emission: ``frequency_hz`` pulses of ``width_s`` each."""

    frequency_hz: float
    width_s: float


class LaserDriver(ABC):
    """A laser whose emission the driver can start at a power and stop with a ramp."""

    @abstractmethod
    def emit(self, power_mw: float, pulses: PulseTrain | None = None) -> None:
        """Start (or change) emission at ``power_mw`` (already checked against the ceiling)."""

    @abstractmethod
    def stop(self, ramp_down_s: float) -> None:
        """Stop emission, ramping power linearly to zero over ``ramp_down_s``."""

    @abstractmethod
    def force_off(self) -> None:
        """Emission off immediately, no ramp; must not raise (used on every error path)."""


@dataclass
class BackendRig:
    """What a backend builds from a rig config: drivers keyed by the config's logical names.

    ``valves`` and ``cues`` are keyed by port side / cue name. Lick sensors report through
    ``events`` as ``lick_<side>`` events. ``close`` releases the backend's resources.
    """

    events: EventSource
    valves: dict[str, ValveDriver]
    cues: dict[str, DigitalOutputDriver] = field(default_factory=dict)
    laser: LaserDriver | None = None
    close: Callable[[], None] = lambda: None
    describe: dict[str, str] = field(default_factory=dict)
