"""The main window: one tab per rig, each with its own engine process.

Closing the window while sessions run asks first; then each session is told to finish its trial
("GUI closed") and the window waits for them, so nothing is cut short. If the GUI dies instead
(killed, crashed), each engine child notices its parent is gone and does the same by itself.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QSettings, Qt, QTimer
from PyQt5.QtGui import QCloseEvent
from PyQt5.QtWidgets import (
    QAction,
    QApplication,
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QToolButton,
)

from gui.rig_tab import IDLE, RigTab

DEFAULT_SIZE = (1400, 900)
PHASE_MARK = {"idle": "", "starting": " ◌", "running": " ●", "ending": " ◐"}


def make_settings(path: str | None = None) -> QSettings:
    """QSettings in ``path`` (an ini file), ``$RIGCTL_GUI_SETTINGS``, or the user's default."""
    path = path or os.environ.get("RIGCTL_GUI_SETTINGS")
    if path:
        return QSettings(str(path), QSettings.IniFormat)
    return QSettings("rigctl", "rigctl-gui")


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings, configs: list[str] | None = None,
                 virtual: bool = False) -> None:
        super().__init__()
        self.settings = settings
        self.virtual = virtual
        self.closing = False
        #: ``confirm(title, text) -> bool``; tests and scripts may replace it
        self.confirm = self._ask
        #: ``inform(title, text)``: a refusal the operator must read; tests may replace it
        self.inform = lambda title, text: QMessageBox.warning(self, title, text)
        #: the locks of the running experiment's subjects and rigs (released when all end)
        self.experiment_locks: list[Any] = []
        self.experiment_tabs: list[RigTab] = []
        self.experiment_dock: QDockWidget | None = None  # the cards of the last experiment
        self.setWindowTitle("rigctl — rig control")
        self.resize(*DEFAULT_SIZE)
        self.tabs = QTabWidget()
        self.tabs.setTabsClosable(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.setCentralWidget(self.tabs)
        add = QToolButton()
        add.setText("+ Add rig")
        add.setToolTip("Open another rig config in a new tab")
        add.clicked.connect(self.add_rig_dialog)
        self.tabs.setCornerWidget(add)

        menu = self.menuBar().addMenu("&File")
        act = QAction("&Add rig…", self)
        act.triggered.connect(self.add_rig_dialog)
        menu.addAction(act)
        act = QAction("Run &experiment…", self)
        act.setToolTip("Open an experiment file: one rig tab per subject, all started")
        act.triggered.connect(self.run_experiment_dialog)
        menu.addAction(act)
        self.experiment_action = act
        act = QAction("&Quit", self)
        act.triggered.connect(self.close)
        menu.addAction(act)

        if configs is None:
            remembered = settings.value("tabs", [])
            configs = [c for c in (remembered if isinstance(remembered, list)
                                   else [remembered]) if c]
        for config in configs or [""]:
            self.add_rig(config)

    # --- tabs -------------------------------------------------------------------------------------
    def rig_tabs(self) -> list[RigTab]:
        return [self.tabs.widget(i) for i in range(self.tabs.count())]  # type: ignore[misc]

    def add_rig(self, config: str = "") -> RigTab:
        tab = RigTab(self.settings, config=config, virtual=self.virtual)
        index = self.tabs.addTab(tab, tab.rig_name or "new rig")
        tab.status_changed.connect(lambda _p, t=tab: self._retitle(t))
        tab.setup.config_loaded.connect(lambda _c, t=tab: self._retitle(t))
        self.tabs.setCurrentIndex(index)
        self._remember_tabs()
        return tab

    def add_rig_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Rig config", str(Path.cwd()),
                                              "YAML (*.yaml *.yml)")
        if path:
            self.add_rig(path)

    # --- experiments ----------------------------------------------------------------------------
    def run_experiment_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Experiment file", str(Path.cwd()),
                                              "YAML (*.yaml *.yml)")
        if path:
            self.run_experiment(path)

    def run_experiment(self, path: str) -> list[RigTab]:
        """Open one rig tab per subject of the experiment file and start them all (as
        ``rigctl experiment`` does: the same checks and locks, each rig its own engine);
        bad input is refused whole, one line per problem, nothing started."""
        from rigctl.errors import RigctlError
        from rigctl.experiment.plan import load_plan
        from rigctl.experiment.runner import ExperimentRunner

        if self.experiment_locks:
            self.inform("Experiment running", "An experiment is already running; stop its "
                                              "rigs first.")
            return []
        try:
            plan = load_plan(path)
            locks = ExperimentRunner(plan)
            locks.take_locks()
        except RigctlError as exc:
            self.inform("Experiment refused", str(exc))
            return []
        self.experiment_locks = locks.locks
        tabs: list[RigTab] = []
        self.experiment_tabs = tabs  # filled before each start: the locks wait for them all
        overview = self._show_overview(plan.config.name)
        for rp in plan.rigs:
            tab = self._idle_tab(str(rp.config_path)) or self.add_rig(str(rp.config_path))
            e = rp.entry
            tab.setup.subject_id.setText(e.id)
            tab.setup.genotype.setCurrentText(e.genotype)
            tab.setup.treatment.setCurrentText(e.treatment)
            tab.setup.data_edit.setText(str(rp.data_root))
            self._show_protocol(tab, rp)
            tab.experiment_subject = e.id
            tab.title.setText(f"{e.id}  ·  {rp.rig}")
            tabs.append(tab)
            tab.status_changed.connect(lambda _p: self._experiment_ended())
            overview.add(tab, e.id, rp.rig, rp.spec.name)
            tab.start(rp.request())
            tab.log("gui", f"experiment {plan.config.name}: subject {e.id}, {rp.spec.name}")
            self._retitle(tab)
        return tabs

    def _show_overview(self, name: str) -> Any:
        """The experiment's subjects side by side, docked above the tabs (replacing the
        previous experiment's)."""
        from gui.experiment_view import ExperimentOverview

        if self.experiment_dock is not None:
            self.removeDockWidget(self.experiment_dock)
            self.experiment_dock.deleteLater()
        overview = ExperimentOverview(name)
        dock = QDockWidget(f"Experiment {name}", self)
        dock.setObjectName("experiment")
        dock.setWidget(overview)
        dock.setFeatures(QDockWidget.DockWidgetClosable | QDockWidget.DockWidgetMovable)
        self.addDockWidget(Qt.TopDockWidgetArea, dock)
        self.experiment_dock = dock
        return overview

    @staticmethod
    def _show_protocol(tab: RigTab, rp: Any) -> None:
        """The setup panel shows what the experiment runs (protocol and every parameter), so
        the form the operator edits mid-session starts from the session's values."""
        spec = rp.spec
        if spec.file is not None:
            tab.setup.choose_task_file(spec.file.path)
        else:
            tab.setup.protocol.setCurrentText(spec.name)
        if tab.setup.form is not None and tab.setup.protocol.currentText() in (
                spec.name, getattr(spec.file, "path", None)):
            tab.setup.form.set_values(spec.params.model_dump(mode="json"))

    def _idle_tab(self, config: str) -> RigTab | None:
        """An idle tab already showing this rig config (or an empty one) is reused."""
        for t in self.rig_tabs():
            if t.phase == IDLE and t not in self.experiment_tabs and (
                    Path(t.setup.config_path or "").resolve() == Path(config)
                    or not t.setup.config_path):
                if not t.setup.config_path:
                    t.setup.load_config(config)
                return t
        return None

    def _experiment_ended(self) -> None:
        tabs = self.experiment_tabs
        if self.experiment_locks and tabs and all(t.phase == IDLE for t in tabs):
            for lock in self.experiment_locks:
                lock.release()
            self.experiment_locks = []

    def close_tab(self, index: int) -> None:
        tab: RigTab = self.tabs.widget(index)  # type: ignore[assignment]
        if tab.running:
            QMessageBox.information(self, "Session running",
                                    f"A session is running on {tab.rig_name}; stop it first.")
            return
        tab.shutdown()
        self.tabs.removeTab(index)
        tab.deleteLater()
        self._remember_tabs()

    def _retitle(self, tab: RigTab) -> None:
        i = self.tabs.indexOf(tab)
        if i >= 0:
            subject = getattr(tab, "experiment_subject", "")
            name = f"{subject} · {tab.rig_name}" if subject else (tab.rig_name or "new rig")
            self.tabs.setTabText(i, name + PHASE_MARK.get(tab.phase, ""))
        if self.closing and all(not t.running for t in self.rig_tabs()):
            self.close()

    def _remember_tabs(self) -> None:
        paths = [t.setup.config_path for t in self.rig_tabs() if t.setup.config_path]
        self.settings.setValue("tabs", paths)

    # --- closing ----------------------------------------------------------------------------------
    def _ask(self, title: str, text: str) -> bool:
        return QMessageBox.question(self, title, text, QMessageBox.Yes | QMessageBox.No,
                                    QMessageBox.No) == QMessageBox.Yes

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        running = [t for t in self.rig_tabs() if t.running]
        if running and not self.closing:
            names = ", ".join(t.rig_name for t in running)
            if not self.confirm("Sessions are running",
                                f"Sessions are running on: {names}.\n\nClose anyway? Each "
                                "session finishes the trial in progress, turns its outputs off "
                                "and is saved as aborted (\"GUI closed\")."):
                event.ignore()
                return
            self.closing = True
            for t in running:
                t.finish("GUI closed")
            self.statusBar().showMessage("Finishing the trials in progress before closing…")
            event.ignore()
            return
        self._remember_tabs()
        for t in self.rig_tabs():
            t.shutdown()
        for lock in self.experiment_locks:
            lock.release()
        self.experiment_locks = []
        self.settings.sync()
        event.accept()


