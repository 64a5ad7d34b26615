"""Calibration records stored in the rig config (measured by `rigctl calibrate`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from rigctl.config.strict import Strict


class ValveCalibrationConfig(Strict):
    points: list[tuple[float, float]] = Field(
        description="Measured [open_ms, µL per opening] pairs; volume must rise with open time",
        min_length=2,
    )
    date: str | None = Field(None, description="When the calibration was measured (ISO date)")

    @field_validator("points")
    @classmethod
    def _monotone(cls, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        srt = sorted(pts)
        for (m0, u0), (m1, u1) in zip(srt, srt[1:], strict=False):
            if m1 <= m0 or u1 <= u0:
                raise ValueError("volumes must increase with open time; re-run `rigctl calibrate`")
        if srt[0][0] < 0 or srt[0][1] < 0:
            raise ValueError("open times and volumes must be >= 0")
        return srt
