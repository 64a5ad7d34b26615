"""One rig: setup, controls, live view, log, device panel and summary, with its own engine.

A tab owns at most one engine process (a running session) and at most one manual process
(device panel), never both at once. Messages from the engine are pumped by a 30 ms timer and
only stored; the plots redraw at ``REFRESH_MS``. Nothing here touches a device: every command
goes to a child process, so this window may freeze, crash or close without a session noticing
more than "GUI closed".
"""

from __future__ import annotations

import html
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QFont, QPixmap
from PyQt5.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.calibration import LaserCalibrationDialog, ValveCalibrationDialog
from gui.devices import DevicePanel
from gui.live import LiveView
from gui.setup import SetupPanel
from rigctl.engine import messages as m
from rigctl.engine.remote import EngineProcess, StartRequest
from rigctl.timing.lateness import describe

PUMP_MS = 30
REFRESH_MS = 100
LOG_KINDS = {"session", "params", "interlock", "error", "warning"}
KEEP_WARNINGS = 20
LOG_COLOURS = {"error": "#c0392b", "interlock": "#d35400", "warning": "#b7950b",
               "params": "#1f618d", "session": "#117a65", "trial": "#333333",
               "gui": "#555555", "output": "#6c3483"}
LOG_LINES = 5000

IDLE, STARTING, RUNNING, ENDING = "idle", "starting", "running", "ending"


