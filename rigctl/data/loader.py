"""Read session folders back: one session in full, or a cohort's trials in one DataFrame.

A session that is still being written, or whose process died, loads too: every complete row is
returned, a torn last line (or signals record) is dropped with a warning, and ``status`` says
what happened. Damage that a crash cannot explain (a row whose checksum or fields are wrong, a
signals block whose checksum fails, a lost ``session.json``) costs only what is damaged: every
intact row loads, each damaged one is listed in ``SessionData.damage`` with its file and line,
and ``status`` is ``damaged``. Anything that is not a readable session is a one-line
:class:`DataError`; nothing else is ever raised for what a file contains.
"""

from __future__ import annotations

import datetime as dt
import io
import warnings as _warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from rigctl.data.analog import AnalogData, analog_file, analog_files, read_analog
from rigctl.data.frames import FramesData, frame_inputs, frames_file, read_frames
from rigctl.data.integrity import CRC_COLUMN, Damage, read_rows
from rigctl.data.liveness import writer_alive
from rigctl.data.metadata import (
    META_FILE,
    START_FILE,
    checksum_ok,
    checksum_warning,
    load_metadata,
    read_json,
)
from rigctl.data.schema import EVENT_COLUMNS, FORMAT_VERSION, STATUSES
from rigctl.data.signals import (
    SIGNALS_FILE,
    SampleTimes,
    SignalsCheck,
    SignalsData,
    SignalsHeader,
    check_signals,
    read_header,
    read_signals,
    torn_warning,
)
from rigctl.errors import DataError
from rigctl.protocols.trial import COLUMNS

__all__ = ["COHORT_COLUMNS", "SessionData", "effective_status", "find_sessions",
           "load_session", "load_sessions", "read_events", "read_metadata", "read_trials",
           "typed_trials", "writer_alive"]

_INT_COLS = MappingProxyType({"trial": "Int64", "correction": "Int64", "correct": "Int64",
                              "laser_blocked": "Int64"})
_STR_COLS = ("trial_type", "stim_mode", "correct_side", "choice", "outcome")
_FLOAT_COLS = tuple(c for c in COLUMNS if c not in _INT_COLS and c not in _STR_COLS)
#: Columns load_sessions puts before the trial columns.
COHORT_COLUMNS = ("session", "subject", "genotype", "treatment", "date", "protocol", "rig",
                  "status")
#: Header lines rigctl has written: format 1-2 without, format 3 with the checksum column
#: (and trials.csv before ``laser_blocked`` existed).
_BEFORE_LATCH = tuple(c for c in COLUMNS if c != "laser_blocked")
TRIAL_HEADERS = (_BEFORE_LATCH, COLUMNS, (*COLUMNS, CRC_COLUMN))
EVENT_HEADERS = (EVENT_COLUMNS[:4], EVENT_COLUMNS, (*EVENT_COLUMNS, CRC_COLUMN))


