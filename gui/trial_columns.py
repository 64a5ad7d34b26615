"""What the live view shows of a task's trials, from the trial record the task declared.

The engine's ``Ready`` message carries the task's :class:`~rigctl.protocols.trial.TrialSchema`;
this module turns it into what the live view needs: the outcome levels it counts, the condition
levels it draws one raster strip for, a colour for every level, and the one-line log of a
trial. Nothing here knows the names of any task's outcomes or conditions: a go/no-go task gets
hit / miss / false alarm / correct rejection counters and go / no-go strips because it declared
them (``col(levels=..., role=...)``), the built-in alternation gets correct / error because its
record declares those.

Colours are deterministic: a declared level takes the palette colour at its position among the
declared levels (declare the levels in the order you want them coloured); a level the task did
not declare but wrote anyway takes one of the colours the declared levels left, chosen by a
hash of its name, so it is the same colour in every session.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

from rigctl.protocols.trial import TrialColumn, TrialSchema

#: outcome colours, in the order of the declared levels (first: the "good" outcome, by habit)
OUTCOME_PALETTE = ("#2ca02c", "#d62728", "#ff7f0e", "#1f77b4", "#9467bd", "#8c564b",
                   "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
#: condition colours (lines of cumulative accuracy, strip labels)
CONDITION_PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                     "#bcbd22", "#ff7f0e", "#7f7f7f", "#d62728")
#: levels a task may write beyond those it declared before the rest are counted as "other"
MAX_EXTRA_LEVELS = 12
OTHER = "other"
#: the condition level of every trial when the record has no condition column
ALL_TRIALS = "all trials"
#: a 0/1 column with this name excludes a trial from accuracy (rigctl's two-choice tasks'
#: correction trials, which repeat an error)
CORRECTION = "correction"


def level_colour(level: str, declared: tuple[str, ...], palette: tuple[str, ...]) -> str:
    if level in declared:
        return palette[declared.index(level) % len(palette)]
    rest = palette[len(declared):] or palette  # not a declared level's colour, while any is left
    return rest[zlib.crc32(level.encode()) % len(rest)]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


@dataclass
class Levels:
    """The levels of one categorical column: the declared ones, then those seen (bounded)."""

    declared: tuple[str, ...]
    palette: tuple[str, ...]
    extra: list[str]

    @classmethod
    def of(cls, column: TrialColumn | None, palette: tuple[str, ...],
           fallback: tuple[str, ...] = ()) -> Levels:
        declared = column.levels if column is not None and column.levels else fallback
        return cls(tuple(declared), palette, [])

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.declared, *self.extra)

    def index(self, level: str) -> int:
        """The level's index, adding an undeclared level (up to MAX_EXTRA_LEVELS, then
        "other") the first time it is seen."""
        if level in self.declared:
            return self.declared.index(level)
        if level not in self.extra:
            if len(self.extra) >= MAX_EXTRA_LEVELS:
                level = OTHER
            if level not in self.extra:
                self.extra.append(level)
        return len(self.declared) + self.extra.index(level)

    def colour(self, level: str) -> str:
        return level_colour(level, self.declared, self.palette)


@dataclass(frozen=True)
class TrialColumns:
    """The live view's reading of a trial schema."""

    schema: TrialSchema
    outcome: str | None
    condition: str | None
    score: str | None
    correction: str | None
    log_columns: tuple[TrialColumn, ...]

    @classmethod
    def of(cls, schema: TrialSchema) -> TrialColumns:
        outcome, condition, score = schema.outcome, schema.condition, schema.score
        roles = {c.name for c in (outcome, condition) if c is not None}
        correction = schema.column(CORRECTION)
        return cls(schema=schema,
                   outcome=None if outcome is None else outcome.name,
                   condition=None if condition is None else condition.name,
                   score=None if score is None else score.name,
                   correction=None if correction is None else correction.name,
                   log_columns=tuple(c for c in schema.columns
                                     if c.in_log and c.name not in roles))

    def outcome_levels(self) -> Levels:
        return Levels.of(self.schema.outcome, OUTCOME_PALETTE)

    def condition_levels(self) -> Levels:
        return Levels.of(self.schema.condition, CONDITION_PALETTE,
                         fallback=() if self.condition else (ALL_TRIALS,))

    def outcome_of(self, rec: dict[str, Any]) -> str | None:
        return _text(rec.get(self.outcome)) or None if self.outcome else None

    def condition_of(self, rec: dict[str, Any]) -> str:
        return (_text(rec.get(self.condition)) or "—") if self.condition else ALL_TRIALS

    def score_of(self, rec: dict[str, Any]) -> int | None:
        """1 or 0 for a scored trial, None when it is not scored (or the record has no
        score): empty ``correct``, or a correction trial."""
        if self.score is None:
            return None
        v = rec.get(self.score)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if self.correction is not None and rec.get(self.correction):
            return None
        try:
            return int(bool(int(v)))
        except (TypeError, ValueError):
            return None

    def log_line(self, rec: dict[str, Any]) -> str:
        """``trial 3 go: hit, delay_s=1, response_time_s=0.42``: the trial number, condition,
        outcome, then the columns declared ``in_log`` whose value is not their default."""
        head = f"trial {_text(rec.get('trial')) or '?'}"
        if self.condition:
            head += f" {self.condition_of(rec)}"
        if self.outcome:
            head += f": {self.outcome_of(rec) or '—'}"
        elif self.score:
            s = self.score_of(rec)
            head += f": {self.score} {'—' if s is None else s}"
        extra = []
        for c in self.log_columns:
            v = rec.get(c.name)
            if v is None or v == c.default or _text(v) == "":
                continue
            extra.append(f"{c.name}={v:.3g}" if isinstance(v, float) else f"{c.name}={v}")
        return ", ".join([head, *extra])
