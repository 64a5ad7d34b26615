"""``rigctl gui`` on a machine where Qt cannot open a window: one line, exit 2, never SIGABRT."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gui.qt_platform import (
    apt_package,
    missing_libraries,
    missing_message,
    platform_problem,
    unresolved_libraries,
    xcb_plugin,
)

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "hardware_configs" / "sim.yaml"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 / ldd")

#: ldd's report of PyQt5 5.15's libqxcb.so on a minimal Debian without the X extras (trimmed)
LDD_MINIMAL = """\
\tlinux-vdso.so.1 (0x00007ffd5a1f2000)
\tlibQt5XcbQpa.so.5 => /venv/PyQt5/Qt5/plugins/platforms/../../lib/libQt5XcbQpa.so.5 (0x7f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-image.so.0 => /lib/x86_64-linux-gnu/libxcb-image.so.0 (0x00007f2f1c9e0000)
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-xinerama.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxkbcommon-x11.so.0 => not found
"""


def _gui(env_changes: dict[str, str | None], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RIGCTL_GUI_SETTINGS": str(tmp_path / "gui.ini")}
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-m", "gui", str(SIM)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_ldd_report_becomes_the_missing_libraries_and_their_apt_packages():
    missing = unresolved_libraries(LDD_MINIMAL)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-xinerama.so.0",
                       "libxkbcommon-x11.so.0"]
    assert [apt_package(m) for m in missing] == ["libxcb-icccm4", "libxcb-keysyms1",
                                                 "libxcb-xinerama0", "libxkbcommon-x11-0"]
    line = missing_message(missing)
    assert "\n" not in line
    assert ("sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 "
            "libxkbcommon-x11-0") in line
    assert "QT_QPA_PLATFORM=offscreen" in line


def test_other_platforms_are_not_second_guessed():
    assert platform_problem({"QT_QPA_PLATFORM": "offscreen"}) == ""
    assert platform_problem({"QT_QPA_PLATFORM": "wayland;xcb"}) == ""


@linux_only
def test_no_display_is_one_line_and_exit_2_instead_of_sigabrt(tmp_path):
    res = _gui({"QT_QPA_PLATFORM": "xcb", "DISPLAY": None, "WAYLAND_DISPLAY": None}, tmp_path)
    assert res.returncode == 2, res.stderr  # on main: -6 (SIGABRT)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rigctl: error: the GUI cannot start:")
    # either reason is possible, depending on this machine's X libraries; both say what to do
    assert "DISPLAY is not set" in lines[0] or "sudo apt-get install" in lines[0]


@linux_only
def test_plugin_with_unresolvable_libraries_is_named_before_qt_aborts(tmp_path):
    plugin = xcb_plugin({})
    if plugin is None or shutil.which("ldd") is None:
        pytest.skip("no xcb plugin or no ldd on this machine")
    # a copy of the real plugin whose $ORIGIN-relative runpath now points at an empty folder
    platforms = tmp_path / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    (tmp_path / "lib").mkdir()
    shutil.copy2(plugin, platforms / "libqxcb.so")
    missing = missing_libraries(platforms / "libqxcb.so")
    if not any(m.startswith("libQt5") for m in missing):
        pytest.skip("this machine has a system Qt 5 that resolves the copied plugin")
    res = _gui({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":99",
                "QT_QPA_PLATFORM_PLUGIN_PATH": str(platforms)}, tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "libQt5XcbQpa.so.5" in lines[0] and "reinstall PyQt5" in lines[0]
