"""The live view of a running session: numbers, rasters and the scrolling signal plot.

Everything here is fed by messages from the engine process (see :mod:`rigctl.engine.remote`)
and only *stores* them as they arrive; drawing happens on a timer (``refresh``) at a fixed
rate, so a burst of messages (a virtual-time session delivers hundreds of trials a second) costs
one redraw, not one per message.

What is counted and drawn of the trials comes from the task's declared trial record (the
``trial_schema`` of the ``Ready`` message, read by :mod:`gui.trial_columns`): one counter an
outcome level, one raster strip a condition level. Everything kept is bounded (ring buffers,
:mod:`gui.buffers`), so the window's memory is flat however long the session runs.

Each panel (the status strip, the plots) has ``reset(ready, state)`` and ``refresh(state)``;
:class:`LiveView` calls them in turn, so a new panel is one line in ``LiveView.__init__``
(``self._add_panel(widget)``), and a new number in the status strip is
``self.status.add_value(key, title)``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import Qt
from PyQt5.QtGui import QColor, QFont
from PyQt5.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from gui.buffers import RingBuffer
from gui.frame_count import FrameCount
from gui.outcome_items import AccuracyLines, OutcomeStrips, swatch
from gui.trial_columns import TrialColumns, level_colour
from gui.trial_history import ROLLING, TrialHistory
from rigctl.engine import messages as m
from rigctl.engine.remote import SIGNAL_COLUMNS
from rigctl.protocols.trial import TrialRecord, TrialSchema

WINDOW_S = 30.0
SIDE_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
LASER_BRUSH = QColor(46, 204, 64, 60)
SHAM_BRUSH = QColor(150, 150, 150, 50)
KEEP_ROWS = 6000  # decimated signal rows kept (60 s at 100 Hz)
KEEP_LICKS = 4000  # lick onsets kept (the raster shows the last LICK_TRIALS trials)
LICK_TRIALS = 40
KEEP_GO = 256  # go-cue times kept, by trial
KEEP_EPOCHS = 64  # laser epochs kept (the plot shows those in its 30 s)


def pct(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


@dataclass
class SessionState:
    """What the GUI knows about the session so far, from the engine's messages."""

    n_trials: int = 0
    columns: TrialColumns = field(
        default_factory=lambda: TrialColumns.of(TrialSchema.of(TrialRecord)))
    trials: TrialHistory = field(init=False)
    ports: tuple[str, ...] = ()
    state: str = "—"
    state_since: float = 0.0
    clock: float = 0.0
    clock_received: float = 0.0
    realtime: bool = True
    threshold: float | None = None
    tracked: str | None = None
    current_trial: int = 0
    go_time: OrderedDict[int, float] = field(default_factory=OrderedDict)
    licks: RingBuffer = field(default_factory=lambda: RingBuffer(KEEP_LICKS, 3))  # trial,t,side
    sides: list[str] = field(default_factory=list)  # lick sides by index, in order seen
    epochs: deque[list[Any]] = field(  # [t_on, t_off|None, sham]
        default_factory=lambda: deque(maxlen=KEEP_EPOCHS))
    sensors: dict[str, bool] = field(default_factory=dict)
    ended: str = ""  # the final status once the session has ended ("" while it runs)

    def __post_init__(self) -> None:
        self.trials = TrialHistory(self.columns)
        self.sides = list(self.ports)

    def now(self) -> float:
        """Engine time now: the last stamp, advanced by the wall clock on a rig."""
        if self.realtime and self.clock_received:
            return self.clock + (time.monotonic() - self.clock_received)
        return self.clock

    def side_index(self, side: str) -> int:
        if side not in self.sides:
            self.sides.append(side)
        return self.sides.index(side)

    def on_event(self, t: float, kind: str, name: str, value: str) -> None:
        if kind == "state":
            self.state, self.state_since = name, t
            if name == "response":
                self.go_time[self.current_trial] = t
                while len(self.go_time) > KEEP_GO:
                    self.go_time.popitem(last=False)
        elif kind == "trial" and name == "start":
            with contextlib.suppress(ValueError, IndexError):
                self.current_trial = int(value.split()[0])
        elif kind == "input" and name.startswith("lick_"):
            side = name.removeprefix("lick_")
            on = value not in ("0", "0.0")
            self.sensors[side] = on
            if on:
                self.licks.append((self.current_trial, t, self.side_index(side)))
        elif kind == "output" and name in ("laser", "laser_sham"):
            sham = name == "laser_sham"
            off = value.startswith("off")
            if off:
                self._close_epoch(t)
            elif not self.epochs or self.epochs[-1][1] is not None:
                self.epochs.append([t, None, sham])
        elif kind == "output" and name == "all_off":
            self._close_epoch(t)
        self.clock = max(self.clock, t)

    def _close_epoch(self, t: float) -> None:
        if self.epochs and self.epochs[-1][1] is None:
            self.epochs[-1][1] = t


