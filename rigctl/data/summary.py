"""A plain-text summary of a session: accuracy by trial type and delay."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rigctl.data.loader import load_session
from rigctl.data.stats import wilson_ci


def accuracy_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Rows per (trial_type, delay_s): trials, scored, correct % with its Wilson 95% interval,
    no-response count. A task's own trial record gets the same table over whichever of
    trial_type and delay_s it has, and none without a ``correct`` column."""
    by = [c for c in ("trial_type", "delay_s") if c in trials]
    t = trials[trials["trial_type"] != "sample"] if "trial_type" in trials else trials
    if "correction" in t:
        t = t[t["correction"].fillna(0) == 0]
    if t.empty or not by or "correct" not in t:
        return pd.DataFrame(columns=["trials", "scored", "correct_pct", "ci95_pct",
                                     "no_response"])
    g = t.groupby(by)
    scored = g["correct"].count()
    correct = g["correct"].sum()

    def ci(key: tuple[str, float]) -> str:
        lo, hi = wilson_ci(float(correct[key]), float(scored[key]))
        return f"{100 * lo:.0f}-{100 * hi:.0f}" if scored[key] else ""

    return pd.DataFrame({
        "trials": g.size(),
        "scored": scored,
        "correct_pct": (100 * g["correct"].mean()).round(1),
        "ci95_pct": [ci(k) for k in scored.index],
        "no_response": (g["outcome"].apply(lambda s: int((s == "no_response").sum()))
                        if "outcome" in t else 0),
    })


def summary_table(folder: str | Path) -> str:
    """The text printed at the end of ``rigctl run``: totals, then the accuracy table."""
    s = load_session(folder, events=False)
    tab = accuracy_table(s.trials)
    scored = s.trials["correct"].dropna() if "correct" in s.trials else pd.Series([])
    head = (f"{len(s.trials)} trials, {len(scored)} scored, "
            f"{100 * scored.mean():.1f}% correct" if len(scored) else f"{len(s.trials)} trials")
    return head + ("\n" + tab.to_string() if not tab.empty else "")
