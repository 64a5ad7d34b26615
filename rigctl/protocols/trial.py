"""One row of ``trials.csv``: the columns, their units and meaning, declared once.

The CSV header, the loader's dtypes and the data-format docs all come from these fields, so the
file and its description cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def col(unit: str, doc: str, default: Any = None) -> Any:
    return field(default=default, metadata={"unit": unit, "doc": doc})


@dataclass
class TrialRecord:
    trial: int = col("", "Trial number, from 1")
    start_s: float = col("s", "Trial start (sample onset) on the session clock")
    end_s: float = col("s", "Trial end (end of reward or timeout)")
    trial_type: str = col("", "sample (free first trial), control or laser")
    correction: int = col("", "1 if a correction trial repeating an error, else 0", 0)
    delay_s: float = col("s", "Delay between sample and response window")
    stim_mode: str = col("", "off, open_loop, closed_loop or sham")
    correct_side: str = col("", "left, right, or any (sample trial)")
    choice: str = col("", "left, right, or none (no response)", "none")
    correct: int | None = col("", "1 correct, 0 error, empty when not scored")
    outcome: str = col("", "correct, error, no_response or sample")
    reaction_time_s: float | None = col("s", "Response-window onset to first lick")
    reward_ul: float = col("µL", "Water delivered", 0.0)
    laser_onset_s: float | None = col("s", "First laser command of the trial")
    laser_offset_s: float | None = col("s", "Laser off command (ramp-down starts)")
    laser_power_mw: float | None = col("mW", "Commanded power at the fibre tip")
    predictor_at_onset: float | None = col("", "Predictor value at laser onset (closed loop)")
    laser_blocked: int = col("", "1 if the emergency laser-off latch held the light off during "
                                 "this laser trial's delay (none, or cut at laser_offset_s), "
                                 "else 0", 0)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(TrialRecord))


def column_docs() -> list[tuple[str, str, str]]:
    """(name, unit, description) of every trials.csv column, in file order."""
    return [(f.name, f.metadata["unit"], f.metadata["doc"]) for f in fields(TrialRecord)]
