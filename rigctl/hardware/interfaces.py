"""What the engine needs from hardware, independent of how the hardware is driven.

A backend (simulated, NI-DAQ, serial) implements these small driver interfaces. The engine never
sees a backend's own classes, so a protocol run on the simulated rig runs unchanged on a real one.
Interlocks (power ceiling, max on-time, max valve opening) are enforced above these drivers, in
:mod:`rigctl.hardware.rig`, once for all backends.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rigctl.errors import DeviceError

if TYPE_CHECKING:
    from rigctl.config.rig import LaserConfig


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


@dataclass(frozen=True, slots=True)
class SignalChunk:
    """Consecutive samples of a continuous input (the neural signal), hardware-timed.

    ``first`` counts samples since the input started, so chunks can be checked for gaps;
    ``t0`` is the session time at the start of ``samples[0]`` (sample k covers
    ``[t0 + k/rate, t0 + (k+1)/rate)``). Chunks arrive through the same path as input events, so
    the control loop sees signals and edges in one time order. ``revisable`` chunks (simulation
    in virtual time) were computed ahead of the clock and may be regenerated from a sample on
    with ``EventSource.revise``; measured chunks never are.
    """

    t0: float
    first: int
    samples: np.ndarray
    rate_hz: float
    name: str = "neural_signal"
    revisable: bool = False


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

    def revise(self, sample: int) -> None:
        """Discard delivered signal from ``sample`` on and deliver it again (revisable chunks)."""
        raise NotImplementedError("this event source does not deliver revisable chunks")

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


class EventSink(Protocol):
    """Where a device thread delivers its input events (thread-safe)."""

    def put(self, event: InputEvent) -> None:
        """An input edge, timestamped with the session clock (``t``) and the device's own."""

    def put_signal(self, chunk: SignalChunk) -> None:
        """A chunk of a continuous input, in sample order."""

    def fail(self, error: DeviceError) -> None:
        """The device failed or vanished: the session ends ``aborted`` with this message, after
        turning every output off."""


class Device(ABC):
    """One device named under ``devices:`` in the rig config (a DAQ card, a serial controller,
    a laser, the simulated world).

    The rig builder asks it for a driver per channel that the config routes to it; ``role`` says
    what the channel is for (``valve_left``, ``lick_left``, ``cue_go``, ``laser``) so a simulated
    device knows what a real one would only know by wiring. A device that cannot provide a kind
    of channel raises DeviceError naming itself and the channel. Input edges go to the sink given
    at ``open``, timestamped on the session clock, unless the device is itself the event source
    (``event_source`` returns it), as the simulated world is.
    """

    name: str

    def _unsupported(self, what: str, channel: str) -> DeviceError:
        return DeviceError(f"device {self.name!r} has no {what} (channel {channel!r})")

    def valve(self, channel: str, role: str, nominal_ul: Callable[[float], float]) -> ValveDriver:
        raise self._unsupported("valve output", channel)

    def digital_input(self, channel: str, role: str) -> None:
        """Report edges on ``channel`` as events named ``role`` (rising 1, falling 0)."""
        raise self._unsupported("digital input", channel)

    def digital_output(self, channel: str, role: str) -> DigitalOutputDriver:
        raise self._unsupported("digital output", channel)

    def laser(self, channel: str, cfg: LaserConfig) -> LaserDriver:
        raise self._unsupported("laser output", channel)

    def frame_clock_rate_hz(self, channel: str) -> tuple[float, str]:
        """(fastest frame clock in Hz that input ``channel`` records without losing an edge,
        why). A frame clock (``inputs.NAME.frame_clock``) faster than this is refused before
        the session starts. A device that does not say records none."""
        return 0.0, "it records no frame clock"

    def laser_gate(self, channel: str, cfg: LaserConfig) -> DigitalOutputDriver:
        """The laser's gate line; a device that can end it after ``cfg.max_on_s`` by itself
        (a counter pulse on NI) overrides this."""
        return self.digital_output(channel, "laser_gate")

    def signal_input(self, channel: str, role: str, rate_hz: float) -> None:
        """Sample ``channel`` continuously at ``rate_hz`` and deliver SignalChunks named
        ``role`` to the sink (a few ms of samples per chunk)."""
        raise self._unsupported("analog input", channel)

    def event_source(self) -> EventSource | None:
        """The device's own event source, for devices that schedule their inputs (simulation)."""
        return None

    def start(self) -> None:  # noqa: B027 - optional
        """Begin delivering inputs; called once every channel is set up."""

    def close(self) -> None:  # noqa: B027 - optional
        """Outputs off and handles released; must not raise."""
