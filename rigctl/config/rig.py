"""The rig description: which devices exist, on which channels, with which interlocks.

Field names and descriptions here are the single source for YAML keys, `rigctl check`, the GUI
form and the docs. Every model forbids unknown keys so a typo is an error, not a silent default.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    """Base for config models: unknown keys are errors; values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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


class ValveConfig(Strict):
    channel: str = Field(description="Output line that opens the valve, e.g. Dev1/port0/line0")
    max_open_s: float = Field(
        0.5, gt=0, le=5, description="Interlock: longest a single opening may last (s)"
    )


class LickSensorConfig(Strict):
    channel: str = Field(description="Input line of the lick sensor or beam break")


class RewardPortConfig(Strict):
    valve: ValveConfig
    lick_sensor: LickSensorConfig
    calibration: ValveCalibrationConfig


class RewardPortsConfig(Strict):
    left: RewardPortConfig
    right: RewardPortConfig


class LaserConfig(Strict):
    channel: str = Field(description="Output that drives the laser (gate line or analog channel)")
    wavelength_nm: float = Field(593.0, gt=300, lt=1200, description="Laser wavelength (nm)")
    opsin: str = Field("ArchT", description="Opsin expressed in astrocytes")
    fibre_location: str = Field("mPFC, bilateral", description="Where the fibre tip sits")
    max_power_mw: float = Field(
        15.0, gt=0, le=100, description="Interlock: power ceiling at the fibre tip (mW)"
    )
    max_on_s: float = Field(
        30.0, gt=0, le=600, description="Interlock: longest continuous emission (s)"
    )
    ramp_down_s: float = Field(
        0.1, ge=0, le=5, description="Linear ramp to zero at every offset, avoids rebound (s)"
    )


class CueConfig(Strict):
    channel: str = Field(description="Output line of the cue (door, tone, light)")


class CuesConfig(Strict):
    trial_start: CueConfig | None = Field(
        None, description="Marks the sample period that starts a trial (light, tone)"
    )
    go: CueConfig | None = Field(
        None, description="Opens the response window (door opens, tone, light)"
    )


class NeuralSignalConfig(Strict):
    channel: str = Field(description="Analog input of the neural signal (photometry)")
    rate_hz: float = Field(1000.0, gt=0, le=100_000, description="Sample rate (Hz)")


class ProtocolChoice(Strict):
    name: str = Field(description="Registered protocol name, e.g. delayed_alternation")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Parameter overrides")


class RigConfig(Strict):
    name: str = Field(description="Rig name shown in logs and session metadata", min_length=1)
    backend: str = Field("sim", description="Which hardware backend drives the devices")
    reward_ports: RewardPortsConfig
    laser: LaserConfig | None = None
    cues: CuesConfig = Field(default_factory=CuesConfig)
    neural_signal: NeuralSignalConfig | None = None
    simulation: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings of the simulated rig and mouse (validated by the sim backend)",
    )
    protocol: ProtocolChoice | None = Field(
        None, description="Default protocol for this rig when the command line names none"
    )
    data_root: str = Field("data", description="Where session folders are written")

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, name: str) -> str:
        from rigctl.hardware.registry import BACKENDS

        if name not in BACKENDS:
            raise ValueError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
        return name

    @model_validator(mode="after")
    def _simulation_only_for_sim(self) -> RigConfig:
        if self.simulation and self.backend != "sim":
            raise ValueError("`simulation` settings only apply to `backend: sim`")
        return self