class Unattended:
    """``--autostart --exit-after-trials N --screenshot FILE``: start every tab, take the
    screenshot once each session has N trials (or has ended), finish the sessions, quit."""

    def __init__(self, window: MainWindow, exit_after: int | None, screenshot: str | None) -> None:
        self.window = window
        self.exit_after = exit_after
        self.screenshot = screenshot
        self.shot_taken = False
        self.exit_code = 0
        self.started = False
        self.timer = QTimer(window)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self.check)

    def start(self) -> None:
        tabs = self.window.rig_tabs()
        for tab in tabs:
            if tab.start_button.isEnabled():
                tab.start()
            else:
                for p in tab.setup.problems():
                    print(f"rigctl gui: {tab.rig_name}: {p}", file=sys.stderr)
                self.exit_code = 2
        self.started = True
        self.timer.start()

    def _done(self, tab: RigTab) -> bool:
        return (self.exit_after is not None and tab.n_trials >= self.exit_after) or \
            tab.ended is not None or tab.phase == IDLE

    def check(self) -> None:
        tabs = self.window.rig_tabs()
        if self.exit_after is None and self.screenshot is None:
            return  # autostart only: the operator takes over
        if not self.shot_taken and all(self._done(t) for t in tabs):
            QApplication.processEvents()
            for t in tabs:  # bring every view up to the same moment, then grab at once
                t.pump()
                t.live.refresh(t.phase != IDLE)
            if self.screenshot:
                save_screenshot(self.window, self.screenshot, process_events=False)
            self.shot_taken = True
            for t in tabs:
                t.finish(f"exit after {self.exit_after} trials" if self.exit_after
                         else "unattended run ended")
        if self.shot_taken and all(t.phase == IDLE for t in tabs):
            for t in tabs:
                if t.ended is None or t.ended.get("status") not in ("completed", "aborted"):
                    print(f"rigctl gui: {t.rig_name}: session did not end cleanly: "
                          f"{t.ended or t.status.text()}", file=sys.stderr)
                    self.exit_code = max(self.exit_code, 1)
            self.timer.stop()
            self.window.closing = True
            self.window.close()
            QApplication.instance().exit(self.exit_code)  # type: ignore[union-attr]


