"""The simulated world: the physics of the box, and a subject (an agent) inside it.

The world is the simulated rig's event source. It keeps a time-ordered queue of the agent's
future actions (input edges) and of its own internal changes (end of a laser ramp), integrates
the agent's body on a 1 ms grid up to each event, and hands input events to the engine exactly
as a real backend's event source would. Outputs reach it through the simulated drivers, which
call ``output``, ``valve_open`` and ``laser``; it tells the agent what changed and knows nothing
of what an output means to a task. It records every input edge, delivery and laser change so
tests can compare the session's log with what "physically" happened.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rigctl.errors import RigctlError, SimulationStalled
from rigctl.hardware.interfaces import EventSource, InputEvent, PulseTrain, SignalChunk
from sim_backend.agents.base import Agent
from sim_backend.settings import SimSettings
from sim_backend.wheel import SimWheel

#: In virtual time an analog input is delivered up to the next happening, in chunks of at
#: most this (bounded memory however long nothing happens).
ANALOG_CHUNK_S = 1.0


@dataclass
class _Analog:
    """One named analog input of the simulated rig and how far it has been delivered."""

    name: str
    wheel: SimWheel
    chunk_s: float
    k: int = 0  # next sample to deliver

    @property
    def rate_hz(self) -> float:
        return self.wheel.rate_hz

    @property
    def chunk_n(self) -> int:  # wall clock: samples per chunk
        return max(1, round(self.chunk_s * self.rate_hz))

    @property
    def max_n(self) -> int:  # virtual time: cap per chunk
        return max(1, round(ANALOG_CHUNK_S * self.rate_hz))

    def due(self) -> float:
        """Wall clock: when the next chunk's samples have all ended."""
        return (self.k + self.chunk_n) / self.rate_hz


@dataclass
class WorldRecord:
    """Ground truth of the simulated session."""

    licks: list[tuple[float, str]] = field(default_factory=list)  # (t, port) lick onsets
    actions: list[tuple[float, str]] = field(default_factory=list)  # (t, input) every onset
    deliveries: list[tuple[float, str, float, float]] = field(default_factory=list)
    #: per laser (by its channel's name on the device): (t, mW, on|ramp|off) commands and
    #: (t, mW) light at the tissue
    lasers: dict[str, list[tuple[float, float, str]]] = field(default_factory=dict)
    lights: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    valve_closed_early: list[tuple[float, str]] = field(default_factory=list)

    @property
    def laser(self) -> list[tuple[float, float, str]]:
        """Every laser's commands in time order (one laser: its own)."""
        return sorted((e for rows in self.lasers.values() for e in rows), key=lambda e: e[0])

    @property
    def light(self) -> list[tuple[float, float]]:
        """Every laser's light at the tissue in time order (one laser: its own)."""
        return sorted((e for rows in self.lights.values() for e in rows), key=lambda e: e[0])


def grid(t: float) -> int:
    """Millisecond sample index of time ``t`` (the world lives on a 1 kHz grid)."""
    return int(round(t * 1000.0))


def floor_grid(t: float) -> int:
    """Samples that end at or before ``t`` (tolerant of float error in ``t``)."""
    return int(math.floor(t * 1000.0 + 1e-6))


