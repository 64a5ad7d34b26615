"""The device panel (manual control in its own process) and the calibration dialogs."""

from __future__ import annotations

import yaml

from gui.calibration import ValveCalibrationDialog
from rigctl.config import load_rig

TIMEOUT_MS = 20_000


def _open(qtbot, window, config):
    tab = window.add_rig(str(config))
    panel = tab.devices
    tab.left.setCurrentWidget(panel)
    qtbot.mouseClick(panel.connect_button, 1)
    qtbot.waitUntil(lambda: panel.connected, timeout=TIMEOUT_MS)
    return tab, panel


def test_manual_valve_laser_sensors_then_session(qtbot, window, config):
    tab, panel = _open(qtbot, window, config)
    assert panel.valve_buttons["left"]["pulse"].isEnabled()

    # a pulse delivers water; the simulated mouse licks it, and the sensor lamp sees it
    panel.open_ms.setValue(40)
    qtbot.mouseClick(panel.valve_buttons["left"]["pulse"], 1)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT_MS)
    assert "valve_pulse done" in tab.log_text()
    qtbot.waitUntil(lambda: panel.indicators["left"].count >= 1, timeout=TIMEOUT_MS)

    panel.flush_s.setValue(0.6)  # two openings: max_open_s 0.5 still holds
    qtbot.mouseClick(panel.valve_buttons["right"]["flush"], 1)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT_MS)
    assert "flush done: 0.6 s open" in tab.log_text()

    # the power ceiling applies to a test pulse: a typed "40" stays 40 (not a silent 4.00)
    # and is refused visibly, naming the ceiling, before anything is sent
    edit = panel.laser_mw.lineEdit()
    edit.selectAll()
    qtbot.keyClicks(edit, "40")
    assert panel.laser_mw.value() == 40
    assert panel.laser_problem.isVisible()
    assert panel.laser_problem.text() == ("40 mW exceeds this rig's ceiling "
                                          "(laser.max_power_mw = 15 mW): refused")
    assert not panel.laser_button.isEnabled()
    panel.laser_pulse()  # even called directly, nothing is sent
    assert not panel.busy and "laser test pulse: 40 mW exceeds" in tab.log_text()
    edit.selectAll()
    qtbot.keyClicks(edit, "4")
    assert panel.laser_mw.value() == 4 and not panel.laser_problem.isVisible()
    assert panel.laser_button.isEnabled()

    # the emergency laser-off cancels a manual pulse at once
    panel.laser_mw.setValue(5)
    panel.laser_s.setValue(20)
    qtbot.mouseClick(panel.laser_button, 1)
    qtbot.waitUntil(lambda: "output" in tab.log_text() and "laser 5mW" in tab.log_text(),
                    timeout=TIMEOUT_MS)
    qtbot.mouseClick(tab.laser_off_button, 1)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT_MS)
    assert "cancelled by the operator" in tab.log_text()

    # starting a session closes the manual rig first; the panel is disabled meanwhile, the
    # lamps follow the session's licks
    tab.setup.virtual.setChecked(False)
    tab.start()
    qtbot.waitUntil(lambda: tab.phase == "running", timeout=TIMEOUT_MS)
    assert panel.proc is None and "manual rig closed" in tab.log_text()
    assert not panel.connect_button.isEnabled()
    assert not panel.valve_buttons["left"]["pulse"].isEnabled()
    assert tab.laser_off_button.isEnabled()
    before = panel.indicators["left"].count + panel.indicators["right"].count
    qtbot.waitUntil(lambda: panel.indicators["left"].count + panel.indicators["right"].count
                    > before, timeout=TIMEOUT_MS)
    tab.confirm = lambda title, text: True
    tab.stop()
    qtbot.waitUntil(lambda: tab.phase == "idle", timeout=TIMEOUT_MS)
    assert panel.connect_button.isEnabled()


def test_valve_calibration_dialog(qtbot, window, config):
    tab = window.add_rig(str(config))
    dialog = ValveCalibrationDialog(tab.devices, tab)
    qtbot.addWidget(dialog)
    dialog.side.setCurrentText("right")
    dialog.times.setText("20, 40")
    dialog.openings.setValue(3)
    dialog.interval.setValue(0.02)

    dialog.times.setText("20, 900")  # above max_open_s: refused before any pulse
    dialog.start()
    assert "max_open_s" in dialog.error.text()
    dialog.times.setText("20, 40")
    dialog.start()
    for total in ("6.3", "13.2 mg"):
        qtbot.waitUntil(lambda: dialog.measurement.isEnabled(), timeout=TIMEOUT_MS)
        dialog.measurement.setText(total)
        dialog.enter()
    qtbot.waitUntil(lambda: dialog.record is not None, timeout=TIMEOUT_MS)
    assert "rewards from 2.1 to 4.4 µL" in dialog.result.toPlainText()
    assert dialog.save_button.isEnabled()
    dialog.save()
    cal = load_rig(str(config)).reward_ports.right.calibration
    assert [list(p) for p in cal.points] == [[20, 2.1], [40, 4.4]] and cal.openings == 3
    assert yaml.safe_load(config.read_text())["reward_ports"]["left"]["calibration"]["points"]
    tab.devices.close_rig()
    qtbot.waitUntil(lambda: tab.devices.proc is None, timeout=TIMEOUT_MS)


