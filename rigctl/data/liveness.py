"""Is the process that wrote a session still alive? A pid alone cannot say.

After a reboot, or simply after enough processes, the recorded pid belongs to another process,
and a dead session would read as ``running`` forever. So the writer records, next to its pid,
when that process started: the kernel's boot id and the process start time in clock ticks since
boot (``/proc/<pid>/stat`` field 22). The pair names one process for the life of the machine;
a different boot or a different start time means the writer is gone, whatever now has its pid.
Where ``/proc`` is missing (not Linux) the start is ``None`` and only the pid is checked.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

_PROC = Path("/proc")


def process_start(pid: int) -> str | None:
    """``<boot id>:<start ticks>`` of process ``pid``; None if it does not exist or there is
    no ``/proc``."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
        boot = (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces or ')'.
    fields = stat[stat.rfind(")") + 2:].split()
    if len(fields) < 20:
        return None
    return f"{boot}:{fields[19]}"


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def writer_alive(meta: dict[str, Any]) -> bool:
    """True when the process that wrote ``meta`` is still alive on this host: same host, the
    pid exists and, when the start of the writer was recorded (``pid_start``), the process with
    that pid started at that same moment of the same boot."""
    pid = meta.get("pid")
    if meta.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    if not _pid_exists(pid):
        return False
    recorded = meta.get("pid_start")
    if not isinstance(recorded, str) or not recorded:
        return True  # written before pid_start existed: the pid is all there is
    now = process_start(pid)
    return now == recorded
