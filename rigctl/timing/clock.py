"""The two clocks of DESIGN.md "Time": wall time on a rig, virtual time in simulation.

Both report seconds since the session started. A wait on the wall clock sleeps until shortly
before the deadline and then spins, because a plain sleep overshoots by a scheduler quantum
(p99 ≈ 0.3 ms here) while the spin costs one core for at most ``spin_s``. A wait on the virtual
clock jumps: nothing happens between events, so there is nothing to wait for.

A wait whose deadline needs no sub-millisecond precision (a simulated rig's next signal
chunk: data, not an output) passes ``precise=False`` and only sleeps. Spinning there cost each
simulated rig ~0.5 ms of a core per chunk, which several rigs on one PC took from each
other's inputs (docs/performance.md, "Several rigs on one PC").
"""

from __future__ import annotations

import threading
import time


class VirtualClock:
    """Time that advances only when told to; reproducible to the byte for a given seed."""

    realtime = False

    def __init__(self) -> None:
        self._t = 0.0

    def now(self) -> float:
        return self._t

    def wait_until(self, t: float, wake: threading.Event | None = None,
                   precise: bool = True) -> bool:
        """Jump to ``t`` (never backwards). Always reaches ``t``: returns True."""
        if t > self._t:
            self._t = t
        return True


class WallClock:
    """Seconds since construction on the monotonic high-resolution clock."""

    realtime = True

    def __init__(self, spin_s: float = 0.0005) -> None:
        self._t0 = time.perf_counter()
        self.spin_s = spin_s

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def wait_until(self, t: float, wake: threading.Event | None = None,
                   precise: bool = True) -> bool:
        """Block until ``t``; return False early if ``wake`` is set (stop or new command).
        ``precise=False``: sleep all the way (may return up to a scheduler quantum late)."""
        spin_s = self.spin_s if precise else 0.0
        while True:
            remaining = t - self.now()
            if remaining <= 0:
                return True
            if wake is not None and wake.is_set():
                return False
            if remaining > spin_s:
                # Sleep in slices so a wake without an Event (a signal flag) is seen quickly.
                slice_s = min(remaining - spin_s, 0.05)
                if wake is not None:
                    if wake.wait(slice_s):
                        return False
                else:
                    time.sleep(slice_s)
