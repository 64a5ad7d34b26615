"""Number boxes and drop-downs change with the mouse wheel only once they have focus.

Qt's spin boxes and combo boxes take a wheel event wherever the pointer is, so scrolling a long
form changes whatever field passes under the pointer (an ITI of 2 s became 0 s that way). With
:func:`wheel_needs_focus` such a field ignores the wheel until it is clicked or tabbed into, and
the ignored event goes on to the scroll area, which scrolls the form as the operator meant.
"""

from __future__ import annotations

from PyQt5.QtCore import QEvent, QObject, QPointF, Qt
from PyQt5.QtGui import QWheelEvent
from PyQt5.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QWidget

GUARDED = (QAbstractSpinBox, QComboBox)


class WheelGuard(QObject):
    """Event filter: a wheel over an unfocused guarded widget goes to the enclosing scroll
    area (handed over explicitly: Qt propagates only the wheel events that came from the
    device, and a scripted wheel must behave the same)."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() != QEvent.Wheel or not isinstance(obj, QWidget) or obj.hasFocus():
            return False
        area = obj.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is None:
            event.ignore()  # not accepted: QApplication offers it to the parent widgets
            return True
        assert isinstance(event, QWheelEvent)
        viewport = area.viewport()
        pos = QPointF(viewport.mapFromGlobal(event.globalPosition().toPoint()))
        QApplication.sendEvent(viewport, QWheelEvent(
            pos, event.globalPosition(), event.pixelDelta(), event.angleDelta(),
            event.buttons(), event.modifiers(), event.phase(), event.inverted()))
        event.accept()
        return True  # the field itself never sees it


def wheel_needs_focus(root: QWidget) -> None:
    """Guard every spin box and combo box in ``root`` (and ``root`` itself); idempotent."""
    guard = root.findChild(WheelGuard, "wheel_guard", Qt.FindDirectChildrenOnly)
    if guard is None:
        guard = WheelGuard(root)
        guard.setObjectName("wheel_guard")
    widgets = [root] if isinstance(root, GUARDED) else []
    for kind in GUARDED:
        widgets.extend(root.findChildren(kind))
    for w in widgets:
        if w.property("wheelGuarded"):
            continue
        w.setProperty("wheelGuarded", True)
        w.setFocusPolicy(Qt.StrongFocus)  # the wheel alone never gives focus
        w.installEventFilter(guard)
