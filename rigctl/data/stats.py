"""Small statistics the summaries need: Wilson intervals and accuracy tables.

Wilson rather than the normal approximation because sessions have cells of 5-30 trials with
accuracies near 100%, where ``p ± 1.96·SE`` leaves [0, 1] and collapses to zero width at p = 1.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

Z95 = 1.959963984540054


def wilson_ci(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k/n``; (nan, nan) when n = 0."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At p = 0 or 1 the bound is exactly 0 or 1; say so rather than 1 - 1e-16.
    lo = 0.0 if k <= 0 else max(0.0, centre - half)
    hi = 1.0 if k >= n else min(1.0, centre + half)
    return (lo, hi)


def scored_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials that count for accuracy: not the free sample, not a correction trial, scored."""
    t = trials[trials["trial_type"] != "sample"]
    if "correction" in t:
        t = t[t["correction"].fillna(0) == 0]
    return t[t["correct"].notna()]


def accuracy_by(trials: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group: n scored, n correct, accuracy and its Wilson 95% interval (fractions)."""
    t = scored_trials(trials)
    cols = ["n", "k", "accuracy", "ci_lo", "ci_hi"]
    if t.empty:
        return pd.DataFrame(columns=cols)
    rows = {}
    for key, g in t.groupby(by, sort=True):
        n = len(g)
        k = int(g["correct"].astype(int).sum())
        lo, hi = wilson_ci(k, n)
        rows[key] = (n, k, k / n, lo, hi)
    out = pd.DataFrame.from_dict(rows, orient="index", columns=cols)
    out.index = pd.MultiIndex.from_tuples(out.index, names=by) if len(by) > 1 else pd.Index(
        [k[0] if isinstance(k, tuple) else k for k in out.index], name=by[0])
    return out


def rolling_accuracy(correct: np.ndarray, window: int) -> np.ndarray:
    """Centred rolling mean of 0/1 outcomes (shorter windows at the edges)."""
    s = pd.Series(np.asarray(correct, dtype=float))
    return s.rolling(window, center=True, min_periods=max(1, window // 2)).mean().to_numpy()
