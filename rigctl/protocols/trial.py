"""One row of ``trials.csv``: the columns, their units and meaning, declared once.

The CSV header, the loader's dtypes and the data-format docs all come from these fields, so the
file and its description cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, Literal

#: what a column is to the live view and the cohort summary (``""``: just a column)
Role = Literal["", "outcome", "condition"]
ROLES: tuple[str, ...] = ("", "outcome", "condition")


def col(unit: str, doc: str, default: Any = None, *, levels: Sequence[str] = (),
        role: Role = "", in_log: bool = False) -> Any:
    """A trials.csv column: its unit, its meaning, and for a categorical column its ``levels``.

    ``role="outcome"`` marks the column the GUI counts and the raster colours (one counter a
    level), ``role="condition"`` the one it splits trials by (one raster strip a level) and the
    cohort summary groups by. Without a role, a column named ``outcome`` is the outcome and one
    named ``trial_type`` the condition. ``in_log``: shown in the GUI's one-line log of a trial
    when it differs from ``default``."""
    if role not in ROLES:
        raise ValueError(f"col(role={role!r}): role is one of 'outcome', 'condition' or ''")
    if isinstance(levels, str):
        raise TypeError(f"col(levels={levels!r}): give a tuple of level names, not a string")
    return field(default=default, metadata={"unit": unit, "doc": doc, "levels": tuple(levels),
                                            "role": role, "in_log": in_log})


@dataclass
class TrialRecord:
    trial: int = col("", "Trial number, from 1")
    start_s: float = col("s", "Trial start (sample onset) on the session clock")
    end_s: float = col("s", "Trial end (end of reward or timeout)")
    trial_type: str = col("", "sample (free first trial), control or laser",
                          levels=("control", "laser", "sample"), role="condition")
    correction: int = col("", "1 if a correction trial repeating an error, else 0", 0)
    delay_s: float = col("s", "Delay between sample and response window", in_log=True)
    stim_mode: str = col("", "off, open_loop, closed_loop or sham")
    correct_side: str = col("", "left, right, or any (sample trial)")
    choice: str = col("", "left, right, or none (no response)", "none")
    correct: int | None = col("", "1 correct, 0 error, empty when not scored")
    outcome: str = col("", "correct, error, no_response or sample",
                       levels=("correct", "error", "no_response", "sample"), role="outcome")
    reaction_time_s: float | None = col("s", "Response-window onset to first lick", in_log=True)
    reward_ul: float = col("µL", "Water delivered", 0.0)
    laser_onset_s: float | None = col("s", "First laser command of the trial")
    laser_offset_s: float | None = col("s", "Laser off command (ramp-down starts)")
    laser_power_mw: float | None = col("mW", "Commanded power at the fibre tip", in_log=True)
    predictor_at_onset: float | None = col("", "Predictor value at laser onset (closed loop)")
    laser_blocked: int = col("", "1 if the emergency laser-off latch held the light off during "
                                 "this laser trial's delay (none, or cut at laser_offset_s), "
                                 "else 0", 0, in_log=True)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(TrialRecord))

_DTYPES = {"int": "Int64", "float": "float64", "str": "string", "bool": "Int64"}


def columns_of(trial: type = TrialRecord) -> tuple[str, ...]:
    return tuple(f.name for f in fields(trial))


def column_docs(trial: type = TrialRecord) -> list[tuple[str, str, str]]:
    """(name, unit, description) of every trials.csv column, in file order."""
    return [(f.name, f.metadata.get("unit", ""), f.metadata.get("doc", ""))
            for f in fields(trial)]


def dtype_of(annotation: object) -> str:
    """The pandas dtype a column loads as, from its annotation (``int | None`` -> Int64)."""
    text = str(annotation).replace("typing.", "").replace("Optional[", "")
    for name, dtype in _DTYPES.items():
        if text.split("|")[0].strip(" []").split("[")[0] == name:
            return dtype
    return "string"


def trial_schema(trial: type = TrialRecord) -> list[dict[str, Any]]:
    """The declared trial record as session.json keeps it: name, unit, doc and dtype of each
    column (and ``levels``/``role`` where declared), so loaders, NWB export, figures and the
    cohort summary know a task's own columns."""
    return TrialSchema.of(trial).to_json()


