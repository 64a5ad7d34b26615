"""The session workflow in the real window: start, trials arrive, edit a parameter, stop."""

from __future__ import annotations

from pathlib import Path

from rigctl.data import load_session

TIMEOUT_MS = 30_000


def _add(window, config: Path):
    tab = window.add_rig(str(config))
    assert tab.setup.cfg is not None, tab.setup.problem_lines()
    return tab


def _events(folder: str):
    return load_session(folder).events


def test_start_trials_edit_parameter_stop_realtime(qtbot, window, config):
    tab = _add(window, config)
    assert not tab.setup.virtual.isChecked()
    assert tab.start_button.isEnabled()
    tab.confirm = lambda title, text: True
    qtbot.mouseClick(tab.start_button, 1)
    qtbot.waitUntil(lambda: tab.n_trials >= 2, timeout=TIMEOUT_MS)
    assert tab.phase == "running"
    assert not tab.start_button.isEnabled() and tab.stop_button.isEnabled()
    assert not tab.setup.subject_id.isEnabled()  # only parameters change during a run

    # a value the rig refuses (above laser.max_power_mw) is refused and shown by its field
    form = tab.setup.form
    form.editors["laser_power_mw"].widget.setValue(50)
    qtbot.mouseClick(tab.setup.apply_button, 1)
    qtbot.waitUntil(lambda: "refused" in tab.setup.apply_status.text(), timeout=TIMEOUT_MS)
    assert "laser.max_power_mw" in form.editors["laser_power_mw"].error.text()
    form.editors["laser_power_mw"].widget.setValue(5)
    # fixing the field clears the refusal (text and field), nothing stale is left
    assert "refused" not in tab.setup.apply_status.text()
    assert form.editors["laser_power_mw"].error.text() == ""

    # an accepted change applies from the next trial and is logged with old -> new
    form.editors["iti_s"].widget.setValue(0.45)
    qtbot.mouseClick(tab.setup.apply_button, 1)
    qtbot.waitUntil(lambda: "accepted" in tab.setup.apply_status.text(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "iti_s 0.3 -> 0.45" in tab.log_text(), timeout=TIMEOUT_MS)
    n_before = tab.n_trials
    qtbot.waitUntil(lambda: tab.n_trials >= n_before + 1, timeout=TIMEOUT_MS)

    # live view has what it needs
    live = tab.live.state
    assert live.trials and live.state != "—"
    assert len(tab.live.signal.data) > 50  # decimated neural signal arrived
    tab.live.refresh(True)
    assert tab.live.status.values["trial"].text().startswith(f"{tab.n_trials}/500")

    qtbot.mouseClick(tab.stop_button, 1)
    qtbot.waitUntil(lambda: tab.phase == "idle", timeout=TIMEOUT_MS)
    assert tab.ended is not None
    assert tab.ended["status"] == "aborted"
    assert tab.ended["reason"] == "stopped by the operator"
    s = load_session(tab.ended["folder"])
    assert s.status == "aborted"
    assert len(s.trials) == tab.ended["n_trials"] >= 3
    params = s.events[s.events["kind"] == "params"]
    assert list(params["name"]) == ["iti_s"]
    assert s.events.iloc[-1]["name"] == "all_off"
    assert s.metadata["protocol"]["parameters"]["n_trials"] == 500


def test_start_edit_stop_virtual_time(qtbot, window, config):
    tab = _add(window, config)
    tab.setup.virtual.setChecked(True)
    tab.setup.form.editors["n_trials"].widget.setValue(100_000)
    tab.confirm = lambda title, text: True
    tab.start()
    qtbot.waitUntil(lambda: tab.n_trials >= 5, timeout=TIMEOUT_MS)
    tab.setup.form.editors["timeout_s"].widget.setValue(0.7)
    tab.apply_params()
    qtbot.waitUntil(lambda: "accepted" in tab.setup.apply_status.text(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "timeout_s 0.2 -> 0.7" in tab.log_text(), timeout=TIMEOUT_MS)
    tab.stop()
    qtbot.waitUntil(lambda: tab.phase == "idle", timeout=TIMEOUT_MS)
    s = load_session(tab.ended["folder"])
    assert s.metadata["clock"] == "virtual"
    assert s.status == "aborted" and s.metadata["reason"] == "stopped by the operator"
    assert len(s.trials) == tab.ended["n_trials"]
    assert s.events.iloc[-1]["name"] == "all_off"


def test_session_to_completion_shows_summary(qtbot, window, make_rig):
    tab = _add(window, make_rig(params={"n_trials": 30}))
    tab.setup.virtual.setChecked(True)
    tab.start()
    qtbot.waitUntil(lambda: tab.summary is not None, timeout=60_000)
    qtbot.waitUntil(lambda: tab.phase == "idle", timeout=TIMEOUT_MS)
    assert tab.ended["status"] == "completed" and tab.ended["n_trials"] == 30
    view = tab.summary_view
    assert view.table.rowCount() >= 1
    assert "completed" in view.head.text()
    figure = tab.summary.get("figure")
    if figure:  # the data engineer's summary figure (matplotlib) is in the session folder
        assert Path(figure).parent == Path(tab.ended["folder"]) and Path(figure).exists()
        assert view.figure.pixmap() is not None
    else:
        assert tab.summary.get("figure_error")
    tab.live.refresh(False)
    assert tab.live.status.values["trial"].text() == "30/30"
    # the state fields say the session is over instead of freezing on its last state
    assert tab.live.status.values["state"].text() == "ended"
    assert tab.live.status.values["in_state"].text() == "completed"


def test_remembers_choices_per_rig(qtbot, window, config, settings):
    tab = _add(window, config)
    tab.setup.subject_id.setText("M12")
    tab.setup.genotype.setCurrentText("ip3r2_ko")
    tab.setup.form.editors["n_trials"].widget.setValue(3)
    tab.setup.virtual.setChecked(True)
    tab.start()
    qtbot.waitUntil(lambda: tab.phase == "idle" and tab.ended is not None, timeout=60_000)
    assert load_session(tab.ended["folder"]).metadata["subject"]["genotype"] == "ip3r2_ko"

    from gui.app import MainWindow

    again = MainWindow(settings, configs=[str(config)])
    qtbot.addWidget(again)
    t2 = again.rig_tabs()[0]
    assert t2.setup.subject_id.text() == "M12"
    assert t2.setup.genotype.currentText() == "ip3r2_ko"
    assert t2.setup.form.values()["n_trials"] == 3
    assert t2.setup.virtual.isChecked()
