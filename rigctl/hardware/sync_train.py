"""Device-timed sync pulse trains: the schedule both timers follow, and the capability a device
offers the engine.

On the simulated rig the engine times sync pulses itself (exactly, in virtual time). A serial
controller or an NI card can time them better than a Python loop can: the reward controller's
firmware runs the train on its own clock (``SYNC`` in docs/serial-protocol.md) and reports
every edge with its own timestamp; an NI card plays it out from a counter. Both draw the
intervals from :func:`intervals_ms`, a 32-bit xorshift seeded by the session, so the firmware, its
Python emulator and the NI driver produce the same train for the same seed (the conformance
suite checks it), and a seeded session pulses at the same intervals every run.

A device that can time a train offers ``sync_train(channel)`` returning a :class:`SyncTrain`;
the engine (:mod:`rigctl.engine.hardware_sync`) starts it and logs the edges it reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

MASK32 = 0xFFFFFFFF
#: What the firmware accepts (docs/serial-protocol.md, ``SYNC``).
MAX_MEAN_MS = 600_000
MAX_WIDTH_MS = 1000


def intervals_ms(seed: int, mean_ms: int, spread_ms: int) -> Iterator[int]:
    """Whole-millisecond intervals uniform in ``mean_ms ± spread_ms``: xorshift32 (13, 17, 5)
    from ``seed``, ``mean - spread + (x * (2 spread + 1)) >> 32``; exactly what the firmware
    draws."""
    if not 1 <= seed <= MASK32:
        raise ValueError(f"sync seed {seed} must be 1-{MASK32}")
    x = seed
    lo, span = mean_ms - spread_ms, 2 * spread_ms + 1
    while True:
        x ^= (x << 13) & MASK32
        x ^= x >> 17
        x ^= (x << 5) & MASK32
        yield lo + ((x * span) >> 32)


@dataclass(frozen=True, slots=True)
class TrainSpec:
    """A random sync train in whole milliseconds (what a device times)."""

    seed: int
    mean_ms: int
    spread_ms: int
    width_ms: int

    @classmethod
    def from_seconds(cls, seed: int, mean_s: float, spread_s: float, width_s: float,
                     where: str) -> TrainSpec:
        """From a SyncConfig's seconds; ValueError naming ``where`` if they are not whole ms or
        outside what a device times."""
        ms = [round(v * 1000) for v in (mean_s, spread_s, width_s)]
        if any(abs(m - v * 1000) > 1e-6 for m, v in zip(ms, (mean_s, spread_s, width_s),
                                                         strict=True)):
            raise ValueError(f"{where}: a device-timed sync train needs whole milliseconds "
                             f"(mean_s {mean_s:g}, spread_s {spread_s:g}, width_s {width_s:g})")
        spec = cls(seed, *ms)
        problem = spec.problem()
        if problem:
            raise ValueError(f"{where}: {problem}")
        return spec

    def problem(self) -> str | None:
        if not 1 <= self.width_ms <= MAX_WIDTH_MS:
            return f"sync width {self.width_ms} ms is outside 1-{MAX_WIDTH_MS} ms"
        if self.mean_ms > MAX_MEAN_MS:
            return f"sync mean {self.mean_ms} ms is above {MAX_MEAN_MS} ms"
        if self.spread_ms > self.mean_ms or \
                self.mean_ms - self.spread_ms < 2 * self.width_ms:
            return "sync mean - spread must be at least twice the width"
        return None

    def rises_ms(self, n: int) -> list[int]:
        """The first ``n`` rising edges, in ms after the train starts."""
        out, t = [], 0
        for _, dt in zip(range(n), intervals_ms(self.seed, self.mean_ms, self.spread_ms),
                         strict=False):
            t += dt
            out.append(t)
        return out


@dataclass(frozen=True, slots=True)
class SyncEdge:
    """One edge of a device-timed train: session time, level, and the device's own time."""

    t: float
    level: bool
    device_t: float | None = None


@runtime_checkable
class SyncTrain(Protocol):
    """A sync train timed by a device. ``start``/``stop`` are called from the control loop;
    ``edges`` returns (and forgets) the edges that have happened since the last call, in order,
    and may be called from the control loop at any time. ``stop`` drives the line low and must
    not raise: it returns a failure message or None."""

    def start(self, spec: TrainSpec) -> None: ...

    def edges(self) -> list[SyncEdge]: ...

    def stop(self) -> str | None: ...

    def set(self, level: bool) -> None:
        """Drive the line by hand (low, when a session ends without the fall reported)."""
