"""How late the engine answers, measured by every wall-clock session of its own loop.

Two numbers tell an operator whether a rig keeps time (and whether several rigs on one PC
slow each other down, docs/performance.md):

- **input → output**: for every input edge, the clock when its state handler has returned
  (every output it commands has been issued) minus the edge's time stamp;
- **timer lateness**: for every state, interlock or device timer, the clock when its callback
  starts minus its deadline.

Each is a histogram of fixed 10 µs bins up to 100 ms (values above are kept exactly, they are
rare), so the cost is one clock read and one increment per event and the memory is the same
for a ten-minute and a ten-hour session. Percentiles are the upper edge of their bin: they
overstate by at most :data:`RESOLUTION_S`, never understate. Session time is virtual in
simulation, where both are zero by construction, so only wall-clock sessions record them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

RESOLUTION_S = 1e-5  # bin width
SPAN_S = 0.1  # histogram range; later values are kept one by one
_BINS = int(round(SPAN_S / RESOLUTION_S))


class Lateness:
    """A bounded record of delays (s): count, percentiles, maximum."""

    def __init__(self) -> None:
        self._counts = np.zeros(_BINS, dtype=np.int64)
        self._over: list[float] = []
        self.n = 0
        self.max_s = 0.0

    def add(self, delay_s: float) -> None:
        """One delay; negative ones (a device stamp a little ahead of the host) count as 0."""
        self.n += 1
        if delay_s > self.max_s:
            self.max_s = delay_s
        if delay_s < SPAN_S:
            self._counts[max(int(delay_s / RESOLUTION_S), 0)] += 1
        else:
            self._over.append(delay_s)

    def percentile_s(self, q: float) -> float:
        """The delay that ``q`` % of them do not exceed (NaN when there are none)."""
        if self.n == 0:
            return math.nan
        rank = max(int(math.ceil(q / 100.0 * self.n)), 1)
        in_hist = int(self._counts.sum())
        if rank <= in_hist:
            i = int(np.searchsorted(np.cumsum(self._counts), rank))
            return min((i + 1) * RESOLUTION_S, self.max_s)
        return sorted(self._over)[rank - in_hist - 1]

    def summary(self) -> dict[str, Any]:
        """What session.json records: n, p50/p99/max in ms (null when nothing was timed)."""
        def ms(x: float) -> float | None:
            return None if math.isnan(x) else round(x * 1e3, 3)

        return {"n": self.n, "p50_ms": ms(self.percentile_s(50)),
                "p99_ms": ms(self.percentile_s(99)),
                "max_ms": ms(self.max_s) if self.n else None}


class LoopTiming:
    """The two records of one session's control loop."""

    def __init__(self) -> None:
        self.input_to_output = Lateness()
        self.timer_late = Lateness()

    def summary(self) -> dict[str, Any]:
        return {"input_to_output": self.input_to_output.summary(),
                "timer_late": self.timer_late.summary(),
                "resolution_ms": RESOLUTION_S * 1e3}


def describe(timing: dict[str, Any] | None) -> str:
    """One line for the terminal: ``input→output p50 0.21 ms, p99 0.80 ms (n=1,234); …``."""
    if not timing:
        return ""
    parts = []
    for key, label in (("input_to_output", "input→output"), ("timer_late", "timer lateness")):
        s = timing.get(key) or {}
        if s.get("n"):
            parts.append(f"{label} p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, "
                         f"max {s['max_ms']:.2f} ms (n={s['n']:,})")
    return "; ".join(parts)
