"""``session.json`` that can be checked, survives a full disk, and can be rebuilt when lost.

- Every version carries ``crc32``: the CRC-32 of the JSON text of all the other keys (as
  :func:`encode` writes it), so a changed byte that still parses as JSON is caught too.
- The writer pads it with :data:`RESERVE` bytes of trailing spaces (JSON ignores them). When the
  disk is full, the atomic replace (temporary file + rename) cannot get a new block; the final
  status is then written over the old version in place, into blocks the file already owns, so
  a full disk still ends as ``aborted`` with its reason instead of a stale ``running``.
- ``session.start.json`` is a copy of the metadata written once at the start and never
  touched again: everything but the end (status, end time, reason) can be rebuilt from it, and
  the folder name alone still gives subject, protocol and start time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import re
import zlib
from pathlib import Path
from typing import Any

from rigctl.data.durable import fsync_dir
from rigctl.data.integrity import Damage
from rigctl.data.schema import FORMAT_VERSION

META_FILE = "session.json"
START_FILE = "session.start.json"
CHECK_KEY = "crc32"
RESERVE = 4096
#: errno values that mean "no room": disk full, quota, file-size limit.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_FOLDER = re.compile(r"^(\d{8}-\d{6})(?:-\d+)?_")


def _body(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k != CHECK_KEY}


def _checksum(body: dict[str, Any]) -> str:
    return f"{zlib.crc32(json.dumps(body, indent=2).encode('utf-8')):08x}"


def encode(meta: dict[str, Any]) -> str:
    """The JSON text of ``meta`` with its ``crc32`` as the last key."""
    body = _body(meta)
    return json.dumps({**body, CHECK_KEY: _checksum(body)}, indent=2) + "\n"


def checksum_ok(meta: dict[str, Any]) -> bool | None:
    """True/False when ``meta`` carries a checksum, None when it predates them."""
    if CHECK_KEY not in meta:
        return None
    return meta[CHECK_KEY] == _checksum(_body(meta))


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # A half-written replacement must not be left behind (it would be a stray file).
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_metadata(path: Path, meta: dict[str, Any], reserve: int = 0) -> str:
    """Write ``meta`` to ``path`` with its checksum; returns ``"replaced"`` or ``"in place"``.

    Atomic replace first; if that fails for lack of space and the new text fits in the old
    file (whose ``reserve`` padding is there for this), it is written over the old one in
    place. Raises the OSError otherwise.
    """
    text = encode(meta).encode("utf-8")
    padded = text + (b" " * reserve + b"\n" if reserve else b"")
    try:
        _atomic(path, padded)
        return "replaced"
    except OSError as exc:
        if exc.errno not in NO_SPACE:
            raise
        try:
            size = path.stat().st_size
        except OSError:
            raise exc from None
        if len(text) > size:
            raise
        with open(path, "r+b") as f:
            f.write(text[:-1] + b" " * (size - len(text)) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        return "in place"


def read_json(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The JSON object at ``path`` and '' if it is whole, else None and what is wrong with it."""
    if not path.is_file():
        return None, "missing"
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc)})"
    if not isinstance(meta, dict):
        return None, "unreadable (not a JSON object)"
    return meta, ""


def from_folder_name(folder: Path) -> dict[str, Any]:
    """What the folder's name says: subject (the parent folder) and start time. (The rest of
    the name, ``[<rig>_]<protocol>``, cannot be split reliably, so it is left to the name.)"""
    m = _FOLDER.match(folder.name)
    meta: dict[str, Any] = {"format_version": FORMAT_VERSION,
                            "subject": {"id": folder.parent.name}}
    if m:
        start = dt.datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").astimezone()
        meta["start_time"] = start.isoformat(timespec="seconds")
    return meta


def checksum_warning(meta: dict[str, Any]) -> str:
    """A warning when a session.json that parses does not match its checksum ('' if it does or
    has none). Not damage: people edit session.json by hand (a subject id typed wrong), and the
    values as first written are kept in session.start.json."""
    if checksum_ok(meta) is False:
        return (f"{META_FILE}: checksum mismatch (edited by hand, or damaged); the values "
                f"written at the start are in {START_FILE}")
    return ""


def load_metadata(folder: Path) -> tuple[dict[str, Any], list[Damage], str]:
    """The session's metadata however damaged: session.json if it parses, else rebuilt from
    session.start.json, else from the folder name. Returns (metadata, damage, source) with
    source ``session.json``, ``session.start.json`` or ``folder name``; a rebuilt metadata has
    ``status`` ``running`` (the caller decides how the session ended)."""
    meta, problem = read_json(folder / META_FILE)
    if meta is not None:
        return meta, [], META_FILE
    damage = [Damage(META_FILE, None, problem)]
    start, start_problem = read_json(folder / START_FILE)
    if start is not None:
        return {**_body(start), "status": "running"}, damage, START_FILE
    if start_problem != "missing":
        damage.append(Damage(START_FILE, None, start_problem))
    return {**from_folder_name(folder), "status": "running"}, damage, "folder name"
