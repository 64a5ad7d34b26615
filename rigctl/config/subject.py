"""Who is on the rig: the subject's ID and the metadata that changes the experiment."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Subject(BaseModel):
    """Subject metadata; genotype and treatment select the simulated mouse's model too."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str = Field(
        "sim-mouse-1", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$",
        description="Subject ID; also the data sub-folder (letters, digits, _ . -)",
    )
    genotype: Literal["wt", "ip3r2_ko"] = Field("wt", description="wt or IP3R2 knockout")
    treatment: Literal["none", "saline", "cno"] = Field(
        "none", description="none, saline, or CNO (hM3Dq astrocyte activation)"
    )
