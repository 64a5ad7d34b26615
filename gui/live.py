"""The live view of a running session: numbers, rasters and the scrolling signal plot.

Everything here is fed by messages from the engine process (see :mod:`rigctl.engine.remote`)
and only *stores* them as they arrive; drawing happens on a timer (``refresh``) at a fixed
rate, so a burst of messages (a virtual-time session delivers hundreds of trials a second) costs
one redraw, not one per message.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import Qt
from PyQt5.QtGui import QColor, QFont
from PyQt5.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from gui.frame_count import FrameCount
from rigctl.engine import messages as m
from rigctl.engine.remote import SIGNAL_COLUMNS

WINDOW_S = 30.0
ROLLING = 20
TYPE_COLOURS = {"sample": "#8c8c8c", "control": "#1f77b4", "laser": "#2ca02c"}
SIDE_COLOURS = {"left": "#1f77b4", "right": "#d62728"}
OUTCOME_ROWS = {"correct": 2, "error": 1, "no_response": 0, "sample": 2}
LASER_BRUSH = QColor(46, 204, 64, 60)
SHAM_BRUSH = QColor(150, 150, 150, 50)
KEEP_ROWS = 6000  # decimated signal rows kept (60 s at 100 Hz)


def pct(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


@dataclass
class SessionState:
    """What the GUI knows about the session so far, from the engine's messages."""

    n_trials: int = 0
    trials: list[dict[str, Any]] = field(default_factory=list)
    state: str = "—"
    state_since: float = 0.0
    clock: float = 0.0
    clock_received: float = 0.0
    realtime: bool = True
    threshold: float | None = None
    tracked: str | None = None
    current_trial: int = 0
    go_time: dict[int, float] = field(default_factory=dict)
    licks: list[tuple[int, float, str]] = field(default_factory=list)  # trial, t, side
    epochs: list[list[Any]] = field(default_factory=list)  # [t_on, t_off|None, sham]
    sensors: dict[str, bool] = field(default_factory=dict)
    ended: str = ""  # the final status once the session has ended ("" while it runs)

    def now(self) -> float:
        """Engine time now: the last stamp, advanced by the wall clock on a rig."""
        if self.realtime and self.clock_received:
            return self.clock + (time.monotonic() - self.clock_received)
        return self.clock

    def accuracy(self) -> dict[str, float]:
        scored = [t for t in self.trials
                  if t.get("correct") is not None and not t.get("correction")]

        def acc(rows: list[dict[str, Any]]) -> float:
            return sum(int(r["correct"]) for r in rows) / len(rows) if rows else float("nan")

        return {
            "all": acc(scored),
            "control": acc([t for t in scored if t["trial_type"] == "control"]),
            "laser": acc([t for t in scored if t["trial_type"] == "laser"]),
            "rolling": acc(scored[-ROLLING:]),
            "n_control": len([t for t in scored if t["trial_type"] == "control"]),
            "n_laser": len([t for t in scored if t["trial_type"] == "laser"]),
        }

    def on_event(self, t: float, kind: str, name: str, value: str) -> None:
        if kind == "state":
            self.state, self.state_since = name, t
            if name == "response":
                self.go_time[self.current_trial] = t
        elif kind == "trial" and name == "start":
            with contextlib.suppress(ValueError, IndexError):
                self.current_trial = int(value.split()[0])
        elif kind == "input" and name.startswith("lick_"):
            side = name.removeprefix("lick_")
            on = value not in ("0", "0.0")
            self.sensors[side] = on
            if on:
                self.licks.append((self.current_trial, t, side))
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
    """Trial n/N, % correct (all, control vs laser, rolling 20), state and time in state."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 2, 4, 2)
        grid.setHorizontalSpacing(18)
        self.values: dict[str, QLabel] = {}
        items = [("trial", "Trial"), ("all", "Correct"), ("control", "Control"),
                 ("laser", "Laser"), ("rolling", f"Last {ROLLING}"), ("state", "State"),
                 ("in_state", "In state"), ("clock", "Session time")]
        for i, (key, title) in enumerate(items):
            head = _label(title, 9)
            head.setStyleSheet("color: #666;")
            val = _label("—", 15, bold=True)
            val.setObjectName(f"status_{key}")
            val.setMinimumWidth(70)
            grid.addWidget(head, 0, i)
            grid.addWidget(val, 1, i)
            self.values[key] = val
        grid.setColumnStretch(len(items), 1)

    def show_state(self, s: SessionState) -> None:
        acc = s.accuracy()
        n = len(s.trials)
        self.values["trial"].setText(f"{n}/{s.n_trials}" if s.n_trials else str(n))
        self.values["all"].setText(pct(acc["all"]))
        self.values["control"].setText(f"{pct(acc['control'])}")
        self.values["control"].setToolTip(f"{acc['n_control']} scored control trials")
        self.values["laser"].setText(f"{pct(acc['laser'])}")
        self.values["laser"].setToolTip(f"{acc['n_laser']} scored laser trials")
        self.values["rolling"].setText(pct(acc["rolling"]))
        now = s.now()
        if s.ended:  # the last state is history: say the session is over, not "in iti 812 s"
            self.values["state"].setText("ended")
            self.values["in_state"].setText(s.ended)
        else:
            self.values["state"].setText(s.state)
            self.values["in_state"].setText(f"{max(0.0, now - s.state_since):.1f} s"
                                            if s.state != "—" else "—")
        self.values["clock"].setText(_hms(now))

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
        self.data = np.empty((0, len(SIGNAL_COLUMNS)))
        self.message = pg.TextItem("", color="#888", anchor=(0.5, 0.5))
        self.neural.addItem(self.message)
        self.tracked = "calcium"

    def reset(self, threshold: float | None, tracked: str | None, has_signal: bool) -> None:
        self.data = np.empty((0, len(SIGNAL_COLUMNS)))
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
        self.data = np.concatenate([self.data, rows])[-KEEP_ROWS:]

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
        if len(self.data):
            now = max(now, float(self.data[-1, 0])) if s.realtime else float(self.data[-1, 0])
        x0 = max(0.0, now - WINDOW_S)
        self.neural.setXRange(x0, x0 + WINDOW_S, padding=0)
        d = self.data[self.data[:, 0] >= x0 - 1] if len(self.data) else self.data
        if len(d):
            t = d[:, 0]
            self.neural_curve.setData(t, d[:, 1])
            self.band.setData(np.repeat(t, 2), d[:, 2:4].ravel())
            col = 4 if self.tracked == "calcium" else 5
            self.ca_curve.setData(t, d[:, col])
        self.message.setPos(x0 + WINDOW_S / 2, 0.5)
        shown = 0
        for t_on, t_off, sham in s.epochs[-50:]:
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
    """Per-trial outcome raster coloured by trial type, with rolling accuracy beneath."""

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
            p.getAxis("left").setWidth(78)  # room for the row names of the raster
        key = " ".join(f"<span style='color:{c}'>■</span> {t}" for t, c in TYPE_COLOURS.items())
        self.raster.setTitle(f"Outcome per trial: {key}", size="9pt")
        self.raster.getAxis("left").setTicks([[(2, "correct"), (1, "error"), (0, "no resp.")]])
        self.raster.setYRange(-0.7, 2.7, padding=0)
        self.raster.getAxis("bottom").setStyle(showValues=False)
        self.raster.getAxis("left").setStyle(textFillLimits=[(0, 0.95)],
                                             hideOverlappingLabels=False)
        self.scatter: dict[str, pg.ScatterPlotItem] = {}
        for ttype, colour in TYPE_COLOURS.items():
            sp = pg.ScatterPlotItem(size=9, pen=pg.mkPen(None), brush=pg.mkBrush(colour),
                                    symbol="s", name=ttype)
            self.raster.addItem(sp)
            self.scatter[ttype] = sp
        self.acc.setLabel("left", "% correct")
        self.acc.setLabel("bottom", "trial")
        self.acc.setYRange(-6, 112, padding=0)
        self.raster.setXRange(0.5, 20.5, padding=0)
        self.acc.getAxis("left").setTicks([[(0, "0"), (50, "50"), (100, "100")]])
        self.acc.getAxis("left").setStyle(hideOverlappingLabels=False)
        self.acc.addItem(pg.InfiniteLine(angle=0, pos=50, pen=pg.mkPen("#bbb", style=Qt.DotLine)))
        self.acc.setTitle(
            f"<span style='color:#333'>━</span> last {ROLLING} &nbsp; "
            f"<span style='color:{TYPE_COLOURS['control']}'>━</span> control (cumulative) &nbsp; "
            f"<span style='color:{TYPE_COLOURS['laser']}'>━</span> laser (cumulative)",
            size="9pt")
        self.lines = {
            "all": self.acc.plot(pen=pg.mkPen("#333", width=2), name=f"all (last {ROLLING})"),
            "control": self.acc.plot(pen=pg.mkPen(TYPE_COLOURS["control"], width=1.5),
                                     name="control (cum.)"),
            "laser": self.acc.plot(pen=pg.mkPen(TYPE_COLOURS["laser"], width=1.5),
                                   name="laser (cum.)"),
        }
        self._shown = -1

    def reset(self) -> None:
        self._shown = -1
        for sp in self.scatter.values():
            sp.setData([], [])
        for line in self.lines.values():
            line.setData([], [])

    def refresh(self, s: SessionState) -> None:
        if len(s.trials) == self._shown:
            return
        self._shown = len(s.trials)
        pts: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in TYPE_COLOURS}
        for t in s.trials:
            xs, ys = pts.setdefault(t["trial_type"], ([], []))
            xs.append(t["trial"])
            ys.append(OUTCOME_ROWS.get(t["outcome"], 0))
        for ttype, (xs, ys) in pts.items():
            if ttype in self.scatter:
                self.scatter[ttype].setData(xs, ys)
        last = max((t["trial"] for t in s.trials), default=0)
        self.raster.setXRange(0.5, max(last + 2, 20) + 0.5, padding=0)
        # rolling and cumulative accuracy over scored, non-correction trials
        x_all, y_all, cum = [], [], {"control": ([], [], [0, 0]), "laser": ([], [], [0, 0])}
        window: deque[int] = deque(maxlen=ROLLING)
        for t in s.trials:
            if t.get("correct") is None or t.get("correction"):
                continue
            c = int(t["correct"])
            window.append(c)
            x_all.append(t["trial"])
            y_all.append(100.0 * sum(window) / len(window))
            if t["trial_type"] in cum:
                xs, ys, k = cum[t["trial_type"]]
                k[0] += c
                k[1] += 1
                xs.append(t["trial"])
                ys.append(100.0 * k[0] / k[1])
        self.lines["all"].setData(x_all, y_all)
        for key in ("control", "laser"):
            self.lines[key].setData(cum[key][0], cum[key][1])


class LickRaster(QWidget):
    """Licks of every trial, aligned to the go cue (response window onset)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plot = pg.PlotWidget(background="w")
        lay.addWidget(self.plot)
        p = self.plot.getPlotItem()
        p.setTitle("Licks, aligned to the go cue: "
                   f"<span style='color:{SIDE_COLOURS['left']}'>|</span> left &nbsp; "
                   f"<span style='color:{SIDE_COLOURS['right']}'>|</span> right", size="9pt")
        p.setLabel("bottom", "time from go cue", units="s")
        p.setLabel("left", "trial")
        p.getAxis("left").setWidth(45)
        p.setMouseEnabled(x=False, y=False)
        p.hideButtons()
        p.addItem(pg.InfiniteLine(angle=90, pos=0, pen=pg.mkPen("#e67e22", width=1)))
        self.scatter: dict[str, pg.ScatterPlotItem] = {}
        for side, colour in SIDE_COLOURS.items():
            sp = pg.ScatterPlotItem(size=8, symbol="|", pen=pg.mkPen(colour, width=2),
                                    name=f"lick {side}")
            p.addItem(sp)
            self.scatter[side] = sp
        p.setXRange(-2, 4, padding=0)
        p.setYRange(0.5, 10.5, padding=0)
        self._shown = -1

    def reset(self) -> None:
        self._shown = -1
        for sp in self.scatter.values():
            sp.setData([], [])

    def refresh(self, s: SessionState) -> None:
        if len(s.licks) == self._shown:
            return
        self._shown = len(s.licks)
        pts: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in SIDE_COLOURS}
        for trial, t, side in s.licks:
            go = s.go_time.get(trial)
            if go is None or side not in pts:
                continue
            pts[side][0].append(t - go)
            pts[side][1].append(trial)
        for side, (xs, ys) in pts.items():
            self.scatter[side].setData(xs, ys)
        top = max(s.current_trial, 1)
        self.plot.getPlotItem().setYRange(max(0.5, top - 40), top + 0.5, padding=0)


