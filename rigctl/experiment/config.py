"""The experiment file: which subject runs on which rig, with which protocol and parameters.

    name: cohort-A
    subjects:
      - id: M1
        rig: ../../hardware_configs/sim.yaml        # relative to this file
        protocol: ../tasks/staged_alternation.py    # task name, task file or protocol YAML
        parameters: {n_trials: 40}
        genotype: wt

Paths are relative to the experiment file's folder, so an experiment folder can be moved whole.
Every field is checked (unknown keys refused) before any rig is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from rigctl.config.loading import read_yaml, validate
from rigctl.config.strict import Strict
from rigctl.config.subject import Subject


class SubjectEntry(Strict):
    """One subject of the experiment and the rig it runs on."""

    id: str = Field(description="Subject ID (as `rigctl run --subject`): letters, digits, _ . -")
    rig: str = Field(description="Rig config YAML, relative to the experiment file")
    protocol: str | None = Field(
        None, description="Task name, task file (.py) or protocol YAML; default: the rig "
                          "config's protocol")
    parameters: dict[str, Any] = Field(default_factory=dict,
                                       description="Task parameter overrides")
    genotype: Literal["wt", "ip3r2_ko"] = Field("wt", description="wt or IP3R2 knockout")
    treatment: Literal["none", "saline", "cno"] = Field("none",
                                                        description="none, saline or CNO")
    seed: int | None = Field(None, ge=0, description="Random seed of the session (recorded)")
    data_root: str | None = Field(
        None, description="Data folder of this subject; default: the experiment's, else the "
                          "rig config's")
    min_free_mb: float | None = Field(
        None, ge=0, description="This subject's free-space floor (MB); default: the "
                                "experiment's `min_free_mb`")


class ExperimentConfig(Strict):
    """An experiment: the subjects to run side by side, one rig each."""

    name: str = Field("experiment", min_length=1, max_length=64,
                      description="Name shown in the table and the GUI")
    subjects: list[SubjectEntry] = Field(min_length=1, max_length=32,
                                         description="The subjects, one rig each")
    data_root: str | None = Field(None, description="Data folder of every subject; default: "
                                                    "each rig config's")
    realtime: bool = Field(False, description="Pace simulated rigs on the wall clock (real "
                                              "hardware always is)")
    min_free_mb: float = Field(
        200.0, ge=0, description="Stop a rig (safely) when its data folder has less free "
                                 "space than this (MB); 0 turns the check off")
    summary_figure: bool = Field(True, description="Write each session's summary.png")
    duration_s: float | None = Field(
        None, gt=0, description="End every session after this much session time (s), as "
                                "completed; default: when its protocol finishes")


def read_experiment(path: str | Path) -> ExperimentConfig:
    """The experiment file, validated; a ConfigError naming the file and field otherwise."""
    data = read_yaml(path)
    cfg = validate(ExperimentConfig, data, str(path))
    for i, s in enumerate(cfg.subjects):  # the ID's own rules (folder-safe), field-named
        validate(Subject, {"id": s.id}, str(path), prefix=f"subjects.{i}")
    return cfg
