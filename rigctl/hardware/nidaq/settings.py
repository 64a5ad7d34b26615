"""Keys of a ``type: nidaq`` device in the rig config (everything under ``devices.DevN``).

The device is named after the NI device (``Dev1`` in NI MAX), so every channel in the config is the
NI physical channel itself (``Dev1/port0/line0``, ``Dev1/ao0``, ``Dev1/ai0``). The keys below only
choose *how* the card is driven; they all have defaults that suit an X-series card (PCIe/USB-63xx),
so ``Dev1: {type: nidaq}`` plus ``laser_volts_per_mw`` for an analog laser is a complete device.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Terminal = Literal["default", "rse", "nrse", "differential", "pseudo_differential"]


class NiDaqSettings(BaseModel):
    """How one NI-DAQ card is driven. Field descriptions are the reference for docs/nidaq.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    di_mode: Literal["auto", "change_detection", "polled"] = Field(
        "auto",
        description="How lick/beam inputs are read: hardware change detection (an edge becomes a "
        "sample the moment it happens), polling every di_poll_period_s, or auto (change "
        "detection where every input line supports it, else polling)",
    )
    di_poll_period_s: float = Field(
        0.001, ge=0.0002, le=0.1, description="Polling period of the polled fallback (s)"
    )
    di_active_low: bool = Field(
        False, description="Inputs read 0 V when the sensor is touched or the beam broken"
    )
    valve_timing: Literal["auto", "hardware", "thread"] = Field(
        "auto",
        description="Who times a valve opening: the card's DO sample clock (hardware), a driver "
        "thread (thread), or auto (hardware where the line supports a sample clock)",
    )
    do_rate_hz: float = Field(
        10_000.0, ge=100, le=10_000_000,
        description="Sample clock of hardware-timed valve pulses; sets their resolution (Hz)",
    )
    ao_rate_hz: float = Field(
        10_000.0, ge=100, le=10_000_000,
        description="Sample clock of the laser waveform (pulse trains, ramp-down) (Hz)",
    )
    ao_min_v: float = Field(0.0, ge=-10, le=10, description="Lowest laser command voltage (V)")
    ao_max_v: float = Field(
        5.0, ge=-10, le=10,
        description="Highest laser command voltage, the laser's modulation input range (V)",
    )
    laser_volts_per_mw: float | None = Field(
        None, gt=0, le=10,
        description="Laser command volts per mW at the fibre tip (from a power-meter "
        "calibration); required when the laser is driven from an ao channel",
    )
    laser_counter: str | None = Field(
        "ctr0", pattern=r"^ctr\d+$",
        description="Counter that times a laser line on this card (laser.gate_channel, or a TTL "
        "laser.channel) as one pulse of at most laser.max_on_s, so the card drops it even if "
        "the host stalls; null drives the line untimed (rigctl check warns)",
    )
    sync_counter: str | None = Field(
        "ctr1", pattern=r"^ctr\d+$",
        description="Counter that plays out the random sync train (sync.channel on this card, "
        "a port1/port2 line) from its seeded schedule, so the card times every pulse; null: "
        "rigctl's timers toggle the line",
    )
    sync_horizon_s: float = Field(
        86_400.0, ge=60, le=604_800,
        description="How long a card-timed sync train runs (s): the pulses are written to the "
        "card once, this far ahead",
    )
    ai_min_v: float = Field(-10.0, ge=-10, le=10, description="Lower end of the AI range (V)")
    ai_max_v: float = Field(10.0, ge=-10, le=10, description="Upper end of the AI range (V)")
    ai_terminal: Terminal = Field(
        "default",
        description="AI terminal configuration: default, rse, nrse, differential, "
        "pseudo_differential",
    )
    signal_chunk_s: float = Field(
        0.01, ge=0.001, le=1,
        description="Neural-signal samples are delivered in chunks of this duration (s)",
    )
    ai_buffer_s: float = Field(
        10.0, ge=1, le=600, description="Driver-side AI buffer; how long a stall may last (s)"
    )

    @model_validator(mode="after")
    def _ranges(self) -> NiDaqSettings:
        if self.ao_min_v >= self.ao_max_v:
            raise ValueError(
                f"ao_min_v ({self.ao_min_v:g} V) must be below ao_max_v ({self.ao_max_v:g} V)"
            )
        if self.ai_min_v >= self.ai_max_v:
            raise ValueError(
                f"ai_min_v ({self.ai_min_v:g} V) must be below ai_max_v ({self.ai_max_v:g} V)"
            )
        return self
