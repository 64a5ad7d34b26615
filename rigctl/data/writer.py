"""Crash-safe session writer (DESIGN.md "Data").

- ``session.json`` is replaced atomically (write, fsync, rename), so it is always either the old
  or the new version, never half of one. It says ``running`` from the first moment; a session
  whose process died is recognised by the loader because its recorded pid is gone.
- ``trials.csv`` gets one row per trial, flushed and fsynced when the trial ends, so a killed
  process loses at most the trial in progress.
- ``events.csv`` is appended as events happen and fsynced with every trial.
- ``signals.bin`` (optional, see :mod:`rigctl.data.signals`) is opened by the engine with
  :meth:`SessionWriter.open_signals`, fsynced with every trial and closed with the session;
  so is each named analog input's ``analog_<name>.bin`` (:meth:`SessionWriter.open_analog`,
  :mod:`rigctl.data.analog`).
- ``session.json`` records provenance (versions, git commit, exact config text) so a session can
  be reproduced from its folder alone.

Integrity (format 3, see :mod:`rigctl.data.integrity` and :mod:`rigctl.data.metadata`): every
row of trials.csv and events.csv ends with its CRC-32 (``crc`` column), ``signals.bin`` gets
per-block checksums in ``signals.crc``, ``session.json`` carries its own checksum and a reserve
for a full disk, ``session.start.json`` keeps the start metadata for a rebuild, and the writer's
``pid_start`` tells it from a later process that got the same pid.

Every name written here is declared in :mod:`rigctl.data.schema` and documented in
docs/data-format.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import rigctl
from rigctl.data.analog import analog_file
from rigctl.data.frames import FramesWriter
from rigctl.data.integrity import CRC_COLUMN, RowFormatter
from rigctl.data.liveness import process_start
from rigctl.data.metadata import (
    META_FILE,
    NO_SPACE,
    RESERVE,
    START_FILE,
    write_metadata,
)
from rigctl.data.provenance import provenance
from rigctl.data.schema import EVENT_COLUMNS, FORMAT_VERSION
from rigctl.data.signals import SIGNALS_FILE, SignalWriter
from rigctl.errors import DataError
from rigctl.protocols.trial import TrialRecord, columns_of

__all__ = ["EVENT_COLUMNS", "FORMAT_VERSION", "SessionWriter", "create_session",
           "disk_full_message", "fmt", "session_folder", "write_json_atomic"]


def fmt(value: Any) -> str:
    """Deterministic text for a CSV cell: '' for missing, times to the microsecond."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def _slug(text: str) -> str:
    """``text`` as a folder-name part: letters, digits and '-' only."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "rig"


def session_folder(root: Path, subject: str, protocol: str, started: dt.datetime,
                   rig: str | None = None, n: int = 1) -> Path:
    """``<root>/<subject>/<YYYYMMDD-HHMMSS>[-<n>][_<rig>]_<protocol>``: the rig name keeps two
    rigs that share a data folder apart, ``n`` (from 2) two sessions of one rig in one second."""
    name = f"{started:%Y%m%d-%H%M%S}" + (f"-{n}" if n > 1 else "")
    if rig:
        name += f"_{_slug(rig)}"
    return Path(root) / subject / f"{name}_{protocol}"


def create_session(root: Path, subject: str, protocol: str, rig: str | None,
                   metadata: dict[str, Any], started: dt.datetime | None = None,
                   trial_type: type = TrialRecord) -> SessionWriter:
    """A :class:`SessionWriter` in a new, unique session folder: the first of ``..._<rig>``,
    ``..._<rig>-2``, ... that does not exist yet (``mkdir`` decides, so two processes racing
    for one name each get their own)."""
    started = started or dt.datetime.now()
    for n in range(1, 1000):
        try:
            return SessionWriter(session_folder(root, subject, protocol, started, rig, n),
                                 metadata, trial_type)
        except FileExistsError:
            continue
    raise DataError(f"{session_folder(root, subject, protocol, started, rig)}: 999 sessions "
                    "in one second; refusing to make more")


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace the JSON file at ``path`` atomically, with its checksum (see
    :mod:`rigctl.data.metadata`)."""
    write_metadata(path, data)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def disk_full_message(path: Path, exc: OSError, needed: int) -> str:
    """The operator's one line for a write to ``path`` that failed for lack of space: what,
    where, and how much room the rest of the session needs."""
    if exc.errno == errno.EFBIG:
        return (f"file-size limit reached: cannot write {exc.filename or path} "
                f"({exc.strerror}); raise the limit (ulimit -f) or free at least "
                f"{_size(needed)}, and run the session again")
    return (f"disk full: cannot write {exc.filename or path} ({exc.strerror}); free at least "
            f"{_size(needed)} on {_mount_point(Path(path))} (or choose another --data folder) "
            "and run the session again")


