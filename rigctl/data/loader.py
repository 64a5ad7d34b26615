"""Read a session folder back: metadata, trials and events as pandas DataFrames.

A session that is still being written, or whose process died, loads too: every complete row is
returned, a torn last line is dropped with a warning, and ``status`` says what happened.
"""

from __future__ import annotations

import io
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rigctl.data.writer import EVENT_COLUMNS, FORMAT_VERSION
from rigctl.errors import DataError
from rigctl.protocols.trial import COLUMNS

_INT_COLS = {"trial": "Int64", "correction": "Int64", "correct": "Int64"}
_STR_COLS = ("trial_type", "stim_mode", "correct_side", "choice", "outcome")


@dataclass
class SessionData:
    path: Path
    metadata: dict[str, Any]
    trials: pd.DataFrame
    events: pd.DataFrame
    status: str
    warnings: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """True when the session ended on its own terms (completed or aborted cleanly)."""
        return self.status in ("completed", "aborted")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def effective_status(meta: dict[str, Any]) -> str:
    """``running`` only while the writing process lives; otherwise a running session crashed."""
    status = meta.get("status", "crashed")
    if status != "running":
        return status
    same_host = meta.get("host") == socket.gethostname()
    if same_host and isinstance(meta.get("pid"), int) and _pid_alive(meta["pid"]):
        return "running"
    return "crashed"


def _read_complete_lines(path: Path, warnings: list[str]) -> str:
    data = path.read_bytes().decode("utf-8", errors="replace")
    if data and not data.endswith("\n"):
        cut = data.rfind("\n") + 1
        warnings.append(f"{path.name}: dropped an incomplete last line ({len(data) - cut} bytes)")
        data = data[:cut]
    return data


def load_session(path: str | Path) -> SessionData:
    """Load one session folder; DataError (one line) if it is not a readable session."""
    folder = Path(path)
    meta_path = folder / "session.json"
    if not meta_path.is_file():
        raise DataError(f"{folder}: not a session folder (no session.json)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{meta_path}: unreadable ({exc})") from None
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise DataError(
            f"{folder}: written by a newer rigctl (format {version!r}, this reads up to "
            f"{FORMAT_VERSION}); upgrade rigctl"
        )
    warnings: list[str] = []
    status = effective_status(meta)
    if status in ("running", "crashed"):
        warnings.append(f"{folder.name}: session is unfinished (status {status})")

    trials = pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    tpath = folder / "trials.csv"
    if tpath.is_file():
        text = _read_complete_lines(tpath, warnings)
        if text.strip():
            trials = pd.read_csv(io.StringIO(text), dtype={c: "string" for c in _STR_COLS})
            for col, dtype in _INT_COLS.items():
                if col in trials:
                    trials[col] = trials[col].astype(dtype)
    events = pd.DataFrame({c: pd.Series(dtype="object") for c in EVENT_COLUMNS})
    epath = folder / "events.csv"
    if epath.is_file():
        text = _read_complete_lines(epath, warnings)
        if text.strip():
            events = pd.read_csv(io.StringIO(text), dtype={"value": "string", "name": "string",
                                                            "kind": "string"},
                                 keep_default_na=False)
    return SessionData(folder, meta, trials, events, status, warnings)
