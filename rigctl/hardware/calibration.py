"""Valve calibration: µL of water per opening as a function of open time.

A lab weighs N openings at several open times; the points define a monotone piecewise-linear
curve. Converting a reward volume to an open time interpolates on it and refuses to extrapolate,
because a valve's flow outside the measured range is unknown and a wrong reward silently changes
the animal's motivation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rigctl.errors import InterlockError


class ValveCurve:
    """Monotone map between open time (ms) and delivered volume (µL) for one valve."""

    def __init__(self, points: Sequence[tuple[float, float]], name: str = "valve") -> None:
        arr = np.asarray(points, dtype=float)
        if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] != 2:
            raise ValueError(f"{name}: calibration needs at least two [open_ms, ul] points")
        order = np.argsort(arr[:, 0])
        self.ms = arr[order, 0]
        self.ul = arr[order, 1]
        if np.any(np.diff(self.ms) <= 0) or np.any(np.diff(self.ul) <= 0):
            raise ValueError(
                f"{name}: calibration volumes must increase with open time (re-run calibration)"
            )
        self.name = name

    @property
    def ul_range(self) -> tuple[float, float]:
        return float(self.ul[0]), float(self.ul[-1])

    def ms_for_ul(self, ul: float) -> float:
        """Open time in ms that delivers ``ul`` µL; InterlockError outside the calibrated range."""
        lo, hi = self.ul_range
        if not lo <= ul <= hi:
            raise InterlockError(
                f"{self.name}: {ul:g} µL is outside the calibrated range {lo:g}-{hi:g} µL "
                "(recalibrate the valve or choose a reward inside the range)"
            )
        return float(np.interp(ul, self.ul, self.ms))

    def ul_for_ms(self, ms: float) -> float:
        """Volume delivered by an opening of ``ms`` (clipped to the calibrated range)."""
        return float(np.interp(ms, self.ms, self.ul))
