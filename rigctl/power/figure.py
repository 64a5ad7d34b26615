"""The power-curve figure: power and false-positive rate against mice per group."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def power_figure(table: pd.DataFrame, path: Path, alpha: float, target: float) -> Path:
    """One row of panels per contrast: power (left) and false-positive rate (right) against
    mice per group, one line per sessions × trials, with Monte-Carlo 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    contrasts = list(dict.fromkeys(table["contrast"]))
    fig, axes = plt.subplots(len(contrasts), 2, figsize=(10, 3.6 * len(contrasts)),
                             squeeze=False, constrained_layout=True)
    for row, contrast in zip(axes, contrasts, strict=True):
        g = table[table["contrast"] == contrast]
        cohorts = int(g["cohorts"].max())
        for (s, t), line in g.groupby(["sessions", "trials"], sort=True):
            line = line.sort_values("mice")
            label = f"{t} trials" if g["sessions"].nunique() == 1 else f"{s} × {t} trials"
            for ax, y, lo, hi in ((row[0], "power", "power_ci_low", "power_ci_high"),
                                  (row[1], "false_positive_rate", "fpr_ci_low", "fpr_ci_high")):
                err = [100 * (line[y] - line[lo]), 100 * (line[hi] - line[y])]
                ax.errorbar(line["mice"], 100 * line[y], yerr=err, marker="o", capsize=3,
                            label=label)
        row[0].axhline(100 * target, ls="--", color="grey", lw=1,
                      label=f"target {100 * target:g}%")
        row[0].set(title=f"{contrast}: power ({cohorts} simulated cohorts per point)",
                   xlabel="mice per group", ylabel="power (%)", ylim=(0, 102))
        row[1].axhline(100 * alpha, ls="--", color="grey", lw=1, label=f"α = {100 * alpha:g}%")
        row[1].set(title=f"{contrast}: false-positive rate with no true effect",
                   xlabel="mice per group", ylabel="false positives (%)",
                   ylim=(0, max(3 * 100 * alpha, 100 * float(g["fpr_ci_high"].max()) + 2)))
        for ax in row:
            ax.set_xticks(sorted(g["mice"].unique()))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
