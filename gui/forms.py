"""A parameter form generated from a pydantic model: one widget a field, checked as you type.

Protocol parameters are declared once, in the protocol's pydantic model (units and ranges in the
Field constraints and descriptions). The form reads that model, so a new parameter appears in the
GUI without GUI code, and it validates every edit with the same model the engine uses: a value
the model refuses is shown in red under its field with the model's reason, and ``problems()`` is
non-empty so the session cannot start (or the change cannot be applied) with it.
"""

from __future__ import annotations

import json
import math
import re
import types
import typing
from typing import Any

import annotated_types as at
from pydantic import BaseModel, ValidationError
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from rigctl.config.loading import format_validation_error

#: unit shown after a value, from the field name's suffix
NAME_UNITS = (("_per_s", "1/s"), ("_ms", "ms"), ("_s", "s"), ("_mw", "mW"), ("_ul", "µL"),
              ("_hz", "Hz"), ("_nm", "nm"))
ERROR_STYLE = "color: #c0392b;"
INVALID_STYLE = "background-color: #fde2e0;"
INT_LIMIT = 2_000_000_000


def field_unit(name: str, description: str | None) -> str:
    """The unit of a field: from its name (``delay_s`` → s) or its description's ``(unit)``."""
    for suffix, unit in NAME_UNITS:
        if name.endswith(suffix):
            return unit
    m = re.search(r"\(([^()]{1,6})\)", description or "")
    if m and m.group(1) not in ("count",) and not re.fullmatch(r"[\d.\s-]+", m.group(1)):
        return m.group(1)
    return ""


def field_label(name: str) -> str:
    """``response_window_s`` → ``response window``; the unit is shown beside the value."""
    for suffix, _ in NAME_UNITS:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("_", " ")


def bounds(metadata: list[Any]) -> tuple[float | None, float | None, bool, bool]:
    """(low, high, low_exclusive, high_exclusive) from pydantic constraint metadata."""
    lo = hi = None
    lo_x = hi_x = False
    for m in metadata:
        if isinstance(m, at.Ge):
            lo = m.ge  # type: ignore[assignment]
        elif isinstance(m, at.Gt):
            lo, lo_x = m.gt, True  # type: ignore[assignment]
        elif isinstance(m, at.Le):
            hi = m.le  # type: ignore[assignment]
        elif isinstance(m, at.Lt):
            hi, hi_x = m.lt, True  # type: ignore[assignment]
    return lo, hi, lo_x, hi_x


def range_text(metadata: list[Any]) -> str:
    lo, hi, lo_x, hi_x = bounds(metadata)
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_x else '≥'} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_x else '≤'} {hi:g}")
    return ", ".join(parts)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _fmt(x: float) -> str:
    return f"{x:g}"


