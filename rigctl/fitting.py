"""The monotone calibration fit, shared by the config (which checks a stored fit against its
points when a rig file is loaded) and the hardware curves (which convert with it).

It lives below both layers so that validating a config never imports the hardware package.

The fit. With ``u = (x - x_lo) / (x_hi - x_lo)`` running from 0 to 1 over the measured range::

    y(u) = p0 + p1·(u - u²/2) + p2·u²/2,      p0, p1, p2 >= 0

``p0`` is the output at the smallest command and ``p1``, ``p2`` are the slopes dy/du at the two
ends (the slope is linear in between). So non-negative coefficients, found by non-negative
least squares (``scipy.optimize.nnls``), are exactly the quadratics that are
non-negative and non-decreasing over the whole range, convex (valves) or concave (lasers near
saturation). Residuals are weighted relative to the measured value (floored at 5% of the largest
value, so a 0 mW reading at 0 V does not dominate): a 0.1 µL error matters at 1 µL, not at 12.
The stored form is the plain polynomial ``y = c0 + c1·x + c2·x²``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rigctl.errors import RigctlError

#: weights are 1 / max(|y|, WEIGHT_FLOOR · max|y|)
WEIGHT_FLOOR = 0.05
#: a stored fit may differ from the refit of its points by this fraction of the output span
#: (stored coefficients are rounded to 7 significant figures; a hand edit is far larger)
STORED_FIT_TOLERANCE = 1e-3


class CalibrationError(RigctlError):
    """Measured points that cannot make a calibration (too few, not increasing, bad numbers)."""


# --- the monotone fit ------------------------------------------------------------------------


def _basis(u: np.ndarray, degree: int) -> np.ndarray:
    """Columns whose non-negative weights are the value at the start and the end slopes."""
    if degree == 1:
        return np.column_stack([np.ones_like(u), u])
    return np.column_stack([np.ones_like(u), u - u * u / 2, u * u / 2])


@dataclass(frozen=True)
class MonotoneFit:
    """``y = c0 + c1·x + c2·x²`` used on ``x_range`` only, non-decreasing there."""

    coefficients: tuple[float, float, float]
    x_range: tuple[float, float]
    # The same quadratic around the range start: y = _f0 + _a·u + _b·u², u = 0 … 1.
    _f0: float = field(init=False, repr=False, compare=False)
    _a: float = field(init=False, repr=False, compare=False)
    _b: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lo, hi = self.x_range
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise CalibrationError(f"calibrated range {lo:g}-{hi:g} is empty")
        if not all(math.isfinite(c) for c in self.coefficients):
            raise CalibrationError("fit coefficients must be finite numbers")
        c0, c1, c2 = self.coefficients
        span = hi - lo
        f0, a, b = c0 + c1 * lo + c2 * lo * lo, (c1 + 2 * c2 * lo) * span, c2 * span * span
        if not all(math.isfinite(v) for v in (f0, a, b, f0 + a + b)):
            raise CalibrationError("fit: numbers too large for the calibrated range")
        object.__setattr__(self, "_f0", f0)
        object.__setattr__(self, "_a", a)
        object.__setattr__(self, "_b", b)

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        c0, c1, c2 = self.coefficients
        return c0 + (c1 + c2 * x) * x

    @property
    def y_range(self) -> tuple[float, float]:
        lo, hi = self.x_range
        return float(self(lo)), float(self(hi))

    def is_monotone(self, slack: float = 0.0) -> bool:
        """Non-decreasing on the range (slope >= ``-slack``·span at both ends) and rising."""
        a, b = self._a, self._b
        ref = max(abs(a), abs(a + 2 * b), abs(a + b), 1e-300)
        y0, y1 = self.y_range
        return a >= -slack * ref and a + 2 * b >= -slack * ref and y1 > y0

    def inverse(self, y: float) -> float:
        """The x in the range with ``f(x) = y``; ValueError when ``y`` is outside ``y_range``."""
        y0, y1 = self.y_range
        if not y0 <= y <= y1:
            raise ValueError(f"{y:g} outside {y0:g}-{y1:g}")
        f0, a, b = self._f0, self._a, self._b
        dy = y - f0
        # Stable root of b·u² + a·u - dy = 0 on [0, 1]: u = 2·dy / (a + sqrt(a² + 4·b·dy)).
        # For a monotone fit a >= 0 and a² + 4·b·dy >= (a + 2b)² >= 0 up to rounding.
        disc = max(a * a + 4 * b * dy, 0.0)
        den = a + math.sqrt(disc)
        u = 0.0 if den <= 0 else 2 * dy / den
        u = min(max(u, 0.0), 1.0)
        lo, hi = self.x_range
        return lo + u * (hi - lo)


def fit_monotone(points: Sequence[tuple[float, float]]) -> MonotoneFit:
    """Fit a non-negative, non-decreasing quadratic (a line for two points) to ``points``.

    The points need not be monotone themselves (noisy data); ``x`` values must be distinct.
    """
    arr = np.asarray(points, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 2:
        raise CalibrationError("a calibration needs at least two measured points")
    if not np.all(np.isfinite(arr)):
        raise CalibrationError("measured values must be finite numbers")
    arr = arr[np.argsort(arr[:, 0])]
    x, y = arr[:, 0], arr[:, 1]
    if np.any(np.diff(x) <= 0):
        raise CalibrationError("each command may be measured once (repeated value)")
    lo, hi = float(x[0]), float(x[-1])
    span = hi - lo
    u = (x - lo) / span
    degree = 1 if len(x) == 2 else 2
    scale = max(float(np.max(np.abs(y))), 1e-300)
    w = 1.0 / np.maximum(np.abs(y), WEIGHT_FLOOR * scale)
    g = _basis(u, degree)
    from scipy.optimize import nnls  # lazy: only a config without a stored fit needs it

    try:
        p, _ = nnls(g * w[:, None], y * w)
    except RuntimeError:  # scipy's iteration limit: data no quadratic can follow
        raise CalibrationError("the measured points cannot be fitted; repeat the "
                               "measurement") from None
    p0, p1 = float(p[0]), float(p[1])
    p2 = float(p[2]) if degree == 2 else p1  # a line: the same slope at both ends
    if p1 + p2 <= 0:
        raise CalibrationError("the measured output does not rise with the command")
    # y = p0 + p1·u + (p2 - p1)/2·u², u = (x - lo)/span  →  polynomial in x
    # Products, never `**`: float ** raises OverflowError where a product gives inf, and any
    # non-finite result is refused below (values near the float limit cannot be calibrated).
    a_, b_ = p1, (p2 - p1) / 2
    with np.errstate(over="ignore", invalid="ignore"):
        c2 = b_ / (span * span)
        c1 = a_ / span - 2 * b_ * (lo / span) / span
        c0 = p0 - a_ * (lo / span) + b_ * (lo / span) * (lo / span)
    if not all(math.isfinite(c) for c in (c0, c1, c2)):
        raise CalibrationError("measured values are too large to fit; check the numbers")
    return MonotoneFit((c0, c1, c2), (lo, hi))


def check_stored_fit(
    points: Sequence[tuple[float, float]], coefficients: Sequence[float]
) -> str | None:
    """Why a stored fit cannot be used with its points, or None when it can.

    The stored fit must be monotone over the points' range and agree with the fit this code makes
    from the same points, so whichever of the two a reader uses gives the same commands.
    """
    xs = [float(px) for px, _ in points]
    try:
        stored = MonotoneFit(tuple(float(c) for c in coefficients), (min(xs), max(xs)))  # type: ignore[arg-type]
        refit = fit_monotone(points)
    except CalibrationError as exc:
        return f"fit: {exc}"
    if not stored.is_monotone(slack=1e-5):
        return "fit: not increasing over the calibrated range; re-run `rigctl calibrate`"
    grid = np.linspace(*stored.x_range, 33)
    diff = np.max(np.abs(stored(grid) - refit(grid)))
    span = max(abs(v) for v in refit.y_range)
    if diff > STORED_FIT_TOLERANCE * span:
        return (
            "fit: does not match the measured points (edited by hand?); delete `fit` to refit "
            "from the points, or re-run `rigctl calibrate`"
        )
    return None