@dataclass
class SessionData:
    """One session: metadata, trials and events as DataFrames, signals on first access.

    ``status`` is ``damaged`` when anything was found damaged (``damage`` lists it, also after
    ``rigctl recover`` removed it); ``recorded_status`` is then how the session ended
    (completed, aborted, crashed or running).
    """

    path: Path
    metadata: dict[str, Any]
    trials: pd.DataFrame
    events: pd.DataFrame
    status: str
    warnings: list[str] = field(default_factory=list)
    signals_header: SignalsHeader | None = None
    _signals: SignalsData | None = field(default=None, repr=False)
    damage: list[Damage] = field(default_factory=list)
    recorded_status: str = ""
    _signals_check: SignalsCheck | None | bool = field(default=True, repr=False)
    frames_data: dict[str, FramesData] = field(default_factory=dict, repr=False)

    def frames(self, name: str | None = None) -> np.ndarray:
        """Session times (s) of every frame of frame-clock input ``name`` (the only one when
        None), in order: frame k is ``frames(name)[k]``, NaN where its checksum block is
        damaged. ``frames_data[name].device_t`` holds the device's own timestamps."""
        if name is None and len(self.frames_data) == 1:
            name = next(iter(self.frames_data))
        if name not in self.frames_data:
            have = ", ".join(self.frames_data) or "none"
            raise DataError(f"{self.path}: no frames of input {name!r} (frame-clock inputs "
                            f"recorded: {have})")
        return self.frames_data[name].t
    #: each analog input's checksum result, by name (what :meth:`analog` reads with)
    _analog_checks: dict[str, SignalsCheck | None | bool] = field(default_factory=dict,
                                                                  repr=False)

    @property
    def analog_inputs(self) -> list[str]:
        """Names of the rig's analog inputs this session recorded (``session.json``'s
        ``analog_inputs``, and any ``analog_<name>.bin`` in the folder)."""
        listed = self.metadata.get("analog_inputs")
        names = list(listed) if isinstance(listed, dict) else []
        return names + [n for n in analog_files(self.path) if n not in names]

    def analog(self, name: str) -> AnalogData:
        """The samples of analog input ``name``: ``t, x = session.analog("wheel")`` (times in
        s on the session clock, samples float32 in the input's ``unit``), memory-mapped.
        An input listed in session.json that delivered no sample gives empty arrays.
        DataError (one line) for a name the session has not recorded."""
        path = self.path / analog_file(name)
        if path.is_file():
            return read_analog(path, check=self._analog_checks.get(name, True))
        listed = self.metadata.get("analog_inputs")
        info = listed.get(name) if isinstance(listed, dict) else None
        if not isinstance(info, dict):
            have = ", ".join(self.analog_inputs) or "none"
            raise DataError(f"{self.path}: no analog input {name!r} in this session "
                            f"(recorded: {have})")
        rate = float(info.get("rate_hz") or 1.0)
        return AnalogData(name, path, rate, float("nan"), str(info.get("unit", "")),
                          SampleTimes(0, rate, 0.0), np.empty(0, dtype=np.float32),
                          [f"{path.name}: no sample was recorded"])

    @property
    def finished(self) -> bool:
        """True when the session ended on its own terms (completed or aborted cleanly)."""
        return (self.recorded_status or self.status) in ("completed", "aborted")

    @property
    def signals(self) -> SignalsData | None:
        """The continuous traces (None when the session recorded none), memory-mapped on first
        access: loading many sessions for their trials never reads their signals, and a
        recording of any length costs memory only for the samples a caller touches (use
        ``signals.chunks(name)`` to walk a whole channel). Blocks whose checksum failed read
        as NaN."""
        if self._signals is None and self.signals_header is not None:
            self._signals = read_signals(self.signals_header.path, mmap=True,
                                         check=self._signals_check)
        return self._signals

    @property
    def subject(self) -> dict[str, Any]:
        return dict(self.metadata.get("subject") or {})


def effective_status(meta: dict[str, Any]) -> str:
    """``running`` only while the writing process lives; otherwise a running session crashed."""
    status = meta.get("status", "crashed")
    if status != "running":
        return status
    if writer_alive(meta):
        return "running"
    return "crashed"


def _check_version(folder: Path, meta: dict[str, Any]) -> None:
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise DataError(
            f"{folder}: written by a newer rigctl (format {version!r}, this reads up to "
            f"{FORMAT_VERSION}); upgrade rigctl"
        )


def _is_session(folder: Path) -> bool:
    return any((folder / n).is_file() for n in (META_FILE, START_FILE, "trials.csv"))


def read_metadata(folder: str | Path) -> dict[str, Any]:
    """``session.json`` of ``folder``, checked: DataError (one line) if it is not a session."""
    folder = Path(folder)
    meta_path = folder / META_FILE
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    if not meta_path.is_file():
        raise DataError(f"{folder}: not a session folder (no session.json)")
    meta, damage, _ = load_metadata(folder)
    if damage:
        raise DataError(f"{meta_path}: {damage[0].what}")
    _check_version(folder, meta)
    return meta


