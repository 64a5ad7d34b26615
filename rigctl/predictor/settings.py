"""How a protocol configures the real-time predictor (declared once, reused by GUI and data)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rigctl.predictor.params import AstrocyteParams
from rigctl.predictor.stream import Predictor


class PredictorSettings(BaseModel):
    """Threshold, tracked variable, look-ahead and input scaling of the Ca²⁺ predictor."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    on: Literal["calcium", "gliotransmission"] = Field(
        "calcium", description="Variable whose threshold crossing triggers the laser"
    )
    threshold: float = Field(
        0.6, gt=0, description="Threshold of the tracked variable (normalised Ca²⁺: 0-1)"
    )
    lookahead_s: float = Field(
        0.0, ge=0, le=2, description="Predict the crossing this far ahead, input held (s)"
    )
    input_offset: float = Field(0.0, description="Signal value meaning no activity (signal units)")
    input_scale: float = Field(
        1.0, gt=0, description="Multiplier mapping signal units to activity 0-1"
    )
    laser_inhibition: float = Field(
        1.0, ge=0, le=1, description="Inhibition the predictor assumes while the laser is on (0-1)"
    )
    astrocyte: AstrocyteParams = Field(default_factory=AstrocyteParams)

    @model_validator(mode="after")
    def _calcium_is_normalised(self) -> PredictorSettings:
        if self.on == "calcium" and self.threshold > 1:
            raise ValueError(
                f"predictor.threshold {self.threshold:g} can never be reached: calcium is "
                "normalised to 0-1"
            )
        return self

    def build(self, rate_hz: float) -> Predictor:
        return Predictor(
            self.astrocyte, threshold=self.threshold, on=self.on, lookahead_s=self.lookahead_s,
            dt_s=1.0 / rate_hz, input_offset=self.input_offset, input_scale=self.input_scale,
        )