class LiveView(QWidget):
    """Status strip, signal plot, outcome and lick rasters for one rig."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = SessionState()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.status = StatusStrip()
        lay.addWidget(self.status)
        self.frames = FrameCount()
        lay.addWidget(self.frames)
        split = QSplitter(Qt.Vertical)
        self.signal = SignalPlot()
        split.addWidget(self.signal)
        bottom = QWidget()
        row = QHBoxLayout(bottom)
        row.setContentsMargins(0, 0, 0, 0)
        self.outcomes = OutcomePlot()
        self.licks = LickRaster()
        row.addWidget(self.outcomes, 3)
        row.addWidget(self.licks, 2)
        split.addWidget(bottom)
        split.setSizes([330, 330])
        lay.addWidget(split, 1)

    def reset(self, ready: dict[str, Any]) -> None:
        self.state = SessionState(
            n_trials=int(ready.get("n_trials", 0)), realtime=bool(ready.get("realtime", True)),
            threshold=ready.get("threshold"), tracked=ready.get("tracked"),
            clock_received=time.monotonic(),
        )
        self.signal.reset(ready.get("threshold"), ready.get("tracked"),
                          bool(ready.get("has_signal", False)))
        self.outcomes.reset()
        self.licks.reset()
        self.status.clear()
        self.frames.reset(ready.get("frame_clocks", ()))

    def on_message(self, msg: Any) -> None:
        """Store what a report (:mod:`rigctl.engine.messages`) says; drawing is ``refresh``."""
        s = self.state
        match msg:
            case m.Event(t, kind, name, value):
                s.on_event(t, kind, name, value)
            case m.Trial(record, progress):
                s.trials.append(record)
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
        self.status.show_state(s)
        self.signal.refresh(s)
        self.outcomes.refresh(s)
        self.licks.refresh(s)
