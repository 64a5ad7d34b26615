"""Settings of the simulated rig and mouse, from the rig config's ``simulation:`` section.

Defaults are the reference model of SCIENCE.md, with its five working-memory numbers re-fitted
so that whole sessions on the simulated rig reproduce SCIENCE.md's accuracy table within 3 pp per
cell (SCIENCE.md computed it on isolated trials; in a session the astrocyte carries over between
trials): ``benchmarks/fit_mouse.py`` fitted them, ``rigctl model-table`` checks them
(docs/science.md). Every number is a field so a scientist can ask "what if the mouse were
noisier?" without touching code.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sim_backend.microscope import MicroscopeSettings
from sim_backend.wheel import WheelSettings


class MouseSettings(BaseModel):
    """Behaviour and working memory of the simulated mouse."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # Fitted to SCIENCE.md's table on the rig's trial structure (docs/science.md; SCIENCE.md's
    # isolated-trial values: 0.22, 0.19, 0.2, 0.13, 0.15).
    lambda0_per_s: float = Field(
        0.208, ge=0, description="Memory decay rate without astrocytes (1/s)"
    )
    lambda_a_per_s: float = Field(
        0.177, ge=0, description="Decay rate removed by gliotransmission (1/s)"
    )
    k_a: float = Field(0.223, gt=0, description="Gliotransmitter level of half effect")
    sigma: float = Field(0.162, ge=0, description="Memory diffusion noise (1/sqrt(s))")
    decision_noise: float = Field(0.156, ge=0, description="SD of noise added at the choice")
    lapse_rate: float = Field(0.06, ge=0, le=1, description="Fraction of random choices")
    side_bias: float = Field(0.0, ge=-1, le=1, description="Preference for right (+) or left (-)")
    miss_rate: float = Field(0.02, ge=0, le=1, description="Fraction of go cues not answered")
    rt_median_s: float = Field(0.5, gt=0, le=30, description="Median reaction time (s)")
    rt_log_sd: float = Field(0.3, ge=0, le=3, description="SD of log reaction time")
    baseline_activity: float = Field(0.2, ge=0, lt=1, description="Neural activity at rest (0-1)")
    lick_interval_s: float = Field(0.14, gt=0.02, le=2, description="Lick interval in a bout (s)")
    licks_per_ul: float = Field(2.0, ge=0, le=100, description="Bout licks per µL of reward")
    lick_contact_s: float = Field(0.03, gt=0, le=0.2, description="Tongue contact per lick (s)")
    cno_drive_per_s: float = Field(0.75, ge=0, description="hM3Dq + CNO drive to IP3 (1/s)")
    laser_saturation_mw: float = Field(
        5.0, gt=0, description="Power at which the laser fully inhibits astrocytes (mW)"
    )
    neural_noise_sd: float = Field(0.05, ge=0, description="Measurement noise of the signal")


class GenericAgentSettings(BaseModel):
    """The subject that knows no task: how often it acts, and how fast."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    respond_p: float = Field(0.6, ge=0, le=1, description="Chance of acting after an output onset")
    latency_median_s: float = Field(0.4, gt=0, le=60, description="Median response latency (s)")
    latency_log_sd: float = Field(0.5, ge=0, le=3, description="SD of log latency")
    explore_hz: float = Field(0.05, ge=0, le=50, description="Spontaneous actions per input (Hz)")
    hold_s: float = Field(0.1, gt=0, le=10, description="How long an input is held (s)")


class SimSettings(BaseModel):
    """The whole ``simulation:`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    mouse: MouseSettings = Field(default_factory=MouseSettings)
    generic_agent: GenericAgentSettings = Field(
        default_factory=GenericAgentSettings,
        description="The subject that knows no task (--agent generic, or tasks without a mapping)",
    )
    valve_flow_scale: float = Field(
        1.0, gt=0, le=10, description="True valve flow / calibrated flow (1 = perfect calibration)"
    )
    signal_chunk_s: float = Field(
        0.005, ge=0.001, le=0.1,
        description="Neural-signal chunk length on the wall clock (s): 5 ms, as the NI backend "
                    "hands chunks over; 1 ms woke the loop every millisecond (measured in "
                    "benchmarks/bench_contention.py)",
    )
    max_chunk_samples: int | None = Field(
        None, ge=1, description="Cap on signal chunks in virtual time; 1 steps every millisecond"
    )
    wheel: WheelSettings = Field(
        default_factory=WheelSettings,
        description="The running wheel every named analog input measures (sim_backend/wheel.py)",
    )
    microscope: MicroscopeSettings | None = Field(
        None, description="A simulated microscope on the sync line (sim_backend/microscope.py)"
    )