class SummaryView(QWidget):
    """End of session: the accuracy table and the summary figure from the session folder."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        self.head = QLabel("No session has ended yet.")
        self.head.setWordWrap(True)
        self.head.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.head)
        self.table = QTableWidget(0, 0)
        self.table.setObjectName("summary_table")
        self.table.setMaximumHeight(220)
        lay.addWidget(self.table)
        self.figure = QLabel("")
        self.figure.setAlignment(Qt.AlignCenter)
        self.figure_path = ""
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.figure)
        lay.addWidget(scroll, 1)

    def show_end(self, ended: dict[str, Any]) -> None:
        reason = f" ({ended['reason']})" if ended.get("reason") else ""
        timing = describe(ended.get("timing"))  # how late the loop answered (wall clock)
        self.head.setText(f"<b>Session {ended['status']}</b>{html.escape(reason)} — "
                          f"{ended['n_trials']} trials<br>{html.escape(ended['folder'])}"
                          + (f"<br>timing: {html.escape(timing)}" if timing else ""))

    def show_summary(self, summary: dict[str, Any]) -> None:
        rows = summary.get("rows") or []
        cols = list(rows[0]) if rows else []
        self.table.setColumnCount(len(cols))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels([c.replace("_", " ") for c in cols])
        for i, row in enumerate(rows):
            for j, c in enumerate(cols):
                v = row[c]
                self.table.setItem(i, j, QTableWidgetItem(f"{v:g}" if isinstance(v, float)
                                                          else str(v)))
        self.table.resizeColumnsToContents()
        first = summary.get("table", "").splitlines()[:1]
        if first:
            self.head.setText(self.head.text() + f"<br>{html.escape(first[0])}")
        self.figure_path = summary.get("figure") or ""
        if self.figure_path:
            pix = QPixmap(self.figure_path)
            self.figure.setPixmap(pix.scaledToWidth(min(pix.width(), 1000),
                                                    Qt.SmoothTransformation))
            self.figure.setToolTip(self.figure_path)
        else:
            self.figure.setText(summary.get("figure_error") or "no summary figure")


class RigTab(QWidget):
    """Everything about one rig. ``status_changed`` fires with the new phase."""

    status_changed = pyqtSignal(str)
    trial_arrived = pyqtSignal(int)

    def __init__(self, settings: QSettings, config: str = "", virtual: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.engine: EngineProcess | None = None
        self.phase = IDLE
        self.paused = False
        self.ready: dict[str, Any] = {}
        self.ended: dict[str, Any] | None = None
        self.summary: dict[str, Any] | None = None
        self.pending_params: dict[int, dict[str, Any]] = {}
        self.n_trials = 0
        self.started_params: dict[str, Any] = {}
        self.start_failed = False
        #: the session's latest warnings and errors (the experiment overview shows them)
        self.warnings: deque[str] = deque(maxlen=KEEP_WARNINGS)
        #: ``confirm(title, text) -> bool``; a test or a script may replace it
        self.confirm = self._ask

        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.addLayout(self._controls())

        split = QSplitter(Qt.Horizontal)
        outer.addWidget(split, 1)
        self.left = QTabWidget()
        self.setup = SetupPanel(settings, virtual_default=virtual)
        self.left.addTab(self.setup, "Session setup")
        self.devices = DevicePanel(self.log)
        self.left.addTab(self.devices, "Devices")
        split.addWidget(self.left)

        right = QSplitter(Qt.Vertical)
        self.right = QTabWidget()
        self.live = LiveView()
        self.summary_view = SummaryView()
        self.right.addTab(self.live, "Live")
        self.right.addTab(self.summary_view, "Summary")
        right.addWidget(self.right)
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("log")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setUndoRedoEnabled(False)  # an undo history would grow with every line
        mono = QFont("DejaVu Sans Mono")
        mono.setStyleHint(QFont.Monospace)
        mono.setPointSize(9)
        self.log_view.setFont(mono)
        right.addWidget(self.log_view)
        right.setSizes([680, 120])
        split.addWidget(right)
        split.setSizes([420, 980])
        split.setStretchFactor(1, 1)

        self.setup.changed.connect(self._update)
        self.setup.config_loaded.connect(self._config_loaded)
        self.setup.apply_button.clicked.connect(self.apply_params)
        self.devices.rearm_requested.connect(self.rearm_laser)
        self.devices.cal_valve.clicked.connect(lambda: ValveCalibrationDialog(
            self.devices, self).show())
        self.devices.cal_laser.clicked.connect(lambda: LaserCalibrationDialog(
            self.devices, self).show())

        self.pump_timer = QTimer(self)
        self.pump_timer.setInterval(PUMP_MS)
        self.pump_timer.timeout.connect(self.pump)
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(REFRESH_MS)
        self.refresh_timer.timeout.connect(lambda: self.live.refresh(self.phase == RUNNING))
        if config:
            self.setup.load_config(config)
        self._update()

    def _controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.title = QLabel("no rig")
        f = QFont()
        f.setPointSize(13)
        f.setBold(True)
        self.title.setFont(f)
        self.status = QLabel("idle")
        self.status.setObjectName("session_status")
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        # a long folder path must not widen the window: clip it (the tooltip has it all)
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        row.addWidget(self.title)
        row.addWidget(self.status, 1)
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("start")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pause")
        self.pause_button.setCheckable(True)
        self.stop_button = QPushButton("Stop…")
        self.stop_button.setObjectName("stop")
        self.laser_off_button = QPushButton("EMERGENCY LASER OFF")
        self.laser_off_button.setObjectName("laser_off")
        self.laser_off_button.setToolTip("Always available: latches the session's laser off at "
                                         "once (no ramp; the session goes on, re-arm in the "
                                         "Devices tab) or cancels a manual laser pulse. Stop… "
                                         "ends the session.")
        self.laser_off_button.setStyleSheet(
            "QPushButton {background:#c0392b; color:white; font-weight:bold; padding:6px 14px;}")
        for b in (self.start_button, self.pause_button, self.stop_button):
            b.setMinimumWidth(90)
            b.setMinimumHeight(30)
            row.addWidget(b)
        row.addSpacing(20)
        self.latch_banner = QLabel("")
        self.latch_banner.setObjectName("latch_banner")
        self.latch_banner.setStyleSheet("color:#c0392b; font-weight:bold;")
        row.addWidget(self.latch_banner)
        row.addWidget(self.laser_off_button)
        self.start_button.clicked.connect(lambda _checked=False: self.start())  # not a request
        self.pause_button.toggled.connect(self.pause)
        self.stop_button.clicked.connect(self.stop)
        self.laser_off_button.clicked.connect(self.emergency_laser_off)
        return row

    # --- helpers ----------------------------------------------------------------------------------
    def _ask(self, title: str, text: str) -> bool:
        return QMessageBox.question(self, title, text, QMessageBox.Yes | QMessageBox.No,
                                    QMessageBox.No) == QMessageBox.Yes

    @property
    def running(self) -> bool:
        return self.phase != IDLE

    @property
    def rig_name(self) -> str:
        return self.setup.cfg.name if self.setup.cfg else Path(self.setup.config_path).stem

    def log(self, kind: str, text: str, t: float | None = None) -> None:
        stamp = time.strftime("%H:%M:%S")
        when = f"{stamp}" + (f" t={t:9.3f}" if t is not None else " " * 12)
        colour = LOG_COLOURS.get(kind, "#333")
        self.log_view.appendHtml(f"<span style='color:{colour}'>{when} {kind:<9} "
                                 f"{html.escape(text)}</span>".replace("  ", "&nbsp;&nbsp;"))

    def log_text(self) -> str:
        return self.log_view.toPlainText()

    def _config_loaded(self, cfg: Any) -> None:
        self.title.setText(cfg.name if cfg is not None else "invalid config")
        self.devices.set_config(self.setup.config_path, cfg is not None)
        if cfg is not None:
            self.devices.set_ports(list(cfg.reward_ports))
        lasers = cfg.all_lasers() if cfg is not None else {}
        self.devices.set_lasers({name: la.max_power_mw for name, la in lasers.items()})
        if cfg is None:
            for line in self.setup.problem_lines():
                self.log("error", html.unescape(line.replace("<b>", "").replace("</b>", "")))
        self._update()

    def _update(self) -> None:
        problems = self.setup.problems()
        self.start_button.setEnabled(self.phase == IDLE and not problems)
        self.start_button.setToolTip("\n".join(problems) if problems else "Start a session")
        self.pause_button.setEnabled(self.phase == RUNNING)
        self.stop_button.setEnabled(self.phase in (STARTING, RUNNING, ENDING))
        self.setup.set_running(self.running)
        self.devices.set_session_running(self.running)
        if self.running and self.setup.form is not None:
            self.setup.apply_button.setEnabled(not self.setup.form.problems())

    def set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setToolTip(text)

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        self._update()
        self.status_changed.emit(phase)

    # --- commands ---------------------------------------------------------------------------------
    def start(self, request: StartRequest | None = None) -> None:
        """Start a session with the current setup (closing the manual rig first); an
        experiment passes its subject's ``request`` instead (File ▸ Run experiment…)."""
        if self.phase != IDLE:
            return
        if not isinstance(request, StartRequest):  # a Qt signal's `checked` argument
            request = None
        problems = self.setup.problems() if request is None else []
        if problems:
            for p in problems:
                self.log("error", p)
            return
        if request is None:
            self.setup.remember()
        self._set_phase(STARTING)
        self.set_status("starting…")
        self.devices.close_rig(then=lambda: self._spawn(request))

    def _spawn(self, request: StartRequest | None = None) -> None:
        req = request if request is not None else self.setup.start_request()
        self.ended = self.summary = None
        self.start_failed = False
        self.n_trials = 0
        self.paused = False
        self.pause_button.setChecked(False)
        self.started_params = dict(req.params)
        self.engine = EngineProcess(req)
        self.engine.start()
        self.log("gui", f"starting {req.protocol} on {self.rig_name} "
                        f"({'wall clock' if req.realtime else 'virtual time'}), "
                        f"subject {req.subject.get('id')}")
        self.pump_timer.start()

    def pause(self, on: bool) -> None:
        if self.engine is None or self.phase != RUNNING:
            return
        self.paused = on
        self.engine.pause(on)
        self.pause_button.setText("Resume" if on else "Pause")
        self.log("gui", "pause requested: holds at the next trial boundary" if on
                 else "resume requested")

    def stop(self) -> None:
        """Stop after the current event, after asking (data so far are kept)."""
        if self.engine is None:
            return
        if not self.confirm("Stop the session?",
                            f"Stop the session on {self.rig_name} now?\n\nThe trial in progress "
                            "is abandoned; every completed trial is kept, outputs go off and the "
                            "session is marked aborted."):
            return
        self.engine.stop("stopped by the operator")
        self.log("gui", "stop requested")
        self._set_phase(ENDING)

    def finish(self, reason: str) -> None:
        """End after the trial in progress (no question asked: used on close and by scripts)."""
        if self.engine is not None and self.phase in (STARTING, RUNNING):
            self.engine.finish(reason)
            self.log("gui", f"finish requested: {reason}")
            self._set_phase(ENDING)

    def emergency_laser_off(self) -> None:
        """Laser off now, whatever is running: latched off through the engine (the session goes
        on; re-arm in the Devices tab), or by cancelling a manual operation. Never asks."""
        if self.engine is not None and self.phase != IDLE:
            self.engine.laser_off("operator, GUI")
            self.log("interlock", "EMERGENCY LASER OFF pressed: laser latched off, the session "
                                  "goes on without light (re-arm in the Devices tab)")
            self.latch_banner.setText("LASER LATCHED OFF")
        elif self.devices.proc is not None:
            self.devices.cancel()
            self.log("interlock", "EMERGENCY LASER OFF: manual operation cancelled, laser off")
        else:
            self.log("interlock", "laser off: nothing is running on this rig")

    def rearm_laser(self) -> None:
        """Lift the session's laser latch, after asking (laser trials get light again)."""
        if self.engine is None or self.phase == IDLE:
            return
        if not self.confirm("Re-arm the laser?",
                            f"Re-arm the laser on {self.rig_name}?\n\nLaser trials get light "
                            "again from their next onset."):
            return
        self.engine.rearm_laser("operator, GUI device panel")
        self.log("interlock", "laser re-arm requested")

    def apply_params(self) -> None:
        """Send the edited parameters to the running session (from the next trial)."""
        if self.engine is None or self.phase != RUNNING or self.setup.form is None:
            return
        form = self.setup.form
        if form.problems():
            self.setup.apply_status.setText("fix the fields in red first")
            return
        applied = self.ready.get("params", {})
        changes = {k: v for k, v in form.values().items()
                   if k != "predictor" and applied.get(k) != v}
        if not changes:
            self.setup.apply_status.setText("nothing changed")
            return
        rid = self.engine.set_params(changes)
        self.pending_params[rid] = changes
        self.setup.apply_status.setText("sent; waiting for the engine…")

    # --- messages ---------------------------------------------------------------------------------
    def pump(self) -> None:
        engine = self.engine
        if engine is None:
            self.pump_timer.stop()
            return
        for msg in engine.poll():
            self.handle(msg)
        if not engine.is_alive():
            for msg in engine.poll():
                self.handle(msg)
            engine.join(0.1)
            if self.ended is None and not self.start_failed:
                code = engine.exitcode
                self.log("error", f"the engine process ended without a final status "
                                  f"(exit code {code}); the session folder says what was kept")
                self.set_status(f"engine process ended (exit code {code})")
            self.engine = None
            self.latch_banner.setText("")
            self.pump_timer.stop()
            self.refresh_timer.stop()
            self.live.refresh(False)
            self._set_phase(IDLE)

    def handle(self, msg: Any) -> None:
        """One report from the engine (a :mod:`rigctl.engine.messages` dataclass)."""
        self.live.on_message(msg)
        match msg:
            case m.Ready():
                self.ready = asdict(msg)
                self.ready["params"] = dict(self.started_params)
                self.live.reset(self.ready, msg.trial_schema)
                self.refresh_timer.start()
                self._set_phase(RUNNING if self.phase == STARTING else self.phase)
                self.set_status(f"running — {msg.folder}")
                self.log("session", f"session started: {msg.folder} (seed {msg.seed})")
            case m.Event(t, k, name, value):
                if name.startswith("lick_") and k == "input":
                    self.devices.set_sensor(name.removeprefix("lick_"),
                                            value not in ("0", "0.0"))
                if k in LOG_KINDS:
                    self.log(k, f"{name} {value}".strip(), t)
                if k in ("warning", "error"):
                    self.warnings.append(f"{name}: {value}" if value else name)
                    if k == "session" and name in ("paused", "resumed"):
                        self.set_status(f"{name} — {self.ready.get('folder', '')}")
            case m.Trial(rec):
                self.n_trials = len(self.live.state.trials)
                # the task's own columns: condition, outcome and those it marks in_log
                t = rec.get("end_s", rec.get("start_s"))
                self.log("trial", self.live.state.columns.log_line(rec),
                         t if isinstance(t, (int, float)) else None)
                self.trial_arrived.emit(self.n_trials)
            case m.LaserLatch(latched, t):
                self.devices.set_latched(latched, t)
                self.latch_banner.setText("LASER LATCHED OFF" if latched else "")
            case m.ParamsResult(rid, problems):
                changes = self.pending_params.pop(rid, {})
                if problems:
                    self.setup.form.show_external(problems)  # type: ignore[union-attr]
                    self.setup.apply_status.setText("refused: " + "; ".join(problems))
                    self.setup.apply_status.setStyleSheet("color:#c0392b;")
                    self.log("error", "parameter change refused: " + "; ".join(problems))
                else:
                    self.ready.setdefault("params", {}).update(changes)
                    self.setup.apply_status.setText("accepted: applies from the next trial ("
                                                    + ", ".join(changes) + ")")
                    self.setup.apply_status.setStyleSheet("color:#117a65;")
                    self.log("gui", "parameter change accepted: " + ", ".join(
                        f"{k}={v}" for k, v in changes.items()))
            case m.Failed(problems):
                self.start_failed = True
                self.set_status("could not start: " + problems[0])
                for p in problems:
                    self.log("error", p)
                if self.setup.form is not None:
                    self.setup.form.show_external(problems)
            case m.Crashed():
                self.log("error", f"session crashed: {msg.message} (outputs off, status "
                                  f"{msg.status})")
                self.ended = {"status": msg.status, "reason": msg.message, "n_trials":
                              self.n_trials, "folder": msg.folder}
                self.summary_view.show_end(self.ended)
                self.set_status(f"crashed: {msg.message}")
            case m.Ended():
                self.ended = asdict(msg)
                reason = f" ({msg.reason})" if msg.reason else ""
                self.set_status(f"{msg.status}{reason} — {msg.n_trials} trials — "
                                f"{msg.folder}")
                self.log("session", f"session {msg.status}{reason}: {msg.n_trials} trials")
                self.summary_view.show_end(self.ended)
                self._set_phase(ENDING)
            case m.Summary():
                self.summary = asdict(msg)
                self.summary_view.show_summary(self.summary)
                self.log("session", "summary: " + (msg.figure or msg.figure_error
                                                   or "no figure"))
            case _:
                pass  # signal, clock, dropped: the live view's (the data on disk are whole)

    # --- closing ----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """The window is closing: let a running session finish its trial on its own."""
        if self.engine is not None:
            self.engine.finish("GUI closed")
            self.engine.close_pipe()
        self.devices.shutdown()
