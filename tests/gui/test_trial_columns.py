"""What the live view reads from a trial schema: levels, colours, scores, the log line."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from gui.trial_columns import (
    ALL_TRIALS,
    MAX_EXTRA_LEVELS,
    OTHER,
    OUTCOME_PALETTE,
    TrialColumns,
    level_colour,
)
from rigctl.protocols.trial import TrialRecord, TrialSchema, col

BUILTIN = TrialColumns.of(TrialSchema.of(TrialRecord))


def test_colours_follow_the_declared_order_and_an_undeclared_level_keeps_its_colour():
    declared = ("hit", "miss")
    assert level_colour("hit", declared, OUTCOME_PALETTE) == OUTCOME_PALETTE[0]
    assert level_colour("miss", declared, OUTCOME_PALETTE) == OUTCOME_PALETTE[1]
    # not a declared level's colour; the same in every process (crc32, not the salted hash)
    late = level_colour("late", declared, OUTCOME_PALETTE)
    assert late not in OUTCOME_PALETTE[:2]
    assert late == OUTCOME_PALETTE[2:][zlib.crc32(b"late") % (len(OUTCOME_PALETTE) - 2)]


def test_the_builtin_log_line_names_condition_outcome_and_its_in_log_columns():
    rec = {"trial": 7, "trial_type": "laser", "outcome": "error", "correct": 0, "correction": 0,
           "delay_s": 10.0, "reaction_time_s": 0.41234, "laser_power_mw": 5.0,
           "laser_blocked": 0, "start_s": 100.0}
    assert BUILTIN.log_line(rec) == ("trial 7 laser: error, delay_s=10, "
                                     "reaction_time_s=0.412, laser_power_mw=5")
    assert "laser_blocked=1" in BUILTIN.log_line({**rec, "laser_blocked": 1})


def test_correction_trials_and_empty_scores_are_not_scored():
    assert BUILTIN.score_of({"correct": 1, "correction": 0}) == 1
    assert BUILTIN.score_of({"correct": 1, "correction": 1}) is None
    assert BUILTIN.score_of({"correct": None, "correction": 0}) is None
    assert BUILTIN.score_of({"correct": float("nan")}) is None


def test_a_record_without_roles_or_score_shows_one_strip_and_counts_nothing():
    @dataclass
    class Licks:
        trial: int = col("", "n")
        licked: int = col("", "1 if licked", in_log=True)

    cols = TrialColumns.of(TrialSchema.of(Licks))
    assert cols.condition_levels().names == (ALL_TRIALS,)
    assert cols.outcome_levels().names == ()
    assert cols.log_line({"trial": 3, "licked": 1}) == "trial 3, licked=1"


def test_undeclared_levels_are_bounded():
    levels = BUILTIN.outcome_levels()
    for i in range(MAX_EXTRA_LEVELS + 30):
        levels.index(f"weird_{i}")
    # the first MAX_EXTRA_LEVELS get their own counter, the rest share "other"
    assert len(levels.extra) == MAX_EXTRA_LEVELS + 1 and levels.extra[-1] == OTHER
    assert levels.index("weird_99") == levels.index("weird_100") == len(levels.names) - 1
