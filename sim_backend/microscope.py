"""A simulated second acquisition system: a microscope with its own clock.

It sits on the simulated rig's sync line (any ``sync`` output of a ``type: sim`` device, when the
device's settings have a ``microscope:`` section) and does what a two-photon microscope's
acquisition computer does: it samples the sync line on its own clock, which has an offset and
runs fast or slow (drift), misses some pulses, acquires frames at its frame rate and fails to
save a few of them. When the session ends it writes, into ``folder``:

- ``<stamp>_sync.csv`` — the onsets of the sync pulses it saw, on its clock (what
  ``rigctl align SESSION OTHER.csv`` takes);
- ``<stamp>_frames.csv`` — the start time of every saved frame, on its clock;
- ``<stamp>_truth.json`` — what really happened (offset, drift, the dropped pulses and frames),
  so tests can check an alignment against the truth.

``stamp`` is the wall-clock time the device was opened (``YYYYmmdd-HHMMSS``, a ``-N`` suffix if
taken). Relative folders are relative to the current directory.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rigctl.hardware.interfaces import Clock, DigitalOutputDriver

if TYPE_CHECKING:  # the world's settings hold the microscope's: no import at run time
    from sim_backend.world import SimWorld


class MicroscopeSettings(BaseModel):
    """The ``microscope:`` section of a sim device."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    folder: str = Field(description="Where the microscope writes its files")
    offset_s: float = Field(
        12.5, description="Microscope clock at session time 0 (s); any sign")
    drift_ppm: float = Field(
        80.0, ge=-1000, le=1000, description="How much faster the microscope clock runs (ppm)")
    sample_rate_hz: float = Field(
        10_000.0, gt=0, le=1e6, description="Rate at which it samples the sync line (Hz)")
    frame_rate_hz: float = Field(30.0, gt=0, le=1000, description="Frame rate (Hz)")
    start_s: float = Field(0.5, ge=0, description="Session time at which imaging starts (s)")
    drop_pulse_fraction: float = Field(
        0.02, ge=0, lt=1, description="Fraction of sync pulses it misses")
    drop_frame_fraction: float = Field(
        0.001, ge=0, lt=1, description="Fraction of frames acquired but not saved")
    frame_out: str | None = Field(
        None, description="Named input of the rig its frame-out line drives (an input with "
        "`frame_clock:`): one TTL per acquired frame, saved or not")


class SimMicroscope:
    """Records the sync line and the frame clock; writes its files at :meth:`save`."""

    def __init__(self, settings: MicroscopeSettings, clock: Clock,
                 seed: np.random.SeedSequence) -> None:
        self.s = settings
        self.clock = clock
        self.rng = np.random.default_rng(seed)
        self.opened = dt.datetime.now()
        self.rising: list[float] = []  # session times of every rising edge on the line
        self.saved: dict[str, Path] = {}
        self.world: SimWorld | None = None  # where the frame-out TTLs go (``drive``)
        self.emitted = 0  # frame-out TTLs sent so far

    # --- frame-out ----------------------------------------------------------------------------
    def drive(self, world: SimWorld) -> None:
        """Wire the frame-out line to the world's input ``frame_out``."""
        self.world = world

    def frame_time(self, k: int) -> float:
        """Session time of frame ``k``'s start: frames tick on the microscope's clock, so on
        the session clock their period is ``1 / frame_rate_hz / (1 + drift)``."""
        return self.s.start_s + k / self.s.frame_rate_hz / (1 + self.s.drift_ppm * 1e-6)

    def start(self) -> None:
        """Begin acquiring: the first frame at ``start_s``."""
        if self.world is not None and self.s.frame_out is not None:
            self.world.schedule_exact(self.frame_time(0), "", 0.0, self._frame)

    def _frame(self) -> None:
        """One frame starts: a TTL of half a frame on frame-out, and the next frame queued."""
        world, name = self.world, self.s.frame_out
        assert world is not None and name is not None
        t = self.frame_time(self.emitted)
        nxt = self.frame_time(self.emitted + 1)
        world.schedule_exact(t, name, 1.0)
        world.schedule_exact((t + nxt) / 2, name, 0.0)
        self.emitted += 1
        world.schedule_exact(nxt, "", 0.0, self._frame)

    def to_scope(self, t_session: np.ndarray | float) -> np.ndarray:
        """Session time on the microscope's clock (the truth the alignment should find)."""
        return self.s.offset_s + (1 + self.s.drift_ppm * 1e-6) * np.asarray(t_session, float)

    def line(self, t: float, level: bool) -> None:
        if level:
            self.rising.append(t)

    def _stamp(self, folder: Path) -> str:
        base = f"{self.opened:%Y%m%d-%H%M%S}"
        stamp, n = base, 1
        while (folder / f"{stamp}_sync.csv").exists():
            stamp, n = f"{base}-{n}", n + 1
        return stamp

    def save(self) -> dict[str, Path]:
        """Write the sync, frame and truth files (once); returns their paths."""
        if self.saved:
            return self.saved
        s = self.s
        end = self.clock.now()
        seen = self.rng.random(len(self.rising)) >= s.drop_pulse_fraction
        rising = np.asarray(self.rising, float)
        pulses = np.floor(self.to_scope(rising[seen]) * s.sample_rate_hz) / s.sample_rate_hz
        period = 1.0 / s.frame_rate_hz
        t0 = float(self.to_scope(s.start_s))
        n_frames = (self.emitted if self.world is not None and s.frame_out is not None
                    else max(0, math.floor((float(self.to_scope(end)) - t0) / period)))
        frames = t0 + np.arange(n_frames) * period
        kept = self.rng.random(n_frames) >= s.drop_frame_fraction
        folder = Path(s.folder)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = self._stamp(folder)
        paths = {k: folder / f"{stamp}_{k}.{ext}"
                 for k, ext in (("sync", "csv"), ("frames", "csv"), ("truth", "json"))}
        np.savetxt(paths["sync"], pulses, fmt="%.6f", header="sync_onset_s", comments="")
        np.savetxt(paths["frames"], frames[kept], fmt="%.6f", header="frame_start_s",
                   comments="")
        truth = {**s.model_dump(), "session_end_s": end, "n_pulses_sent": int(rising.size),
                 "dropped_pulses": np.flatnonzero(~seen).tolist(), "n_frames": int(n_frames),
                 "dropped_frames": np.flatnonzero(~kept).tolist(), "first_frame_s": t0}
        paths["truth"].write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
        self.saved = paths
        return paths


class MicroscopeLine(DigitalOutputDriver):
    """The rig's sync output, wired to the simulated rig and to the microscope's input."""

    def __init__(self, inner: DigitalOutputDriver, scope: SimMicroscope, clock: Clock) -> None:
        self.inner, self.scope, self.clock = inner, scope, clock
        self.level = False

    def set(self, level: bool) -> None:
        self.inner.set(level)
        if level != self.level:
            self.level = level
            self.scope.line(self.clock.now(), level)
