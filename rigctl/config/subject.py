"""Who is on the rig: the subject's ID and the metadata that changes the experiment."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Subject(BaseModel):
    """Subject metadata; genotype and treatment select the simulated mouse's model too."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str = Field(
        "sim-mouse-1", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
        description="Subject ID; also the data sub-folder (letters, digits, _ . -; not only "
                    "dots, at most 64 characters)",
    )
    genotype: Literal["wt", "ip3r2_ko"] = Field("wt", description="wt or IP3R2 knockout")
    treatment: Literal["none", "saline", "cno"] = Field(
        "none", description="none, saline, or CNO (hM3Dq astrocyte activation)"
    )

    @field_validator("id")
    @classmethod
    def _a_folder_name(cls, value: str) -> str:
        """The ID names a folder under the data root: the pattern already keeps out path
        separators and control characters; '.' and '..' would be the data root itself or its
        parent, so a session would land outside the subject's folder."""
        if set(value) == {"."}:
            raise ValueError(f"{value!r} is not a subject ID: it would name the data folder "
                             "or its parent; use letters or digits")
        return value