def _label(text: str = "", size: int = 11, bold: bool = False) -> QLabel:
    lab = QLabel(text)
    f = QFont()
    f.setPointSize(size)
    f.setBold(bold)
    lab.setFont(f)
    return lab


class StatusStrip(QWidget):
    """Trial n/N, % correct (all, rolling), state and time in state on the first line; beneath
    it one counter per declared outcome level and % correct per condition level."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 2, 4, 2)
        outer.setSpacing(2)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(18)
        outer.addLayout(self.grid)
        self.counters_row = QHBoxLayout()
        self.counters_row.setSpacing(14)
        outer.addLayout(self.counters_row)
        self.values: dict[str, QLabel] = {}
        self.counters: dict[str, QLabel] = {}  # "count_<level>", "acc_<level>"
        self._levels: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        for key, title in [("trial", "Trial"), ("all", "Correct"),
                           ("rolling", f"Last {ROLLING}"), ("state", "State"),
                           ("in_state", "In state"), ("clock", "Session time")]:
            self.add_value(key, title)

    def add_value(self, key: str, title: str) -> QLabel:
        """A titled number in the first line (``values[key]``); set its text in a refresh."""
        i = len(self.values)
        head = _label(title, 9)
        head.setStyleSheet("color: #666;")
        val = _label("—", 15, bold=True)
        val.setObjectName(f"status_{key}")
        val.setMinimumWidth(70)
        self.grid.addWidget(head, 0, i)
        self.grid.addWidget(val, 1, i)
        self.grid.setColumnStretch(i, 0)
        self.grid.setColumnStretch(i + 1, 1)
        self.values[key] = val
        return val

    def reset(self, ready: dict[str, Any], s: SessionState) -> None:
        """A new session: its task's counters are made at the first refresh."""
        for lab in self.counters.values():
            lab.deleteLater()
        self.counters = {}
        self._levels = ((), ())
        self.clear()

    def _rebuild(self, h: TrialHistory) -> None:
        """One counter per outcome level and an accuracy per condition level of this task
        (again when the task writes a level it did not declare)."""
        levels = (h.outcomes.names,
                  h.conditions.names if h.has_score and h.columns.condition else ())
        if levels == self._levels:
            return
        self._levels = levels
        while self.counters_row.count():
            self.counters_row.takeAt(0)
        keys = [f"count_{o}" for o in levels[0]] + [f"acc_{c}" for c in levels[1]]
        for key in keys:
            if key not in self.counters:
                lab = _label("", 11)
                lab.setObjectName(key)
                self.counters[key] = lab
            self.counters_row.addWidget(self.counters[key])
        self.counters_row.addStretch(1)

    def refresh(self, s: SessionState) -> None:
        h = s.trials
        self._rebuild(h)
        n = len(h)
        self.values["trial"].setText(f"{n}/{s.n_trials}" if s.n_trials else str(n))
        self.values["all"].setText(pct(h.accuracy()))
        self.values["rolling"].setText(pct(h.rolling()))
        for name in self._levels[0]:
            k = h.counts.get(name, 0)
            share = f" ({100 * k / n:.0f}%)" if n else ""
            self.counters[f"count_{name}"].setText(
                swatch(h.outcomes.colour(name), f"{name.replace('_', ' ')} <b>{k}</b>{share}"))
            self.counters[f"count_{name}"].setToolTip(
                f"trials whose {h.columns.outcome} is {name}")
        for name in self._levels[1]:
            lab = self.counters[f"acc_{name}"]
            lab.setText(swatch(h.conditions.colour(name), f"{name} <b>"
                               f"{pct(h.accuracy_of(name))}</b> correct", "━"))
            lab.setToolTip(f"{h.scored.get(name, 0)} scored {name} trials")
        now = s.now()
        if s.ended:  # the last state is history: say the session is over, not "in iti 812 s"
            self.values["state"].setText("ended")
            self.values["in_state"].setText(s.ended)
        else:
            self.values["state"].setText(s.state)
            self.values["in_state"].setText(f"{max(0.0, now - s.state_since):.1f} s"
                                            if s.state != "—" else "—")
        self.values["clock"].setText(_hms(now))

    def show_state(self, s: SessionState) -> None:
        self.refresh(s)

    def clear(self) -> None:
        for v in self.values.values():
            v.setText("—")