def test_laser_calibration_dialog(qtbot, window, config):
    from gui.calibration import LaserCalibrationDialog

    tab = window.add_rig(str(config))
    dialog = LaserCalibrationDialog(tab.devices, tab)
    qtbot.addWidget(dialog)
    dialog.commands.setText("2, 4")
    dialog.on_s.setValue(0.2)
    dialog.start()
    qtbot.waitUntil(lambda: tab.devices.connected, timeout=TIMEOUT_MS)
    assert not tab.devices.info["calibrated_laser"]  # set-points go out uncorrected
    for reading in ("1.8", "3.7"):
        qtbot.waitUntil(lambda: dialog.measurement.isEnabled(), timeout=TIMEOUT_MS)
        dialog.measurement.setText(reading)
        dialog.enter()
    qtbot.waitUntil(lambda: dialog.record is not None, timeout=TIMEOUT_MS)
    assert "powers from 1.8 to 3.7 mW" in dialog.result.toPlainText()
    dialog.save()
    cal = load_rig(str(config)).laser.calibration
    assert cal.command_unit == "mW" and [list(p) for p in cal.points] == [[2, 1.8], [4, 3.7]]
    tab.devices.close_rig()
    qtbot.waitUntil(lambda: tab.devices.proc is None, timeout=TIMEOUT_MS)


def test_a_bilateral_rig_pulses_and_calibrates_the_laser_the_operator_chose(
        qtbot, window, tmp_path):
    from gui.calibration import LaserCalibrationDialog
    from tests.conftest import ROOT

    config = tmp_path / "bilateral.yaml"
    config.write_text((ROOT / "hardware_configs" / "sim_bilateral.yaml").read_text())
    tab, panel = _open(qtbot, window, config)
    assert panel.laser_choice.isVisible()
    assert [panel.laser_choice.itemText(i) for i in range(panel.laser_choice.count())] == [
        "left_mpfc", "right_mpfc"]
    panel.laser_choice.setCurrentText("right_mpfc")  # its own ceiling: 10 mW (left: 15)
    panel.laser_mw.setValue(12)
    assert panel.laser_problem.text() == ("12 mW exceeds this rig's ceiling "
                                          "(lasers.right_mpfc.max_power_mw = 10 mW): refused")
    panel.laser_mw.setValue(3)
    panel.laser_s.setValue(0.2)
    qtbot.mouseClick(panel.laser_button, 1)
    qtbot.waitUntil(lambda: "right_mpfc 3mW" in tab.log_text(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT_MS)
    assert "left_mpfc 3mW" not in tab.log_text()

    dialog = LaserCalibrationDialog(panel, tab)
    qtbot.addWidget(dialog)
    assert dialog.which.currentText() == "right_mpfc"
    dialog.commands.setText("2, 4")
    dialog.on_s.setValue(0.2)
    dialog.start()
    for reading in ("1.9", "3.8"):
        qtbot.waitUntil(lambda: dialog.measurement.isEnabled(), timeout=TIMEOUT_MS)
        dialog.measurement.setText(reading)
        dialog.enter()
    qtbot.waitUntil(lambda: dialog.record is not None, timeout=TIMEOUT_MS)
    dialog.save()
    cfg = load_rig(str(config))
    assert cfg.lasers["left_mpfc"].calibration is None
    assert [list(p) for p in cfg.lasers["right_mpfc"].calibration.points] == [
        [2, 1.9], [4, 3.8]]
    panel.close_rig()
    qtbot.waitUntil(lambda: panel.proc is None, timeout=TIMEOUT_MS)


def test_a_rig_with_a_third_port_gets_its_own_lamp_valve_buttons_and_calibration(
        qtbot, window, tmp_path):
    from tests.conftest import ROOT

    data = yaml.safe_load((ROOT / "hardware_configs" / "sim.yaml").read_text())
    data["reward_ports"]["centre"] = {
        "valve": {"channel": "sim/valve_centre", "max_open_s": 0.5},
        "lick_sensor": {"channel": "sim/lick_centre"},
        "calibration": data["reward_ports"]["left"]["calibration"]}
    data["data_root"] = str(tmp_path / "data")
    config = tmp_path / "three_ports.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    tab, panel = _open(qtbot, window, config)
    assert list(panel.indicators) == list(panel.valve_buttons) == ["left", "right", "centre"]
    panel.open_ms.setValue(30)
    qtbot.mouseClick(panel.valve_buttons["centre"]["pulse"], 1)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT_MS)
    assert "valve_centre 30.000ms" in tab.log_text() and "valve_pulse done: 1" in tab.log_text()
    dialog = ValveCalibrationDialog(panel, tab)
    qtbot.addWidget(dialog)
    assert [dialog.side.itemText(i) for i in range(dialog.side.count())] == [
        "left", "right", "centre"]
    panel.close_rig()
    qtbot.waitUntil(lambda: panel.proc is None, timeout=TIMEOUT_MS)
