"""Calibration curves: valve open time → µL per opening, laser command → mW at the fibre tip.

Both are monotone quadratic fits of measured points, used only inside the measured range:
converting a reward volume to an open time (or a power to a laser command) refuses to
extrapolate, because a valve's flow or a laser's output outside the measured range is unknown,
and a wrong reward silently changes the animal's motivation, a wrong power its inhibition.

The fit itself (a monotone quadratic by non-negative least squares) is in ``rigctl.fitting``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from rigctl.errors import InterlockError
from rigctl.fitting import STORED_FIT_TOLERANCE as STORED_FIT_TOLERANCE
from rigctl.fitting import WEIGHT_FLOOR as WEIGHT_FLOOR
from rigctl.fitting import CalibrationError as CalibrationError
from rigctl.fitting import MonotoneFit as MonotoneFit
from rigctl.fitting import check_stored_fit as check_stored_fit
from rigctl.fitting import fit_monotone as fit_monotone

if TYPE_CHECKING:
    from rigctl.config.calibration import LaserCalibrationConfig, ValveCalibrationConfig
    from rigctl.config.rig import LaserConfig

# The monotone fit lives in rigctl.fitting (below the config and hardware layers); its names
# are re-exported here for the curves below and for this module's callers.

def _inside(y: float, lo: float, hi: float) -> bool:
    """``lo <= y <= hi`` up to rounding, so a measured end point itself is always accepted."""
    eps = 1e-9 * max(abs(lo), abs(hi), 1e-300)
    return math.isfinite(y) and lo - eps <= y <= hi + eps


# --- valve ------------------------------------------------------------------------------------


def _points_and_fit(
    source: ValveCalibrationConfig | LaserCalibrationConfig | Sequence[tuple[float, float]],
) -> tuple[np.ndarray, tuple[float, float, float] | None]:
    pts = getattr(source, "points", source)
    fit_cfg = getattr(source, "fit", None)
    arr = np.asarray(pts, dtype=float)
    return arr, (tuple(fit_cfg.coefficients) if fit_cfg is not None else None)  # type: ignore[return-value]


class ValveCurve:
    """Monotone map between open time (ms) and delivered volume (µL) of one valve.

    Built from a calibration record (its stored fit is used) or from measured ``[ms, µL]`` points
    (fitted here; old configs hold points only). ``name`` prefixes every message, e.g.
    ``reward_ports.left.calibration``.
    """

    def __init__(
        self,
        source: ValveCalibrationConfig | Sequence[tuple[float, float]],
        name: str = "valve",
    ) -> None:
        arr, stored = _points_and_fit(source)
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
        rng = (float(self.ms[0]), float(self.ms[-1]))
        try:
            self.fit = MonotoneFit(stored, rng) if stored is not None else fit_monotone(arr)
        except CalibrationError as exc:
            raise ValueError(f"{name}: {exc}") from None

    @classmethod
    def from_config(cls, cal: ValveCalibrationConfig, name: str = "valve") -> ValveCurve:
        """The curve of a calibration record (its stored fit when it has one)."""
        return cls(cal, name=name)

    @property
    def ms_range(self) -> tuple[float, float]:
        return self.fit.x_range

    @property
    def ul_range(self) -> tuple[float, float]:
        """Volumes the fit gives at the shortest and longest calibrated open times."""
        return self.fit.y_range

    def ms_for_ul(self, ul: float) -> float:
        """Open time in ms that delivers ``ul`` µL; InterlockError outside the calibrated range."""
        lo, hi = self.ul_range
        if not _inside(ul, lo, hi):
            raise InterlockError(
                f"{self.name}: {ul:g} µL is outside the calibrated range {lo:g}-{hi:g} µL "
                "(recalibrate the valve or choose a reward inside the range)"
            )
        return self.fit.inverse(min(max(ul, lo), hi))

    def ul_for_ms(self, ms: float) -> float:
        """Volume delivered by an opening of ``ms``.

        Outside the calibrated times the curve is held at its end values: an estimate for the
        simulated valve and for display, never used to choose an open time.
        """
        lo, hi = self.ms_range
        return float(self.fit(min(max(ms, lo), hi)))

    def residuals(self) -> np.ndarray:
        """Measured minus fitted µL at each calibration point."""
        return self.ul - self.fit(self.ms)


# --- laser ------------------------------------------------------------------------------------


class LaserCurve:
    """Monotone map between the laser's command (V or set-point mW) and mW at the fibre tip."""

    def __init__(self, cal: LaserCalibrationConfig, name: str = "laser.calibration") -> None:
        arr, stored = _points_and_fit(cal)
        arr = arr[np.argsort(arr[:, 0])]
        self.command = arr[:, 0]
        self.mw = arr[:, 1]
        self.unit = cal.command_unit
        self.name = name
        rng = (float(self.command[0]), float(self.command[-1]))
        try:
            self.fit = MonotoneFit(stored, rng) if stored is not None else fit_monotone(arr)
        except CalibrationError as exc:
            raise ValueError(f"{name}: {exc}") from None

    @property
    def command_range(self) -> tuple[float, float]:
        return self.fit.x_range

    @property
    def mw_range(self) -> tuple[float, float]:
        return self.fit.y_range

    def command_for_mw(self, mw: float) -> float:
        """The command that gives ``mw`` at the fibre tip; InterlockError outside the range."""
        lo, hi = self.mw_range
        if not _inside(mw, lo, hi):
            raise InterlockError(
                f"{self.name}: {mw:g} mW is outside the calibrated range {lo:g}-{hi:g} mW "
                "(recalibrate the laser or choose a power inside the range)"
            )
        return self.fit.inverse(min(max(mw, lo), hi))

    def mw_for_command(self, command: float) -> float:
        """Power of ``command``, held at the end values outside the calibrated commands."""
        lo, hi = self.command_range
        return float(self.fit(min(max(command, lo), hi)))

    def residuals(self) -> np.ndarray:
        """Measured minus fitted mW at each calibration point."""
        return self.mw - self.fit(self.command)