def _hms(t: float) -> str:
    t = max(0.0, t)
    h, rem = divmod(int(t), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class SignalPlot(QWidget):
    """Scrolling 30 s of the neural signal and the predicted Ca²⁺ (with its threshold), and
    the laser epochs shaded behind both."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        lay.addWidget(self.view)
        self.neural = self.view.addPlot(row=0, col=0)
        self.ca = self.view.addPlot(row=1, col=0)
        for p in (self.neural, self.ca):
            p.showGrid(x=True, y=True, alpha=0.2)
            p.setMouseEnabled(x=False, y=False)
            p.hideButtons()
            p.getAxis("left").setWidth(60)
        self.ca.setXLink(self.neural)
        self.neural.setLabel("left", "signal")
        self.neural.getAxis("bottom").setStyle(showValues=False)
        self.ca.setLabel("left", "Ca²⁺ (pred.)")
        self.ca.setLabel("bottom", "session time", units="s")
        self.neural.setTitle(
            "Neural signal: 10 ms means, grey: min–max of each bin; "
            "<span style='color:#2ecc40'>■</span> laser on, "
            "<span style='color:#999'>■</span> sham", size="9pt")
        # min-max envelope of each 10 ms bin, as vertical segments (a fill is 40x slower)
        self.band = self.neural.plot(pen=pg.mkPen(150, 150, 150, 120, width=1),
                                     connect="pairs")
        self.neural_curve = self.neural.plot(pen=pg.mkPen("#333333", width=1),
                                             name="signal (10 ms mean)")
        self.ca_curve = self.ca.plot(pen=pg.mkPen("#8e44ad", width=2), name="Ca²⁺ (predicted)")
        self.threshold = pg.InfiniteLine(
            angle=0, pen=pg.mkPen("#e67e22", width=1.5, style=Qt.DashLine),
            label="threshold", labelOpts={"position": 0.08, "color": "#e67e22",
                                          "anchors": [(0, 1), (0, 1)]})
        self.ca.addItem(self.threshold)
        self.threshold.hide()
        self.ca.setYRange(0, 1.05)
        self.neural.setXRange(0, WINDOW_S, padding=0)
        self.neural.setYRange(0, 1.2)
        for p in (self.neural, self.ca):
            for side in ("left", "bottom"):
                p.getAxis(side).enableAutoSIPrefix(False)
        self._regions: list[tuple[pg.LinearRegionItem, pg.LinearRegionItem]] = []
        self.buffer = RingBuffer(KEEP_ROWS, len(SIGNAL_COLUMNS))
        self.message = pg.TextItem("", color="#888", anchor=(0.5, 0.5))
        self.neural.addItem(self.message)
        self.tracked = "calcium"

    @property
    def data(self) -> np.ndarray:
        """The kept decimated rows (the last KEEP_ROWS), oldest first."""
        return self.buffer.view()

    def reset(self, ready: dict[str, Any], s: SessionState | None = None) -> None:
        threshold, tracked = ready.get("threshold"), ready.get("tracked")
        has_signal = bool(ready.get("has_signal", False))
        self.buffer.clear()
        self.tracked = tracked or "calcium"
        label = "Ca²⁺ (pred.)" if self.tracked == "calcium" else "gliotransm."
        self.ca.setLabel("left", label)
        if threshold is not None:
            self.threshold.setValue(threshold)
            self.threshold.label.setFormat(f"threshold {threshold:g}")
            self.threshold.show()
            self.ca.setYRange(0, max(1.05, threshold * 1.2))
        else:
            self.threshold.hide()
        self.message.setText("" if has_signal else "no neural signal on this rig")
        for item in self.neural_curve, self.ca_curve, self.band:
            item.setData([], [])
        self._clear_regions()

    def add(self, rows: np.ndarray) -> None:
        self.buffer.extend(rows)

    def _clear_regions(self) -> None:
        for a, b in self._regions:
            a.hide()
            b.hide()

    def _region(self, i: int, sham: bool) -> tuple[pg.LinearRegionItem, pg.LinearRegionItem]:
        """The i-th pair of shaded regions, from a pool: creating and removing graphics items
        on every redraw costs far more than moving existing ones."""
        while len(self._regions) <= i:
            pair = []
            for plot in (self.neural, self.ca):
                r = pg.LinearRegionItem((0, 0), movable=False, pen=pg.mkPen(None))
                r.setZValue(-10)
                plot.addItem(r)
                pair.append(r)
            self._regions.append((pair[0], pair[1]))
        pair = self._regions[i]
        brush = SHAM_BRUSH if sham else LASER_BRUSH
        for r in pair:
            r.setBrush(brush)
        return pair

    def refresh(self, s: SessionState) -> None:
        now = s.now()
        data = self.data
        if len(data):
            now = max(now, float(data[-1, 0])) if s.realtime else float(data[-1, 0])
        x0 = max(0.0, now - WINDOW_S)
        self.neural.setXRange(x0, x0 + WINDOW_S, padding=0)
        d = data[data[:, 0] >= x0 - 1] if len(data) else data
        if len(d):
            t = d[:, 0]
            self.neural_curve.setData(t, d[:, 1])
            self.band.setData(np.repeat(t, 2), d[:, 2:4].ravel())
            col = 4 if self.tracked == "calcium" else 5
            self.ca_curve.setData(t, d[:, col])
        self.message.setPos(x0 + WINDOW_S / 2, 0.5)
        shown = 0
        for t_on, t_off, sham in s.epochs:
            end = now if t_off is None else t_off
            if end < x0:
                continue
            for r in self._region(shown, sham):
                r.setRegion((t_on, end))
                r.show()
            shown += 1
        for a, b in self._regions[shown:]:
            a.hide()
            b.hide()


class OutcomePlot(QWidget):
    """Outcome raster (a strip per condition level, squares coloured by outcome level) with
    the rolling and per-condition cumulative accuracy beneath, for the newest trials."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        lay.addWidget(self.view)
        self.raster = self.view.addPlot(row=0, col=0)
        self.acc = self.view.addPlot(row=1, col=0)
        self.view.ci.layout.setRowStretchFactor(0, 1)
        self.view.ci.layout.setRowStretchFactor(1, 1)
        self.acc.setXLink(self.raster)
        for p in (self.raster, self.acc):
            p.setMouseEnabled(x=False, y=False)
            p.hideButtons()
            p.getAxis("left").setWidth(78)  # room for the strip names
        self.raster.getAxis("bottom").setStyle(showValues=False)
        self.raster.getAxis("left").setStyle(textFillLimits=[(0, 0.95)],
                                             hideOverlappingLabels=False)
        self.strips = OutcomeStrips(self.raster)
        self.acc.setLabel("left", "% correct")
        self.acc.setLabel("bottom", "trial")
        self.acc.setYRange(-6, 112, padding=0)
        self.raster.setXRange(0.5, 20.5, padding=0)
        self.acc.getAxis("left").setTicks([[(0, "0"), (50, "50"), (100, "100")]])
        self.acc.getAxis("left").setStyle(hideOverlappingLabels=False)
        self.acc.addItem(pg.InfiniteLine(angle=0, pos=50, pen=pg.mkPen("#bbb", style=Qt.DotLine)))
        self.lines = AccuracyLines(self.acc)
        self._shown = -1

    def reset(self, ready: dict[str, Any], s: SessionState) -> None:
        self._shown = -1
        self.strips.reset(s.trials)
        self.lines.reset(s.trials)
        self.raster.setXRange(0.5, 20.5, padding=0)

    def refresh(self, s: SessionState) -> None:
        h = s.trials
        if len(h) == self._shown:
            return
        self._shown = len(h)
        self.strips.refresh(h)
        self.lines.refresh(h)
        rows = h.view()
        first = float(rows[0, 0]) if len(rows) else 1.0
        last = h.last_trial
        self.raster.setXRange(first - 0.5, max(last + 2, first + 19) + 0.5, padding=0)


class LickRaster(QWidget):
    """Licks of the last LICK_TRIALS trials, aligned to the go cue (response window onset), a
    colour per lick side (the rig's ports in order, then sides as they are seen)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plot = pg.PlotWidget(background="w")
        lay.addWidget(self.plot)
        p = self.plot.getPlotItem()
        p.setLabel("bottom", "time from go cue", units="s")
        p.setLabel("left", "trial")
        p.getAxis("left").setWidth(45)
        p.setMouseEnabled(x=False, y=False)
        p.hideButtons()
        p.addItem(pg.InfiniteLine(angle=90, pos=0, pen=pg.mkPen("#e67e22", width=1)))
        self.scatter: list[pg.ScatterPlotItem] = []
        self._sides: tuple[str, ...] = ("",)
        p.setXRange(-2, 4, padding=0)
        p.setYRange(0.5, 10.5, padding=0)
        self._shown = -1

    def _colour(self, s: SessionState, side: str) -> str:
        return level_colour(side, tuple(s.ports), SIDE_PALETTE)

    def reset(self, ready: dict[str, Any], s: SessionState) -> None:
        self._shown = -1
        self._sides = ("",)
        for sp in self.scatter:
            sp.setData([], [])
        self._relabel(s)

    def _relabel(self, s: SessionState) -> None:
        if tuple(s.sides) == self._sides:
            return
        self._sides = tuple(s.sides)
        key = " &nbsp; ".join(swatch(self._colour(s, side), side, "|") for side in s.sides)
        self.plot.getPlotItem().setTitle(f"Licks, aligned to the go cue: {key}", size="9pt")
        for i, side in enumerate(s.sides):
            while len(self.scatter) <= i:
                sp = pg.ScatterPlotItem(size=8, symbol="|")
                self.plot.getPlotItem().addItem(sp)
                self.scatter.append(sp)
            self.scatter[i].setPen(pg.mkPen(self._colour(s, side), width=2))

    def refresh(self, s: SessionState) -> None:
        if s.licks.total == self._shown:
            return
        self._shown = s.licks.total
        self._relabel(s)
        top = max(s.current_trial, 1)
        licks = s.licks.view()
        licks = licks[licks[:, 0] > top - LICK_TRIALS]
        go = np.array([s.go_time.get(int(trial), np.nan) for trial in licks[:, 0]])
        keep = ~np.isnan(go)
        licks, go = licks[keep], go[keep]
        for i, sp in enumerate(self.scatter):
            sel = licks[:, 2] == i
            sp.setData(licks[sel, 1] - go[sel], licks[sel, 0])
        self.plot.getPlotItem().setYRange(max(0.5, top - LICK_TRIALS), top + 0.5, padding=0)


class Panel(Protocol):
    """A part of the live view: made ready for a session, then redrawn on the timer."""

    def reset(self, ready: dict[str, Any], s: SessionState) -> None: ...

    def refresh(self, s: SessionState) -> None: ...


class LiveView(QWidget):
    """Status strip, signal plot, outcome and lick rasters for one rig."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = SessionState()
        self.panels: list[Panel] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.status = self._add_panel(StatusStrip())
        lay.addWidget(self.status)
        self.frames = FrameCount()
        lay.addWidget(self.frames)
        split = QSplitter(Qt.Vertical)
        self.signal = self._add_panel(SignalPlot())
        split.addWidget(self.signal)
        bottom = QWidget()
        row = QHBoxLayout(bottom)
        row.setContentsMargins(0, 0, 0, 0)
        self.outcomes = self._add_panel(OutcomePlot())
        self.licks = self._add_panel(LickRaster())
        row.addWidget(self.outcomes, 3)
        row.addWidget(self.licks, 2)
        split.addWidget(bottom)
        split.setSizes([330, 330])
        lay.addWidget(split, 1)

    def _add_panel(self, panel: Any) -> Any:
        self.panels.append(panel)
        return panel

    def reset(self, ready: dict[str, Any], schema: TrialSchema | None = None) -> None:
        """A new session: ``ready`` is the Ready message as a dict, ``schema`` its typed trial
        schema (rigctl's own record when absent)."""
        if schema is None:
            schema = TrialSchema.of(TrialRecord)
        self.state = SessionState(
            n_trials=int(ready.get("n_trials", 0)), realtime=bool(ready.get("realtime", True)),
            threshold=ready.get("threshold"), tracked=ready.get("tracked"),
            clock_received=time.monotonic(), columns=TrialColumns.of(schema),
            ports=tuple(ready.get("ports", ())),
        )
        for panel in self.panels:
            panel.reset(ready, self.state)
        self.frames.reset(ready.get("frame_clocks", ()))

    def on_message(self, msg: Any) -> None:
        """Store what a report (:mod:`rigctl.engine.messages`) says; drawing is ``refresh``."""
        s = self.state
        match msg:
            case m.Event(t, kind, name, value):
                s.on_event(t, kind, name, value)
            case m.Trial(record, progress):
                s.trials.add(record)
                # a task that logs no "trial start" event: the next trial is in progress
                s.current_trial = max(s.current_trial, s.trials.last_trial + 1)
                n = progress.get("n_trials")
                if n:
                    s.n_trials = int(n)
            case m.Signal(rows):
                self.signal.add(rows)
            case m.Frames():
                self.frames.on_frames(msg)
            case m.Clock(t):
                s.clock, s.clock_received = float(t), time.monotonic()
            case m.Ended(status) | m.Crashed(status=status):
                s.ended = status or "ended"

    def refresh(self, running: bool) -> None:
        s = self.state
        if not running:
            s.realtime = False  # freeze the clock once the session has ended
        for panel in self.panels:
            panel.refresh(s)
