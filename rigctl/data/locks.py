"""Lock files in the data root: one subject (and one rig) runs in one place at a time.

A lock is ``<data_root>/.rigctl-locks/subject-<id>.lock`` (and ``rig-<name>.lock``), created
with ``O_CREAT | O_EXCL`` so two processes racing for it cannot both win, holding who took it
(pid, host, what, when). A lock whose process is gone on this host is stale (a crash, a power
cut) and is taken over, with a note; a lock held by a live process, or by another host sharing
the data root, refuses the start with one line saying who holds it and what to do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from rigctl.errors import RigctlError

LOCK_DIR = ".rigctl-locks"


class LockedError(RigctlError):
    """The subject or rig is already running elsewhere."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


@dataclass
class Lock:
    """A held lock; ``release`` removes it (only if it is still ours)."""

    path: Path
    token: str
    stale_note: str = ""

    def release(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.path.read_text(encoding="utf-8")).get("token") == self.token:
                self.path.unlink()
        with contextlib.suppress(OSError):  # the last lock out leaves the data root as it was
            self.path.parent.rmdir()


def lock_path(data_root: Path, kind: str, name: str) -> Path:
    return Path(data_root) / LOCK_DIR / f"{kind}-{name}.lock"


def acquire(data_root: Path, kind: str, name: str, what: str) -> Lock:
    """Take the ``kind`` (subject or rig) lock ``name``; LockedError if someone holds it."""
    path = lock_path(data_root, kind, name)
    host = socket.gethostname()
    token = f"{host}:{os.getpid()}:{id(path)}:{dt.datetime.now().timestamp()}"
    body = json.dumps({"pid": os.getpid(), "host": host, "what": what, "token": token,
                       "since": dt.datetime.now().isoformat(timespec="seconds")})
    note = ""
    for _ in range(3):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RigctlError(f"{path.parent}: cannot create the lock folder ({exc.strerror}); "
                              "check the data folder is writable") from None
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileNotFoundError:  # the folder was just removed by a release: make it again
            continue
        except FileExistsError:
            holder = _read(path)
            pid, their_host = holder.get("pid"), holder.get("host")
            if isinstance(pid, int) and their_host == host and not _alive(pid):
                note = f"took over the stale lock {path} (pid {pid} is gone)"
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                continue
            since = holder.get("since", "?")
            raise LockedError(
                f"{kind} {name} is already running elsewhere ({holder.get('what', '?')}, pid "
                f"{pid} on {their_host}, since {since}; lock {path}): stop it there, or delete "
                "the lock file if that process is gone") from None
        except OSError as exc:
            raise RigctlError(f"{path}: cannot create the lock ({exc.strerror})") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body)
        return Lock(path, token, note)
    raise LockedError(f"{path}: another process keeps taking this lock; try again")


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