def save_screenshot(window: QMainWindow, path: str, process_events: bool = True) -> str:
    """Render the window to a PNG (works on the offscreen platform too)."""
    if process_events:
        QApplication.processEvents()
    Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path)):
        raise OSError(f"cannot write the screenshot {path}")
    return str(path)


def _excepthook(window: MainWindow | None) -> Any:
    """Show an unexpected exception in the log instead of aborting the whole GUI (PyQt5 aborts
    on an exception escaping a slot); the sessions run in their own processes regardless."""

    def hook(exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        print(text, file=sys.stderr)
        if window is not None:
            tab = window.tabs.currentWidget()
            if isinstance(tab, RigTab):
                tab.log("error", f"GUI error (sessions unaffected): {exc_type.__name__}: {exc}")

    return hook


def run_app(configs: list[str], autostart: bool = False, exit_after: int | None = None,
            screenshot: str | None = None, virtual: bool = False,
            settings_path: str | None = None, data: str | None = None) -> int:
    """Create the application and the window, run until closed; returns the exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("rigctl")
    # Ctrl-C in the terminal ends the GUI at once; the engines notice and finish their trial.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    window = MainWindow(make_settings(settings_path),
                        configs=[str(Path(c)) for c in configs] or None, virtual=virtual)
    sys.excepthook = _excepthook(window)
    if data:
        for tab in window.rig_tabs():
            tab.setup.data_edit.setText(str(Path(data).expanduser().resolve()))
    window.show()
    runner = None
    if autostart or exit_after is not None or screenshot:
        runner = Unattended(window, exit_after, screenshot)
        QTimer.singleShot(0, runner.start)
    code = app.exec_()
    return runner.exit_code if runner is not None else code
