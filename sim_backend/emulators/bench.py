"""What the emulated devices of one session share: one time base, the wires between devices
(the laser gate), and the simulated mouse, run on the wall clock.

The simulated world (``SimWorld``) was written for virtual time: the engine pulls events from it
and the clock jumps. Behind emulated serial devices nobody pulls; the mouse must act on its own
as wall time passes. ``LiveWorld`` gives the world a ``VirtualClock`` that a thread advances to
wall time: it sleeps until the world's next scheduled happening (``SimWorld.next_time``), takes
what is due (``next_event(deadline=now)``) and hands licks to the emulated controller. Outputs
(cues, valves, laser) reach the world through ``apply``, which holds the same lock and first
advances the clock to now, so the world only ever sees time move forward.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from rigctl.config.agent import AgentChoice
from rigctl.config.subject import Subject
from rigctl.hardware.interfaces import InputEvent
from rigctl.timing.clock import VirtualClock
from sim_backend.agents import make_agent
from sim_backend.mouse import SimMouse
from sim_backend.settings import SimSettings
from sim_backend.world import SimWorld

T = TypeVar("T")
BENCH_KEY = "sim_backend.emulators.bench"
_MAX_SLEEP_S = 0.05

InputListener = Callable[[str, float, float], None]  # (name, value, device time)


class LiveWorld:
    """A SimWorld paced by wall time (see the module docstring)."""

    def __init__(
        self, settings: SimSettings, subject: Subject, seed: np.random.SeedSequence,
        now: Callable[[], float], agent_choice: AgentChoice | None = None,
    ) -> None:
        self.now = now
        self.clock = VirtualClock()
        body = SimMouse(subject, settings.mouse, seed)
        agent = make_agent(agent_choice or AgentChoice(), body, settings.generic_agent,
                           np.random.default_rng(seed.spawn(1)[0]))
        self.world = SimWorld(self.clock, settings, agent)
        self.world.start_agent()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._listeners: list[InputListener] = []
        # Integrate a few steps now, which loads the mouse's numba kernels (a second or so):
        # at the first cue that would stall the emulated controller past the host's timeout.
        while self.now() < 0.002:
            time.sleep(0.001)
        with self._lock:
            self.world.next_event(self._catch_up())
        self._thread = threading.Thread(target=self._run, name="live-world", daemon=True)
        self._thread.start()

    def add_listener(self, listener: InputListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: InputListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def apply(self, fn: Callable[[SimWorld], T]) -> T:
        """Run an output (``world.cue``, ``valve_open``, ``laser``...) at the current time."""
        with self._lock:
            self._catch_up()
            out = fn(self.world)
        self._wake.set()  # it may have scheduled a lick sooner than the thread is sleeping for
        return out

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _catch_up(self) -> float:
        now = self.now()
        self.clock.wait_until(now)
        return now

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                t_next = self.world.next_time()
            delay = t_next - self.now()
            if delay > 0:
                self._wake.wait(min(delay, _MAX_SLEEP_S) if math.isfinite(delay) else _MAX_SLEEP_S)
                self._wake.clear()
                continue
            due: list[InputEvent] = []
            with self._lock:
                now = self._catch_up()
                while True:
                    ev = self.world.next_event(now)
                    if ev is None:
                        break
                    if isinstance(ev, InputEvent):
                        due.append(ev)
            for ev in due:
                for listener in list(self._listeners):
                    listener(ev.name, ev.value, ev.t)


class Bench:
    """Shared by the emulators of one session (kept in ``BuildContext.shared``)."""

    def __init__(self) -> None:
        boot = time.perf_counter()
        self.boot_perf = boot
        self.now: Callable[[], float] = lambda: time.perf_counter() - boot
        self.world: LiveWorld | None = None
        self.gate = False
        self._gate_listeners: list[Callable[[bool], None]] = []

    def ensure_world(
        self, settings: SimSettings, subject: Subject, seed: np.random.SeedSequence,
        agent: AgentChoice | None = None,
    ) -> tuple[LiveWorld, bool]:
        """The session's simulated world; True if this call created it (and must close it)."""
        if self.world is not None:
            return self.world, False
        self.world = LiveWorld(settings, subject, seed, self.now, agent)
        return self.world, True

    def to_perf(self, t: float) -> float:
        """Device time on this bench -> time.perf_counter()."""
        return self.boot_perf + t

    # --- the laser gate: a controller output wired to the laser's modulation input ---------
    def set_gate(self, level: bool) -> None:
        self.gate = level
        for listener in list(self._gate_listeners):
            listener(level)

    def on_gate(self, listener: Callable[[bool], None]) -> None:
        self._gate_listeners.append(listener)

    def off_gate(self, listener: Callable[[bool], None]) -> None:
        if listener in self._gate_listeners:
            self._gate_listeners.remove(listener)

    def laser(self, power_mw: float) -> None:
        """Light reaching the tissue (from the emulated laser) changes the mouse's astrocytes."""
        if self.world is not None:
            self.world.apply(lambda w: w.laser(power_mw))


def bench_for(shared: dict[str, Any]) -> Bench:
    """The bench of a session: created by the first emulator that asks."""
    bench = shared.get(BENCH_KEY)
    if bench is None:
        bench = shared[BENCH_KEY] = Bench()
    return bench
