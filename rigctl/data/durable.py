"""Making a write survive a power cut: fsync of a folder after a rename or a new file."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """fsync ``folder`` so a file created or renamed in it is on disk; best effort (some file
    systems refuse to fsync a directory, and that must not stop a session)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