def laser_curve(cfg: LaserConfig) -> LaserCurve:
    """The calibration curve of a laser; InterlockError when the laser has none."""
    if cfg.calibration is None:
        raise InterlockError(
            "laser: no calibration (laser.calibration) to convert mW into a command; "
            "run `rigctl calibrate laser CONFIG`"
        )
    return LaserCurve(cfg.calibration)


def command_for_mw(cfg: LaserConfig, mw: float) -> float:
    """Command (``cfg.calibration.command_unit``) that gives ``mw`` at the fibre tip.

    For laser drivers. 0 mW is command 0 (off). Refuses (InterlockError) powers above the
    ceiling ``laser.max_power_mw``, outside the calibrated range, or with no calibration. A
    driver whose command is itself a power (a serial set-point) may send ``mw`` unchanged when
    the laser has no calibration; an analog driver must refuse.
    """
    if not math.isfinite(mw) or mw < 0:
        raise InterlockError(f"laser: {mw:g} mW refused (must be >= 0)")
    if mw > cfg.max_power_mw:
        raise InterlockError(
            f"laser: {mw:g} mW refused, above laser.max_power_mw = {cfg.max_power_mw:g} mW"
        )
    if mw == 0:
        return 0.0
    return laser_curve(cfg).command_for_mw(mw)


def command_waveform(cfg: LaserConfig, mw: np.ndarray) -> np.ndarray:
    """Commands for a sampled power waveform (pulse trains, the ramp-down to zero).

    Samples inside the calibrated range are converted exactly; samples between 0 and the lowest
    calibrated power (the tail of a ramp) are interpolated linearly between command 0 and the
    lowest calibrated command: their power is not calibrated, only bounded by the lowest
    calibrated power because the laser is monotone. Any sample above the range or the ceiling
    refuses the whole waveform.
    """
    mw = np.asarray(mw, dtype=float)
    if mw.size == 0:
        return mw.copy()
    if not np.all(np.isfinite(mw)) or np.any(mw < 0):
        raise InterlockError("laser: waveform powers must be finite and >= 0 mW")
    peak = float(mw.max())
    if peak > cfg.max_power_mw:
        raise InterlockError(
            f"laser: waveform peak {peak:g} mW refused, above laser.max_power_mw = "
            f"{cfg.max_power_mw:g} mW"
        )
    curve = laser_curve(cfg)
    lo_mw, hi_mw = curve.mw_range
    if peak > hi_mw:
        curve.command_for_mw(peak)  # raises with the range in the message
    lo_cmd = curve.command_range[0]
    out = np.empty_like(mw)
    for i, p in enumerate(mw):
        if p >= lo_mw:
            out[i] = curve.fit.inverse(float(p))
        else:
            out[i] = lo_cmd * p / lo_mw if lo_mw > 0 else lo_cmd
    return out


# --- building records from measurements -------------------------------------------------------


