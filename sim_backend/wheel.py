"""A simulated running wheel: what a named analog input of the simulated rig measures.

The subject alternates rest and running bouts (exponential durations, means ``rest_bout_s``
and ``run_bout_s``); each running bout has its own target speed (log-normal around
``run_speed``), rest has target 0, and the wheel's speed follows the target as a
first-order low-pass (time constant ``tau_s``: the wheel's inertia and the subject's
acceleration), plus Gaussian measurement noise ``noise``; the reading is clipped at 0 (a
speed, in cm/s). Physics only: nothing here knows a task.

Every sample is a pure function of its index (bouts are drawn in order from the input's own
seed, noise is indexed by sample, see :mod:`sim_backend.noise`), so a session jumping from
event to event in virtual time reads exactly the wheel of one stepped every millisecond, and
the subject's other random streams are untouched by adding a wheel.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim_backend.noise import IndexedNormals


class WheelSettings(BaseModel):
    """The running wheel behind every named analog input of the simulated rig."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    run_bout_s: float = Field(6.0, gt=0, le=3600, description="Mean running bout (s)")
    rest_bout_s: float = Field(10.0, gt=0, le=3600, description="Mean rest between bouts (s)")
    run_speed: float = Field(25.0, ge=0, le=100_000,
                            description="Median running speed (the input's unit: cm/s by default)")
    run_speed_log_sd: float = Field(0.3, ge=0, le=3, description="SD of log bout speed")
    tau_s: float = Field(0.3, gt=0, le=60, description="Time constant of speed changes (s)")
    noise: float = Field(0.5, ge=0, le=10_000, description="Measurement noise SD (same unit)")


class SimWheel:
    """Speed samples of one wheel at ``rate_hz``: ``samples(k0, n)`` for any k0, n."""

    def __init__(self, settings: WheelSettings, rate_hz: float,
                 seed: np.random.SeedSequence) -> None:
        self.s = settings
        self.rate_hz = rate_hz
        # a child keyed explicitly (``spawn`` would count calls on the caller's sequence)
        self._rng = np.random.default_rng(
            np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, 0)))
        self._noise = IndexedNormals(seed, stream=1)
        # bout b starts at sample starts[b] at speed v0[b] and heads for targets[b]
        self.starts: list[int] = [0]
        self.targets: list[float] = [0.0]
        self.v0: list[float] = [0.0]
        self._ends_at = self._length(running=False)

    def _length(self, running: bool) -> int:
        mean = self.s.run_bout_s if running else self.s.rest_bout_s
        return max(1, round(self._rng.exponential(mean) * self.rate_hz))

    def _extend(self, k: int) -> None:
        """Draw bouts in order until one covers sample ``k``."""
        while self._ends_at <= k:
            b = len(self.starts) - 1
            n = self._ends_at - self.starts[b]
            decay = math.exp(-n / self.tau_s_samples)
            v_end = self.targets[b] + (self.v0[b] - self.targets[b]) * decay
            running = self.targets[b] == 0.0
            target = (self.s.run_speed
                      * math.exp(self.s.run_speed_log_sd * self._rng.normal())
                      if running else 0.0)
            self.starts.append(self._ends_at)
            self.targets.append(target)
            self.v0.append(v_end)
            self._ends_at += self._length(running)

    @property
    def tau_s_samples(self) -> float:
        return self.s.tau_s * self.rate_hz

    def samples(self, k0: int, n: int) -> np.ndarray:
        """Speed (cm/s) of samples ``k0 .. k0 + n - 1``."""
        if n <= 0:
            return np.empty(0)
        self._extend(k0 + n - 1)
        k = np.arange(k0, k0 + n)
        idx = np.searchsorted(np.asarray(self.starts), k, side="right") - 1
        starts = np.asarray(self.starts, dtype=np.float64)[idx]
        targets = np.asarray(self.targets)[idx]
        v0 = np.asarray(self.v0)[idx]
        v = targets + (v0 - targets) * np.exp(-(k - starts) / self.tau_s_samples)
        v = v + self.s.noise * self._noise.take(k0, n)
        return np.maximum(v, 0.0)