def _metadata(folder: Path) -> tuple[dict[str, Any], list[Damage], str, list[str]]:
    """Metadata for loading, however damaged (see :func:`load_metadata`); DataError only for
    a folder that is no session or is of a newer format."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    if not _is_session(folder):
        raise DataError(f"{folder}: not a session folder (no session.json)")
    meta, damage, source = load_metadata(folder)
    notes: list[str] = []
    if source == META_FILE and checksum_ok(meta) is False:
        version, status = meta.get("format_version"), meta.get("status")
        start, _ = read_json(folder / START_FILE)
        start_version = (start or {}).get("format_version")
        newer_than_start = (isinstance(version, int) and isinstance(start_version, int)
                            and version > start_version)
        if (not isinstance(version, int) or version < 1 or status not in STATUSES
                or newer_than_start):
            # A changed byte, not a hand edit: the file cannot be trusted; rebuild it.
            meta, damage, source = _rebuilt(folder)
        else:
            notes.append(checksum_warning(meta))
    _check_version(folder, meta)
    return meta, damage, source, notes


def _rebuilt(folder: Path) -> tuple[dict[str, Any], list[Damage], str]:
    from rigctl.data import metadata as m

    start, problem = m.read_json(folder / START_FILE)
    damage = [Damage(META_FILE, None, "checksum mismatch and impossible values (damaged)")]
    if start is not None:
        return {**start, "status": "running"}, damage, START_FILE
    if problem != "missing":
        damage.append(Damage(START_FILE, None, problem))
    return {**m.from_folder_name(folder), "status": "running"}, damage, "folder name"


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _bad_numbers(cells: pd.Series, integer: bool) -> np.ndarray:
    """Rows whose cell is neither empty/nan nor a number (an integer if ``integer``)."""
    num = pd.to_numeric(cells, errors="coerce")
    text = cells.astype(str).str.strip().str.lower()
    bad = np.array(num.isna() & ~text.isin(["", "nan"]), dtype=bool)
    if integer:
        vals = num.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            bad |= np.isfinite(vals) & (vals != np.round(vals))
        bad |= np.isinf(vals)
    return bad


def _read_table(path: Path, headers: Sequence[Sequence[str]], version: int, crashed: bool,
                warnings: list[str], damage: list[Damage], numeric: dict[str, bool],
                required: Sequence[str], parse: Callable[[bytes], pd.DataFrame],
                ) -> tuple[pd.DataFrame, list[bytes]]:
    """The intact rows of a CSV file, parsed by ``parse`` (pandas' C reader on the rows that
    passed), and those rows' bytes; what is damaged goes to ``damage``, a torn last line of a
    session that did not complete to ``warnings``.

    Rows with a checksum are as the writer wrote them, so they parse. A format 1-2 file can
    hold a row whose numbers do not parse: only then is each row checked on its own (slow).
    """
    fallback = list(headers[-1]) if version >= 3 else list(headers[-2])
    try:
        rows = read_rows(path, headers, fallback)
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc.strerror})") from None
    damage += rows.damage
    if rows.torn_bytes:
        note = f"{path.name}: dropped an incomplete last line ({rows.torn_bytes} bytes)"
        if crashed:
            warnings.append(note)
        else:  # a completed session has no torn append: this is damage
            damage.append(Damage(path.name, (rows.lines[-1] + 1) if rows.lines else None,
                                 f"incomplete last line ({rows.torn_bytes} bytes) in a "
                                 "completed session"))
    raws = rows.raw or []
    head = ",".join((*rows.columns, CRC_COLUMN) if rows.checked else rows.columns).encode()
    if not raws:
        return parse(head + b"\n"), raws
    try:
        return parse(head + b"\n" + b"\n".join(raws) + b"\n"), raws
    except (ValueError, TypeError, pd.errors.ParserError):
        pass
    df = pd.DataFrame(rows.rows, columns=rows.columns, dtype=object)
    lines = rows.lines
    bad = np.zeros(len(df), dtype=bool)
    for col, integer in numeric.items():
        if col in df:
            col_bad = _bad_numbers(df[col], integer)
            for ln, b_ in zip(lines, col_bad & ~bad, strict=True):
                if b_:
                    damage.append(Damage(path.name, int(ln), f"{col}: not a number"))
            bad |= col_bad
    for col in required:
        if col in df:
            missing = np.array(df[col].astype(str).str.strip() == "", dtype=bool)
            for ln, b_ in zip(lines, missing & ~bad, strict=True):
                if b_:
                    damage.append(Damage(path.name, int(ln), f"{col}: empty"))
            bad |= missing
    raws = [r for r, b_ in zip(raws, bad, strict=True) if not b_]
    try:
        return parse(head + b"\n" + b"".join(r + b"\n" for r in raws)), raws
    except (ValueError, TypeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: unreadable ({exc})".splitlines()[0]) from None


_TRIAL_NUMERIC = MappingProxyType({**{c: True for c in _INT_COLS},
                                   **{c: False for c in _FLOAT_COLS}})
_EVENT_NUMERIC = MappingProxyType({"t_s": False, "device_t_s": False})
#: Cells no row can be without: a trial has its number, an event its time and kind.
TRIAL_REQUIRED = ("trial",)
EVENT_REQUIRED = ("t_s", "kind")


_TRIAL_DTYPES = MappingProxyType({**_INT_COLS, **{c: "string" for c in _STR_COLS},
                                  **{c: "float64" for c in _FLOAT_COLS}})


def _parse_trials(data: bytes) -> pd.DataFrame:
    # The C reader converts every column itself (a cell that does not fit raises ValueError).
    trials = pd.read_csv(io.BytesIO(data), dtype=dict(_TRIAL_DTYPES))
    trials = typed_trials(trials)
    if trials["trial"].isna().any():
        raise ValueError("a trial without its number")
    return trials


def _parse_events(data: bytes) -> pd.DataFrame:
    events = pd.read_csv(io.BytesIO(data), dtype={"value": "string", "name": "string",
                                                  "kind": "string", "t_s": "float64",
                                                  "device_t_s": "float64"},
                         keep_default_na=False, na_values={"device_t_s": [""]})
    for col in EVENT_COLUMNS:
        if col not in events:
            events[col] = pd.NA
    for col in ("t_s", "device_t_s"):
        if events[col].dtype != "float64":
            events[col] = pd.to_numeric(events[col]).astype(float)
    for col in ("kind", "name", "value"):
        events[col] = events[col].astype("string")
    if events["t_s"].isna().any() or (events["kind"] == "").any():
        raise ValueError("an event without its time or kind")
    return events[list(EVENT_COLUMNS)].reset_index(drop=True)


Schema = list[dict[str, str]]


_SCHEMA_DTYPES = ("Int64", "float64", "string")


def _declared(schema: object) -> Schema | None:
    """A task's own trial record, or None for the built-in TrialRecord (read as always) and
    for a schema that is not one (a damaged session.json must not break the loader)."""
    if not isinstance(schema, list) or not schema:
        return None
    for c in schema:
        if not (isinstance(c, dict) and isinstance(c.get("name"), str) and c["name"]
                and c.get("dtype", "string") in _SCHEMA_DTYPES):
            return None
    names = tuple(c["name"] for c in schema)
    if len(set(names)) != len(names) or names == COLUMNS:
        return None
    return schema


def declared_trial_schema(schema: object) -> Schema | None:
    """session.json's ``trial_schema`` when it declares a task's own trial record; None for
    rigctl's built-in TrialRecord, sessions without one and a schema that is not one."""
    return _declared(schema)


