"""The rig description: which devices exist, on which channels, with which interlocks.

Field names and descriptions here are the single source for YAML keys, `rigctl check`, the GUI
form and the docs. Every model forbids unknown keys so a typo is an error, not a silent default.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rigctl.config.backends import BACKENDS
from rigctl.config.calibration import LaserCalibrationConfig, ValveCalibrationConfig
from rigctl.config.strict import Strict
from rigctl.config.sync import FrameClockConfig, SyncConfig, sync_channels, sync_problems


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


NAME_RE = r"[A-Za-z][A-Za-z0-9_]*"


def check_names(names: dict[str, Any], what: str) -> None:
    """Names that tasks use in code and data columns: identifiers, so `lick_<port>` and
    `<input>_off` stay unambiguous event names."""
    for name in names:
        if not re.fullmatch(NAME_RE, str(name)):
            raise ValueError(
                f"{what} name {name!r} must start with a letter and hold only letters, digits "
                "and '_' (e.g. centre_poke)"
            )


class Named(dict):  # type: ignore[type-arg]
    """A name -> config map that also reads as attributes (``reward_ports.left``), as the
    two-port configs before named ports did."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class DigitalInputConfig(Strict):
    channel: str = Field(description="Input line, DEVICE/CHANNEL (e.g. Dev1/port0/line3)")
    description: str = Field("", description="What the input is, for the reader and the NWB file")
    frame_clock: FrameClockConfig | None = Field(
        None, description="This input is a frame clock (microscope frame-out, camera "
        "exposure): rising edges go to frames_<name>.bin, not to the task (docs/sync.md)")


class DigitalOutputConfig(Strict):
    channel: str = Field(description="Output line, DEVICE/CHANNEL (e.g. Dev1/port0/line4)")
    description: str = Field("", description="What the output drives, for the reader and NWB")


class AnalogInputConfig(Strict):
    channel: str = Field(description="Analog input, DEVICE/CHANNEL (e.g. Dev1/ai1)")
    rate_hz: float = Field(1000.0, gt=0, le=100_000, description="Sample rate (Hz)")
    unit: str = Field("V", min_length=1, max_length=20,
                      description="Unit of the samples as the device gives them (V on NI-DAQ)")
    description: str = Field("", description="What the input measures")


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


#: the name of the single `laser:` (and of a task's laser when it names none)
DEFAULT_LASER = "laser"
#: event names every laser shares (sham light, the emergency latch, the final all-off)
RESERVED_LASER_NAMES = frozenset({"laser_sham", "laser_latch", "all_off"})

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
    name: str | None = Field(
        None, description="A built-in or installed task, e.g. delayed_alternation"
    )
    task: str | None = Field(
        None, description="Or a task file (.py), relative to this YAML file's folder"
    )
    parameters: dict[str, Any] = Field(default_factory=dict, description="Parameter overrides")

    @model_validator(mode="after")
    def _one_task(self) -> ProtocolChoice:
        if (self.name is None) == (self.task is None):
            raise ValueError("give either `name:` (a built-in task) or `task:` (a task file)")
        return self


