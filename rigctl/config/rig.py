"""The rig description: which devices exist, on which channels, with which interlocks.

Field names and descriptions here are the single source for YAML keys, `rigctl check`, the GUI
form and the docs. Every model forbids unknown keys so a typo is an error, not a silent default.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rigctl.config.calibration import LaserCalibrationConfig, ValveCalibrationConfig
from rigctl.config.strict import Strict
from rigctl.config.sync import SyncConfig, sync_channels, sync_problems


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
    channel: str = Field(
        description="Output that sets the laser's power or gates it (e.g. obis/laser, Dev1/ao0)"
    )
    gate_channel: str | None = Field(
        None, description="Optional digital line that gates emission (e.g. Dev1/port0/line2)"
    )
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
    calibration: LaserCalibrationConfig | None = Field(
        None, description="Command → mW at the fibre tip, measured by `rigctl calibrate laser`"
    )


class CueConfig(Strict):
    channel: str = Field(description="Output line of the cue (door, tone, light)")


CUES = ("trial_start", "go", "sample_left", "sample_right")


class CuesConfig(Strict):
    trial_start: CueConfig | None = Field(
        None, description="Marks the sample period that starts a trial (light, tone)"
    )
    go: CueConfig | None = Field(
        None, description="Opens the response window (door opens, tone, light)"
    )
    sample_left: CueConfig | None = Field(
        None, description="Shows the sample side 'left' (delayed match-to-sample)"
    )
    sample_right: CueConfig | None = Field(
        None, description="Shows the sample side 'right' (delayed match-to-sample)"
    )


class NeuralSignalConfig(Strict):
    channel: str = Field(description="Analog input of the neural signal (photometry)")
    rate_hz: float = Field(1000.0, gt=0, le=100_000, description="Sample rate (Hz)")


class ProtocolChoice(Strict):
    name: str = Field(description="Registered protocol name, e.g. delayed_alternation")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Parameter overrides")


class DeviceConfig(BaseModel):
    """One device: its ``type`` picks the backend; the other keys are validated by that backend."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(description="Device type: sim, nidaq, reward_controller, obis")

    @field_validator("type")
    @classmethod
    def _known_type(cls, name: str) -> str:
        from rigctl.hardware.registry import BACKENDS

        if name not in BACKENDS:
            raise ValueError(f"unknown device type {name!r}; available: {', '.join(BACKENDS)}")
        return name

    def settings(self) -> dict[str, Any]:
        """The backend-specific keys (everything but ``type``)."""
        return dict(self.model_extra or {})


def _default_devices() -> dict[str, DeviceConfig]:
    return {"sim": DeviceConfig(type="sim")}


class RigConfig(Strict):
    name: str = Field(description="Rig name shown in logs and session metadata", min_length=1)
    devices: dict[str, DeviceConfig] = Field(
        default_factory=_default_devices,
        description="Devices by name; a channel `NAME/...` is routed to device NAME",
    )
    reward_ports: RewardPortsConfig
    laser: LaserConfig | None = None
    cues: CuesConfig = Field(default_factory=CuesConfig)
    neural_signal: NeuralSignalConfig | None = None
    sync: SyncConfig | None = Field(None, description="Sync pulses out (docs/sync.md)")
    protocol: ProtocolChoice | None = Field(
        None, description="Default protocol for this rig when the command line names none"
    )
    data_root: str = Field("data", description="Where session folders are written")
    stall_warning_s: float = Field(
        0.05, gt=0, le=60, description="A control loop this late on the wall clock is logged "
        "as a stall (warning event and line): the host was not running (s)",
    )

    @field_validator("devices")
    @classmethod
    def _device_names(cls, devices: dict[str, DeviceConfig]) -> dict[str, DeviceConfig]:
        if not devices:
            raise ValueError("list at least one device")
        for name in devices:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise ValueError(
                    f"device name {name!r} must be letters, digits, '_', '.' or '-' (e.g. Dev1)"
                )
        return devices

    def channels(self) -> list[tuple[str, str]]:
        """Every (field path, channel) the config routes to a device."""
        out = []
        for side in ("left", "right"):
            port = getattr(self.reward_ports, side)
            out.append((f"reward_ports.{side}.valve.channel", port.valve.channel))
            out.append((f"reward_ports.{side}.lick_sensor.channel", port.lick_sensor.channel))
        if self.laser is not None:
            out.append(("laser.channel", self.laser.channel))
            if self.laser.gate_channel is not None:
                out.append(("laser.gate_channel", self.laser.gate_channel))
        for name in CUES:
            cue = getattr(self.cues, name)
            if cue is not None:
                out.append((f"cues.{name}.channel", cue.channel))
        if self.neural_signal is not None:
            out.append(("neural_signal.channel", self.neural_signal.channel))
        if self.sync is not None:
            out += [(f"sync.{k}", ch) for k, ch in sync_channels(self.sync)]
        return out

    def channel_problems(self) -> list[str]:
        """One line per channel that does not name a listed device or is used twice.

        A channel drives or reads one thing: the laser on a valve's line would open the valve
        on every laser trial, two ports on one lick line make every choice ambiguous. Names are
        compared without case (NI-DAQmx channel names are case-insensitive).
        """
        problems = []
        first: dict[str, str] = {}
        for path, channel in self.channels():
            key = channel.strip().casefold()
            if key in first:
                problems.append(
                    f"{path}: {channel!r} is also {first[key]}; each channel may be used by "
                    "one field only (give each its own channel)"
                )
            else:
                first[key] = path
            device = channel.split("/", 1)[0] if "/" in channel else None
            if device is None:
                problems.append(f"{path}: {channel!r} must be DEVICE/CHANNEL, e.g. Dev1/ao0")
            elif device not in self.devices:
                problems.append(
                    f"{path}: device {device!r} is not listed under `devices` "
                    f"({', '.join(self.devices)})"
                )
        return problems + sync_problems(self)

    def device_of(self, channel: str) -> str:
        return channel.split("/", 1)[0]