class SimWorld(EventSource):
    def __init__(self, clock, settings: SimSettings, agent: Agent) -> None:
        self.clock = clock
        self.s = settings
        self.agent = agent
        self.mouse = mouse = agent.body  # the continuous part the world integrates
        self.inputs: list[str] = []
        self.port_inputs: dict[str, str] = {}
        self._lick_port: dict[str, str] = {}
        self._started = False
        self.record = WorldRecord()
        self._queue: list[tuple[float, int, str, float, Callable[[], None] | None]] = []
        self._seq = itertools.count()
        self._wake = threading.Event()
        self.laser_powers: dict[str, float] = {}  # commanded mW per laser
        self._laser_gen: dict[str, int] = {}
        self._tissue: dict[str, float] = {}  # inhibition (0-1) each laser's light gives
        self.signal_name: str | None = None
        self.signal_noise = mouse.signal_noise
        self.sig_k = 0
        self._r_pending: list[np.ndarray] = []
        self._snapshot: tuple[int, tuple] | None = None
        self._chunk_n = max(1, round(settings.signal_chunk_s * 1000))
        self._analog: dict[str, _Analog] = {}  # named analog inputs (wheels), by name

    # --- EventSource ----------------------------------------------------------------------
    def next_event(self, deadline: float) -> InputEvent | SignalChunk | None:
        realtime = self.clock.realtime
        while True:
            t_next = self.next_time()
            target = min(t_next, deadline)
            if self._analog and not realtime and not math.isinf(target):
                # Analog inputs first: delivering the neural signal moves the clock to the end
                # of its chunk, and a crossing in an analog chunk must still be ahead of it.
                chunk = self._analog_due(target, virtual=True)
                if chunk is not None:
                    return chunk
            if self.signal_name is not None and not realtime and not math.isinf(target):
                # Virtual time: deliver the signal up to the next happening before the happening.
                k_target = floor_grid(target)
                if self.s.max_chunk_samples:
                    k_target = min(k_target, self.sig_k + self.s.max_chunk_samples)
                if k_target > self.sig_k:
                    return self._deliver(k_target, revisable=True)
            # what must happen on time (an input, the loop's deadline) is waited for
            # precisely; a signal chunk is data and only needs to be about on time
            precise_at = target
            if self.signal_name is not None and realtime:
                target = min(target, (self.sig_k + self._chunk_n) / 1000.0)
            if self._analog and realtime:
                target = min(target, min(a.due() for a in self._analog.values()))
            if math.isinf(target):
                if not realtime:
                    raise SimulationStalled(
                        "simulation stalled: no timer and no input pending (the task waits for "
                        "an event this simulated subject never produces; try --agent generic)"
                    )
                target = self.clock.now() + 0.05
            if not self.clock.wait_until(target, self._wake, precise=target >= precise_at):
                self._wake.clear()
                return None
            if self.signal_name is not None and realtime:
                k_now = floor_grid(self.clock.now())
                if k_now >= self.sig_k + self._chunk_n:
                    return self._deliver(k_now, revisable=False)
            if self._analog and realtime:
                chunk = self._analog_due(self.clock.now(), virtual=False)
                if chunk is not None:
                    return chunk
            if t_next > deadline or math.isinf(t_next):
                self._advance(self.clock.now())
                return None
            t, _, name, value, action = heapq.heappop(self._queue)
            self._advance(t)
            if action is not None:
                action()
                continue
            if value:
                self.record.actions.append((t, name))
                if name in self._lick_port:
                    self.record.licks.append((t, self._lick_port[name]))
            return InputEvent(t=t, name=name, value=value)

    def revise(self, sample: int) -> None:
        """Forget signal delivered from ``sample`` on: the mouse returns to the state it had
        there, so what follows is recomputed with the outputs the engine sets now."""
        snap = self._snapshot
        if snap is None or not snap[0] <= sample <= self.sig_k:
            raise RigctlError(f"simulated signal cannot be revised to sample {sample}")
        self.mouse.restore(snap[1])
        self.mouse.advance(sample - self.mouse.k)
        self.sig_k = sample
        self._r_pending.clear()

    # --- the agent's side -------------------------------------------------------------------
    def add_input(self, name: str, port: str | None = None) -> None:
        """An input line the agent can act on (``port``: the reward port it senses licks at)."""
        self.inputs.append(name)
        if port is not None:
            self.port_inputs[port] = name
            self._lick_port[name] = port

    def start_agent(self) -> None:
        if not self._started:
            self._started = True
            self.agent.attach(self)
            self.agent.start(self.clock.now())

    def press(self, t: float, name: str, hold_s: float) -> None:
        self._push(t, name, 1.0, None)
        self._push(t + hold_s, name, 0.0, None)
        self._wake.set()

    def at(self, t: float, action: Callable[[], None]) -> None:
        self._at(t, action)
        self._wake.set()

    def schedule_input(self, t: float, name: str, value: float = 1.0) -> None:
        """Schedule an input edge at ``t`` (benchmarks and fault tests drive the rig this way)."""
        self._push(t, name, value, None)
        self._wake.set()

    def schedule_exact(self, t: float, name: str, value: float = 1.0,
                       action: Callable[[], None] | None = None) -> None:
        """An input edge (or, with ``action``, an internal happening) at exactly ``t``, off
        the 1 ms grid: another instrument's clock (the simulated microscope's frame-out) does
        not tick on the world's grid, and frame times must stay exact for alignment."""
        heapq.heappush(self._queue, (t, next(self._seq), name, value, action))
        self._wake.set()

    # --- the neural signal ----------------------------------------------------------------
    def enable_signal(self, name: str) -> None:
        self.signal_name = name

    def _deliver(self, k_target: int, revisable: bool) -> SignalChunk:
        """Signal samples [sig_k, k_target): neural activity plus measurement noise."""
        first = self.sig_k
        if revisable and self.mouse.k != first:
            raise RigctlError(f"simulated signal out of step (mouse at {self.mouse.k}, "
                              f"signal at {first})")
        self._snapshot = (first, self.mouse.snapshot()) if revisable else None
        if self.mouse.k < k_target:
            self._advance(k_target / 1000.0)
        r = np.concatenate(self._r_pending) if len(self._r_pending) > 1 else self._r_pending[0]
        self._r_pending.clear()
        n = k_target - first
        if r.size > n:  # the mouse ran ahead (wall clock): keep the rest for the next chunk
            self._r_pending.append(r[n:])
            r = r[:n]
        samples = r + self.s.mouse.neural_noise_sd * self.signal_noise.take(first, n)
        self.sig_k = k_target
        return SignalChunk(t0=first / 1000.0, first=first, samples=samples, rate_hz=1000.0,
                           name=self.signal_name or "neural_signal", revisable=revisable)

    # --- named analog inputs ------------------------------------------------------------------
    def add_analog(self, name: str, wheel: SimWheel) -> None:
        """A named analog input measuring ``wheel`` (delivered as SignalChunks named ``name``;
        never revisable: the wheel does not depend on what the rig outputs)."""
        self._analog[name] = _Analog(name, wheel, self.s.signal_chunk_s)

    def _analog_due(self, t: float, virtual: bool) -> SignalChunk | None:
        """The next chunk of an analog input whose samples have ended by ``t``: in virtual time
        everything up to ``t`` (at most ``ANALOG_CHUNK_S`` a chunk), on the wall clock once a
        chunk's worth has ended."""
        for a in self._analog.values():
            k_end = int(math.floor(t * a.rate_hz + 1e-6))
            n = k_end - a.k
            if n >= (1 if virtual else a.chunk_n):
                n = min(n, a.max_n) if virtual else n
                first, a.k = a.k, a.k + n
                return SignalChunk(t0=first / a.rate_hz, first=first,
                                   samples=a.wheel.samples(first, n), rate_hz=a.rate_hz,
                                   name=a.name)
        return None

    def wake(self) -> None:
        self._wake.set()

    def next_time(self) -> float:
        """Time of the next scheduled happening (input or internal), +inf when none."""
        return self._queue[0][0] if self._queue else math.inf

    # --- outputs, called by the simulated drivers -----------------------------------------
    def _now(self) -> float:
        t = self.clock.now()
        self._advance(t)
        return t

    def output(self, name: str, level: bool) -> None:
        """A digital output changed: the agent perceives it (lights, tones, doors...)."""
        self.agent.output(self._now(), name, level)

    def valve_open(
        self, side: str, duration_s: float, nominal_ul: Callable[[float], float]
    ) -> None:
        t = self._now()
        ul = nominal_ul(duration_s * 1000.0) * self.s.valve_flow_scale
        self.record.deliveries.append((t, side, duration_s, ul))
        self.agent.water(t, side, ul)

    def valve_close(self, side: str) -> None:
        t = self._now()
        for (t0, s, d, _ul) in self.record.deliveries:
            if s == side and t0 <= t < t0 + d:
                self.record.valve_closed_early.append((t, side))

    @property
    def laser_power_mw(self) -> float:
        """Commanded power of every laser together (0 when all are off)."""
        return sum(self.laser_powers.values())

    def add_laser(self, name: str) -> None:
        """A laser (fibre) of the box, off; ``name`` tells it from the others."""
        self.laser_powers.setdefault(name, 0.0)
        self._laser_gen.setdefault(name, 0)
        self._tissue.setdefault(name, 0.0)
        self.record.lasers.setdefault(name, [])
        self.record.lights.setdefault(name, [])

    def laser(self, power_mw: float, pulses: PulseTrain | None = None,
              name: str = "laser") -> None:
        """Set laser ``name``'s emitted power now (0 = off), continuous or as a pulse train."""
        self.add_laser(name)
        t = self._now()
        self._laser_gen[name] += 1  # cancels pulses and ramps already scheduled
        self.laser_powers[name] = power_mw
        self.record.lasers[name].append((t, power_mw, "on" if power_mw > 0 else "off"))
        self._light(t, power_mw, name)
        if pulses is not None and power_mw > 0:
            self._pulse(t, power_mw, pulses, self._laser_gen[name], name)

    def _pulse(self, t: float, power_mw: float, pulses: PulseTrain, gen: int, name: str) -> None:
        def off() -> None:
            if gen == self._laser_gen[name]:
                self._light(self.clock.now(), 0.0, name)

        def next_on() -> None:
            if gen == self._laser_gen[name]:
                now = self.clock.now()
                self._light(now, self.laser_powers[name], name)
                self._pulse(now, power_mw, pulses, gen, name)

        self._at(t + pulses.width_s, off)
        self._at(t + 1.0 / pulses.frequency_hz, next_on)

    def _light(self, t: float, power_mw: float, name: str) -> None:
        """What reaches the tissue: every change is recorded; the astrocytes feel it at once.

        The astrocyte model is one population: each laser inhibits its share of it (one
        laser: all of it, as a single fibre split to both hemispheres does; two lasers, one a
        hemisphere: half each), so its inhibition is the mean of the lasers' own
        ``min(1, mW / laser_saturation_mw)``. Both hemispheres lit equally is today's single
        bilateral laser; one of two lit inhibits half as much."""
        light = self.record.lights[name]
        if not light or light[-1][1] != power_mw:
            light.append((t, power_mw))
        self._tissue[name] = min(1.0, power_mw / self.s.mouse.laser_saturation_mw)
        self.mouse.o = sum(self._tissue.values()) / len(self._tissue)

    def laser_ramp_down(self, ramp_s: float, name: str = "laser") -> None:
        """Inhibition persists through the ramp and ends when the power reaches zero."""
        self.add_laser(name)
        if ramp_s <= 0:
            self.laser(0.0, name=name)
            return
        t = self._now()
        self.record.lasers[name].append((t, self.laser_powers[name], "ramp"))
        gen = self._laser_gen[name]

        def end() -> None:
            if gen == self._laser_gen[name]:
                self.laser(0.0, name=name)

        self._at(t + ramp_s, end)

    # --- internals --------------------------------------------------------------------------
    def _push(self, t: float, name: str, value: float, action: Callable[[], None] | None) -> None:
        t = grid(t) / 1000.0
        heapq.heappush(self._queue, (t, next(self._seq), name, value, action))

    def _at(self, t: float, action: Callable[[], None]) -> None:
        self._push(t, "", 0.0, action)

    def _advance(self, t: float) -> None:
        """Integrate the mouse over the samples that have ended by ``t``.

        Flooring (not rounding) keeps the mouse from running ahead of the signal delivered so
        far when a timer falls between two samples, so revisable chunks always start where the
        mouse is."""
        r = self.mouse.advance(floor_grid(t) - self.mouse.k)
        if self.signal_name is not None and r.size:
            self._r_pending.append(r)