def _parse_declared(schema: Schema) -> Callable[[bytes], pd.DataFrame]:
    names = [c["name"] for c in schema]
    dtypes = {c["name"]: c.get("dtype", "string") for c in schema}

    def parse(data: bytes) -> pd.DataFrame:
        trials = pd.read_csv(io.BytesIO(data), dtype=dtypes)
        for name in names:
            if name not in trials:
                trials[name] = pd.Series(pd.NA, index=trials.index, dtype=dtypes[name])
        return trials[names].reset_index(drop=True)

    return parse


def _table(path: Path, kind: str, version: int, crashed: bool, warnings: list[str],
           damage: list[Damage], schema: Schema | None = None
           ) -> tuple[pd.DataFrame, list[bytes]]:
    own = _declared(schema) if kind == "trials" else None
    if own is not None:  # a task's declared columns, checked like the built-in ones
        names = tuple(c["name"] for c in own)
        numeric = {c["name"]: c.get("dtype") == "Int64" for c in own
                   if c.get("dtype") in ("Int64", "float64")}
        required = ("trial",) if "trial" in names else ()
        return _read_table(path, (names, (*names, CRC_COLUMN)), version, crashed, warnings,
                           damage, numeric, required, _parse_declared(own))
    if kind == "trials":
        return _read_table(path, TRIAL_HEADERS, version, crashed, warnings, damage,
                           dict(_TRIAL_NUMERIC), TRIAL_REQUIRED, _parse_trials)
    return _read_table(path, EVENT_HEADERS, version, crashed, warnings, damage,
                       dict(_EVENT_NUMERIC), EVENT_REQUIRED, _parse_events)


