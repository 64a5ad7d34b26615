"""The outcome raster's parts: one strip a condition, one square a trial coloured by outcome,
and the accuracy lines beneath; all drawn from a :class:`~gui.trial_history.TrialHistory`.

Graphics items are made once per level (a scatter per outcome level, a line per condition) and
only get new data at a redraw: creating items per trial costs far more than moving points.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from gui.trial_history import (
    CONDITION,
    CUMULATIVE_PCT,
    OUTCOME,
    ROLLING,
    ROLLING_PCT,
    SCORE,
    TRIAL,
    TrialHistory,
)

NO_OUTCOME = "#bbbbbb"


def swatch(colour: str, text: str, mark: str = "■") -> str:
    return f"<span style='color:{colour}'>{mark}</span> {text}"


class OutcomeStrips:
    """A strip per condition level (top to bottom in declared order), a square per trial in
    its condition's strip, coloured by its outcome level."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.scatter: list[pg.ScatterPlotItem] = []  # one per outcome level, by index
        self.unscored = pg.ScatterPlotItem(size=9, pen=pg.mkPen(None),
                                           brush=pg.mkBrush(NO_OUTCOME), symbol="s")
        plot.addItem(self.unscored)
        self._levels: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())

    def reset(self, h: TrialHistory) -> None:
        for sp in self.scatter:
            sp.setData([], [])
        self.unscored.setData([], [])
        self._levels = ((), ())
        self._relabel(h)

    def _scatter(self, i: int, colour: str) -> pg.ScatterPlotItem:
        while len(self.scatter) <= i:
            sp = pg.ScatterPlotItem(size=9, pen=pg.mkPen(None), symbol="s")
            self.plot.addItem(sp)
            self.scatter.append(sp)
        sp = self.scatter[i]
        sp.setBrush(pg.mkBrush(colour))
        return sp

    def _relabel(self, h: TrialHistory) -> None:
        """Strip names on the left axis and the outcome key in the title, when levels change."""
        levels = (h.conditions.names, h.outcomes.names)
        if levels == self._levels:
            return
        self._levels = levels
        conds = h.conditions.names
        n = max(len(conds), 1)
        # the first condition on top
        self.plot.getAxis("left").setTicks([[(n - 1 - i, c) for i, c in enumerate(conds)]])
        self.plot.setYRange(-0.7, n - 0.3, padding=0)
        key = " &nbsp; ".join(swatch(h.outcomes.colour(o), o.replace("_", " "))
                              for o in h.outcomes.names)
        title = h.columns.outcome or "trial"
        self.plot.setTitle(f"{title} per trial: {key}" if key else
                           "trials (the task declares no outcome column)", size="9pt")

    def refresh(self, h: TrialHistory) -> None:
        self._relabel(h)
        rows = h.view()
        n = max(len(h.conditions.names), 1)
        x = rows[:, TRIAL]
        y = (n - 1) - rows[:, CONDITION]
        outcome = rows[:, OUTCOME]
        for i, name in enumerate(h.outcomes.names):
            sel = outcome == i
            self._scatter(i, h.outcomes.colour(name)).setData(x[sel], y[sel])
        none = np.isnan(outcome)
        self.unscored.setData(x[none], y[none])


class AccuracyLines:
    """Rolling accuracy over the last ROLLING scored trials (black) and each condition's
    cumulative accuracy (its colour), against trial number; nothing when the record has no
    ``correct`` column."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.rolling = plot.plot(pen=pg.mkPen("#333", width=2), name=f"last {ROLLING}")
        self.lines: list[pg.PlotDataItem] = []
        self._levels: tuple[str, ...] = ()

    def _line(self, i: int) -> pg.PlotDataItem:
        while len(self.lines) <= i:
            self.lines.append(self.plot.plot(pen=pg.mkPen("#999", width=1.5)))
        return self.lines[i]

    def reset(self, h: TrialHistory) -> None:
        self.rolling.setData([], [])
        for line in self.lines:
            line.setData([], [])
        self._levels = ()
        self._relabel(h)

    def _relabel(self, h: TrialHistory) -> None:
        if h.conditions.names == self._levels:
            return
        self._levels = h.conditions.names
        if not h.has_score:
            self.plot.setTitle("no accuracy: the task's record has no 'correct' column",
                               size="9pt")
            return
        parts = [swatch("#333", f"last {ROLLING}", "━")]
        if h.columns.condition:
            parts += [swatch(h.conditions.colour(c), f"{c} (cumulative)", "━")
                      for c in h.conditions.names]
        self.plot.setTitle(" &nbsp; ".join(parts), size="9pt")
        for i, c in enumerate(h.conditions.names):
            self._line(i).setPen(pg.mkPen(h.conditions.colour(c), width=1.5))

    def refresh(self, h: TrialHistory) -> None:
        self._relabel(h)
        if not h.has_score:
            return
        rows = h.view()
        scored = rows[~np.isnan(rows[:, SCORE])]
        self.rolling.setData(scored[:, TRIAL], scored[:, ROLLING_PCT])
        if not h.columns.condition:
            return
        for i, _ in enumerate(h.conditions.names):
            sel = scored[scored[:, CONDITION] == i]
            self._line(i).setData(sel[:, TRIAL], sel[:, CUMULATIVE_PCT])