class SessionWriter:
    """Creates the session folder and owns its files until ``close``."""

    def __init__(self, folder: Path, metadata: dict[str, Any],
                 trial_type: type = TrialRecord) -> None:
        self.columns = columns_of(trial_type)  # the task's declared trial record
        self.folder = Path(folder)
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            self.folder.mkdir()
        except FileExistsError as exc:
            # A DataError that is also a FileExistsError, so create_session can try the next
            # name while other callers get the one-line message.
            raise FolderExistsError(
                f"session folder {self.folder} already exists (wait a second or use another "
                "--subject / --data)"
            ) from exc
        except OSError as exc:
            raise DataError(
                f"cannot create session folder {self.folder}: {exc.strerror} (choose a writable "
                "--data folder)"
            ) from None
        self.metadata = {
            "format_version": FORMAT_VERSION,
            "rigctl_version": rigctl.__version__,
            **metadata,
            "provenance": {**provenance(metadata), **(metadata.get("provenance") or {})},
            "status": "running",
            "pid": os.getpid(),
            "pid_start": process_start(os.getpid()),
            "host": socket.gethostname(),
            "start_time": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "end_time": None,
            "n_trials": 0,
            "reason": "",
        }
        self.n_trials = 0
        self.closed = False
        self.signals: SignalWriter | None = None
        self.frames: dict[str, FramesWriter] = {}  # frame-clock inputs, by name
        self.analog: dict[str, SignalWriter] = {}  # analog_<name>.bin, by input name
        self._rows = RowFormatter()
        try:
            write_metadata(self.folder / START_FILE, self.metadata)
            write_metadata(self.folder / META_FILE, self.metadata, reserve=RESERVE)
            # Both files stay open for the whole session and are closed in close().
            self._trials_f = open(self.folder / "trials.csv", "w", newline="",  # noqa: SIM115
                                  encoding="utf-8")
            self._events_f = open(self.folder / "events.csv", "w", newline="",  # noqa: SIM115
                                  encoding="utf-8")
        except OSError as exc:
            self._remove_partial()
            if exc.errno in NO_SPACE:
                raise DataError(disk_full_message(self.folder, exc, 1_000_000)) from None
            raise DataError(f"cannot write in {self.folder}: {exc.strerror}") from None
        self._trials_f.write(",".join((*self.columns, CRC_COLUMN)) + "\n")
        self._events_f.write(",".join((*EVENT_COLUMNS, CRC_COLUMN)) + "\n")
        self._sync()

    def _remove_partial(self) -> None:
        """A folder that could not even be started holds nothing worth keeping: remove it, so a
        full disk leaves no half-made session behind."""
        for name in (START_FILE, META_FILE, f"{META_FILE}.tmp", f"{START_FILE}.tmp",
                     "trials.csv", "events.csv"):
            with contextlib.suppress(OSError):
                (self.folder / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.folder.rmdir()

    def _needed(self) -> int:
        """Bytes the rest of the session would need: what a trial took so far times the
        trials still planned (at least one trial's worth, at least 1 MB)."""
        try:
            used = sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())
        except OSError:
            used = 0
        params = (self.metadata.get("protocol") or {}).get("parameters") or {}
        planned = params.get("n_trials") if isinstance(params, dict) else None
        left = planned - self.n_trials if isinstance(planned, int) else 1
        per_trial = used / max(self.n_trials, 1)
        return max(int(per_trial * max(left, 1)), 1_000_000)

    def log_event(self, t: float, kind: str, name: str, value: str,
                  device_t: float | None = None) -> None:
        """Append one event line (durable at the next trial end); ``device_t`` is the device's
        own timestamp of an input, when it has a clock."""
        try:
            self._events_f.write(self._rows.line((fmt(t), kind, name, value, fmt(device_t))))
        except OSError as exc:  # the buffer was full and could not be written
            raise self._write_error(Path(self._events_f.name), exc) from None

    def open_signals(self, channels: Sequence[str], rate_hz: float,
                     t0_s: float = 0.0) -> SignalWriter:
        """Create ``signals.bin`` for ``channels`` at ``rate_hz``; the session then flushes it
        with every trial and closes it in :meth:`close`. One per session."""
        if self.closed:
            raise DataError(f"{self.folder}: session is closed; cannot open signals")
        if self.signals is not None:
            raise DataError(f"{self.folder / SIGNALS_FILE}: signals are already open")
        self.signals = SignalWriter(
            self.folder / SIGNALS_FILE, channels, rate_hz, t0_s,
            no_space=lambda exc: disk_full_message(self.folder / SIGNALS_FILE, exc,
                                                   self._needed()))
        return self.signals

    def open_frames(self, name: str, channel: str) -> FramesWriter:
        """Create ``frames_<name>.bin`` for frame-clock input ``name``; flushed with every
        trial, closed (and its count put in session.json's ``frames``) in :meth:`close`."""
        if self.closed or name in self.frames:
            raise DataError(f"{self.folder}: frames of {name!r} cannot be opened now")
        self.frames[name] = FramesWriter(self.folder, name, channel)
        return self.frames[name]
    def open_analog(self, name: str, rate_hz: float, t0_s: float,
                    unit: str = "") -> SignalWriter:
        """Create ``analog_<name>.bin`` (one channel, ``name``) whose first sample is at
        ``t0_s``; flushed with every trial (and by its recorder) and closed in :meth:`close`.
        One per input."""
        path = self.folder / analog_file(name)
        if self.closed:
            raise DataError(f"{self.folder}: session is closed; cannot open {path.name}")
        if name in self.analog:
            raise DataError(f"{path}: already open")
        writer = SignalWriter(
            path, (name,), rate_hz, t0_s, units={name: unit} if unit else None,
            no_space=lambda exc: disk_full_message(path, exc, self._needed()))
        self.analog[name] = writer
        return writer

    def write_trial(self, rec: TrialRecord) -> None:
        """Append the trial and make it durable before returning."""
        row = asdict(rec)
        try:
            self._trials_f.write(self._rows.line([fmt(row[c]) for c in self.columns]))
        except OSError as exc:
            raise self._write_error(Path(self._trials_f.name), exc) from None
        self.n_trials += 1
        self._sync()

    def _sync(self) -> None:
        """Events and signals first, the trial row last: a trial that is on disk has its events
        and samples on disk too."""
        where = self.folder
        try:
            if self.signals is not None:
                self.signals.flush()
            for fw in self.frames.values():
                fw.flush()
            for analog in self.analog.values():
                analog.flush()
            for f in (self._events_f, self._trials_f):
                where = Path(f.name)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise self._write_error(where, exc) from None

    def _write_error(self, where: Path, exc: OSError) -> DataError:
        if exc.errno in NO_SPACE:
            return DataError(disk_full_message(where, exc, self._needed()))
        return DataError(f"cannot write to {where}: {exc.strerror} (disk removed?)")

    def close(self, status: str, reason: str = "") -> None:
        """Flush everything and record the final status; safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        errors = []
        for sig in (self.signals, *self.analog.values()):
            if sig is None:
                continue
            try:
                sig.close()
            except (DataError, OSError) as exc:
                errors.append(str(exc))
        for fw in self.frames.values():
            try:
                fw.close()
            except (DataError, OSError) as exc:
                errors.append(str(exc))
        if self.frames:
            self.metadata["frames"] = {n: fw.n for n, fw in self.frames.items()}
        for f in (self._events_f, self._trials_f):
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as exc:
                errors.append(str(exc))
            finally:
                # Whatever could not be written is lost either way; close the file without
                # trying to write its buffer a second time.
                with contextlib.suppress(OSError):
                    f.close()
        self.metadata.update(
            status=status,
            reason=reason if not errors else f"{reason}; write errors: {'; '.join(errors)}",
            end_time=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            n_trials=self.n_trials,
        )
        try:
            write_metadata(self.folder / META_FILE, self.metadata, reserve=RESERVE)
        except OSError as exc:
            raise DataError(f"cannot update {self.folder / META_FILE}: {exc.strerror}; the "
                            "session's final status is not recorded (`rigctl recover` "
                            "marks it)") from None


class FolderExistsError(DataError, FileExistsError):
    """The session folder exists already."""
