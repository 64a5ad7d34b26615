"""Close a session whose process died: keep every complete record, mark it ``crashed``.

A killed writer leaves ``status: running`` in session.json and possibly a torn last line in
trials.csv/events.csv or a torn last record in signals.bin. Recovery makes the folder a normal
finished session again, so it exports and loads without warnings, while losing nothing: each
file that is cut keeps its torn original as ``<name>.bak``, and session.json says what was
dropped. Only a session that is certainly dead is touched: one still running, written on another
host, or already finished is refused.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import rigctl
from rigctl.data.loader import read_metadata, writer_alive
from rigctl.data.signals import SIGNALS_FILE, read_header
from rigctl.data.writer import write_json_atomic
from rigctl.errors import DataError

TEXT_FILES = ("trials.csv", "events.csv")


@dataclass
class RecoverReport:
    """What recovery did: the trials kept and, per file, the bytes dropped."""

    folder: Path
    n_trials: int
    dropped: dict[str, int] = field(default_factory=dict)
    backups: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.folder}: marked crashed; {self.n_trials} complete trials kept"]
        for name, n in self.dropped.items():
            out.append(f"  {name}: dropped a torn last record ({n} bytes; original in "
                       f"{name}.bak)")
        return out


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _backup_and_cut(path: Path, keep: int) -> Path:
    """Copy ``path`` to ``<path>.bak`` (durably), then truncate it to ``keep`` bytes."""
    bak = path.with_name(path.name + ".bak")
    shutil.copyfile(path, bak)
    _fsync(bak)
    os.truncate(path, keep)
    _fsync(path)
    return bak


def _complete_length(path: Path) -> int:
    """Bytes up to and including the last newline."""
    data = path.read_bytes()
    return data.rfind(b"\n") + 1


def _count_rows(path: Path) -> int:
    if not path.is_file():
        return 0
    with open(path, "rb") as f:
        return max(0, sum(1 for _ in f) - 1)


def recover_session(folder: str | Path, force: bool = False) -> RecoverReport:
    """Recover a crashed session in place; DataError (one line) when it must not be touched.

    ``force`` skips the liveness check for a session written on another host (the caller
    knows that process is gone).
    """
    folder = Path(folder)
    meta = read_metadata(folder)
    status = meta.get("status")
    if status != "running":
        what = "was already recovered" if status == "crashed" else "already finished"
        raise DataError(f"{folder}: nothing to recover: session {what} (status {status})")
    if writer_alive(meta):
        raise DataError(f"{folder}: session is still running (pid {meta.get('pid')}); "
                        "stop it first")
    if not force and meta.get("host") != _hostname():
        raise DataError(f"{folder}: written on host {meta.get('host')!r}, cannot tell whether "
                        "it still runs there; recover it there or pass --force")
    report = RecoverReport(folder, 0)
    try:
        for name in TEXT_FILES:
            path = folder / name
            if not path.is_file():
                continue
            size = path.stat().st_size
            keep = _complete_length(path)
            if keep < size:
                report.backups.append(_backup_and_cut(path, keep))
                report.dropped[name] = size - keep
        spath = folder / SIGNALS_FILE
        if spath.is_file():
            header = read_header(spath)
            if header.torn_bytes:
                keep = header.data_offset + header.n_samples * header.record_size
                report.backups.append(_backup_and_cut(spath, keep))
                report.dropped[SIGNALS_FILE] = header.torn_bytes
        for leftover in ("session.json.tmp", f"{SIGNALS_FILE}.tmp"):
            # Half-written replacements of ours: the real files are intact without them.
            (folder / leftover).unlink(missing_ok=True)
        report.n_trials = _count_rows(folder / "trials.csv")
        last = max((p.stat().st_mtime for p in folder.iterdir() if p.is_file()
                    and not p.name.endswith(".bak")), default=None)
    except OSError as exc:
        raise DataError(f"{folder}: cannot recover: {exc.strerror or exc}") from None
    meta.update(
        status="crashed",
        n_trials=report.n_trials,
        end_time=(dt.datetime.fromtimestamp(last).astimezone().isoformat(timespec="seconds")
                  if last is not None else None),
        reason=meta.get("reason") or "process ended without closing the session",
        recovered={
            "time": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "rigctl_version": rigctl.__version__,
            "dropped_bytes": dict(report.dropped),
            "end_time_from": "last modification of the session's files",
        },
    )
    try:
        write_json_atomic(folder / "session.json", meta)
    except OSError as exc:
        raise DataError(f"cannot update {folder / 'session.json'}: {exc.strerror}") from None
    return report


def _hostname() -> str:
    import socket

    return socket.gethostname()