def intact_lines(path: Path, kind: str, version: int, crashed: bool,
                 schema: Schema | None = None) -> tuple[list[bytes], list[Damage], list[str]]:
    """The rows :func:`load_session` keeps from ``path`` (``kind`` ``trials`` or ``events``)
    as written (bytes, no line end), the damage found and the warnings: what ``rigctl
    recover`` keeps, so that its result is exactly what the loader reads."""
    damage: list[Damage] = []
    warnings: list[str] = []
    _, raws = _table(path, kind, version, crashed, warnings, damage, schema)
    return raws, damage, warnings


def read_trials(path: Path, warnings: list[str], damage: list[Damage] | None = None,
                version: int = FORMAT_VERSION, crashed: bool = True,
                schema: Schema | None = None) -> pd.DataFrame:
    """trials.csv with documented dtypes (Int64 for trial/correction/correct, string, float),
    or those of the task's declared record (``trial_schema`` in session.json); damaged rows
    are left out and listed in ``damage`` (or in ``warnings`` without it)."""
    found: list[Damage] = []
    own = _declared(schema)
    if path.is_file():
        trials, _ = _table(path, "trials", version, crashed, warnings, found, schema)
    elif own is not None:
        trials = _parse_declared(own)(",".join(c["name"] for c in own).encode() + b"\n")
    else:
        trials = typed_trials(_empty(COLUMNS))
    if damage is not None:
        damage += found
    else:
        warnings += [str(d) for d in found]
    return trials


def typed_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """``trials`` with exactly the trials.csv columns, in order, with their documented dtypes:
    Int64 for trial/correction/correct/laser_blocked, string for text, float64 (NaN when empty)
    otherwise."""
    trials = trials.copy()
    if "laser_blocked" not in trials:  # written before the emergency latch existed: never blocked
        trials["laser_blocked"] = 0
    for col in COLUMNS:
        if col not in trials:
            trials[col] = pd.NA
    for col, dtype in _INT_COLS.items():
        if trials[col].dtype != dtype:
            trials[col] = trials[col].astype(dtype)
    for col in _STR_COLS:  # always: "string" compares equal to StringDtype(na_value=nan)
        trials[col] = trials[col].astype("string")
    for col in _FLOAT_COLS:
        if trials[col].dtype != "float64":
            values = trials[col].astype(object).where(trials[col].notna(), None)
            trials[col] = pd.to_numeric(values).astype(float)
    return trials[list(COLUMNS)].reset_index(drop=True)


