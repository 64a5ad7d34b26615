"""Read session folders back: one session in full, or a cohort's trials in one DataFrame.

A session that is still being written, or whose process died, loads too: every complete row is
returned, a torn last line (or signals record) is dropped with a warning, and ``status`` says
what happened. Anything that is not a readable session is a one-line :class:`DataError`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import socket
import warnings as _warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from rigctl.data.schema import EVENT_COLUMNS, FORMAT_VERSION
from rigctl.data.signals import (
    SIGNALS_FILE,
    SignalsData,
    SignalsHeader,
    read_header,
    read_signals,
    torn_warning,
)
from rigctl.errors import DataError
from rigctl.protocols.trial import COLUMNS

_INT_COLS = MappingProxyType({"trial": "Int64", "correction": "Int64", "correct": "Int64",
                              "laser_blocked": "Int64"})
_STR_COLS = ("trial_type", "stim_mode", "correct_side", "choice", "outcome")
_FLOAT_COLS = tuple(c for c in COLUMNS if c not in _INT_COLS and c not in _STR_COLS)
#: Columns load_sessions puts before the trial columns.
COHORT_COLUMNS = ("session", "subject", "genotype", "treatment", "date", "protocol", "rig",
                  "status")


@dataclass
class SessionData:
    """One session: metadata, trials and events as DataFrames, signals on first access."""

    path: Path
    metadata: dict[str, Any]
    trials: pd.DataFrame
    events: pd.DataFrame
    status: str
    warnings: list[str] = field(default_factory=list)
    signals_header: SignalsHeader | None = None
    _signals: SignalsData | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        """True when the session ended on its own terms (completed or aborted cleanly)."""
        return self.status in ("completed", "aborted")

    @property
    def signals(self) -> SignalsData | None:
        """The continuous traces (None when the session recorded none); read on first access,
        so loading many sessions for their trials never reads their signals."""
        if self._signals is None and self.signals_header is not None:
            self._signals = read_signals(self.signals_header.path)
        return self._signals

    @property
    def subject(self) -> dict[str, Any]:
        return dict(self.metadata.get("subject") or {})


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def effective_status(meta: dict[str, Any]) -> str:
    """``running`` only while the writing process lives; otherwise a running session crashed."""
    status = meta.get("status", "crashed")
    if status != "running":
        return status
    if writer_alive(meta):
        return "running"
    return "crashed"


def writer_alive(meta: dict[str, Any]) -> bool:
    """True when the process that wrote ``meta`` is still alive on this host."""
    same_host = meta.get("host") == socket.gethostname()
    return bool(same_host and isinstance(meta.get("pid"), int) and _pid_alive(meta["pid"]))


def _read_complete_lines(path: Path, warnings: list[str]) -> str:
    data = path.read_bytes().decode("utf-8", errors="replace")
    if data and not data.endswith("\n"):
        cut = data.rfind("\n") + 1
        warnings.append(f"{path.name}: dropped an incomplete last line ({len(data) - cut} bytes)")
        data = data[:cut]
    return data


def read_metadata(folder: str | Path) -> dict[str, Any]:
    """``session.json`` of ``folder``, checked: DataError (one line) if it is not a session."""
    folder = Path(folder)
    meta_path = folder / "session.json"
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    if not meta_path.is_file():
        raise DataError(f"{folder}: not a session folder (no session.json)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{meta_path}: unreadable ({exc})".splitlines()[0]) from None
    if not isinstance(meta, dict):
        raise DataError(f"{meta_path}: unreadable (not a JSON object)")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise DataError(
            f"{folder}: written by a newer rigctl (format {version!r}, this reads up to "
            f"{FORMAT_VERSION}); upgrade rigctl"
        )
    return meta


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


Schema = list[dict[str, str]]


def read_trials(path: Path, warnings: list[str], schema: Schema | None = None) -> pd.DataFrame:
    """trials.csv with documented dtypes (Int64 for trial/correction/correct, string, float),
    or those of the task's declared trial record (``trial_schema`` in session.json)."""
    if schema:
        return _read_declared(path, warnings, schema)
    trials = _empty(COLUMNS)
    if path.is_file():
        text = _read_complete_lines(path, warnings)
        if text.strip():
            try:
                trials = pd.read_csv(io.StringIO(text), dtype={c: "string" for c in _STR_COLS})
            except (pd.errors.ParserError, ValueError) as exc:
                raise DataError(f"{path}: unreadable ({exc})".splitlines()[0]) from None
    try:
        return typed_trials(trials)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: unreadable ({exc})".splitlines()[0]) from None


