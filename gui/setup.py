"""Session setup: rig config, subject, protocol and its parameters, data folder, clock.

The rig config is validated as soon as it is chosen, with the same loader the command line
uses, and every problem is listed under the file name as ``field.path: reason`` — the operator
sees *which* field is wrong before pressing Start. The last choices are remembered per rig
config file (QSettings), so the next session on that rig starts from them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from PyQt5.QtCore import QSettings, Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.forms import ERROR_STYLE, ParamForm
from gui.wheel import wheel_needs_focus
from rigctl.catalog.discovery import find_task, task_names
from rigctl.config.loading import format_validation_error
from rigctl.config.rig import RigConfig
from rigctl.config.subject import Subject
from rigctl.engine.remote import StartRequest
from rigctl.errors import ConfigError, RigctlError


def settings_key(config: str) -> str:
    """QSettings group of a rig config file (its absolute path, made key-safe)."""
    p = str(Path(config).expanduser().resolve())
    return "rig/" + p.replace("/", "|").replace("\\", "|")


def is_simulated(cfg: RigConfig) -> bool:
    return all(d.type == "sim" for d in cfg.devices.values())


class SetupPanel(QWidget):
    """The left-hand form of a rig tab. ``config_loaded`` fires with the RigConfig (or None)."""

    config_loaded = pyqtSignal(object)
    changed = pyqtSignal()

    def __init__(self, settings: QSettings, virtual_default: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.virtual_default = virtual_default
        self.cfg: RigConfig | None = None
        self.config_path = ""
        self.form: ParamForm | None = None
        self._loading = False
        self._config_problems: list[str] = []

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        lay = QVBoxLayout(body)

        # rig config
        box = QGroupBox("Rig config")
        bl = QVBoxLayout(box)
        row = QHBoxLayout()
        self.config_edit = QLineEdit()
        self.config_edit.setObjectName("config_path")
        self.config_edit.setPlaceholderText("rig config YAML, e.g. hardware_configs/sim.yaml")
        self.config_edit.setMinimumWidth(120)
        self.config_edit.returnPressed.connect(lambda: self.load_config(self.config_edit.text()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_config)
        reload_ = QPushButton("Reload")
        reload_.setToolTip("Read the file again (after editing it)")
        reload_.clicked.connect(lambda: self.load_config(self.config_edit.text()))
        row.addWidget(self.config_edit, 1)
        row.addWidget(browse)
        row.addWidget(reload_)
        bl.addLayout(row)
        self.config_info = QLabel("")
        self.config_info.setWordWrap(True)
        self.config_errors = QLabel("")
        self.config_errors.setObjectName("config_errors")
        self.config_errors.setWordWrap(True)
        self.config_errors.setStyleSheet(ERROR_STYLE)
        self.config_errors.setTextFormat(1)  # rich text
        self.config_errors.hide()
        bl.addWidget(self.config_info)
        bl.addWidget(self.config_errors)
        lay.addWidget(box)

        # subject
        box = QGroupBox("Subject")
        fl = QFormLayout(box)
        self.subject_id = QLineEdit()
        self.subject_id.setObjectName("subject_id")
        self.genotype = QComboBox()
        self.treatment = QComboBox()
        fields = Subject.model_fields
        for combo, name in ((self.genotype, "genotype"), (self.treatment, "treatment")):
            combo.addItems(list(fields[name].annotation.__args__))  # type: ignore[union-attr]
            combo.setToolTip(fields[name].description or "")
            combo.currentIndexChanged.connect(self._edited)
        self.subject_id.setToolTip(fields["id"].description or "")
        self.subject_id.textChanged.connect(self._edited)
        self.subject_error = QLabel("")
        self.subject_error.setStyleSheet(ERROR_STYLE)
        self.subject_error.setWordWrap(True)
        self.subject_error.hide()
        fl.addRow("ID", self.subject_id)
        fl.addRow("", self.subject_error)
        fl.addRow("genotype", self.genotype)
        fl.addRow("treatment", self.treatment)
        lay.addWidget(box)

        # session
        box = QGroupBox("Session")
        fl = QFormLayout(box)
        row = QHBoxLayout()
        self.data_edit = QLineEdit()
        self.data_edit.setObjectName("data_root")
        self.data_edit.textChanged.connect(self._edited)
        data_browse = QPushButton("…")
        data_browse.setFixedWidth(30)
        data_browse.clicked.connect(self._browse_data)
        row.addWidget(self.data_edit, 1)
        row.addWidget(data_browse)
        fl.addRow("data folder", row)
        self.virtual = QCheckBox("virtual time (simulated rig)")
        self.virtual.setObjectName("virtual")
        self.virtual.setToolTip("The simulated rig can run on a virtual clock that jumps from "
                                "event to event; a real rig always runs on the wall clock.")
        fl.addRow("clock", self.virtual)
        self.seed = QSpinBox()
        self.seed.setRange(-1, 2_000_000_000)
        self.seed.setSpecialValueText("random")
        self.seed.setValue(-1)
        self.seed.setToolTip("Random seed of the trial schedule and the simulated mouse "
                             "(recorded in session.json)")
        fl.addRow("seed", self.seed)
        self.protocol = QComboBox()
        self.protocol.setObjectName("protocol")
        self.protocol.addItems(task_names())  # built-in and installed (entry point) tasks
        self.protocol.setToolTip("A built-in or installed task, or a task file (Task file…)")
        self.protocol.currentTextChanged.connect(self._protocol_changed)
        self.task_file_button = QPushButton("Task file…")
        self.task_file_button.setObjectName("task_file")
        self.task_file_button.setToolTip("Run a task file of your own (docs/writing-tasks.md)")
        self.task_file_button.clicked.connect(self._browse_task)
        row = QHBoxLayout()
        row.addWidget(self.protocol, 1)
        row.addWidget(self.task_file_button)
        fl.addRow("protocol", row)
        lay.addWidget(box)

        self.params_box = QGroupBox("Parameters")
        self.params_layout = QVBoxLayout(self.params_box)
        self.apply_button = QPushButton("Apply changes from the next trial")
        self.apply_button.setObjectName("apply_params")
        self.apply_button.setToolTip("Send the edited parameters to the running session; "
                                     "they apply from the next trial and are logged")
        self.apply_button.hide()
        self.apply_status = QLabel("")
        self.apply_status.setWordWrap(True)
        self.params_layout.addWidget(self.apply_button)
        self.params_layout.addWidget(self.apply_status)
        lay.addWidget(self.params_box)
        lay.addStretch(1)
        self.setMinimumWidth(380)
        wheel_needs_focus(self)

    # --- config -----------------------------------------------------------------------------------
    def _browse_config(self) -> None:
        start = self.config_edit.text() or str(Path.cwd())
        path, _ = QFileDialog.getOpenFileName(self, "Rig config", start, "YAML (*.yaml *.yml)")
        if path:
            self.load_config(path)

    def _browse_data(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Data folder", self.data_edit.text())
        if path:
            self.data_edit.setText(path)

    def load_config(self, path: str) -> RigConfig | None:
        """Load and validate ``path``; show its problems by field; restore remembered choices."""
        from rigctl.config import load_rig

        path = path.strip()
        self.config_edit.setText(path)
        self.config_path = path
        self.cfg = None
        problems: list[str] = []
        try:
            cfg = load_rig(path)
        except ConfigError as exc:
            problems = list(exc.problems)
        except RigctlError as exc:
            problems = str(exc).splitlines()
        else:
            self.cfg = cfg
        if self.cfg is None:
            self.show_config_problems(problems)
            self.config_info.setText("")
            self._set_form(None)
            self.config_loaded.emit(None)
            return None
        self.show_config_problems([])
        cfg = self.cfg
        devices = ", ".join(f"{n} ({d.type})" for n, d in cfg.devices.items())
        laser = "; ".join(f"{'laser' if cfg.laser else name} ≤ {la.max_power_mw:g} mW, ≤ "
                          f"{la.max_on_s:g} s" for name, la in cfg.all_lasers().items())
        laser = laser or "no laser"
        self.config_info.setText(f"<b>{cfg.name}</b> — devices: {devices}; {laser}; "
                                 f"{'neural signal' if cfg.neural_signal else 'no neural signal'}")
        sim = is_simulated(cfg)
        self.virtual.setEnabled(sim)
        self._loading = True
        try:
            self.virtual.setChecked(sim and self.virtual_default)
            self.data_edit.setText(str(Path(cfg.data_root).expanduser().resolve()))
            default_protocol = cfg.protocol.name if cfg.protocol else "delayed_alternation"
            saved = self._saved()
            name = saved.get("protocol", default_protocol)
            if name.endswith(".py") and Path(name).is_file():
                self._add_task_item(name)
            elif name not in task_names():
                name = default_protocol
            self.protocol.blockSignals(True)
            self.protocol.setCurrentText(name)
            self.protocol.blockSignals(False)
            self._build_form(name)
            self._restore(saved)
        finally:
            self._loading = False
        self._edited()
        self.config_loaded.emit(cfg)
        return cfg

    def show_config_problems(self, problems: list[str]) -> None:
        self._config_problems = list(problems)
        if not problems:
            self.config_errors.hide()
            self.config_errors.setText("")
            return
        items = []
        for p in problems:
            head, sep, reason = p.partition(": ")
            items.append(f"<li><b>{_esc(head)}</b>: {_esc(reason)}</li>" if sep
                         else f"<li>{_esc(p)}</li>")
        self.config_errors.setText(f"<b>{len(problems)} problem{'s' * (len(problems) > 1)} "
                                   f"in this config:</b><ul style='margin-left:-20px'>"
                                   f"{''.join(items)}</ul>")
        self.config_errors.show()

    def problem_lines(self) -> list[str]:
        """Plain text of the config problems shown (for tests and the log)."""
        return [li.split("</li>")[0] for li in self.config_errors.text().split("<li>")[1:]]

    # --- protocol and its form --------------------------------------------------------------------
    def _protocol_changed(self, name: str) -> None:
        if self._loading or self.cfg is None:
            return
        self._build_form(name)
        saved = self._saved()
        params = saved.get("params", {}).get(name)
        if params:
            self.form.set_values(params)  # type: ignore[union-attr]
        self._edited()

    def _defaults(self, name: str) -> dict[str, Any]:
        """The protocol's parameters from the rig config (if it names this protocol), else the
        model's defaults; problems in the config's parameters are shown with the config's."""
        from rigctl.catalog.loading import resolve_protocol

        assert self.cfg is not None
        try:
            spec = resolve_protocol(name, self.cfg, self.config_path)
            return spec.params.model_dump(mode="json")
        except ConfigError as exc:
            self.show_config_problems(list(exc.problems))
            return self._task(name).Params().model_dump(mode="json")

    def _task(self, name: str) -> type:
        """The task class of a picker entry: a name or a task file (checked when it loads)."""
        return find_task(name)[0]

    def _add_task_item(self, path: str) -> None:
        if self.protocol.findText(path) < 0:
            self.protocol.addItem(path)

    def _browse_task(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Task file", str(Path.home()),
                                              "Task files (*.py)")
        if path:
            self.choose_task_file(path)

    def choose_task_file(self, path: str) -> None:
        """Use the task in ``path``: it is loaded and checked now, its problems shown."""
        try:
            self._task(path)
        except RigctlError as exc:
            self.show_config_problems(str(exc).splitlines())
            return
        self._add_task_item(path)
        self.protocol.setCurrentText(path)

    def _build_form(self, name: str) -> None:
        self._set_form(ParamForm(self._task(name).Params))
        assert self.form is not None
        self.form.set_values(self._defaults(name))

    def _set_form(self, form: ParamForm | None) -> None:
        if self.form is not None:
            self.params_layout.removeWidget(self.form)
            self.form.hide()  # gone from the screen now, not only when Qt deletes it later
            self.form.setParent(None)
            self.form.deleteLater()
        self.form = form
        if form is not None:
            self.params_layout.insertWidget(0, form)
            form.changed.connect(self._edited)
            wheel_needs_focus(form)

    # --- subject ----------------------------------------------------------------------------------
    def subject(self) -> dict[str, Any]:
        return {"id": self.subject_id.text().strip(), "genotype": self.genotype.currentText(),
                "treatment": self.treatment.currentText()}

    def subject_problems(self) -> list[str]:
        try:
            Subject.model_validate(self.subject())
            return []
        except ValidationError as exc:
            return format_validation_error(exc, "subject")

    # --- the whole form ---------------------------------------------------------------------------
    def _edited(self, *_: Any) -> None:
        if self._loading:
            return
        if self.apply_status.text().startswith("refused"):  # an edit answers a refusal
            self.apply_status.setText("")
            self.apply_status.setStyleSheet("")
        sp = self.subject_problems()
        self.subject_error.setText("\n".join(p.split(": ", 1)[-1] for p in sp))
        self.subject_error.setVisible(bool(sp))
        self.changed.emit()

    def problems(self) -> list[str]:
        """Everything that stops a session from starting with the current choices."""
        if self.cfg is None:
            where = self.config_path or "rig config"
            return [f"{where}: {p}" for p in self._config_problems] or [
                f"{where}: choose a valid rig config"]
        out = self.subject_problems()
        if self.form is not None:
            out += self.form.problems()
        if not self.data_edit.text().strip():
            out.append("data folder: choose where sessions are written")
        return out

    def start_request(self) -> StartRequest:
        assert self.cfg is not None and self.form is not None
        seed = self.seed.value()
        return StartRequest(
            config=str(Path(self.config_path).expanduser().resolve()),
            protocol=self.protocol.currentText(), params=self.form.values(),
            subject=self.subject(), data_root=self.data_edit.text().strip(),
            seed=None if seed < 0 else seed,
            realtime=not (is_simulated(self.cfg) and self.virtual.isChecked()),
        )

    def set_running(self, running: bool) -> None:
        """While a session runs only the parameters stay editable (applied between trials)."""
        for w in (self.config_edit, self.subject_id, self.genotype, self.treatment,
                  self.data_edit, self.virtual, self.seed, self.protocol):
            w.setEnabled(not running if w is not self.virtual
                         else (not running and self.cfg is not None and is_simulated(self.cfg)))
        if self.form is not None:
            self.form.set_locked({"predictor"} if running else set())
        self.apply_button.setVisible(running)
        if not running:
            self.apply_status.setText("")

    # --- remembered choices -----------------------------------------------------------------------
    def _saved(self) -> dict[str, Any]:
        raw = self.settings.value(settings_key(self.config_path) + "/choices", "")
        try:
            return json.loads(raw) if raw else {}
        except (TypeError, ValueError):
            return {}

    def _restore(self, saved: dict[str, Any]) -> None:
        subject = saved.get("subject", {})
        self.subject_id.setText(subject.get("id", "sim-mouse-1"))
        self.genotype.setCurrentText(subject.get("genotype", "wt"))
        self.treatment.setCurrentText(subject.get("treatment", "none"))
        if saved.get("data_root"):
            self.data_edit.setText(saved["data_root"])
        if "virtual" in saved and self.virtual.isEnabled():
            self.virtual.setChecked(bool(saved["virtual"]) or self.virtual_default)
        if "seed" in saved:
            self.seed.setValue(int(saved["seed"]))
        params = saved.get("params", {}).get(self.protocol.currentText())
        if params and self.form is not None:
            self.form.set_values(params)

    def remember(self) -> None:
        """Store the current choices for this rig config (called when a session starts)."""
        if self.cfg is None:
            return
        saved = self._saved()
        params = saved.get("params", {})
        if self.form is not None:
            params[self.protocol.currentText()] = self.form.values()
        saved.update(subject=self.subject(), data_root=self.data_edit.text().strip(),
                     virtual=self.virtual.isChecked(), seed=self.seed.value(),
                     protocol=self.protocol.currentText(), params=params)
        self.settings.setValue(settings_key(self.config_path) + "/choices", json.dumps(saved))
        self.settings.sync()


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
