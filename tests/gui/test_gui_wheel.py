"""A mouse wheel over a number box scrolls the form; the value changes only with focus."""

from __future__ import annotations

from PyQt5.QtCore import QPoint, QPointF, Qt
from PyQt5.QtGui import QWheelEvent
from PyQt5.QtWidgets import QApplication, QScrollArea


def _wheel(widget, steps: int = -3) -> None:
    """Send what a mouse wheel sends (``steps`` notches, negative: towards the user)."""
    centre = QPointF(widget.rect().center())
    ev = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                     QPoint(0, 120 * steps), Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase,
                     False)
    QApplication.sendEvent(widget, ev)


def test_wheel_over_a_number_box_scrolls_the_form_and_leaves_the_value(qtbot, window, config):
    tab = window.add_rig(str(config))
    window.resize(900, 420)  # short enough that the setup form scrolls
    qtbot.waitExposed(window)
    tab.start_button.setFocus()
    bar = tab.setup.findChild(QScrollArea).verticalScrollBar()
    assert bar.maximum() > 0
    iti = tab.setup.form.editors["iti_s"].widget
    before, top = iti.value(), bar.value()
    _wheel(iti)
    assert iti.value() == before  # no click, no change (it was 2 s -> 0 s on main)
    assert bar.value() > top  # the wheel scrolled the form instead
    assert not iti.hasFocus()

    # the same holds for the device panel's boxes and for drop-downs
    open_ms = tab.devices.open_ms
    ms = open_ms.value()
    _wheel(open_ms, steps=3)
    assert open_ms.value() == ms
    protocol = tab.setup.protocol
    index = protocol.currentIndex()
    _wheel(protocol)
    assert protocol.currentIndex() == index

    # once the operator has clicked into the box, the wheel edits it
    iti.setFocus()
    assert iti.hasFocus()
    _wheel(iti, steps=-1)
    assert iti.value() < before