class FieldEditor:
    """One field: its widget, how to read and write it, and its error label."""

    def __init__(self, name: str, info: Any, parent: ParamForm) -> None:
        self.name = name
        self.info = info
        self.unit = field_unit(name, info.description)
        annotation, self.optional = _unwrap_optional(info.annotation)
        self.kind = "text"
        self.metadata = list(info.metadata)
        self.error = QLabel("")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()
        origin = typing.get_origin(annotation)
        w: QWidget
        if annotation is bool:
            self.kind = "bool"
            w = QCheckBox()
            w.stateChanged.connect(parent.edited)
        elif origin is typing.Literal:
            self.kind = "choice"
            w = QComboBox()
            w.addItems([str(a) for a in typing.get_args(annotation)])
            w.currentIndexChanged.connect(parent.edited)
        elif annotation is int and not self.optional:
            self.kind = "int"
            w = QSpinBox()
            lo, hi, lo_x, hi_x = bounds(self.metadata)
            w.setRange(int(lo + lo_x) if lo is not None else -INT_LIMIT,
                       int(hi - hi_x) if hi is not None else INT_LIMIT)
            w.valueChanged.connect(parent.edited)
        elif annotation is float and not self.optional:
            self.kind = "float"
            w = QDoubleSpinBox()
            lo, hi, _, _ = bounds(self.metadata)
            w.setDecimals(3)
            w.setRange(lo if lo is not None else -1e9, hi if hi is not None else 1e9)
            w.setSingleStep(0.1 if (hi or 10) <= 10 else 1.0)
            w.valueChanged.connect(parent.edited)
        elif origin is list:
            self.kind = "list"
            w = QLineEdit()
            w.setPlaceholderText("comma-separated, e.g. 2, 5, 10")
            w.textChanged.connect(parent.edited)
            item = typing.get_args(annotation)[0] if typing.get_args(annotation) else float
            item_meta = []
            if typing.get_origin(item) is typing.Annotated:
                for extra in typing.get_args(item)[1:]:
                    item_meta.extend(getattr(extra, "metadata", []) or [extra])
            self.item_range = range_text(item_meta)
        else:
            self.kind = "optional" if self.optional else "text"
            w = QLineEdit()
            if self.optional:
                w.setPlaceholderText("empty: none")
            w.textChanged.connect(parent.edited)
        if self.unit and isinstance(w, (QSpinBox, QDoubleSpinBox)):
            w.setSuffix(f" {self.unit}")
        w.setObjectName(f"param_{name}")
        self.widget = w
        self.widget.setToolTip(self.tooltip())
        self.error.setObjectName(f"error_{name}")

    def tooltip(self) -> str:
        lines = [f"<b>{self.name}</b>"]
        if self.info.description:
            lines.append(self.info.description)
        rng = range_text(self.metadata)
        if self.kind == "list" and getattr(self, "item_range", ""):
            rng = f"each {self.item_range}"
        if rng:
            lines.append(f"range: {rng}{' ' + self.unit if self.unit else ''}")
        if self.kind == "optional":
            lines.append("leave empty for none")
        default = self.info.get_default(call_default_factory=True)
        if not isinstance(default, BaseModel):
            lines.append(f"default: {default}")
        return "<br>".join(lines)

    def label_text(self) -> str:
        text = field_label(self.name)
        return f"{text} ({self.unit})" if self.unit and self.kind in ("list", "optional") else text

    def value(self) -> Any:
        w = self.widget
        if self.kind == "bool":
            return w.isChecked()  # type: ignore[attr-defined]
        if self.kind == "choice":
            return w.currentText()  # type: ignore[attr-defined]
        if self.kind in ("int", "float"):
            return w.value()  # type: ignore[attr-defined]
        text = w.text().strip()  # type: ignore[attr-defined]
        if self.kind == "list":
            items = [s.strip() for s in text.replace(";", ",").split(",") if s.strip()]
            out: list[Any] = []
            for s in items:
                try:
                    out.append(float(s))
                except ValueError:
                    out.append(s)  # the model names the bad item
            return out
        if self.kind == "optional":
            if not text:
                return None
            try:
                return float(text)
            except ValueError:
                return text
        return text

    def set_value(self, value: Any) -> None:
        w = self.widget
        w.blockSignals(True)
        try:
            if self.kind == "bool":
                w.setChecked(bool(value))  # type: ignore[attr-defined]
            elif self.kind == "choice":
                i = w.findText(str(value))  # type: ignore[attr-defined]
                if i >= 0:
                    w.setCurrentIndex(i)  # type: ignore[attr-defined]
            elif self.kind == "int":
                w.setValue(int(value))  # type: ignore[attr-defined]
            elif self.kind == "float":
                v = float(value)
                digits = 3
                while digits < 6 and not math.isclose(round(v, digits), v, abs_tol=1e-12):
                    digits += 1
                if digits > w.decimals():  # type: ignore[attr-defined]
                    w.setDecimals(digits)  # type: ignore[attr-defined]
                w.setValue(v)  # type: ignore[attr-defined]
            elif self.kind == "list":
                w.setText(", ".join(_fmt(x) if isinstance(x, (int, float)) else str(x)
                                    for x in (value or [])))  # type: ignore[attr-defined]
            elif self.kind == "optional":
                w.setText("" if value is None else _fmt(value)
                          if isinstance(value, (int, float)) else str(value))  # type: ignore[attr-defined]
            else:
                w.setText("" if value is None else str(value))  # type: ignore[attr-defined]
        finally:
            w.blockSignals(False)

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))
        base = self.widget.property("baseStyle") or ""
        self.widget.setStyleSheet(INVALID_STYLE if text else base)


