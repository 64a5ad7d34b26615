"""A subject's persistent task state between sessions (pyControl's "persistent variables").

A task declares ``State``, a pydantic model (training stage, last reward size, side-bias
correction...). At session start its value is read from ``<data_root>/subjects/<id>/state.json``
(the model's defaults when there is none); the task reads and changes ``self.state``; at the end
it is written back atomically (a temporary file, fsync, rename) and one line is appended to
``history.jsonl`` beside it (session folder, status, the state before and after).

Which ends save it: every session that ended without an exception, completed or stopped by the
operator (the stage a mouse reached in 30 trials is real). After an exception (a bug in the task,
a device fault, a full disk) the state is *not* saved, because the task may have changed it half
way; the previous state.json stays, and ``history.jsonl`` gets a line saying so when it can be
written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from rigctl.errors import ConfigError, DataError

STATE_FILE, HISTORY_FILE = "state.json", "history.jsonl"


def subject_dir(data_root: Path, subject: str) -> Path:
    return Path(data_root) / "subjects" / subject


def read_state(model: type[BaseModel], data_root: Path, subject: str) -> BaseModel:
    """The subject's saved state, or the model's defaults; ConfigError naming the file and
    the field when the file is not valid."""
    from rigctl.config.loading import format_validation_error

    path = subject_dir(data_root, subject) / STATE_FILE
    if not path.exists():
        return model()
    fix = "fix it, or delete it to start from the task's defaults"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), [f"line {exc.lineno}: not valid JSON ({exc.msg}); {fix}"]
                          ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot be read ({exc}); {fix}"]) from None
    if not isinstance(data, dict) or not isinstance(data.get("state"), dict):
        raise ConfigError(str(path), [f"state: a mapping is expected; {fix}"])
    try:
        return model.model_validate(data["state"])
    except ValidationError as exc:
        raise ConfigError(str(path), [f"{p}; {fix}" for p in
                                      format_validation_error(exc, "state")]) from None


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def append_history(data_root: Path, subject: str, line: dict[str, Any]) -> None:
    folder = subject_dir(data_root, subject)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / HISTORY_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
        f.flush()
        os.fsync(f.fileno())


def save_state(state: BaseModel, before: dict[str, Any], data_root: Path, subject: str,
               session: Path, status: str) -> Path:
    """Write state.json atomically and append the session's line to history.jsonl."""
    folder = subject_dir(data_root, subject)
    now = dt.datetime.now().isoformat(timespec="seconds")
    after = state.model_dump(mode="json")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(folder / STATE_FILE, json.dumps(
            {"subject": subject, "saved": now, "session": str(session), "state": after},
            indent=2) + "\n")
        append_history(data_root, subject, {"saved": now, "session": str(session),
                                            "status": status, "before": before,
                                            "after": after})
    except OSError as exc:
        raise DataError(f"{folder / STATE_FILE}: the subject's state was not saved "
                        f"({exc.strerror or exc}); the session's data are complete") from None
    return folder / STATE_FILE