@dataclass(frozen=True)
class TrialColumn:
    """One declared column, as the engine tells the GUI and session.json keeps it."""

    name: str
    unit: str = ""
    doc: str = ""
    dtype: str = "string"
    levels: tuple[str, ...] = ()
    role: str = ""
    in_log: bool = False
    default: Any = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "unit": self.unit, "doc": self.doc,
                               "dtype": self.dtype}
        if self.levels:
            out["levels"] = list(self.levels)
        if self.role:
            out["role"] = self.role
        return out


@dataclass(frozen=True)
class TrialSchema:
    """A task's trial record: its columns, and which is the outcome and which the condition.

    Built from the task's ``Trial`` dataclass (:meth:`of`) in the engine, or from session.json
    (:meth:`from_json`, which also reads sessions written before levels and roles existed)."""

    columns: tuple[TrialColumn, ...]

    @classmethod
    def of(cls, trial: type = TrialRecord) -> TrialSchema:
        if not is_dataclass(trial):
            raise TypeError(f"a task's Trial must be a dataclass (got {trial!r})")
        cols = []
        for f in fields(trial):
            md = f.metadata
            default = None if f.default is MISSING else f.default
            cols.append(TrialColumn(
                name=f.name, unit=md.get("unit", ""), doc=md.get("doc", ""),
                dtype=dtype_of(f.type), levels=tuple(md.get("levels", ())),
                role=md.get("role", ""), in_log=bool(md.get("in_log", False)), default=default))
        return cls._checked(cols, f"{trial.__qualname__}")

    @classmethod
    def from_json(cls, schema: object) -> TrialSchema:
        """session.json's ``trial_schema``; rigctl's own record when there is none (sessions
        written before tasks declared their records)."""
        if not isinstance(schema, list) or not schema:
            return cls.of(TrialRecord)
        if [c.get("name") for c in schema if isinstance(c, Mapping)] == list(COLUMNS):
            return cls.of(TrialRecord)  # rigctl's record (also as written before it had roles)
        cols = [TrialColumn(name=str(c["name"]), unit=str(c.get("unit", "")),
                            doc=str(c.get("doc", "")), dtype=str(c.get("dtype", "string")),
                            levels=tuple(str(v) for v in c.get("levels", ()) or ()),
                            role=str(c.get("role", "")))
                for c in schema if isinstance(c, Mapping) and c.get("name")]
        return cls._checked(cols, "session.json trial_schema")

    @classmethod
    def _checked(cls, cols: Iterable[TrialColumn], where: str) -> TrialSchema:
        cols = tuple(cols)
        for role in ("outcome", "condition"):
            named = [c.name for c in cols if c.role == role]
            if len(named) > 1:
                raise ValueError(f"{where}: {len(named)} columns have role={role!r} "
                                 f"({', '.join(named)}); mark one")
        return cls(cols)

    def to_json(self) -> list[dict[str, Any]]:
        return [c.to_json() for c in self.columns]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str | None) -> TrialColumn | None:
        return next((c for c in self.columns if c.name == name), None)

    def _role(self, role: str, default_name: str) -> TrialColumn | None:
        marked = next((c for c in self.columns if c.role == role), None)
        return marked if marked is not None else self.column(default_name)

    @property
    def outcome(self) -> TrialColumn | None:
        """The column whose levels are counted (``role="outcome"``, else one named outcome)."""
        return self._role("outcome", "outcome")

    @property
    def condition(self) -> TrialColumn | None:
        """The column trials are split by (``role="condition"``, else one named trial_type)."""
        return self._role("condition", "trial_type")

    @property
    def score(self) -> TrialColumn | None:
        """The 0/1 ``correct`` column accuracy is computed from, when the record has one."""
        return self.column("correct")
