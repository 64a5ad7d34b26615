"""Parameters shared by the trial-based working-memory tasks, declared once.

The same pydantic model feeds the protocol YAML, the command line (``--trials``), the GUI form
(title, unit and range from each field) and ``session.json``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rigctl.hardware.interfaces import PulseTrain
from rigctl.predictor.settings import PredictorSettings
from rigctl.protocols.scheduler import check_feasible

Delay = Annotated[float, Field(ge=0, le=600)]
#: most delays a protocol lists (each is drawn once per cycle; real protocols list 1-10)
MAX_DELAYS = 100


class TrialTaskParams(BaseModel):
    """Timing, reward and stimulation of a delayed two-choice task."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    n_trials: int = Field(200, ge=1, le=100_000, description="Trials in the session (count)")
    delays_s: list[Delay] = Field(
        default_factory=lambda: [2.0, 5.0, 10.0], min_length=1, max_length=MAX_DELAYS,
        description="Delays (s), drawn in balanced random order",
    )
    sample_s: float = Field(1.0, ge=0, le=60, description="Sample period before the delay (s)")
    iti_s: float = Field(2.0, ge=0, le=600, description="Inter-trial interval (s)")
    response_window_s: float = Field(
        5.0, gt=0, le=600, description="Time allowed to choose after the go cue (s)"
    )
    reward_ul: float = Field(4.0, gt=0, le=50, description="Water per correct choice (µL)")
    reward_consumption_s: float = Field(
        2.0, ge=0, le=60, description="Time to drink before the next ITI (s)"
    )
    timeout_s: float = Field(5.0, ge=0, le=600, description="Extra wait after an error (s)")
    correction_trials: bool = Field(
        False, description="Repeat the correct side after an error (inflates accuracy)"
    )
    stim_mode: Literal["off", "open_loop", "closed_loop", "sham"] = Field(
        "off",
        description="Laser during the delay of laser trials: off, open_loop, closed_loop, sham",
    )
    sham_rule: Literal["open_loop", "closed_loop"] = Field(
        "closed_loop", description="Whose decisions a sham session copies (light held off)"
    )
    laser_fraction: float = Field(
        0.5, ge=0, le=1, description="Fraction of trials that are laser trials (0-1)"
    )
    max_consecutive: int = Field(
        3, ge=1, le=1000, description="Longest run of laser or of control trials (count)"
    )
    block_size: int = Field(
        10, ge=1, le=1000, description="Trials per balanced laser/control block (count)"
    )
    laser_power_mw: float = Field(
        5.0, gt=0, le=100, description="Laser power at the fibre tip on laser trials (mW)"
    )
    lasers: list[str] = Field(
        default_factory=list, max_length=32,
        description="The rig's lasers that laser trials light, by name (e.g. [left_mpfc, "
        "right_mpfc]); empty: every laser of the rig",
    )
    laser_pulse_hz: float | None = Field(
        None, ge=0.1, le=1000, description="Pulse frequency (Hz); empty for continuous light"
    )
    laser_pulse_width_s: float = Field(
        0.01, ge=0.001, le=1, description="Pulse width when pulsed (s)"
    )
    predictor: PredictorSettings = Field(
        default_factory=PredictorSettings,
        description="Real-time Ca²⁺ predictor that triggers closed-loop stimulation",
    )

    def pulse_train(self) -> PulseTrain | None:
        if self.laser_pulse_hz is None:
            return None
        return PulseTrain(self.laser_pulse_hz, self.laser_pulse_width_s)

    @model_validator(mode="after")
    def _pulses_fit(self) -> TrialTaskParams:
        if self.laser_pulse_hz is not None and self.laser_pulse_width_s >= 1 / self.laser_pulse_hz:
            raise ValueError(
                f"laser_pulse_width_s {self.laser_pulse_width_s:g} s must be shorter than the "
                f"pulse period 1/laser_pulse_hz = {1 / self.laser_pulse_hz:g} s"
            )
        return self

    @model_validator(mode="after")
    def _schedule_feasible(self) -> TrialTaskParams:
        problem = check_feasible(self.laser_fraction, self.max_consecutive, self.n_trials)
        if problem and self.stim_mode != "off":
            raise ValueError(problem)
        return self
