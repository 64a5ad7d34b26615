"""Crash-safe session writer (DESIGN.md "Data").

- ``session.json`` is replaced atomically (write, fsync, rename), so it is always either the old
  or the new version, never half of one. It says ``running`` from the first moment; a session
  whose process died is recognised by the loader because its recorded pid is gone.
- ``trials.csv`` gets one row per trial, flushed and fsynced when the trial ends, so a killed
  process loses at most the trial in progress.
- ``events.csv`` is appended as events happen and fsynced with every trial.
- ``signals.bin`` (optional, see :mod:`rigctl.data.signals`) is opened by the engine with
  :meth:`SessionWriter.open_signals`, fsynced with every trial and closed with the session.
- ``session.json`` records provenance (versions, git commit, exact config text) so a session can
  be reproduced from its folder alone.

Every name written here is declared in :mod:`rigctl.data.schema` and documented in
docs/data-format.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import rigctl
from rigctl.data.durable import fsync_dir
from rigctl.data.provenance import provenance
from rigctl.data.schema import EVENT_COLUMNS, FORMAT_VERSION
from rigctl.data.signals import SIGNALS_FILE, SignalWriter
from rigctl.errors import DataError
from rigctl.protocols.trial import TrialRecord, columns_of

__all__ = ["EVENT_COLUMNS", "FORMAT_VERSION", "SessionWriter", "fmt", "session_folder",
           "write_json_atomic"]


def fmt(value: Any) -> str:
    """Deterministic text for a CSV cell: '' for missing, times to the microsecond."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def session_folder(root: Path, subject: str, protocol: str, started: dt.datetime) -> Path:
    return Path(root) / subject / f"{started:%Y%m%d-%H%M%S}_{protocol}"


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)




class SessionWriter:
    """Creates the session folder and owns its files until ``close``."""

    def __init__(self, folder: Path, metadata: dict[str, Any],
                 trial_type: type = TrialRecord) -> None:
        self.folder = Path(folder)
        self.columns = columns_of(trial_type)  # the task's declared trial record
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            self.folder.mkdir()
        except FileExistsError:
            raise DataError(
                f"session folder {self.folder} already exists (wait a second or use another "
                "--subject / --data)"
            ) from None
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
            "host": socket.gethostname(),
            "start_time": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "end_time": None,
            "n_trials": 0,
            "reason": "",
        }
        self.n_trials = 0
        self.closed = False
        self.signals: SignalWriter | None = None
        try:
            write_json_atomic(self.folder / "session.json", self.metadata)
            # Both files stay open for the whole session and are closed in close().
            self._trials_f = open(self.folder / "trials.csv", "w", newline="",  # noqa: SIM115
                                  encoding="utf-8")
            self._events_f = open(self.folder / "events.csv", "w", newline="",  # noqa: SIM115
                                  encoding="utf-8")
        except OSError as exc:
            raise DataError(f"cannot write in {self.folder}: {exc.strerror}") from None
        self._trials = csv.writer(self._trials_f, lineterminator="\n")
        self._events = csv.writer(self._events_f, lineterminator="\n")
        self._trials.writerow(self.columns)
        self._events.writerow(EVENT_COLUMNS)
        self._sync()

    def log_event(self, t: float, kind: str, name: str, value: str,
                  device_t: float | None = None) -> None:
        """Append one event line (durable at the next trial end); ``device_t`` is the device's
        own timestamp of an input, when it has a clock."""
        self._events.writerow((fmt(t), kind, name, value, fmt(device_t)))

    def open_signals(self, channels: Sequence[str], rate_hz: float,
                     t0_s: float = 0.0) -> SignalWriter:
        """Create ``signals.bin`` for ``channels`` at ``rate_hz``; the session then flushes it
        with every trial and closes it in :meth:`close`. One per session."""
        if self.closed:
            raise DataError(f"{self.folder}: session is closed; cannot open signals")
        if self.signals is not None:
            raise DataError(f"{self.folder / SIGNALS_FILE}: signals are already open")
        self.signals = SignalWriter(self.folder / SIGNALS_FILE, channels, rate_hz, t0_s)
        return self.signals

    def write_trial(self, rec: TrialRecord) -> None:
        """Append the trial and make it durable before returning."""
        row = asdict(rec)
        self._trials.writerow([fmt(row[c]) for c in self.columns])
        self.n_trials += 1
        self._sync()

    def _sync(self) -> None:
        """Events and signals first, the trial row last: a trial that is on disk has its events
        and samples on disk too."""
        if self.signals is not None:
            self.signals.flush()
        try:
            for f in (self._events_f, self._trials_f):
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise DataError(
                f"cannot write to {self.folder}: {exc.strerror} (disk full or removed?); "
                "session stopped"
            ) from None

    def close(self, status: str, reason: str = "") -> None:
        """Flush everything and record the final status; safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        errors = []
        if self.signals is not None:
            try:
                self.signals.close()
            except (DataError, OSError) as exc:
                errors.append(str(exc))
        for f in (self._events_f, self._trials_f):
            try:
                f.flush()
                os.fsync(f.fileno())
                f.close()
            except OSError as exc:
                errors.append(str(exc))
        self.metadata.update(
            status=status,
            reason=reason if not errors else f"{reason}; write errors: {'; '.join(errors)}",
            end_time=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            n_trials=self.n_trials,
        )
        try:
            write_json_atomic(self.folder / "session.json", self.metadata)
        except OSError as exc:
            raise DataError(f"cannot update {self.folder / 'session.json'}: {exc}") from None