def parse_amount(text: str, default_unit: str = "mg") -> float:
    """A measured amount of water in µL: ``213.5``, ``213.5 mg``, ``0.2135 g``, ``210 µL``.

    Water is taken as 1 mg/µL (within 0.3% from 4 to 30 °C), so mg and µL are the same number.
    """
    raw = text.strip().lower().replace(" ", "")
    factors = {"mg": 1.0, "g": 1000.0, "ul": 1.0, "µl": 1.0, "μl": 1.0, "ml": 1000.0}
    unit = default_unit.lower()
    for suffix in sorted(factors, key=len, reverse=True):
        if raw.endswith(suffix):
            raw, unit = raw[: -len(suffix)], suffix
            break
    try:
        value = float(raw)
    except ValueError:
        raise CalibrationError(f"{text.strip()!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise CalibrationError(f"{text.strip()!r} must be a number >= 0")
    return value * factors[unit]


def parse_number(text: str) -> float:
    """A finite number >= 0 (a laser meter reading, a command), or CalibrationError."""
    try:
        value = float(text.strip())
    except ValueError:
        raise CalibrationError(f"{text.strip()!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise CalibrationError(f"{text.strip()!r} must be a number >= 0")
    return value


def _record_problem(exc: Exception) -> CalibrationError:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        from rigctl.config.loading import format_validation_error

        return CalibrationError("; ".join(format_validation_error(exc)))
    return CalibrationError(str(exc))


def valve_record(
    times_ms: Sequence[float],
    totals_ul: Sequence[float],
    openings: int,
    date: object | None = None,
) -> ValveCalibrationConfig:
    """The calibration record of ``openings`` openings at each time with the measured totals.

    CalibrationError (one line) when the data cannot make a calibration: fewer than two points,
    a repeated time, volumes that do not increase with open time.
    """
    from rigctl.config.calibration import MonotoneFitConfig, ValveCalibrationConfig

    if len(times_ms) != len(totals_ul):
        raise CalibrationError(
            f"{len(totals_ul)} measurements for {len(times_ms)} open times"
        )
    if len(times_ms) < 2:
        raise CalibrationError("a calibration needs at least two open times")
    if openings < 1:
        raise CalibrationError("openings must be at least 1")
    pts = [(_sig(t), _sig(float(v) / openings)) for t, v in zip(times_ms, totals_ul, strict=True)]
    _check_rising(pts, "ms", "µL per opening", "re-weigh or repeat that step")
    try:
        ValveCalibrationConfig(points=pts, openings=openings, date=date)  # the points' checks
        fit = fit_monotone(pts)
        return ValveCalibrationConfig(
            points=pts, openings=openings, date=date,
            fit=MonotoneFitConfig(coefficients=_rounded(fit.coefficients)),
        )
    except (ValueError, CalibrationError) as exc:
        raise _record_problem(exc) from None


def laser_record(
    commands: Sequence[float],
    mw: Sequence[float],
    command_unit: str,
    date: object | None = None,
) -> LaserCalibrationConfig:
    """The laser calibration record of measured [command, mW] pairs (CalibrationError if bad)."""
    from rigctl.config.calibration import LaserCalibrationConfig, MonotoneFitConfig

    if len(commands) != len(mw):
        raise CalibrationError(f"{len(mw)} measurements for {len(commands)} commands")
    if len(commands) < 2:
        raise CalibrationError("a calibration needs at least two commands")
    pts = [(_sig(c), _sig(p)) for c, p in zip(commands, mw, strict=True)]
    _check_rising(pts, command_unit, "mW", "check the meter reading or repeat that command")
    try:
        LaserCalibrationConfig(command_unit=command_unit, points=pts, date=date)  # type: ignore[arg-type]
        fit = fit_monotone(pts)
        return LaserCalibrationConfig(
            command_unit=command_unit, points=pts, date=date,  # type: ignore[arg-type]
            fit=MonotoneFitConfig(coefficients=_rounded(fit.coefficients)),
        )
    except (ValueError, CalibrationError) as exc:
        raise _record_problem(exc) from None


def _check_rising(pts: list[tuple[float, float]], xu: str, yu: str, advice: str) -> None:
    """Name the first measurement that does not exceed the one before (sorted by command)."""
    srt = sorted(pts)
    for (x0, y0), (x1, y1) in zip(srt, srt[1:], strict=False):
        if x1 > x0 and y1 <= y0:
            raise CalibrationError(
                f"measurements must increase with the command: {x1:g} {xu} gave {y1:g} {yu}, "
                f"not more than {x0:g} {xu} ({y0:g} {yu}); {advice}"
            )


def _sig(x: float) -> float:
    """A measured value to 6 significant figures, as the YAML file will hold it."""
    return float(f"{float(x):.6g}")


def _rounded(coefficients: tuple[float, float, float]) -> tuple[float, float, float]:
    """Coefficients as they will read back from YAML (7 significant figures)."""
    return tuple(float(f"{c:.7g}") for c in coefficients)  # type: ignore[return-value]