def read_events(path: Path, warnings: list[str], damage: list[Damage] | None = None,
                version: int = FORMAT_VERSION, crashed: bool = True) -> pd.DataFrame:
    """events.csv; ``device_t_s`` (format 2) is added as NaN for format-1 sessions; damaged
    rows are left out and listed in ``damage`` (or in ``warnings`` without it)."""
    found: list[Damage] = []
    if path.is_file():
        events, _ = _table(path, "events", version, crashed, warnings, found)
    else:
        events = _parse_events(",".join(EVENT_COLUMNS).encode() + b"\n")
    if damage is not None:
        damage += found
    else:
        warnings += [str(d) for d in found]
    return events


def _infer_end(meta: dict[str, Any], trials: pd.DataFrame, events: pd.DataFrame) -> None:
    """For metadata rebuilt without its last version: how the session ended, from the files
    (the last event of every closed session is ``all_off``)."""
    ended = bool(len(events)) and bool((events["name"] == "all_off").any())
    if not ended and writer_alive(meta):
        return  # still being written (a process may write many sessions: ask the files first)
    params = (meta.get("protocol") or {}).get("parameters") or {}
    planned = params.get("n_trials") if isinstance(params, dict) else None
    if ended and isinstance(planned, int) and len(trials) >= planned:
        meta.update(status="completed", reason="")
    elif ended:
        errors = events[events["kind"] == "error"]["value"]
        meta.update(status="aborted", reason=str(errors.iloc[0]) if len(errors) else
                    "unknown (session.json was lost; the outputs were turned off)")
    else:
        meta.update(status="crashed", reason="process ended without closing the session")
    meta["n_trials"] = len(trials)


def _signals_damage(folder: Path, crashed: bool, warnings: list[str], damage: list[Damage],
                    name: str = SIGNALS_FILE,
                    ) -> tuple[SignalsHeader | None, SignalsCheck | None | bool]:
    """The header and checksum result (True: not checked) of ``folder``'s ``signals.bin``
    (or of another file of that format, ``name``: an analog input's)."""
    spath = folder / name
    if not spath.is_file():
        return None, None
    # A damaged signals file must not cost the trials: report it and load without it.
    try:
        header = read_header(spath)
    except DataError as exc:
        warnings.append(f"{name} ignored: {exc}")
        damage.append(Damage(name, None, f"ignored: {exc}"))
        return None, None
    if header.torn_bytes:
        if crashed:
            warnings.append(torn_warning(header))
        else:
            damage.append(Damage(name, None, f"{header.torn_bytes} bytes after the last "
                                             "whole record in a finished session"))
    try:
        check = check_signals(header)
    except (OSError, ValueError) as exc:
        damage.append(Damage(name, None, f"cannot be checked ({exc})"))
        return header, True
    if check is not None:
        damage += [Damage(name, None, f"samples {a}-{b - 1}: checksum mismatch (read "
                                      "as NaN)") for a, b in check.damaged]
        for problem in check.problem.splitlines():
            file, _, what = problem.partition(": ")
            damage.append(Damage(file, None, what))
        if check.unverified:
            warnings.append(f"{name}: last {check.unverified} samples have no checksum "
                            "(unverified)")
    return header, check


def _frames(folder: Path, crashed: bool, warnings: list[str], damage: list[Damage]
            ) -> dict[str, FramesData]:
    """Every ``frames_<input>.bin`` of ``folder``, checked; a damaged one costs only itself."""
    out = {}
    for name in frame_inputs(folder):
        file = frames_file(name)
        try:
            data = read_frames(folder / file)
        except DataError as exc:
            warnings.append(f"{file} ignored: {exc}")
            damage.append(Damage(file, None, f"ignored: {exc}"))
            continue
        if data.torn_bytes:
            if crashed:
                warnings.append(f"{file}: dropped a torn last record ({data.torn_bytes} bytes; "
                                f"{data.n} whole frames kept)")
            else:
                damage.append(Damage(file, None, f"{data.torn_bytes} bytes after the last "
                                                 "whole record in a finished session"))
        damage += [Damage(file, None, p) for p in data.problems()]
        if data.unverified and not crashed:
            warnings.append(f"{file}: last {data.unverified} frames have no checksum "
                            "(unverified)")
        out[name] = data
    return out


