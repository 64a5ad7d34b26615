"""Where a session came from: software versions, the git commit of a checkout, the exact files.

A session must be reproducible without asking anyone: with the seed (already in
``session.json``), the exact rig config and protocol text and the code version recorded here,
the same simulated session can be run again. Nothing here may fail a session: git missing, a
repository we may not read, a config file that vanished all just leave the field null.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import rigctl

# distribution name -> module name
_PACKAGES = MappingProxyType({"numpy": "numpy", "numba": "numba", "pandas": "pandas",
                              "pydantic": "pydantic", "PyYAML": "yaml"})
_GIT_TIMEOUT_S = 5.0


def package_root() -> Path:
    """The folder that holds the ``rigctl`` package (the repository root in a checkout)."""
    return Path(rigctl.__file__).resolve().parent.parent


def git_info(root: Path | None = None) -> dict[str, Any] | None:
    """Commit and dirty flag of the checkout rigctl runs from; None when not run from one.

    Only a repository whose top level holds the ``rigctl`` package counts, so an installed copy
    inside some other repository (a virtualenv in a project folder) is not mistaken for a
    checkout. One ``git status`` call gives both the commit and the dirty flag.
    """
    root = package_root() if root is None else Path(root)
    if not (root / ".git").exists():
        return None
    try:
        proc = subprocess.run(
            ["git", "-c", f"safe.directory={root}", "-C", str(root), "status",
             "--porcelain=v2", "--branch", "--untracked-files=no"],
            capture_output=True, text=True, timeout=_GIT_TIMEOUT_S, check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},  # read-only: never lock the index
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return {"commit": None, "dirty": None, "error": f"git unavailable: {exc}"[:200]}
    if proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or ["git status failed"])[0]
        return {"commit": None, "dirty": None, "error": msg[:200]}
    commit = None
    dirty = False
    for line in proc.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split()[2]
            commit = oid if oid != "(initial)" else None
        elif line and not line.startswith("#"):
            dirty = True
    return {"commit": commit, "dirty": dirty}


def file_record(path: str | Path) -> dict[str, Any] | None:
    """Path, sha256 and full text of a small text file (a config); None if it cannot be read."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError:
        return None
    return {
        "path": str(p.resolve()),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "text": raw.decode("utf-8", errors="replace"),
    }


def _versions() -> dict[str, str | None]:
    """Versions of the libraries a session's results depend on (already imported by then, so
    read from the modules: ``importlib.metadata`` would scan site-packages every session)."""
    out: dict[str, str | None] = {}
    for dist, module in _PACKAGES.items():
        mod = sys.modules.get(module)
        version = getattr(mod, "__version__", None) if mod is not None else None
        if version is None:
            try:
                version = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                version = None
        out[dist] = str(version) if version is not None else None
    return out


def provenance(metadata: dict[str, Any]) -> dict[str, Any]:
    """The ``provenance`` block of session.json for a session described by ``metadata``."""
    prov: dict[str, Any] = {
        "rigctl_version": rigctl.__version__,
        "git": git_info(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": _versions(),
        "argv": list(sys.argv),
        "config_file": None,
        "protocol_file": None,
    }
    config_source = metadata.get("config_source")
    if isinstance(config_source, str) and Path(config_source).is_file():
        prov["config_file"] = file_record(config_source)
    protocol = metadata.get("protocol")
    if isinstance(protocol, dict):
        source = protocol.get("source")
        if (isinstance(source, str) and source != config_source and Path(source).is_file()):
            prov["protocol_file"] = file_record(source)
    return prov