class DeviceConfig(BaseModel):
    """One device: its ``type`` picks the backend; the other keys are validated by that backend."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(description="Device type: sim, nidaq, reward_controller, obis")

    @field_validator("type")
    @classmethod
    def _known_type(cls, name: str) -> str:
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
    reward_ports: dict[str, RewardPortConfig] = Field(
        description="Reward ports by name (left, right, centre...): valve, lick sensor, "
        "calibration; a port's lick sensor gives the events lick_<name> / lick_<name>_off"
    )
    laser: LaserConfig | None = Field(
        None, description="The rig's one laser (the laser named `laser`); for several, use "
        "`lasers:` instead"
    )
    lasers: dict[str, LaserConfig] = Field(
        default_factory=dict,
        description="Lasers by name (left_mpfc, right_mpfc...), each with its own channel, "
        "gate, calibration and interlocks; tasks address a laser by its name",
    )
    cues: CuesConfig = Field(default_factory=CuesConfig)
    inputs: dict[str, DigitalInputConfig] = Field(
        default_factory=dict,
        description="Named digital inputs (centre_poke, beam_break...); each gives the events "
        "<name> (rising) and <name>_off (falling)",
    )
    outputs: dict[str, DigitalOutputConfig] = Field(
        default_factory=dict,
        description="Named digital outputs (house_light, tone, door...), set by tasks by name",
    )
    analog_inputs: dict[str, AnalogInputConfig] = Field(
        default_factory=dict, description="Named analog inputs (wheel, pressure...)"
    )
    pycontrol: dict[str, Any] | None = Field(
        None, description="Binding of pyControl pins and ports to this rig's inputs and outputs "
        "(docs/pycontrol.md); checked when a pyControl task is loaded"
    )
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

    @field_validator("reward_ports")
    @classmethod
    def _port_names(cls, ports: dict[str, RewardPortConfig]) -> dict[str, RewardPortConfig]:
        if not ports:
            raise ValueError("list at least one reward port (e.g. left: and right:)")
        check_names(ports, "reward port")
        return Named(ports)

    @field_validator("lasers")
    @classmethod
    def _laser_names(cls, lasers: dict[str, LaserConfig]) -> dict[str, LaserConfig]:
        check_names(lasers, "laser")
        for name in lasers:
            if name in RESERVED_LASER_NAMES:
                raise ValueError(f"laser name {name!r} is the name of a rig-wide laser event; "
                                 "choose another (e.g. left_mpfc)")
        return Named(lasers)

    @field_validator("inputs", "outputs", "analog_inputs")
    @classmethod
    def _io_names(cls, io: dict[str, Any]) -> dict[str, Any]:
        check_names(io, "input/output")
        return io

    @field_validator("analog_inputs")
    @classmethod
    def _not_the_neural_signal(cls, io: dict[str, Any]) -> dict[str, Any]:
        if "neural_signal" in io:  # its chunks would feed the predictor, unlike any other's
            raise ValueError("'neural_signal' is the predictor's input, not a named analog "
                             "input: move it to the top-level `neural_signal:` section")
        return io

    @model_validator(mode="after")
    def _laser_or_lasers(self) -> RigConfig:
        if self.laser is not None and self.lasers:
            raise ValueError("`laser:` and `lasers:` are both given; keep one: move `laser:` "
                             "into `lasers:` under a name (e.g. lasers: {laser: ...})")
        return self

    def all_lasers(self) -> dict[str, LaserConfig]:
        """Every laser by the name tasks use: the single `laser:` is the laser named `laser`."""
        if self.laser is not None:
            return {DEFAULT_LASER: self.laser}
        return dict(self.lasers)

    def laser_field(self, name: str) -> str:
        """The config path of laser ``name`` (``laser`` or ``lasers.NAME``), for messages."""
        return "laser" if self.laser is not None and name == DEFAULT_LASER else f"lasers.{name}"

    def first_laser(self) -> LaserConfig | None:
        """The first laser listed (the GUI's manual controls and calibration address it)."""
        return next(iter(self.all_lasers().values()), None)

    def with_lasers(self, update: dict[str, Any]) -> RigConfig:
        """A copy in which every laser has ``update`` applied (e.g. no calibration)."""
        if self.laser is not None:
            return self.model_copy(update={"laser": self.laser.model_copy(update=update)})
        return self.model_copy(update={"lasers": Named(
            {n: la.model_copy(update=update) for n, la in self.lasers.items()})})

    @model_validator(mode="after")
    def _one_meaning_per_name(self) -> RigConfig:
        """An event or output name means one thing: `go` cannot be both a cue and an output,
        `lick_left` both a port's sensor and a named input."""
        seen: dict[str, str] = {}
        for path, name in self.names():
            if name in seen:
                raise ValueError(f"{path}: the name {name!r} is already used by {seen[name]}; "
                                 "give one of them another name")
            seen[name] = path
        return self

    def names(self) -> list[tuple[str, str]]:
        """(field path, name) of every input event and output the config defines."""
        out = [(f"reward_ports.{p}.lick_sensor", f"lick_{p}") for p in self.reward_ports]
        out += [(f"inputs.{n}", n) for n in self.inputs]
        out += [(f"analog_inputs.{n}", n) for n in self.analog_inputs]
        out += [(f"cues.{n}", n) for n in CUES if getattr(self.cues, n) is not None]
        out += [(f"outputs.{n}", n) for n in self.outputs]
        out += [(f"lasers.{n}", n) for n in self.lasers]  # a laser's events carry its name
        return out

    def input_names(self) -> list[str]:
        """Digital input events a task can receive on this rig (rising edges)."""
        return [f"lick_{p}" for p in self.reward_ports] + [
            n for n, i in self.inputs.items() if i.frame_clock is None]

    def frame_clocks(self) -> dict[str, DigitalInputConfig]:
        """The named inputs that are frame clocks, by name."""
        return {n: i for n, i in self.inputs.items() if i.frame_clock is not None}

    def output_names(self) -> list[str]:
        """Digital outputs a task can set on this rig (wired cues and named outputs)."""
        return [n for n in CUES if getattr(self.cues, n) is not None] + list(self.outputs)

    def channels(self) -> list[tuple[str, str]]:
        """Every (field path, channel) the config routes to a device."""
        out = []
        for side, port in self.reward_ports.items():
            out.append((f"reward_ports.{side}.valve.channel", port.valve.channel))
            out.append((f"reward_ports.{side}.lick_sensor.channel", port.lick_sensor.channel))
        for name, laser in self.all_lasers().items():
            path = self.laser_field(name)
            out.append((f"{path}.channel", laser.channel))
            if laser.gate_channel is not None:
                out.append((f"{path}.gate_channel", laser.gate_channel))
        for name in CUES:
            cue = getattr(self.cues, name)
            if cue is not None:
                out.append((f"cues.{name}.channel", cue.channel))
        for kind, io in (("inputs", self.inputs), ("outputs", self.outputs),
                         ("analog_inputs", self.analog_inputs)):
            for name, item in io.items():
                out.append((f"{kind}.{name}.channel", item.channel))
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
            if key in first and not path.startswith("sync."):  # sync_problems says it
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
