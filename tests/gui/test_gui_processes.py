"""The engine lives in its own process: several rigs side by side, the emergency laser-off,
closing the window during a session, and killing the GUI outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rigctl.data import load_session
from rigctl.data.loader import read_metadata

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 30_000


def test_two_rigs_run_independently(qtbot, window, make_rig):
    a = window.add_rig(str(make_rig("a.yaml", rig="rig-A")))
    b = window.add_rig(str(make_rig("b.yaml", rig="rig-B")))
    assert window.tabs.count() == 2 and a.engine is None
    a.setup.subject_id.setText("mouse-a")
    b.setup.subject_id.setText("mouse-b")
    for tab in (a, b):
        tab.confirm = lambda title, text: True
        tab.start()
    qtbot.waitUntil(lambda: a.n_trials >= 1 and b.n_trials >= 1, timeout=TIMEOUT_MS)
    assert a.engine.pid != b.engine.pid
    assert "●" in window.tabs.tabText(0) and "●" in window.tabs.tabText(1)

    a.stop()
    qtbot.waitUntil(lambda: a.phase == "idle", timeout=TIMEOUT_MS)
    n_b = b.n_trials
    qtbot.waitUntil(lambda: b.n_trials >= n_b + 1, timeout=TIMEOUT_MS)  # B carries on
    assert b.phase == "running"
    # A can start again while B runs
    a.start()
    qtbot.waitUntil(lambda: a.n_trials >= 1, timeout=TIMEOUT_MS)
    for tab in (a, b):
        tab.stop()
    qtbot.waitUntil(lambda: a.phase == "idle" and b.phase == "idle", timeout=TIMEOUT_MS)
    subjects = {p.parent.name for p in (a.setup.cfg and Path(a.ended["folder"]),
                                        Path(b.ended["folder"]))}
    assert subjects == {"mouse-a", "mouse-b"}
    for tab in (a, b):
        assert load_session(tab.ended["folder"]).status == "aborted"


def test_emergency_laser_off_latches_and_the_session_goes_on(qtbot, window, make_rig):
    # every trial after the free first one is a laser trial (light for the whole 1.5 s delay)
    tab = window.add_rig(str(make_rig(params={"laser_fraction": 1.0, "delays_s": [1.5],
                                               "max_consecutive": 1000})))
    assert tab.laser_off_button.isEnabled()
    tab.start()
    qtbot.waitUntil(lambda: bool(tab.live.state.epochs) and tab.live.state.epochs[-1][1] is None,
                    timeout=TIMEOUT_MS)
    assert tab.laser_off_button.isEnabled()  # always, also while the session runs
    assert not tab.devices.laser_button.isEnabled()  # the rest of the device panel is not
    assert not tab.devices.rearm_button.isEnabled()  # nothing to re-arm yet
    qtbot.mouseClick(tab.laser_off_button, 1)
    qtbot.waitUntil(lambda: tab.devices.latched, timeout=TIMEOUT_MS)
    assert tab.phase == "running" and tab.latch_banner.text() == "LASER LATCHED OFF"
    assert "LATCHED OFF" in tab.devices.latch_label.text()
    # the live view shows the light went off (the output event may come in the next batch)
    qtbot.waitUntil(lambda: tab.live.state.epochs[-1][1] is not None, timeout=TIMEOUT_MS)
    n_latched = tab.n_trials
    qtbot.waitUntil(lambda: tab.n_trials >= n_latched + 3, timeout=TIMEOUT_MS)  # goes on
    qtbot.mouseClick(tab.laser_off_button, 1)  # a second press is logged, changes nothing
    tab.left.setCurrentWidget(tab.devices)
    assert tab.devices.rearm_button.isEnabled()
    asked = []
    tab.confirm = lambda title, text: asked.append(title) or True
    qtbot.mouseClick(tab.devices.rearm_button, 1)
    qtbot.waitUntil(lambda: not tab.devices.latched, timeout=TIMEOUT_MS)
    assert asked == ["Re-arm the laser?"] and tab.latch_banner.text() == ""
    n_rearmed = tab.n_trials
    qtbot.waitUntil(lambda: tab.n_trials >= n_rearmed + 2, timeout=TIMEOUT_MS)
    tab.stop()
    qtbot.waitUntil(lambda: tab.phase == "idle", timeout=TIMEOUT_MS)

    s = load_session(tab.ended["folder"])
    assert s.status == "aborted" and s.metadata["reason"] == "stopped by the operator"
    ev, t = s.events, s.trials
    latch = ev[ev["name"] == "laser_latch"]
    presses = latch[~latch["value"].str.endswith("refused: latched off")]
    assert list(presses["value"]) == ["latched off (operator, GUI)",
                                      "pressed again (operator, GUI): still latched off",
                                      "re-armed (operator, GUI device panel)"]
    t_latch, t_rearm = (float(x) for x in presses["t_s"].iloc[[0, 2]])
    # the light went off at the press, inside the delay, in the loop iteration that took it
    cut = t[(t["laser_onset_s"] < t_latch) & (t["end_s"] > t_latch)].iloc[0]
    assert cut["laser_blocked"] == 1 and cut["laser_offset_s"] == pytest.approx(t_latch)
    assert t_latch < cut["laser_onset_s"] + cut["delay_s"]
    laser = t[t["trial_type"] == "laser"]
    blocked = laser[(laser["start_s"] > t_latch) & (laser["end_s"] <= t_rearm)]
    assert len(blocked) >= 2
    assert (blocked["laser_blocked"] == 1).all() and blocked["laser_onset_s"].isna().all()
    after = laser[laser["start_s"] > t_rearm]
    assert len(after) >= 1 and after["laser_onset_s"].notna().all()
    assert (after["laser_blocked"] == 0).all()
    on = ev[(ev["kind"] == "output") & (ev["name"] == "laser") & ev["value"].str.endswith("mW")]
    assert not ((on["t_s"] > t_latch) & (on["t_s"] < t_rearm)).any()  # no light while latched
    assert ev.iloc[-1]["name"] == "all_off"


def test_closing_the_window_during_a_session_asks_first(qtbot, window, config):
    tab = window.add_rig(str(config))
    tab.start()
    qtbot.waitUntil(lambda: tab.n_trials >= 1, timeout=TIMEOUT_MS)
    asked = []
    window.confirm = lambda title, text: asked.append(text) or False
    window.close()
    assert asked and "finishes the trial in progress" in asked[0]
    assert window.isVisible() and tab.phase == "running"
    window.confirm = lambda title, text: True
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=TIMEOUT_MS)
    assert tab.phase == "idle"
    s = load_session(tab.ended["folder"])
    assert s.status == "aborted" and s.metadata["reason"] == "GUI closed"
    assert s.events.iloc[-1]["name"] == "all_off"


def _gui(args: list[str], tmp_path: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "RIGCTL_GUI_SETTINGS": str(tmp_path / "gui.ini")}
    return subprocess.Popen([sys.executable, "-m", "gui", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _trials_written(folder: Path) -> int:
    f = folder / "trials.csv"
    return max(0, len(f.read_text().splitlines()) - 1) if f.exists() else 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killing_the_gui_process_keeps_the_session(tmp_path, config):
    proc = _gui([str(config), "--autostart"], tmp_path)
    data = tmp_path / "data"
    try:
        _wait(lambda: any(_trials_written(f) >= 2 for f in data.glob("*/*")), 60,
              "two trials on disk")
        os.kill(proc.pid, signal.SIGKILL)  # no clean-up of any kind in the GUI
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the session folder (the engine child may still hold the subject's lock beside it)
    (folder,) = [f for f in data.glob("*/*") if not f.parent.name.startswith(".")]
    # the engine child notices its parent is gone, finishes the trial and marks the session
    _wait(lambda: read_metadata(folder).get("status") != "running", 30, "the session to end")
    s = load_session(folder)
    assert s.status == "aborted"
    assert s.metadata["reason"] == "GUI closed"
    assert len(s.trials) == s.metadata["n_trials"] >= 2
    assert list(s.trials["trial"]) == list(range(1, len(s.trials) + 1))  # every trial, whole
    assert not s.warnings
    assert s.events.iloc[-1]["name"] == "all_off"


def test_unattended_run_with_screenshot(tmp_path, config):
    shot = tmp_path / "shot.png"
    proc = _gui([str(config), "--autostart", "--exit-after-trials", "3",
                 "--screenshot", str(shot), "--virtual"], tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert shot.exists() and shot.stat().st_size > 20_000
    (folder,) = list((tmp_path / "data").glob("*/*"))
    s = load_session(folder)
    assert s.status in ("aborted", "completed") and len(s.trials) >= 3


def test_unattended_run_refuses_a_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nreward_ports: 3\n")
    proc = _gui([str(bad), "--autostart", "--exit-after-trials", "1"], tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "reward_ports" in err
