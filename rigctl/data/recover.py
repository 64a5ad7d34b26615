"""Repair a session folder: close a crashed session, cut damage out, rebuild a lost session.json.

A killed writer leaves ``status: running`` in session.json and possibly a torn last line in
trials.csv/events.csv or a torn last record in signals.bin. Damage (a changed, inserted or
deleted byte anywhere) leaves rows that fail their checksum, a signals block that fails its
checksum, or a session.json that no longer parses. Recovery makes the folder a normal session
again, losing nothing that was intact:

- each CSV file with a torn or damaged line is rewritten with exactly the rows the loader keeps
  (:func:`rigctl.data.loader.intact_lines`), its original kept as ``<name>.bak``;
- a torn last signals record is cut (original in ``signals.bin.bak``); a damaged block cannot be
  repaired and stays (it reads as NaN, and is reported);
- a lost or damaged session.json is rebuilt from ``session.start.json`` (or the folder name) and
  what the files say about the end (the original, if any, kept as ``session.json.bak``);
- session.json records in ``recovered`` what was dropped and every damaged part, so the loader
  goes on reporting exactly what this report said.

Only a session that is certainly not being written is touched: one still running, or written on
another host (without ``force``), is refused, and so is one with nothing to repair.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

import rigctl
from rigctl.data.analog import analog_files
from rigctl.data.frames import frame_inputs, frames_file, read_frames
from rigctl.data.integrity import CRC_COLUMN, Damage
from rigctl.data.liveness import writer_alive
from rigctl.data.loader import (
    _is_session,
    _metadata,
    intact_lines,
    load_session,
    recorded_damage,
)
from rigctl.data.metadata import META_FILE, START_FILE, write_metadata
from rigctl.data.schema import EVENT_COLUMNS
from rigctl.data.signals import CRC_FILE, SIGNALS_FILE, read_header
from rigctl.errors import DataError
from rigctl.protocols.trial import COLUMNS

TEXT_FILES = ("trials.csv", "events.csv")
_HEADERS = {"trials.csv": COLUMNS, "events.csv": EVENT_COLUMNS}


@dataclass
class RecoverReport:
    """What recovery did: the rows kept, per file the bytes dropped, every damaged part."""

    folder: Path
    n_trials: int
    dropped: dict[str, int] = field(default_factory=dict)
    backups: list[Path] = field(default_factory=list)
    n_events: int = 0
    damage: list[Damage] = field(default_factory=list)
    status: str = "crashed"
    metadata_from: str = META_FILE
    frames: dict[str, int] = field(default_factory=dict)  # frames kept per frame-clock input

    def lines(self) -> list[str]:
        verb = "marked crashed" if self.status == "crashed" else f"repaired (status {self.status})"
        out = [f"{self.folder}: {verb}; {self.n_trials} complete trials kept"
               + (f", {self.n_events} events" if self.damage else "")]
        if self.metadata_from != META_FILE:
            out.append(f"  {META_FILE}: rebuilt from {self.metadata_from}")
        for name, n in self.frames.items():
            out.append(f"  {frames_file(name)}: {n:,} frames kept")
        for name, n in self.dropped.items():
            out.append(f"  {name}: dropped {n} bytes (original in {name}.bak)")
        out += [f"  damaged: {d}" for d in self.damage]
        return out


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _backup(path: Path) -> Path:
    """Copy ``path`` to ``<path>.bak`` durably (an older backup is kept as ``.bak.1`` ...)."""
    bak = path.with_name(path.name + ".bak")
    n = 1
    while bak.exists():
        bak = path.with_name(f"{path.name}.bak.{n}")
        n += 1
    shutil.copyfile(path, bak)
    _fsync(bak)
    return bak


def _rewrite(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _repair_csv(path: Path, version: int, crashed: bool, report: RecoverReport,
                schema: list[dict[str, str]] | None = None) -> None:
    """Rewrite ``path`` with the rows the loader keeps, if it keeps fewer than are there."""
    kind = "trials" if path.name == "trials.csv" else "events"
    rows, damage, warnings = intact_lines(path, kind, version, crashed, schema)
    raw = path.read_bytes()
    all_lines = raw.split(b"\n")
    if not damage and not warnings and raw.endswith(b"\n"):
        return
    head = all_lines[0].decode("utf-8", errors="replace").rstrip("\r")
    checked = head.endswith(f",{CRC_COLUMN}") or (version >= 3 and damage
                                                  and damage[0].line == 1)
    if damage and damage[0].line == 1:  # a damaged header: write the one it should be
        cols = (*_HEADERS[path.name], CRC_COLUMN) if checked else _HEADERS[path.name]
        head = ",".join(cols)
    body = b"".join(r + b"\n" for r in rows)
    new = head.encode("utf-8") + b"\n" + body
    report.backups.append(_backup(path))
    _rewrite(path, new)
    report.dropped[path.name] = len(raw) - len(new)
    report.damage += damage


def _cut_torn_frames(path: Path, report: RecoverReport) -> None:
    """A frames file whose writer died mid-record: cut the torn bytes (original in .bak)."""
    try:
        data = read_frames(path)
    except DataError:
        return  # reported by the loader; nothing here can rebuild its header
    if data.torn_bytes:
        report.backups.append(_backup(path))
        os.truncate(path, path.stat().st_size - data.torn_bytes)
        _fsync(path)
        report.dropped[path.name] = data.torn_bytes


def recover_session(folder: str | Path, force: bool = False) -> RecoverReport:
    """Repair the session folder in place; DataError (one line) when it must not be touched.

    ``force`` skips the liveness check for a session written on another host (the caller
    knows that process is gone).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    if not _is_session(folder):
        raise DataError(f"{folder}: not a session folder (no session.json)")
    meta, meta_damage, source, _ = _metadata(folder)
    before = load_session(folder)
    status = meta.get("status")
    if status == "running" and source == META_FILE or before.recorded_status == "running":
        if writer_alive(meta):
            raise DataError(f"{folder}: session is still running (pid {meta.get('pid')}); "
                            "stop it first")
        if not force and meta.get("host") != socket.gethostname():
            raise DataError(f"{folder}: written on host {meta.get('host')!r}, cannot tell "
                            "whether it still runs there; recover it there or pass --force")
    known = recorded_damage(meta)
    new_damage = before.damage[len(known):]
    torn = any("incomplete last line" in w or "torn last record" in w for w in before.warnings)
    if status != "running" and source == META_FILE and not new_damage and not torn:
        what = ("was already recovered" if meta.get("recovered") or status == "crashed"
                else "already finished")
        raise DataError(f"{folder}: nothing to recover: session {what} (status {status})")
    crashed = before.recorded_status != "completed"
    version = int(meta.get("format_version", 3))
    report = RecoverReport(folder, 0, metadata_from=source)
    report.damage += meta_damage
    try:
        for name in TEXT_FILES:
            if (folder / name).is_file():
                _repair_csv(folder / name, version, crashed, report, meta.get("trial_schema"))
        binaries = [folder / SIGNALS_FILE, *analog_files(folder).values()]
        for spath in binaries:  # signals.bin and every analog_<name>.bin: one format
            if not spath.is_file():
                continue
            try:
                header = read_header(spath)
            except DataError:
                header = None  # reported by the loader again; nothing here can rebuild it
            if header is not None and header.torn_bytes:
                keep = header.data_offset + header.n_samples * header.record_size
                report.backups.append(_backup(spath))
                os.truncate(spath, keep)
                _fsync(spath)
                report.dropped[spath.name] = header.torn_bytes
        for name in frame_inputs(folder):  # every whole frame kept; a torn last one cut
            _cut_torn_frames(folder / frames_file(name), report)
        for leftover in (f"{META_FILE}.tmp", f"{START_FILE}.tmp",
                         *(f"{p.name}.tmp" for p in binaries),
                         "trials.csv.tmp", "events.csv.tmp"):
            # Half-written replacements of ours: the real files are intact without them.
            (folder / leftover).unlink(missing_ok=True)
        for tmp in folder.glob("frames_*.bin.tmp"):
            tmp.unlink(missing_ok=True)
        if source != META_FILE and (folder / META_FILE).is_file():
            report.backups.append(_backup(folder / META_FILE))
        last = max((p.stat().st_mtime for p in folder.iterdir() if p.is_file()
                    and ".bak" not in p.name), default=None)
    except OSError as exc:
        raise DataError(f"{folder}: cannot recover: {exc.strerror or exc}") from None
    after = load_session(folder)
    # What the loader still finds (a damaged signals block stays) is reported, not recorded.
    remaining = [d for d in after.damage[len(known):]
                 if d.file not in (META_FILE, START_FILE, *TEXT_FILES)]
    removed = report.damage
    report.damage = known + removed + remaining
    report.n_trials = len(after.trials)
    report.n_events = len(after.events)
    new_meta = dict(before.metadata) if source != META_FILE else dict(meta)
    if new_meta.get("status") == "running":
        new_meta["status"] = "crashed"
    report.status = str(new_meta.get("status"))
    new_meta.update(
        n_trials=report.n_trials,
        end_time=new_meta.get("end_time") or (
            dt.datetime.fromtimestamp(last).astimezone().isoformat(timespec="seconds")
            if last is not None else None),
        reason=new_meta.get("reason") or "process ended without closing the session",
    )
    report.frames = {n: d.n for n, d in after.frames_data.items()}
    if report.frames:
        new_meta["frames"] = report.frames
    previous = new_meta.get("recovered") if isinstance(new_meta.get("recovered"), dict) else {}
    dropped = dict(previous.get("dropped_bytes") or {})
    for k, v in report.dropped.items():
        dropped[k] = int(dropped.get(k, 0)) + v
    new_meta["recovered"] = {
        "time": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "rigctl_version": rigctl.__version__,
        "dropped_bytes": dropped,
        "damage": [d.as_dict() for d in known + removed],
        "metadata_from": source,
        "end_time_from": previous.get("end_time_from") or (
            "session.json" if meta.get("end_time") else
            "last modification of the session's files"),
    }
    try:
        write_metadata(folder / META_FILE, new_meta)
    except OSError as exc:
        raise DataError(f"cannot update {folder / META_FILE}: {exc.strerror}") from None
    return report


__all__ = ["CRC_FILE", "RecoverReport", "TEXT_FILES", "recover_session"]
