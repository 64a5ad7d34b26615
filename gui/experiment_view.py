"""The experiment at a glance: one card per subject, side by side above the rig tabs.

An operator running four boxes looks up from the bench and must see, without opening a tab,
which mouse is in which box, how far each session is, how well it goes and whether a box has a
problem; and must be able to stop one box without touching the others. The cards read the
rig tabs' own state (nothing is counted twice) and redraw a few times a second.
"""

from __future__ import annotations

from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.live import pct
from gui.rig_tab import IDLE, RigTab

REFRESH_MS = 250
COLUMNS = 4  # cards per row: four boxes side by side on a lab monitor
PHASE_COLOURS = {"running": "#117a65", "starting": "#7f8c8d", "ending": "#b7950b",
                 "completed": "#117a65", "aborted": "#c0392b", "crashed": "#c0392b"}


def _label(size: int = 11, bold: bool = False) -> QLabel:
    label = QLabel("")
    font = label.font()
    font.setPointSize(size)
    font.setBold(bold)
    label.setFont(font)
    return label


class RigCard(QFrame):
    """One subject: ID large, rig and protocol, trials, % correct, state, phase, warnings."""

    def __init__(self, tab: RigTab, subject: str, rig: str, protocol: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tab = tab
        self.setFrameShape(QFrame.StyledPanel)
        lay = QVBoxLayout(self)
        self.subject = _label(22, bold=True)
        self.subject.setText(subject)
        self.where = _label(10)
        self.where.setText(f"{rig} · {protocol}")
        self.trials = _label(13)
        self.accuracy = _label(13, bold=True)
        self.state = _label(11)
        self.phase = _label(11, bold=True)
        self.warnings = _label(10)
        self.warnings.setWordWrap(True)
        for w in (self.subject, self.where, self.trials, self.accuracy, self.state, self.phase,
                  self.warnings):
            lay.addWidget(w)
        buttons = QHBoxLayout()
        self.finish_button = QPushButton("Finish trial")
        self.finish_button.setToolTip("End this subject's session after the trial in progress")
        self.finish_button.clicked.connect(lambda: tab.finish("finished by the operator"))
        self.stop_button = QPushButton("Stop…")
        self.stop_button.setToolTip("Stop this subject's session now (asks first); the "
                                    "other rigs go on")
        self.stop_button.clicked.connect(tab.stop)
        buttons.addWidget(self.finish_button)
        buttons.addWidget(self.stop_button)
        lay.addLayout(buttons)
        self.refresh()

    def refresh(self) -> None:
        tab, s = self.tab, self.tab.live.state
        total = f" / {s.n_trials}" if s.n_trials else ""
        self.trials.setText(f"{tab.n_trials}{total} trials")
        self.accuracy.setText(f"{pct(s.trials.accuracy())} correct")
        ended = (tab.ended or {}).get("status") if tab.ended else None
        phase = ended or tab.phase
        running = tab.phase not in (IDLE,) and not ended
        self.state.setText(f"state: {s.state}" if running else "")
        reason = (tab.ended or {}).get("reason") or ""
        self.phase.setText(phase + (f" ({reason})" if reason else ""))
        self.phase.setStyleSheet(f"color:{PHASE_COLOURS.get(phase, '#2c3e50')};")
        if tab.warnings:
            self.warnings.setText(f"⚠ {len(tab.warnings)} warning"
                                  f"{'s' if len(tab.warnings) != 1 else ''}: {tab.warnings[-1]}")
            self.warnings.setStyleSheet("color:#b7950b;")
        else:
            self.warnings.setText("no warnings")
            self.warnings.setStyleSheet("color:#7f8c8d;")
        self.finish_button.setEnabled(tab.engine is not None and not ended)
        self.stop_button.setEnabled(tab.engine is not None and not ended)


class ExperimentOverview(QWidget):
    """The cards of one experiment, refreshed by a timer while the window lives."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        self.name = name  # the dock's title shows it
        self.grid = QGridLayout()
        lay.addLayout(self.grid)
        self.cards: list[RigCard] = []
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    def add(self, tab: RigTab, subject: str, rig: str, protocol: str) -> RigCard:
        card = RigCard(tab, subject, rig, protocol)
        i = len(self.cards)
        self.grid.addWidget(card, i // COLUMNS, i % COLUMNS)
        self.cards.append(card)
        return card

    def refresh(self) -> None:
        for card in self.cards:
            card.refresh()
