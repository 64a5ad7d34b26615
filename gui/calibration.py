"""Calibration dialogs: the valve (µL per opening) and the laser (mW at the fibre tip).

Both run the calibration procedures of :mod:`rigctl.engine.manual` (``calibrate_valve``,
``calibrate_laser``) — the same code as ``rigctl calibrate`` — in the rig's manual process. The
procedure asks for a measurement after each step; the dialog shows the step and takes the
operator's number (parsed with the command line's parsers, so ``213.5``, ``0.2135 g`` and
``210 µL`` all work). At the end it shows the fit with its residuals and writes the record into
the rig config on request (``write_calibration``, which keeps the file's comments).
"""

from __future__ import annotations

from typing import Any

from PyQt5.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.devices import DevicePanel
from gui.forms import ERROR_STYLE
from gui.wheel import wheel_needs_focus
from rigctl.engine import messages as m


class CalibrationDialog(QDialog):
    """Common steps: plan → run (measure each step) → fit → save."""

    kind = "valve"

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        wheel_needs_focus(self)  # the subclasses' fields exist by now
        super().showEvent(event)

    def __init__(self, panel: DevicePanel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panel = panel
        self.record: dict[str, Any] | None = None
        self.setMinimumWidth(520)
        lay = QVBoxLayout(self)
        self.plan = QFormLayout()
        lay.addLayout(self.plan)
        self.error = QLabel("")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        lay.addWidget(self.error)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        lay.addWidget(self.start_button)
        self.progress = QProgressBar()
        lay.addWidget(self.progress)
        self.prompt = QLabel("")
        self.prompt.setWordWrap(True)
        lay.addWidget(self.prompt)
        row = QHBoxLayout()
        self.measurement = QLineEdit()
        self.measurement.setObjectName("measurement")
        self.measurement.returnPressed.connect(self.enter)
        self.enter_button = QPushButton("Enter")
        self.enter_button.clicked.connect(self.enter)
        row.addWidget(self.measurement, 1)
        row.addWidget(self.enter_button)
        lay.addLayout(row)
        self.result = QPlainTextEdit()
        self.result.setReadOnly(True)
        self.result.setMinimumHeight(160)
        lay.addWidget(self.result)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save to rig config")
        self.save_button.clicked.connect(self.save)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.cancel)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(close)
        lay.addLayout(buttons)
        self._waiting = False
        self._set_waiting(False)
        self.save_button.setEnabled(False)
        panel.message.connect(self.on_message)

    # --- subclass hooks ---------------------------------------------------------------------------
    def command(self) -> m.CalibrateValve | m.CalibrateLaser:
        raise NotImplementedError

    def calibrated_laser(self) -> bool:
        return True

    def parse(self, text: str) -> float:
        raise NotImplementedError

    def describe(self, record: dict[str, Any]) -> str:
        raise NotImplementedError

    def write(self, record: dict[str, Any]) -> None:
        raise NotImplementedError

    # --- flow -------------------------------------------------------------------------------------
    def start(self) -> None:
        from rigctl.errors import RigctlError

        try:
            cmd = self.command()
        except RigctlError as exc:
            self.error.setText(str(exc))
            return
        self.error.setText("")
        self.record = None
        self.save_button.setEnabled(False)
        self.result.setPlainText("")
        self.start_button.setEnabled(False)
        self.prompt.setText("opening the rig…")
        self.panel.open_rig(self.calibrated_laser(),
                            then=lambda: self.panel.run_calibration(cmd))

    def _set_waiting(self, waiting: bool) -> None:
        self._waiting = waiting
        self.measurement.setEnabled(waiting)
        self.enter_button.setEnabled(waiting)
        if waiting:
            self.measurement.setFocus()

    def enter(self) -> None:
        from rigctl.hardware.calibration import CalibrationError

        if not self._waiting or self.panel.proc is None:
            return
        try:
            value = self.parse(self.measurement.text())
        except CalibrationError as exc:
            self.error.setText(str(exc))
            return
        self.error.setText("")
        self.measurement.clear()
        self._set_waiting(False)
        self.prompt.setText("running the next step…")
        self.panel.proc.send(m.Measurement(value))

    def cancel(self) -> None:
        self.panel.cancel()
        self._set_waiting(False)

    def on_message(self, msg: Any) -> None:
        if getattr(msg, "op", f"calibrate_{self.kind}") != f"calibrate_{self.kind}":
            return
        if isinstance(msg, m.Progress):
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * msg.done / (msg.total or 1)))
        elif isinstance(msg, m.CalStep):
            self.prompt.setText(self.step_text(msg.step))
            self._set_waiting(True)
        elif isinstance(msg, m.OpDone):
            self.record = msg.result
            self.prompt.setText("done: check the fit, then save it to the rig config")
            try:
                self.result.setPlainText(self.describe(self.record))
                self.save_button.setEnabled(True)
            except Exception as exc:  # noqa: BLE001 - shown, not raised
                self.error.setText(str(exc))
            self.start_button.setEnabled(True)
        elif isinstance(msg, m.OpError):
            self.error.setText(msg.message)
            self.prompt.setText("")
            self._set_waiting(False)
            self.start_button.setEnabled(True)
        elif isinstance(msg, m.Failed):
            self.error.setText("; ".join(msg.problems))
            self.start_button.setEnabled(True)

    def step_text(self, step: dict[str, Any]) -> str:
        raise NotImplementedError

    def save(self) -> None:
        from rigctl.errors import RigctlError

        if self.record is None:
            return
        try:
            self.write(self.record)
        except RigctlError as exc:
            self.error.setText(str(exc))
            return
        self.prompt.setText(f"saved to {self.panel.config_path}; reload the config to use it")
        self.save_button.setEnabled(False)


