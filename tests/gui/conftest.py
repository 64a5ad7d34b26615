"""GUI tests: real widgets on Qt's offscreen platform, against the simulated rig.

Every test drives the real window and real engine processes (no mocks of the engine). Sessions
run on the wall clock with short protocol timings (about 1.5 s a trial) or in virtual time.
Remembered choices live in a temporary ini file, so the user's settings are never touched.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SIM_YAML = ROOT / "hardware_configs" / "sim.yaml"

#: protocol timings that make a wall-clock trial last about 1.5 s
FAST = {
    "n_trials": 500, "delays_s": [0.3], "sample_s": 0.2, "iti_s": 0.3,
    "response_window_s": 1.5, "reward_ul": 2.0, "reward_consumption_s": 0.4, "timeout_s": 0.2,
    "stim_mode": "open_loop", "laser_fraction": 0.5, "max_consecutive": 3, "laser_power_mw": 5,
}


def write_config(tmp_path: Path, name: str = "rig.yaml", rig: str = "sim-rig-1",
                 params: dict[str, Any] | None = None, **changes: Any) -> Path:
    data = yaml.safe_load(SIM_YAML.read_text())
    data["name"] = rig
    data["protocol"] = {"name": "delayed_alternation", "parameters": {**FAST, **(params or {})}}
    data["data_root"] = str(tmp_path / "data")
    data.update(changes)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def make_rig(tmp_path: Path):
    """``make_rig(name="rig.yaml", rig="sim-rig-1", params={...}, **top_level_changes)``."""

    def make(name: str = "rig.yaml", rig: str = "sim-rig-1",
             params: dict[str, Any] | None = None, **changes: Any) -> Path:
        return write_config(tmp_path, name, rig, params, **changes)

    return make


@pytest.fixture
def config(make_rig) -> Path:
    return make_rig()


@pytest.fixture
def fast_params() -> dict[str, Any]:
    return dict(FAST)


@pytest.fixture
def settings(tmp_path: Path):
    from gui.app import make_settings

    return make_settings(str(tmp_path / "gui.ini"))


@pytest.fixture(autouse=True)
def no_modal_dialogs(monkeypatch):
    """A modal question would wait forever offscreen: answer No, and remember it was asked."""
    from PyQt5.QtWidgets import QMessageBox

    asked: list[str] = []

    def question(parent, title, text, *args, **kwargs):  # noqa: ANN001
        asked.append(text)
        return QMessageBox.No

    monkeypatch.setattr(QMessageBox, "question", question)
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: QMessageBox.Ok)
    return asked


@pytest.fixture
def window(qtbot, settings):
    """A main window with no tab yet; every engine it started is gone after the test."""
    from gui.app import MainWindow

    win = MainWindow(settings, configs=[])
    while win.tabs.count():
        win.tabs.removeTab(0)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.closing = True  # tear down without asking
    for tab in win.rig_tabs():
        if tab.engine is not None:
            tab.engine.stop("test ended")
            tab.engine.join(10)
            tab.engine.kill()
        tab.devices.shutdown()
