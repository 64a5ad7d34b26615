"""Can Qt open a window here? Asked before ``QApplication`` exists, because Qt cannot say no.

On Linux, PyQt5's wheel ships the X11 platform plugin (``libqxcb.so``) but not every X library
it links against (``libxcb-icccm4``, ``libxcb-keysyms1``, ``libxcb-xinerama0`` … are missing on
minimal and container installs), and without a display it cannot connect at all. In both cases
``QApplication()`` prints "Could not load the Qt platform plugin xcb" and aborts the process
(SIGABRT, no Python exception to catch). :func:`platform_problem` finds both conditions first —
the libraries by asking the dynamic loader (``ldd``) what the plugin cannot resolve — so
``rigctl gui`` can say in one line what is missing and how to install it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)


def requested_platforms(env: Mapping[str, str]) -> list[str]:
    """The platform plugins Qt will try, in order (``QT_QPA_PLATFORM``; xcb by default)."""
    value = env.get("QT_QPA_PLATFORM", "") or "xcb"
    return [p.split(":")[0].strip() for p in value.split(";") if p.strip()]


def xcb_plugin(env: Mapping[str, str]) -> Path | None:
    """The ``libqxcb.so`` Qt would load, or None if it cannot be found (Qt will say so)."""
    dirs = []
    if env.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        dirs.append(Path(env["QT_QPA_PLATFORM_PLUGIN_PATH"]))
    try:
        from PyQt5.QtCore import QLibraryInfo  # QtCore loads without any display library

        dirs.append(Path(QLibraryInfo.location(QLibraryInfo.PluginsPath)) / "platforms")
    except ImportError:
        pass
    for d in dirs:
        if (d / "libqxcb.so").is_file():
            return d / "libqxcb.so"
    return None


def unresolved_libraries(ldd_output: str) -> list[str]:
    """Sonames ``ldd`` reported as ``not found``, once each, in its order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def missing_libraries(library: Path, ldd: str = "ldd") -> list[str]:
    """What the dynamic loader cannot resolve for ``library`` ([] if ``ldd`` is unavailable)."""
    try:
        out = subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=20,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return unresolved_libraries(out.stdout)


def apt_package(soname: str) -> str:
    """The Debian/Ubuntu package of a soname by the naming policy (libxcb-icccm.so.4 →
    libxcb-icccm4, libxkbcommon-x11.so.0 → libxkbcommon-x11-0)."""
    name, _, version = soname.partition(".so")
    major = version.lstrip(".").split(".")[0]
    name = name.lower()
    return f"{name}{'-' if name[-1:].isdigit() else ''}{major}"


def missing_message(missing: list[str]) -> str:
    """One line: the missing libraries and the command that installs them."""
    system = [m for m in missing if not m.startswith("libQt5")]
    qt = [m for m in missing if m.startswith("libQt5")]
    fix = []
    if system:
        fix.append("install them with: sudo apt-get install "
                   + " ".join(dict.fromkeys(apt_package(m) for m in system)))
    if qt:
        fix.append("reinstall PyQt5 (its own Qt libraries are missing): "
                   "pip install --force-reinstall PyQt5-Qt5")
    return (f"the GUI cannot start: Qt's X11 platform plugin (xcb) needs {', '.join(missing)}, "
            f"not found on this machine; {'; '.join(fix)} "
            "(or set QT_QPA_PLATFORM=offscreen for unattended runs with --screenshot)")


def platform_problem(env: Mapping[str, str] | None = None, ldd: str = "ldd") -> str:
    """Why ``QApplication`` would abort here, in one line, or "" when it should start."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux") or requested_platforms(env) != ["xcb"]:
        return ""  # another platform (offscreen, wayland, a fallback list): Qt copes itself
    plugin = xcb_plugin(env)
    if plugin is not None:
        missing = missing_libraries(plugin, ldd)
        if missing:
            return missing_message(missing)
    if not env.get("DISPLAY"):
        return ("the GUI cannot start: no X display (DISPLAY is not set); run it from the "
                "desktop or over `ssh -X`, or set QT_QPA_PLATFORM=offscreen for unattended "
                "runs with --screenshot")
    return ""