def _read_declared(path: Path, warnings: list[str], schema: Schema) -> pd.DataFrame:
    """A task's own trials table: its declared columns, in order, with their dtypes."""
    names = [c["name"] for c in schema]
    trials = _empty(names)
    if path.is_file():
        text = _read_complete_lines(path, warnings)
        if text.strip():
            strings = {c["name"]: "string" for c in schema if c.get("dtype") == "string"}
            try:
                trials = pd.read_csv(io.StringIO(text), dtype=strings)
            except (pd.errors.ParserError, ValueError) as exc:
                raise DataError(f"{path}: unreadable ({exc})".splitlines()[0]) from None
    try:
        for c in schema:
            name, dtype = c["name"], c.get("dtype", "string")
            if name not in trials:
                trials[name] = pd.NA
            if dtype == "float64":
                values = trials[name].astype(object).where(trials[name].notna(), None)
                trials[name] = pd.to_numeric(values).astype(float)
            else:
                trials[name] = trials[name].astype(dtype)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: unreadable ({exc})".splitlines()[0]) from None
    return trials[names].reset_index(drop=True)


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
            trials[col] = trials[col].astype(dtype)
    for col in _STR_COLS:
        trials[col] = trials[col].astype("string")
    for col in _FLOAT_COLS:
        if trials[col].dtype != "float64":
            values = trials[col].astype(object).where(trials[col].notna(), None)
            trials[col] = pd.to_numeric(values).astype(float)
    return trials[list(COLUMNS)].reset_index(drop=True)


def read_events(path: Path, warnings: list[str]) -> pd.DataFrame:
    """events.csv; ``device_t_s`` (format 2) is added as NaN for format-1 sessions."""
    events = _empty(EVENT_COLUMNS)
    if path.is_file():
        text = _read_complete_lines(path, warnings)
        if text.strip():
            try:
                events = pd.read_csv(io.StringIO(text),
                                     dtype={"value": "string", "name": "string",
                                            "kind": "string"},
                                     keep_default_na=False, na_values={"device_t_s": [""]})
            except (pd.errors.ParserError, ValueError) as exc:
                raise DataError(f"{path}: unreadable ({exc})".splitlines()[0]) from None
    for col in EVENT_COLUMNS:
        if col not in events:
            events[col] = pd.NA
    try:
        for col in ("t_s", "device_t_s"):
            events[col] = pd.to_numeric(events[col]).astype(float)
        for col in ("kind", "name", "value"):
            events[col] = events[col].astype("string")
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: unreadable ({exc})".splitlines()[0]) from None
    return events[list(EVENT_COLUMNS)]


def load_session(path: str | Path, events: bool = True) -> SessionData:
    """Load one session folder; DataError (one line) if it is not a readable session.

    ``events=False`` skips events.csv (the largest file) for callers that need only trials.
    """
    folder = Path(path)
    meta = read_metadata(folder)
    warnings: list[str] = []
    status = effective_status(meta)
    if status in ("running", "crashed"):
        warnings.append(f"{folder.name}: session is unfinished (status {status})")
    trials = read_trials(folder / "trials.csv", warnings, meta.get("trial_schema"))
    ev = read_events(folder / "events.csv", warnings) if events else _empty(EVENT_COLUMNS)
    header = None
    spath = folder / SIGNALS_FILE
    if spath.is_file():
        # A damaged signals file must not cost the trials: warn and load without it.
        try:
            header = read_header(spath)
        except DataError as exc:
            warnings.append(f"{SIGNALS_FILE} ignored: {exc}")
        else:
            if header.torn_bytes:
                warnings.append(torn_warning(header))
    return SessionData(folder, meta, trials, ev, status, warnings, header)


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
    if (root / "session.json").is_file():
        return [root]
    return sorted(p.parent for p in root.rglob("session.json"))


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
            meta = read_metadata(folder)
        except DataError as exc:
            notes.append(f"skipped {exc}")
            continue
        subj = meta.get("subject") or {}
        start = _start(meta)
        day = start.date() if start else None
        st = effective_status(meta)
        if ((subjects is not None and subj.get("id") not in subjects)
                or (genotypes is not None and subj.get("genotype") not in genotypes)
                or (treatments is not None and subj.get("treatment") not in treatments)
                or (protocols is not None
                    and (meta.get("protocol") or {}).get("name") not in protocols)
                or (statuses is not None and st not in statuses)
                or (statuses is None and st == "running")
                or ((d0 is not None or d1 is not None) and day is None)
                or (d0 is not None and day is not None and day < d0)
                or (d1 is not None and day is not None and day > d1)):
            continue
        w: list[str] = []
        try:
            trials = read_trials(folder / "trials.csv", w)
        except DataError as exc:
            notes.append(f"skipped {exc}")
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