def _numbers(text: str) -> list[float]:
    from rigctl.hardware.calibration import CalibrationError, parse_number

    items = [s for s in text.replace(";", ",").split(",") if s.strip()]
    try:
        return [parse_number(s) for s in items]
    except CalibrationError as exc:
        raise CalibrationError(f"{exc}") from None


def _fit_table(points: list[list[float]], fitted: list[float], xu: str, yu: str) -> str:
    lines = [f"{'command ' + xu:>14} {'measured ' + yu:>14} {'fit':>10} {'residual %':>11}"]
    for (x, y), f in zip(points, fitted, strict=True):
        pct = 100 * (y - f) / y if y else float("nan")
        lines.append(f"{x:>14g} {y:>14.4g} {f:>10.4g} {pct:>+11.1f}")
    return "\n".join(lines)


class ValveCalibrationDialog(CalibrationDialog):
    kind = "valve"

    def __init__(self, panel: DevicePanel, parent: QWidget | None = None) -> None:
        super().__init__(panel, parent)
        self.setWindowTitle("Calibrate a valve")
        self.side = QComboBox()
        self.side.addItems(list(panel.indicators))  # the rig's reward ports, by name
        self.times = QLineEdit("20, 40, 60, 80")
        self.times.setToolTip("Open times (ms) to measure; span the rewards you will give")
        self.openings = QSpinBox()
        self.openings.setRange(1, 10000)
        self.openings.setValue(100)
        self.interval = QDoubleSpinBox()
        self.interval.setRange(0, 10)
        self.interval.setValue(0.3)
        self.interval.setSuffix(" s")
        self.plan.addRow("port", self.side)
        self.plan.addRow("open times (ms)", self.times)
        self.plan.addRow("openings per time", self.openings)
        self.plan.addRow("interval", self.interval)
        self.plan.addRow(QLabel("Put a weighed tube under the port. After each step, weigh, "
                                "enter the water of that step's openings (mg or µL), and "
                                "empty the tube: the next step starts when you press Enter."))

    def command(self) -> m.CalibrateValve | m.CalibrateLaser:
        from rigctl.config import load_rig
        from rigctl.engine.manual import check_valve_plan

        cfg = load_rig(self.panel.config_path)
        times = check_valve_plan(cfg, self.side.currentText(), _numbers(self.times.text()),
                                 self.openings.value(), self.interval.value())
        return m.CalibrateValve(self.side.currentText(), times, self.openings.value(),
                                self.interval.value())

    def parse(self, text: str) -> float:
        from rigctl.hardware.calibration import parse_amount

        return parse_amount(text, "mg")

    def step_text(self, step: dict[str, Any]) -> str:
        return (f"Step {step['index'] + 1}/{step['count']}: {step['openings']} openings of "
                f"{step['command']:g} ms done. Water delivered (mg or µL):")

    def describe(self, record: dict[str, Any]) -> str:
        from rigctl.config.calibration import ValveCalibrationConfig
        from rigctl.hardware.calibration import ValveCurve

        rec = ValveCalibrationConfig.model_validate(record)
        curve = ValveCurve(rec, name=f"reward_ports.{self.side.currentText()}.calibration")
        fitted = [float(curve.fit(x)) for x, _ in rec.points]
        lo, hi = curve.ul_range
        c0, c1, c2 = curve.fit.coefficients
        return (f"fit: µL = {c0:.4g} + {c1:.4g}·ms + {c2:.4g}·ms²\n"
                + _fit_table([list(p) for p in rec.points], fitted, "ms", "µL") +
                f"\nrewards from {lo:.3g} to {hi:.3g} µL; outside this range they are refused")

    def write(self, record: dict[str, Any]) -> None:
        from rigctl.config.calibration import ValveCalibrationConfig, write_calibration

        write_calibration(self.panel.config_path, ValveCalibrationConfig.model_validate(record),
                          side=self.side.currentText())


