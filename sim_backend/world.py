"""The simulated world: what the mouse perceives, what it does, and what the rig delivered.

The world is the simulated rig's event source. It keeps a time-ordered queue of the mouse's
future actions (lick edges) and of its own internal changes (end of a laser ramp), integrates the
mouse on a 1 ms grid up to each event, and hands input events to the engine exactly as a real
backend's event source would. Outputs reach it through the simulated drivers, which call
``cue``, ``valve_open`` and ``laser``. It records every lick, delivery and laser change so tests
can compare the session's log with what "physically" happened.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rigctl.errors import RigctlError
from rigctl.hardware.interfaces import EventSource, InputEvent
from sim_backend.mouse import SimMouse
from sim_backend.settings import SimSettings


@dataclass
class WorldRecord:
    """Ground truth of the simulated session."""

    licks: list[tuple[float, str]] = field(default_factory=list)
    deliveries: list[tuple[float, str, float, float]] = field(default_factory=list)
    laser: list[tuple[float, float, str]] = field(default_factory=list)  # (t, mW, on|ramp|off)
    valve_closed_early: list[tuple[float, str]] = field(default_factory=list)


def grid(t: float) -> int:
    """Millisecond sample index of time ``t`` (the world lives on a 1 kHz grid)."""
    return int(round(t * 1000.0))


class SimWorld(EventSource):
    def __init__(self, clock, settings: SimSettings, mouse: SimMouse) -> None:
        self.clock = clock
        self.s = settings
        self.mouse = mouse
        self.record = WorldRecord()
        self._queue: list[tuple[float, int, str, float, Callable[[], None] | None]] = []
        self._seq = itertools.count()
        self._wake = threading.Event()
        self.laser_power_mw = 0.0

    # --- EventSource ----------------------------------------------------------------------
    def next_event(self, deadline: float) -> InputEvent | None:
        while True:
            t_next = self._queue[0][0] if self._queue else math.inf
            target = min(t_next, deadline)
            if math.isinf(target):
                if not self.clock.realtime:
                    raise RigctlError(
                        "simulation stalled: no timer and no input pending (a protocol state "
                        "waits for an event that cannot come)"
                    )
                target = self.clock.now() + 0.05
            if not self.clock.wait_until(target, self._wake):
                self._wake.clear()
                return None
            if t_next > deadline or math.isinf(t_next):
                self._advance(self.clock.now())
                return None
            t, _, name, value, action = heapq.heappop(self._queue)
            self._advance(t)
            if action is not None:
                action()
                continue
            if value:
                self.record.licks.append((t, name.removeprefix("lick_")))
            return InputEvent(t=t, name=name, value=value)

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

    def cue(self, name: str, level: bool) -> None:
        t = self._now()
        m = self.mouse
        if name == "trial_start" and level:
            m.sample_started(m.alternation_target())
        elif name == "trial_start":
            m.delay_started()
        elif name == "laser_gate":
            return  # the simulated laser's power already says whether light is emitted
        elif name == "go" and level:
            decision = m.go()
            if decision is not None:
                side, rt = decision
                self._lick(t + rt, side)

    def valve_open(
        self, side: str, duration_s: float, nominal_ul: Callable[[float], float]
    ) -> None:
        t = self._now()
        ul = nominal_ul(duration_s * 1000.0) * self.s.valve_flow_scale
        self.record.deliveries.append((t, side, duration_s, ul))
        for dt in self.mouse.lick_bout(ul):
            self._lick(t + dt, side)

    def valve_close(self, side: str) -> None:
        t = self._now()
        for (t0, s, d, _ul) in self.record.deliveries:
            if s == side and t0 <= t < t0 + d:
                self.record.valve_closed_early.append((t, side))

    def laser(self, power_mw: float) -> None:
        """Set emitted power now (0 = off)."""
        t = self._now()
        self.laser_power_mw = power_mw
        self.record.laser.append((t, power_mw, "on" if power_mw > 0 else "off"))
        self.mouse.o = min(1.0, power_mw / self.s.mouse.laser_saturation_mw)

    def laser_ramp_down(self, ramp_s: float) -> None:
        """Inhibition persists through the ramp and ends when the power reaches zero."""
        if ramp_s <= 0:
            self.laser(0.0)
            return
        t = self._now()
        self.record.laser.append((t, self.laser_power_mw, "ramp"))
        self._at(t + ramp_s, lambda: self.laser(0.0))

    # --- internals --------------------------------------------------------------------------
    def _push(self, t: float, name: str, value: float, action: Callable[[], None] | None) -> None:
        t = grid(t) / 1000.0
        heapq.heappush(self._queue, (t, next(self._seq), name, value, action))

    def _at(self, t: float, action: Callable[[], None]) -> None:
        self._push(t, "", 0.0, action)

    def _lick(self, t: float, side: str) -> None:
        self._push(t, f"lick_{side}", 1.0, None)
        self._push(t + self.s.mouse.lick_contact_s, f"lick_{side}", 0.0, None)

    def _advance(self, t: float) -> np.ndarray:
        return self.mouse.advance(grid(t) - self.mouse.k)
