"""The trials of a running session as the live view keeps them: exact totals, bounded detail.

Counters (trials per outcome level, scored and correct trials per condition, the rolling
window) are running totals, exact over the whole session. The per-trial detail the rasters
draw (trial number, condition, outcome, score, rolling and cumulative accuracy at that trial)
is the newest ``capacity`` trials in a :class:`~gui.buffers.RingBuffer`: a session of any
length holds the same memory.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from gui.buffers import RingBuffer
from gui.trial_columns import Levels, TrialColumns

ROLLING = 20
#: trials whose detail the live view keeps (and the outcome raster shows)
HISTORY_TRIALS = 500
# columns of a history row
TRIAL, CONDITION, OUTCOME, SCORE, ROLLING_PCT, CUMULATIVE_PCT = range(6)
WIDTH = 6


def _ratio(k: int, n: int) -> float:
    return k / n if n else float("nan")


class TrialHistory:
    """Running totals and the newest trials of a session, read by the live view's widgets."""

    def __init__(self, columns: TrialColumns, capacity: int = HISTORY_TRIALS) -> None:
        self.columns = columns
        self.outcomes: Levels = columns.outcome_levels()
        self.conditions: Levels = columns.condition_levels()
        self.rows = RingBuffer(capacity, WIDTH)
        self.counts: dict[str, int] = dict.fromkeys(self.outcomes.names, 0)
        self.scored: dict[str, int] = dict.fromkeys(self.conditions.names, 0)
        self.correct: dict[str, int] = dict.fromkeys(self.conditions.names, 0)
        self.window: deque[int] = deque(maxlen=ROLLING)
        self.n = 0
        self.last_trial = 0
        self.last: dict[str, Any] | None = None

    def __len__(self) -> int:
        return self.n

    def add(self, rec: dict[str, Any]) -> None:
        cols = self.columns
        self.n += 1
        self.last = rec
        try:
            number = int(rec.get("trial", self.n))
        except (TypeError, ValueError):
            number = self.n
        self.last_trial = number
        cond = cols.condition_of(rec)
        ci = self.conditions.index(cond)
        cond = self.conditions.names[ci]  # "other" past the bound
        outcome = cols.outcome_of(rec)
        oi = math.nan
        if outcome is not None:
            oi = self.outcomes.index(outcome)
            name = self.outcomes.names[oi]
            self.counts[name] = self.counts.get(name, 0) + 1
        score = cols.score_of(rec)
        rolling = cumulative = math.nan
        if score is not None:
            self.window.append(score)
            self.scored[cond] = self.scored.get(cond, 0) + 1
            self.correct[cond] = self.correct.get(cond, 0) + score
            rolling = 100.0 * sum(self.window) / len(self.window)
            cumulative = 100.0 * self.correct[cond] / self.scored[cond]
        self.rows.append((number, ci, oi, math.nan if score is None else score, rolling,
                          cumulative))

    # --- what the counters show -----------------------------------------------------------
    @property
    def has_score(self) -> bool:
        return self.columns.score is not None

    def accuracy(self) -> float:
        return _ratio(sum(self.correct.values()), sum(self.scored.values()))

    def accuracy_of(self, condition: str) -> float:
        return _ratio(self.correct.get(condition, 0), self.scored.get(condition, 0))

    def rolling(self) -> float:
        return _ratio(sum(self.window), len(self.window))

    def view(self) -> np.ndarray:
        """The newest trials' rows (columns TRIAL … CUMULATIVE_PCT), oldest first."""
        return self.rows.view()
