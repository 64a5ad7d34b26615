"""The device panel: manual valve pulses and flushes, a laser test pulse, live lick sensors.

Manual control goes through :class:`rigctl.engine.manual.ManualRig` in a child process
(:class:`rigctl.engine.remote.ManualProcess`), so the interlocks of a session hold here too
(valve ``max_open_s``, laser ceiling and ``max_on_s``, ramp-down) and a slow device never freezes
the window. A rig is opened by one process at a time: the panel is disabled while a session
runs (the session owns the devices) and its rig is closed before a session starts. The sensor
indicators stay live in both cases — from the manual rig, or from the session's input events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from PyQt5.QtCore import QTimer, pyqtSignal
from PyQt5.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.wheel import wheel_needs_focus
from rigctl.engine import messages as m
from rigctl.engine.remote import ManualProcess, ManualRequest

ON_STYLE = "background:#2ecc71; border-radius:9px; border:1px solid #1e8449;"
OFF_STYLE = "background:#d5d8dc; border-radius:9px; border:1px solid #99a3a4;"


class Indicator(QWidget):
    """A round lamp with a label: a lick sensor's level."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.lamp = QLabel()
        self.lamp.setFixedSize(18, 18)
        self.lamp.setStyleSheet(OFF_STYLE)
        lay.addWidget(self.lamp)
        lay.addWidget(QLabel(text))
        lay.addStretch(1)
        self.on = False
        self.count = 0

    def set(self, on: bool) -> None:
        if on and not self.on:
            self.count += 1
        self.on = on
        self.lamp.setStyleSheet(ON_STYLE if on else OFF_STYLE)
        self.lamp.setToolTip(f"{self.count} licks seen")