def recorded_damage(meta: dict[str, Any]) -> list[Damage]:
    """Damage that ``rigctl recover`` found and removed (kept in session.json)."""
    rec = meta.get("recovered")
    items = rec.get("damage") if isinstance(rec, dict) else None
    if not isinstance(items, list):
        return []
    return [d for d in (Damage.from_dict(x) for x in items) if d is not None]


def load_session(path: str | Path, events: bool = True) -> SessionData:
    """Load one session folder; DataError (one line) if it is not a readable session.

    ``events=False`` skips events.csv (the largest file) for callers that need only trials.
    Every intact row loads whatever else is damaged; see :class:`SessionData` for ``damage``.
    """
    folder = Path(path)
    meta, damage, source, warnings = _metadata(folder)
    meta = dict(meta)
    version = meta["format_version"]
    status = effective_status(meta)
    # A torn last line is expected of a session that did not complete (killed, or stopped by a
    # failed write); in a completed one nothing explains it, so it is damage.
    crashed = status != "completed"
    trials = read_trials(folder / "trials.csv", warnings, damage, version, crashed,
                         meta.get("trial_schema"))
    need_events = events or source != META_FILE
    ev = (read_events(folder / "events.csv", warnings, damage, version, crashed)
          if need_events else _empty(EVENT_COLUMNS))
    if source != META_FILE:
        _infer_end(meta, trials, ev)
        status = effective_status(meta)
        warnings.append(f"{META_FILE}: lost or damaged; metadata rebuilt from {source}, "
                        f"status {status} inferred from the files (`rigctl recover` writes it)")
        if not events:
            ev = _empty(EVENT_COLUMNS)
    header, check = _signals_damage(folder, crashed, warnings, damage)
    frames = _frames(folder, crashed, warnings, damage)
    analog_checks: dict[str, SignalsCheck | None | bool] = {}
    for name, path in analog_files(folder).items():
        a_header, a_check = _signals_damage(folder, crashed, warnings, damage, path.name)
        if a_header is not None:
            analog_checks[name] = a_check
    known = recorded_damage(meta)
    if known:
        warnings.append(f"{len(known)} damaged part(s) were removed by `rigctl recover` "
                        "(originals in *.bak)")
    damage = known + damage
    if status in ("running", "crashed"):
        warnings.insert(0, f"{folder.name}: session is unfinished (status {status})")
    warnings += [f"damaged: {d}" for d in damage]
    return SessionData(folder, meta, trials, ev, "damaged" if damage else status, warnings,
                       header, damage=damage, recorded_status=status, _signals_check=check,
                       frames_data=frames, _analog_checks=analog_checks)


# --- cohorts ---------------------------------------------------------------------------------
def _as_set(value: str | Iterable[str] | None) -> set[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {value}
    return {str(v) for v in value}


def _as_date(value: dt.date | str | None, name: str) -> dt.date | None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise DataError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def _start(meta: dict[str, Any]) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(meta.get("start_time")))
    except ValueError:
        return None


