"""``python -m gui.latched_demo CONFIG OUT.png``: screenshot of a session with the laser latched.

Runs a wall-clock session on CONFIG (a simulated rig) with every trial after the first a laser
trial, presses the real EMERGENCY LASER OFF button while the light is on, lets two more trials
run blocked, shows the Devices tab (the *Session laser* box with *Re-arm laser*) and saves the
window (``widget.grab()``; works with ``QT_QPA_PLATFORM=offscreen``). Then the session is stopped.
This is how ``docs/img/gui-latched.png`` is made.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PyQt5.QtWidgets import QApplication

PARAMS = {"n_trials": 500, "delays_s": [2.0], "sample_s": 0.2, "iti_s": 0.3,
          "response_window_s": 1.5, "reward_ul": 2.0, "reward_consumption_s": 0.4,
          "timeout_s": 0.2, "stim_mode": "open_loop", "laser_fraction": 1.0,
          "max_consecutive": 1000, "laser_power_mw": 5}


def _wait(app: QApplication, cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"latched_demo: timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.01)


def main(argv: list[str]) -> int:
    from gui.app import MainWindow, make_settings, save_screenshot

    if len(argv) != 2:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    config, out = argv
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        win = MainWindow(make_settings(str(Path(tmp) / "gui.ini")), configs=[config])
        win.resize(1400, 900)
        win.show()
        tab = win.rig_tabs()[0]
        tab.setup.data_edit.setText(str(Path(tmp) / "data"))
        tab.setup.subject_id.setText("demo-mouse")
        assert tab.setup.form is not None
        tab.setup.form.set_values(PARAMS)
        tab.start()
        _wait(app, lambda: tab.n_trials >= 2 and bool(tab.live.state.epochs)
              and tab.live.state.epochs[-1][1] is None, 60, "light on")
        tab.laser_off_button.click()
        _wait(app, lambda: tab.devices.latched, 30, "the latch")
        n = tab.n_trials
        _wait(app, lambda: tab.n_trials >= n + 2, 60, "two blocked trials")
        tab.left.setCurrentWidget(tab.devices)
        tab.live.refresh(True)
        save_screenshot(win, out)
        tab.confirm = lambda title, text: True
        tab.stop()
        _wait(app, lambda: tab.phase == "idle", 60, "the session to end")
        win.closing = True
        win.close()
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