class DevicePanel(QWidget):
    """Manual control of one rig. ``log(kind, text)`` goes to the tab's log pane."""

    message = pyqtSignal(object)  # every manual-process report (rigctl.engine.messages)
    rearm_requested = pyqtSignal()  # the operator asks to lift the session's laser latch

    def __init__(self, log: Callable[[str, str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.log = log
        self.config_path = ""
        self.proc: ManualProcess | None = None
        self.info: dict[str, Any] = {}
        self.session_running = False
        self.busy = ""
        self._after_close: list[Callable[[], None]] = []
        self._after_ready: list[Callable[[], None]] = []
        self.timer = QTimer(self)
        self.timer.setInterval(30)
        self.timer.timeout.connect(self.pump)

        lay = QVBoxLayout(self)
        conn = QHBoxLayout()
        self.connect_button = QPushButton("Open rig for manual control")
        self.connect_button.setObjectName("manual_connect")
        self.connect_button.setCheckable(True)
        self.connect_button.toggled.connect(self._toggle)
        conn.addWidget(self.connect_button)
        lay.addLayout(conn)
        self.state_label = QLabel("closed")
        self.state_label.setWordWrap(True)
        lay.addWidget(self.state_label)

        self.latch_box = QGroupBox("Session laser")
        latch_l = QHBoxLayout(self.latch_box)
        self.latch_label = QLabel("armed")
        self.latch_label.setObjectName("latch_state")
        self.latch_label.setWordWrap(True)
        self.rearm_button = QPushButton("Re-arm laser")
        self.rearm_button.setObjectName("rearm_laser")
        self.rearm_button.setToolTip("Lift the emergency laser-off latch: laser trials get light "
                                     "again from their next onset")
        self.rearm_button.clicked.connect(self.rearm_requested)
        latch_l.addWidget(self.latch_label, 1)
        latch_l.addWidget(self.rearm_button)
        self.latch_box.setVisible(False)
        self.latched = False
        lay.addWidget(self.latch_box)

        sensors = QGroupBox("Lick sensors (live)")
        self._sensor_row = QHBoxLayout(sensors)
        self.indicators: dict[str, Indicator] = {}
        lay.addWidget(sensors)

        self.controls = QWidget()
        cl = QVBoxLayout(self.controls)
        cl.setContentsMargins(0, 0, 0, 0)
        self.valve_buttons: dict[str, dict[str, QPushButton]] = {}
        valves = QGroupBox("Valves")
        vl = QFormLayout(valves)
        self.open_ms = QDoubleSpinBox()
        self.open_ms.setRange(1, 5000)
        self.open_ms.setValue(40)
        self.open_ms.setSuffix(" ms")
        self.open_ms.setToolTip("Open time of each pulse (valve.max_open_s still applies)")
        self.count = QSpinBox()
        self.count.setRange(1, 10000)
        self.count.setValue(1)
        self.interval = QDoubleSpinBox()
        self.interval.setRange(0, 60)
        self.interval.setValue(0.3)
        self.interval.setSuffix(" s")
        self.flush_s = QDoubleSpinBox()
        self.flush_s.setRange(0.1, 600)
        self.flush_s.setValue(2)
        self.flush_s.setSuffix(" s")
        self.flush_s.setToolTip("Total open time of a flush, as openings of at most "
                                "valve.max_open_s")
        vl.addRow("open time", self.open_ms)
        vl.addRow("pulses", self.count)
        vl.addRow("interval", self.interval)
        vl.addRow("flush", self.flush_s)
        self._valve_form = vl
        self._fixed_valve_rows = vl.rowCount()
        self._build_ports(["left", "right"])  # until a config names its own
        cl.addWidget(valves)

        laser = QGroupBox("Laser test pulse")
        ll = QFormLayout(laser)
        # which laser, on a rig with several (`lasers:`); each has its own ceiling
        self.laser_choice = QComboBox()
        self.laser_choice.setObjectName("laser_choice")
        self.laser_choice.currentTextChanged.connect(self._laser_chosen)
        self.laser_ceilings: dict[str, float] = {}
        self.laser_mw = QDoubleSpinBox()
        # wide range on purpose: a typed value is never cut to fit; the ceiling check below says
        # what is wrong instead (Qt would silently turn a typed "40" into 4)
        self.laser_mw.setRange(0.0, 100000)
        self.laser_mw.setValue(5)
        self.laser_mw.setSuffix(" mW")
        self.laser_mw.setToolTip("Refused above laser.max_power_mw")
        self.laser_mw.valueChanged.connect(lambda _mw: self._update())
        self.laser_ceiling_mw: float | None = None
        self.laser_problem = QLabel("")
        self.laser_problem.setObjectName("laser_problem")
        self.laser_problem.setWordWrap(True)
        self.laser_problem.setStyleSheet("color:#c0392b;")
        self.laser_problem.hide()
        self.laser_s = QDoubleSpinBox()
        self.laser_s.setRange(0.01, 600)
        self.laser_s.setValue(1)
        self.laser_s.setSuffix(" s")
        self.laser_s.setToolTip("Cut by the interlock at laser.max_on_s")
        self.laser_button = QPushButton("Emit test pulse")
        self.laser_button.setObjectName("laser_test")
        self.laser_button.clicked.connect(self.laser_pulse)
        ll.addRow("laser", self.laser_choice)
        self._laser_choice_label = ll.labelForField(self.laser_choice)
        self._show_laser_choice(False)
        ll.addRow("power", self.laser_mw)
        ll.addRow("", self.laser_problem)
        ll.addRow("duration", self.laser_s)
        ll.addRow("", self.laser_button)
        self.laser_box = laser
        cl.addWidget(laser)

        cal = QGroupBox("Calibration")
        cal_l = QHBoxLayout(cal)
        self.cal_valve = QPushButton("Calibrate valve…")
        self.cal_valve.setObjectName("calibrate_valve")
        self.cal_laser = QPushButton("Calibrate laser…")
        self.cal_laser.setObjectName("calibrate_laser")
        cal_l.addWidget(self.cal_valve)
        cal_l.addWidget(self.cal_laser)
        cl.addWidget(cal)

        prog = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.cancel_button)
        cl.addLayout(prog)
        lay.addWidget(self.controls)
        lay.addStretch(1)
        wheel_needs_focus(self)
        self._update()

    # --- lifecycle --------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.proc is not None and bool(self.info)

    def set_config(self, path: str, valid: bool) -> None:
        if path != self.config_path and self.proc is not None:
            self.close_rig()
        self.config_path = path if valid else ""
        self._update()

    def set_ports(self, sides: list[str]) -> None:
        """One lick lamp and one pulse/flush row per reward port, by the config's names (a
        rig may have any number of ports, not only left and right)."""
        if list(sides) != list(self.indicators):
            self._build_ports(sides)
            self._update()

    def _build_ports(self, sides: list[str]) -> None:
        for ind in self.indicators.values():
            self._sensor_row.removeWidget(ind)
            ind.deleteLater()
        while self._valve_form.rowCount() > self._fixed_valve_rows:
            self._valve_form.removeRow(self._fixed_valve_rows)
        self.indicators, self.valve_buttons = {}, {}
        for side in sides:
            self.indicators[side] = Indicator(side)
            self._sensor_row.addWidget(self.indicators[side])
            row = QHBoxLayout()
            pulse = QPushButton(f"Pulse {side}")
            pulse.setObjectName(f"pulse_{side}")
            pulse.clicked.connect(lambda _=False, s=side: self.pulse(s))
            flush = QPushButton(f"Flush {side}")
            flush.setObjectName(f"flush_{side}")
            flush.clicked.connect(lambda _=False, s=side: self.flush(s))
            row.addWidget(pulse)
            row.addWidget(flush)
            self._valve_form.addRow(side, row)
            self.valve_buttons[side] = {"pulse": pulse, "flush": flush}

    def set_laser_ceiling(self, max_power_mw: float | None) -> None:
        """The rig's ``laser.max_power_mw`` (from the config, then from the opened rig)."""
        self.laser_ceiling_mw = max_power_mw
        self._update()

    def set_lasers(self, ceilings: dict[str, float]) -> None:
        """The rig's lasers by name with each one's ``max_power_mw`` (config, then opened
        rig); the choice is shown only when there are several."""
        chosen = self.laser_choice.currentText()
        self.laser_ceilings = dict(ceilings)
        self.laser_choice.blockSignals(True)
        self.laser_choice.clear()
        self.laser_choice.addItems(list(ceilings))
        if chosen in ceilings:
            self.laser_choice.setCurrentText(chosen)
        self.laser_choice.blockSignals(False)
        self._show_laser_choice(len(ceilings) > 1)
        self._laser_chosen(self.laser_choice.currentText())

    def selected_laser(self) -> str | None:
        """The laser the test pulse and the laser calibration address (None: the only one)."""
        return self.laser_choice.currentText() or None

    def _laser_chosen(self, name: str) -> None:
        self.set_laser_ceiling(self.laser_ceilings.get(name))

    def _show_laser_choice(self, show: bool) -> None:
        self.laser_choice.setVisible(show)
        if self._laser_choice_label is not None:
            self._laser_choice_label.setVisible(show)

    def laser_pulse_problem(self) -> str:
        """Why the typed test-pulse power cannot be emitted, or "" (shown under the field)."""
        mw = self.laser_mw.value()
        if mw <= 0:
            return "the power must be above 0 mW"
        ceiling = self.laser_ceiling_mw
        if ceiling is not None and mw > ceiling:
            name = self.selected_laser()
            field = "laser" if name in (None, "laser") else f"lasers.{name}"
            return (f"{mw:g} mW exceeds this rig's ceiling ({field}.max_power_mw = {ceiling:g} "
                    "mW): refused")
        return ""

    def set_session_running(self, running: bool) -> None:
        self.session_running = running
        if not running:
            self.set_latched(False)
        self._update()

    def set_latched(self, latched: bool, t: float | None = None) -> None:
        """Show the session's laser latch as the engine reports it (``laser_latch`` messages,
        ``t``: session time of the press or re-arm)."""
        if latched and not self.latched:
            when = f" since t = {t:.1f} s" if t is not None else ""
            self.latch_label.setText(f"LATCHED OFF{when}")
            self.latch_label.setToolTip("The emergency laser-off holds the light off until you "
                                        "re-arm; the session goes on and its laser trials are "
                                        "recorded as blocked (laser_blocked = 1)")
            self.latch_label.setStyleSheet("color:#c0392b; font-weight:bold;")
        elif not latched:
            when = f" (re-armed at t = {t:.1f} s)" if t is not None else ""
            self.latch_label.setText(f"armed{when}")
            self.latch_label.setStyleSheet("color:#117a65;" if t is not None else "")
        self.latched = latched
        self._update()

    def _toggle(self, on: bool) -> None:
        if on and self.proc is None:
            self.open_rig()
        elif not on and self.proc is not None:
            self.close_rig()

    def open_rig(self, calibrated_laser: bool = True,
                 then: Callable[[], None] | None = None) -> None:
        """Open the rig in a manual child process (``then`` runs once it is ready)."""
        if self.session_running or not self.config_path:
            return
        if self.proc is not None:
            if self.info.get("calibrated_laser", True) == calibrated_laser and self.info:
                if then:
                    then()
                return
            self.close_rig(then=lambda: self.open_rig(calibrated_laser, then))
            return
        self.proc = ManualProcess(ManualRequest(self.config_path, calibrated_laser))
        self.proc.start()
        if then:
            self._after_ready.append(then)
        self.state_label.setText("opening the rig…")
        self.timer.start()
        self._update()

    def close_rig(self, then: Callable[[], None] | None = None) -> None:
        """Close the manual rig (outputs off); ``then`` runs once its process has exited."""
        if then:
            self._after_close.append(then)
        if self.proc is None:
            self._run_after_close()
            return
        self.proc.send(m.Close())
        self.state_label.setText("closing the rig…")

    def _run_after_close(self) -> None:
        callbacks, self._after_close = self._after_close, []
        for cb in callbacks:
            cb()

    def cancel(self) -> None:
        """Stop the operation in progress (its outputs go off); also the laser-off path."""
        if self.proc is not None:
            self.proc.send(m.Cancel())

    def shutdown(self, timeout: float = 3.0) -> None:
        """Close at once (window closing): ask the child to close and wait briefly."""
        if self.proc is not None:
            self.proc.send(m.Close())
            self.proc.join(timeout)
            self.proc.close_pipe()
            self.proc = None

    # --- operations -------------------------------------------------------------------------------
    def _op(self, cmd: m.ManualOp) -> None:
        if not self.connected or self.busy or self.proc is None:
            return
        self.busy = cmd.op
        self.proc.send(cmd)
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"{self.busy}…")
        self._update()

    def pulse(self, side: str) -> None:
        self._op(m.ValvePulse(side, self.open_ms.value(), self.count.value(),
                              self.interval.value()))

    def flush(self, side: str) -> None:
        self._op(m.Flush(side, self.flush_s.value()))

    def laser_pulse(self) -> None:
        problem = self.laser_pulse_problem()
        if problem:
            self.log("error", f"laser test pulse: {problem}")
            return
        self._op(m.LaserPulse(self.laser_mw.value(), self.laser_s.value(),
                              self.selected_laser()))

    def run_calibration(self, cmd: m.CalibrateValve | m.CalibrateLaser) -> None:
        self._op(cmd)

    def set_sensor(self, side: str, on: bool) -> None:
        if side in self.indicators:
            self.indicators[side].set(on)

    # --- messages ---------------------------------------------------------------------------------
    def pump(self) -> None:
        proc = self.proc
        if proc is None:
            self.timer.stop()
            return
        for msg in proc.poll():
            self._handle(msg)
            self.message.emit(msg)
        if proc.closed or not proc.is_alive():
            for msg in proc.poll():
                self._handle(msg)
            if not proc.is_alive():
                proc.join(0.1)
                self.proc = None
                self.info = {}
                self.busy = ""
                self.state_label.setText("closed")
                self.connect_button.blockSignals(True)
                self.connect_button.setChecked(False)
                self.connect_button.blockSignals(False)
                self.progress.setRange(0, 1)
                self.progress.setFormat("")
                self._update()
                self._run_after_close()

    def _handle(self, msg: Any) -> None:
        match msg:
            case m.ManualReady():
                self.info = asdict(msg)
                self.set_ports(list(msg.sides))
                limits = ""
                if msg.has_laser and msg.max_power_mw is not None:
                    limits = (f"; laser ≤ {msg.max_power_mw:g} mW, ≤ {msg.max_on_s:g} s"
                              if len(msg.lasers) <= 1 else f"; {len(msg.lasers)} lasers")
                    limits += ("" if msg.calibrated_laser
                               else " (uncalibrated, for calibration)")
                    if msg.lasers:
                        self.set_lasers({la.name: la.max_power_mw for la in msg.lasers})
                    else:
                        self.set_laser_ceiling(float(msg.max_power_mw))
                self.state_label.setText(f"open: {msg.rig}{limits}")
                self.connect_button.blockSignals(True)
                self.connect_button.setChecked(True)
                self.connect_button.blockSignals(False)
                self.log("session", f"rig opened for manual control ({msg.rig})")
                callbacks, self._after_ready = self._after_ready, []
                for cb in callbacks:
                    cb()
            case m.Failed(problems):
                for line in problems:
                    self.log("error", line)
                self.state_label.setText("could not open the rig: " + "; ".join(problems))
            case m.Input(_t, name, value):
                if name.startswith("lick_"):
                    self.set_sensor(name.removeprefix("lick_"), bool(value))
            case m.Event(_t, k, name, value):
                if k in ("interlock", "error", "warning"):
                    self.log(k, f"{name}: {value}")
                elif k == "output" and not name.startswith("cue"):
                    self.log("output", f"{name} {value}")
            case m.Progress(op, done, total):
                self.progress.setRange(0, 1000)
                self.progress.setValue(int(1000 * min(1.0, float(done) / (float(total) or 1.0))))
                self.progress.setFormat(f"{op}: {done:g}/{total:g}")
            case m.OpDone(op, result):
                self.busy = ""
                self.progress.setRange(0, 1)
                self.progress.setValue(1)
                self.progress.setFormat(f"{op}: done")
                self.log("session", f"{op} done: {_short(result)}")
            case m.OpError(op, message):
                self.busy = ""
                self.progress.setRange(0, 1)
                self.progress.setValue(0)
                self.progress.setFormat(f"{op}: refused")
                self.log("error", f"{op}: {message}")
            case m.Closed(failures):
                for f in failures:
                    self.log("error", f"turning off failed: {f}")
                self.log("session", "manual rig closed (outputs off)")
        self._update()

    def _update(self) -> None:
        self.connect_button.setText("Close the manual rig (outputs off)" if self.proc is not None
                                    else "Open rig for manual control")
        can_open = bool(self.config_path) and not self.session_running
        self.connect_button.setEnabled(can_open or self.proc is not None)
        enabled = self.connected and not self.session_running and not self.busy
        for side, buttons in self.valve_buttons.items():
            for b in buttons.values():
                b.setEnabled(enabled and side in self.info.get("sides", []))
        problem = self.laser_pulse_problem()
        self.laser_problem.setText(problem)
        self.laser_problem.setVisible(bool(problem))
        self.laser_button.setEnabled(enabled and bool(self.info.get("has_laser"))
                                     and self.info.get("calibrated_laser", True) and not problem)
        for w in (self.open_ms, self.count, self.interval, self.flush_s, self.laser_mw,
                  self.laser_s, self.laser_choice):
            w.setEnabled(not self.session_running)
        self.cal_valve.setEnabled(can_open and not self.busy)
        self.cal_laser.setEnabled(can_open and not self.busy)
        self.cancel_button.setEnabled(bool(self.busy))
        self.latch_box.setVisible(self.session_running)
        self.rearm_button.setEnabled(self.session_running and self.latched)
        if self.session_running:
            self.state_label.setText("a session is running: manual control is disabled "
                                     "(the emergency laser-off stays available)")


def _short(result: Any) -> str:
    if isinstance(result, dict):
        if "on_s" in result:
            cut = " (cut by the max on-time interlock)" if result.get("cut_by_interlock") else ""
            return f"{result['command']:g} {result['unit']} for {result['on_s']:.2f} s{cut}"
        return "calibration measured"
    if isinstance(result, float):
        return f"{result:.3g} s open"
    return str(result)