class LaserCalibrationDialog(CalibrationDialog):
    kind = "laser"

    def __init__(self, panel: DevicePanel, parent: QWidget | None = None) -> None:
        super().__init__(panel, parent)
        self.setWindowTitle("Calibrate the laser")
        self.commands = QLineEdit("1, 2, 4, 8")
        self.commands.setToolTip("Commands to measure: volts for an analog laser, the power "
                                 "set-point (mW) for a serial or simulated laser")
        self.on_s = QDoubleSpinBox()
        self.on_s.setRange(0.1, 600)
        self.on_s.setValue(3)
        self.on_s.setSuffix(" s")
        self.which = QComboBox()  # on a rig with several lasers: the one on the power meter
        self.which.setObjectName("calibrate_which_laser")
        self.which.addItems(list(panel.laser_ceilings))
        if panel.selected_laser():
            self.which.setCurrentText(panel.selected_laser() or "")
        if self.which.count() > 1:
            self.plan.addRow("laser", self.which)
        self.plan.addRow("commands", self.commands)
        self.plan.addRow("light on for", self.on_s)
        self.plan.addRow(QLabel("Put the fibre tip on the power meter; read it while the light "
                                "is on and enter the reading (mW) when it is off. The rig is "
                                "opened without its laser calibration for this."))

    def calibrated_laser(self) -> bool:
        return False

    def command(self) -> m.CalibrateValve | m.CalibrateLaser:
        from rigctl.config import load_rig
        from rigctl.engine.manual import check_laser_plan

        cfg = load_rig(self.panel.config_path)
        name = self.laser_name()
        units = {la["name"]: la["unit"] for la in self.panel.info.get("lasers", [])}
        unit = units.get(name or "") or self.panel.info.get("laser_unit") or "mW"
        cmds = check_laser_plan(cfg, _numbers(self.commands.text()), self.on_s.value(), unit,
                                name)
        return m.CalibrateLaser(cmds, self.on_s.value(), name)

    def laser_name(self) -> str | None:
        return self.which.currentText() or None

    def parse(self, text: str) -> float:
        from rigctl.hardware.calibration import parse_number

        return parse_number(text)

    def step_text(self, step: dict[str, Any]) -> str:
        return (f"Step {step['index'] + 1}/{step['count']}: {step['command']:g} {step['unit']} "
                f"emitted for {step['on_s']:g} s. Power at the fibre tip (mW):")

    def describe(self, record: dict[str, Any]) -> str:
        from rigctl.config.calibration import LaserCalibrationConfig
        from rigctl.hardware.calibration import LaserCurve

        rec = LaserCalibrationConfig.model_validate(record)
        curve = LaserCurve(rec)
        fitted = [float(curve.fit(x)) for x, _ in rec.points]
        lo, hi = curve.mw_range
        return (_fit_table([list(p) for p in rec.points], fitted, rec.command_unit, "mW")
                + f"\npowers from {lo:.3g} to {hi:.3g} mW; outside this range they are refused")

    def write(self, record: dict[str, Any]) -> None:
        from rigctl.config.calibration import LaserCalibrationConfig, write_calibration

        write_calibration(self.panel.config_path, LaserCalibrationConfig.model_validate(record),
                          laser_name=self.laser_name())