def find_sessions(root: str | Path) -> list[Path]:
    """Every session folder under ``root`` (``root`` itself if it is one), sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    if _is_session(root):
        return [root]
    found = {p.parent for name in (META_FILE, START_FILE) for p in root.rglob(name)}
    return sorted(found)


def load_sessions(
    root: str | Path,
    subject: str | Iterable[str] | None = None,
    date_from: dt.date | str | None = None,
    date_to: dt.date | str | None = None,
    protocol: str | Iterable[str] | None = None,
    genotype: str | Iterable[str] | None = None,
    treatment: str | Iterable[str] | None = None,
    status: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """The trials of every matching session under ``root`` in one DataFrame.

    Each filter takes one value or several; dates are inclusive and compare with the day of
    the session's ``start_time``. ``status`` defaults to every session except those still
    running. The columns are ``COHORT_COLUMNS`` (``session`` is the folder relative to
    ``root``; ``date`` the start day) and then the trials.csv columns. Folders that cannot be
    read are skipped; their one-line reasons (and torn-line warnings) are in
    ``df.attrs["warnings"]`` and reported once with :func:`warnings.warn`.
    """
    root = Path(root)
    subjects, protocols = _as_set(subject), _as_set(protocol)
    genotypes, treatments, statuses = _as_set(genotype), _as_set(treatment), _as_set(status)
    d0, d1 = _as_date(date_from, "date_from"), _as_date(date_to, "date_to")
    frames: list[pd.DataFrame] = []
    notes: list[str] = []
    for folder in find_sessions(root):
        try:
            meta, damage, source, meta_notes = _metadata(folder)
        except DataError as exc:
            notes.append(f"skipped {exc}")
            continue
        notes += [f"{folder.name}: {n}" for n in meta_notes]
        if source != META_FILE:  # rebuilt: how it ended comes from the files
            meta = dict(meta)
            try:
                _infer_end(meta, read_trials(folder / "trials.csv", [], [], meta["format_version"]),
                           read_events(folder / "events.csv", [], [], meta["format_version"]))
            except DataError as exc:
                notes.append(f"skipped {exc}")
                continue
            notes.append(f"{folder.name}: {META_FILE} lost or damaged; metadata rebuilt from "
                         f"{source} (`rigctl recover` writes it)")
        subj = meta.get("subject") or {}
        start = _start(meta)
        day = start.date() if start else None
        st = effective_status(meta)
        if ((subjects is not None and subj.get("id") not in subjects)
                or (genotypes is not None and subj.get("genotype") not in genotypes)
                or (treatments is not None and subj.get("treatment") not in treatments)
                or (protocols is not None
                    and (meta.get("protocol") or {}).get("name") not in protocols)
                or (statuses is not None and st not in statuses
                    and "damaged" not in statuses)
                or (statuses is None and st == "running")
                or ((d0 is not None or d1 is not None) and day is None)
                or (d0 is not None and day is not None and day < d0)
                or (d1 is not None and day is not None and day > d1)):
            continue
        w: list[str] = []
        try:
            trials = read_trials(folder / "trials.csv", w, damage, meta["format_version"],
                                 st != "completed")
        except DataError as exc:
            notes.append(f"skipped {exc}")
            continue
        damage = recorded_damage(meta) + damage
        if damage:
            st = "damaged"
            w += [f"damaged: {d}" for d in damage]
        if statuses is not None and st not in statuses:
            continue
        notes += [f"{folder.name}: {x}" if not x.startswith(folder.name) else x for x in w]
        rel = folder.relative_to(root).as_posix() if folder != root else folder.name
        info = {
            "session": rel,
            "subject": subj.get("id"),
            "genotype": subj.get("genotype"),
            "treatment": subj.get("treatment"),
            "date": pd.Timestamp(day) if day else pd.NaT,
            "protocol": (meta.get("protocol") or {}).get("name"),
            "rig": (meta.get("rig") or {}).get("name"),
            "status": st,
        }
        for i, (k, v) in enumerate(info.items()):
            trials.insert(i, k, v)
        frames.append(trials)
    if frames:
        df = pd.concat([f for f in frames if not f.empty] or frames[:1], ignore_index=True)
    else:
        df = typed_trials(_empty(COLUMNS))
        for i, k in enumerate(COHORT_COLUMNS):
            df.insert(i, k, pd.Series(dtype="datetime64[ns]" if k == "date" else "string"))
    for k in COHORT_COLUMNS:
        if k != "date":
            df[k] = df[k].astype("string")
    df["date"] = pd.to_datetime(df["date"])
    df.attrs["warnings"] = notes
    if notes:
        _warnings.warn(f"load_sessions({root}): {len(notes)} warning(s), first: {notes[0]} "
                       "(all in df.attrs['warnings'])", stacklevel=2)
    return df