class ParamForm(QWidget):
    """The form of a pydantic model (nested models become collapsible groups).

    ``values()`` is the dict to validate; ``problems()`` the model's reasons against it, one
    ``field.path: reason`` line each (empty: valid). ``changed`` fires after every edit, once
    the form has been re-validated.
    """

    changed = pyqtSignal()

    def __init__(self, model: type[BaseModel], parent: QWidget | None = None,
                 prefix: str = "", root: ParamForm | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.prefix = prefix
        self.root = root or self
        self.editors: dict[str, FieldEditor] = {}
        self.subforms: dict[str, ParamForm] = {}
        self.groups: dict[str, QGroupBox] = {}
        self._problems: list[str] = []
        self._external: list[str] = []
        self._locked: set[str] = set()
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        layout.setLabelAlignment(Qt.AlignRight)
        self.form_error = QLabel("")
        self.form_error.setStyleSheet(ERROR_STYLE)
        self.form_error.setWordWrap(True)
        self.form_error.setObjectName("form_error")
        self.form_error.hide()
        for name, info in model.model_fields.items():
            annotation, _ = _unwrap_optional(info.annotation)
            if _is_model(annotation):
                box = QGroupBox(field_label(name))
                box.setToolTip(info.description or "")
                inner = QVBoxLayout(box)
                toggle = QToolButton()
                toggle.setText("show")
                toggle.setCheckable(True)
                sub = ParamForm(annotation, box, prefix=f"{prefix}{name}.", root=self.root)
                sub.setVisible(False)
                toggle.toggled.connect(
                    lambda on, s=sub, t=toggle: (s.setVisible(on), t.setText("hide" if on
                                                                              else "show")))
                inner.addWidget(toggle)
                inner.addWidget(sub)
                self.subforms[name] = sub
                self.groups[name] = box
                layout.addRow(box)
                continue
            ed = FieldEditor(name, info, self)
            self.editors[name] = ed
            label = QLabel(ed.label_text())
            label.setToolTip(ed.tooltip())
            layout.addRow(label, ed.widget)
            layout.addRow("", ed.error)
        if root is None:
            layout.addRow(self.form_error)
        self.set_values(model.model_construct().model_dump() if not _required(model) else {})

    # --- values -----------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        out = {name: ed.value() for name, ed in self.editors.items()}
        for name, sub in self.subforms.items():
            out[name] = sub.values()
        order = list(self.model.model_fields)
        return {k: out[k] for k in order if k in out}

    def set_values(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name in self.editors:
                self.editors[name].set_value(value)
            elif name in self.subforms and isinstance(value, dict):
                self.subforms[name].set_values(value)
        if self.root is self:
            self.validate()

    def validated(self) -> BaseModel | None:
        try:
            return self.model.model_validate(self.values())
        except ValidationError:
            return None

    def problems(self) -> list[str]:
        """Why the current values cannot be used (the model's and the engine's), or []."""
        return list(self._problems) + list(self._external)

    # --- editing ----------------------------------------------------------------------------------
    def edited(self, *_: Any) -> None:
        self.root._external = []
        self.root.validate()
        self.root.changed.emit()

    def _editor(self, path: str) -> FieldEditor | None:
        parts = path.split(".")
        form: ParamForm = self
        for p in parts[:-1]:
            if p in form.subforms:
                form = form.subforms[p]
            else:
                return form.editors.get(p)
        return form.editors.get(parts[-1])

    def _all_editors(self) -> list[FieldEditor]:
        eds = list(self.editors.values())
        for sub in self.subforms.values():
            eds.extend(sub._all_editors())
        return eds

    def validate(self) -> list[str]:
        """Re-check the values against the model; mark the fields it refuses."""
        try:
            self.model.model_validate(self.values())
            self._problems = []
        except ValidationError as exc:
            self._problems = format_validation_error(exc)
        self.show_problems(self._problems + self._external)
        return self._problems

    def show_external(self, lines: list[str]) -> None:
        """Show problems found elsewhere (the engine's rig checks, a refused change)."""
        self._external = list(lines)
        self.show_problems(self._problems + self._external)

    def show_problems(self, lines: list[str]) -> None:
        by_field: dict[FieldEditor, list[str]] = {}
        general = []
        names = {ed.name: ed for ed in self._all_editors()}
        for line in lines:
            head, _, reason = line.partition(": ")
            ed = self._editor(head.split(".")[0] if head.split(".")[0] in self.editors
                              else head) if reason else None
            if ed is None and reason:  # "source: field: reason"
                head2, _, reason2 = reason.partition(": ")
                ed = self._editor(head2) if reason2 else None
                if ed is not None:
                    reason = reason2
            if ed is None:  # a model-level rule: the field its message names first
                text = line.removeprefix("<top level>: ")
                hits = [(m.start(), e) for n, e in names.items()
                        if (m := re.search(rf"\b{n}\b", text))]
                ed = min(hits, key=lambda h: h[0])[1] if hits else None
                reason = text
            if ed is None:
                general.append(line)
            else:
                by_field.setdefault(ed, []).append(reason)
        for ed in self._all_editors():
            ed.show_error("\n".join(by_field.get(ed, [])))
        self.form_error.setText("\n".join(general))
        self.form_error.setVisible(bool(general))

    def set_locked(self, names: set[str]) -> None:
        """Disable the fields (or groups) in ``names`` (e.g. the predictor during a session)."""
        self._locked = set(names)
        for name, ed in self.editors.items():
            ed.widget.setEnabled(name not in names)
        for name, box in self.groups.items():
            box.setEnabled(name not in names)

    def to_json(self) -> str:
        return json.dumps(self.values())


def _required(model: type[BaseModel]) -> bool:
    return any(f.is_required() for f in model.model_fields.values())
