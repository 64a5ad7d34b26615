"""The session summary figure: what happened in a session, readable in ten seconds.

One PNG in the session folder (``summary.png``), written at the end of every session and by
``rigctl summary``:

- a header with subject, genotype, treatment, protocol, rig, status and the headline numbers;
- accuracy over the session (rolling, control and laser trials apart, errors as ticks);
- accuracy by delay and trial type with Wilson 95% intervals and the n of every point;
- reaction times by trial type and outcome;
- a lick raster around the choice (left and right licks, rewards);
- example laser trials: the laser epochs against the predictor's Ca²⁺ and gliotransmission
  traces (or a clear note when the session recorded no signals).

Memory does not grow with the session: the traces are memory-mapped (``SessionData.signals``)
and only the few example trials' windows are read, each drawn with at most
:data:`MAX_TRACE_POINTS` points.

It draws on a bare :class:`matplotlib.figure.Figure` with the Agg canvas and never touches
pyplot, so it changes no global backend and can run inside the GUI's processes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rigctl.data.events import choice_times, laser_epochs, licks, state_entries, valve_openings
from rigctl.data.loader import SessionData, load_session
from rigctl.data.stats import accuracy_by, rolling_accuracy, scored_trials
from rigctl.errors import RigctlError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SUMMARY_FILE = "summary.png"
# Okabe-Ito colours: distinguishable with every common colour-vision deficiency.
CONTROL = "#555555"
LASER = "#E69F00"
LEFT = "#0072B2"
RIGHT = "#D55E00"
CORRECT = "#009E73"
ERROR = "#CC3311"
CALCIUM = "#0072B2"
GLIO = "#009E73"
NEURAL = "#999999"
TYPE_COLOURS = MappingProxyType({"control": CONTROL, "laser": LASER})
N_EXAMPLES = 3
RASTER_WINDOW_S = (-1.0, 3.0)
#: Most points of one trace in an example panel (see :func:`_plot_step`).
MAX_TRACE_POINTS = 20_000


def _mpl() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise RigctlError("the summary figure needs matplotlib: pip install matplotlib") from None
    return Figure, FigureCanvasAgg


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=11,
            color="#666666", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#cccccc")


def _pct(x: float) -> str:
    return "–" if x != x else f"{100 * x:.0f}%"


def _header(s: SessionData) -> tuple[str, str]:
    m = s.metadata
    subj = m.get("subject") or {}
    proto = m.get("protocol") or {}
    params = proto.get("parameters") or {}
    start = str(m.get("start_time") or "")
    with contextlib.suppress(ValueError):
        start = dt.datetime.fromisoformat(start).strftime("%Y-%m-%d %H:%M")
    title = (f"{subj.get('id', '?')}  ·  {subj.get('genotype', '?')}  ·  treatment "
             f"{subj.get('treatment', '?')}  —  {proto.get('name', '?')} on "
             f"{(m.get('rig') or {}).get('name', '?')}  —  {start}  —  status {s.status}")
    sc = scored_trials(s.trials)
    acc = sc["correct"].astype(float)
    by_type = ", ".join(f"{k} {_pct(acc[sc['trial_type'] == k].mean())}"
                        for k in TYPE_COLOURS if (sc["trial_type"] == k).any())
    n_miss = int((s.trials["outcome"] == "no_response").sum())
    mode = params.get("stim_mode", "?")
    power = params.get("laser_power_mw")
    power_txt = f" {power:g} mW" if isinstance(power, (int, float)) and mode != "off" else ""
    sub = (f"{len(s.trials)} trials, {len(sc)} scored: {_pct(acc.mean())} correct"
           f"{' (' + by_type + ')' if by_type else ''}; {n_miss} no-response  ·  "
           f"stimulation {mode}{power_txt}  ·  seed {m.get('seed', '?')}")
    return title, sub


def _accuracy_over_trials(ax: Axes, trials: pd.DataFrame) -> None:
    sc = scored_trials(trials)
    ax.set_title("Accuracy over the session", loc="left", fontweight="bold")
    if sc.empty:
        _empty(ax, "no scored trials")
        return
    window = int(min(20, max(5, len(sc) // 6)))
    for ttype, colour in TYPE_COLOURS.items():
        g = sc[sc["trial_type"] == ttype]
        if g.empty:
            continue
        y = rolling_accuracy(g["correct"].astype(float).to_numpy(), window)
        ax.plot(g["trial"].astype(int), y, color=colour, lw=2,
                label=f"{ttype} ({len(g)} scored)")
    errors = sc[sc["correct"] == 0]
    ax.plot(errors["trial"].astype(int), np.full(len(errors), 0.03), ls="none", marker="|",
            ms=9, color=ERROR, label="error")
    miss = trials[trials["outcome"] == "no_response"]
    ax.plot(miss["trial"].astype(int), np.full(len(miss), 0.03), ls="none", marker="x", ms=5,
            color="#888888", label="no response")
    ax.axhline(0.5, color="#999999", ls=":", lw=1)
    ax.set_ylim(0, 1.05)
    ax.set_xlim(0.5, float(trials["trial"].max()) + 0.5)
    ax.set_xlabel("trial")
    ax.set_ylabel(f"fraction correct\n(rolling, {window} trials)")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 0.06), ncols=4, fontsize=8, frameon=False)


def _accuracy_by_delay(ax: Axes, trials: pd.DataFrame) -> None:
    ax.set_title("Accuracy by delay (95% CI)", loc="left", fontweight="bold")
    tab = accuracy_by(trials, ["trial_type", "delay_s"])
    if tab.empty:
        _empty(ax, "no scored trials")
        return
    delays = sorted({float(d) for _, d in tab.index})
    pos = {d: i for i, d in enumerate(delays)}
    types = [t for t in TYPE_COLOURS if t in tab.index.get_level_values(0)]
    width = 0.18 if len(types) > 1 else 0.0
    for j, ttype in enumerate(types):
        g = tab.loc[ttype]
        x = np.array([pos[float(d)] for d in g.index]) + (j - (len(types) - 1) / 2) * width
        y = g["accuracy"].to_numpy(float)
        err = np.vstack([y - g["ci_lo"].to_numpy(float), g["ci_hi"].to_numpy(float) - y])
        err = np.clip(err, 0.0, None)  # Wilson bounds at 0/1 differ from p by rounding only
        ax.errorbar(x, y, yerr=err, color=TYPE_COLOURS[ttype], marker="o", ms=6, capsize=3,
                    lw=1.5, label=ttype)
        for xi, n in zip(x, g["n"], strict=True):
            ax.annotate(f"{n}", (xi, 0.04), ha="center", fontsize=7,
                        color=TYPE_COLOURS[ttype])
    ax.axhline(0.5, color="#999999", ls=":", lw=1)
    ax.set_xticks(range(len(delays)), [f"{d:g}" for d in delays])
    ax.set_xlim(-0.5, len(delays) - 0.5)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("delay (s)   [numbers: scored trials]")
    ax.set_ylabel("fraction correct")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 0.08), fontsize=8, frameon=False)


def _reaction_times(ax: Axes, trials: pd.DataFrame) -> None:
    ax.set_title("Reaction times (bar: median)", loc="left", fontweight="bold")
    sc = scored_trials(trials)
    sc = sc[sc["reaction_time_s"].notna()]
    if sc.empty:
        _empty(ax, "no responses")
        return
    rng = np.random.default_rng(0)
    labels, i = [], 0
    for ttype, colour in TYPE_COLOURS.items():
        for outcome, ok in (("correct", 1), ("error", 0)):
            g = sc[(sc["trial_type"] == ttype) & (sc["correct"] == ok)]["reaction_time_s"]
            if g.empty:
                continue
            x = i + rng.uniform(-0.18, 0.18, len(g))
            ax.plot(x, g, ls="none", marker="o", ms=3.5, alpha=0.6,
                    color=colour if ok else ERROR, mec="none")
            med = float(g.median())
            ax.plot([i - 0.3, i + 0.3], [med, med], color="black", lw=2)
            labels.append(f"{ttype}\n{outcome}\nn={len(g)}")
            i += 1
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("response-window onset\nto first lick (s)")


def _lick_raster(ax: Axes, s: SessionData) -> None:
    ax.set_title("Licks around the choice", loc="left", fontweight="bold")
    trials = s.trials
    choice = choice_times(trials, s.events)
    lk = licks(s.events, trials)
    valves = valve_openings(s.events, trials)
    rows = trials.assign(choice_s=choice.to_numpy())
    rows = rows[rows["choice_s"].notna()]
    if rows.empty or lk.empty:
        _empty(ax, "no choices or no licks recorded")
        return
    lo, hi = RASTER_WINDOW_S
    for side, colour in (("left", LEFT), ("right", RIGHT)):
        xs, ys = [], []
        lt = lk[lk["side"] == side]["t_s"].to_numpy(float)
        for trial, c in zip(rows["trial"].astype(int), rows["choice_s"], strict=True):
            rel = lt[(lt >= c + lo) & (lt <= c + hi)] - c
            xs.append(rel)
            ys.append(np.full(rel.size, trial))
        ax.plot(np.concatenate(xs), np.concatenate(ys), ls="none", marker="|", ms=3.5, mew=1,
                color=colour, label=f"lick {side}")
    vx, vy = [], []
    vt = valves["t_s"].to_numpy(float)
    for trial, c in zip(rows["trial"].astype(int), rows["choice_s"], strict=True):
        rel = vt[(vt >= c + lo) & (vt <= c + hi)] - c
        vx.append(rel)
        vy.append(np.full(rel.size, trial))
    if vx:
        ax.plot(np.concatenate(vx), np.concatenate(vy), ls="none", marker=">", ms=3.5,
                color=CORRECT, label="reward")
    err = rows[rows["outcome"] == "error"]
    ax.plot(np.full(len(err), lo + 0.03 * (hi - lo)), err["trial"].astype(int), ls="none",
            marker="<", ms=4, color=ERROR, label="error trial")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlim(lo, hi)
    ax.set_ylim(float(trials["trial"].max()) + 1, 0)
    ax.set_xlabel("time from choice (s)")
    ax.set_ylabel("trial")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=4, fontsize=8,
              frameon=False, markerscale=2)


def _threshold(params: dict[str, Any]) -> tuple[float, str] | None:
    """(threshold, tracked variable) when laser onsets were chosen by the predictor."""
    closed = params.get("stim_mode") == "closed_loop" or (
        params.get("stim_mode") == "sham" and params.get("sham_rule") == "closed_loop")
    pred = params.get("predictor")
    if not closed or not isinstance(pred, dict) or not isinstance(pred.get("threshold"),
                                                                   (int, float)):
        return None
    return float(pred["threshold"]), str(pred.get("on", "calcium"))


def _activity(signal: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """The neural signal as the predictor sees it (offset and scale of its settings)."""
    pred = params.get("predictor") if isinstance(params.get("predictor"), dict) else {}
    offset = float(pred.get("input_offset", 0.0) or 0.0)
    scale = float(pred.get("input_scale", 1.0) or 1.0)
    return (np.asarray(signal, dtype=float) - offset) * scale


def _example_trials(s: SessionData, epochs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """A few laser trials with the longest delays (where inhibition matters), or control
    trials when the session had none."""
    t = s.trials
    laser = t[t["trial"].isin(epochs["trial"].dropna().astype(int))] if not epochs.empty else t[:0]
    pick = laser if not laser.empty else t[t["trial_type"] != "sample"]
    kind = "laser" if not laser.empty else "control (no laser trials)"
    pick = pick.sort_values(["delay_s", "trial"], ascending=[False, True], kind="stable")
    return pick.head(N_EXAMPLES).sort_values("trial"), kind


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1 or x.size < n:
        return x
    return np.convolve(x, np.ones(n) / n, mode="same")


def _plot_step(w: slice) -> int:
    """Every how many samples a trace of window ``w`` is drawn: all of them up to
    :data:`MAX_TRACE_POINTS` (20 s at 1 kHz), so a panel a few hundred pixels wide never holds
    more points than that whatever the trial's length or the signal's rate."""
    n = max(w.stop - w.start, 0)
    return max(1, -(-n // MAX_TRACE_POINTS))


def _examples(fig: Figure, s: SessionData) -> None:
    """The bottom row (a subfigure): example trials' laser epochs and predictor traces."""
    signals = s.signals
    epochs = laser_epochs(s.events, s.trials)
    examples, kind = _example_trials(s, epochs)
    if signals is None:
        fig.suptitle("Laser epochs and predictor traces", x=0.01, ha="left",
                     fontweight="bold", fontsize=11)
        _empty(fig.add_subplot(), "No signals recorded in this session (no signals.bin).\n"
                                  "The predictor's Ca²⁺ and gliotransmission traces and the laser "
                                  "command appear here when a session records them.")
        return
    fig.suptitle(f"Example {kind} trials: laser epochs against the predictor's traces",
                 x=0.01, ha="left", fontweight="bold", fontsize=11)
    if examples.empty:
        _empty(fig.add_subplot(), "no trials to show")
        return
    params = (s.metadata.get("protocol") or {}).get("parameters") or {}
    thr = _threshold(params)
    states = state_entries(s.events)
    axes = fig.subplots(1, N_EXAMPLES, sharey=True, squeeze=False)[0]
    smooth_n = max(1, int(round(0.05 * signals.rate_hz)))
    for i, ax in enumerate(axes):
        if i >= len(examples):
            ax.set_visible(False)
            continue
        rec = examples.iloc[i]
        t0, t1 = float(rec["start_s"]), float(rec["end_s"])
        w = signals.window(t0 - 1.0, t1)
        step = _plot_step(w)
        tt = signals.t[w][::step] - t0
        for ep in epochs[(epochs["start_s"] < t1) & (epochs["stop_s"] > t0 - 1)].itertuples():
            ax.axvspan(ep.start_s - t0, ep.stop_s - t0, color=LASER, alpha=0.25 if not ep.sham
                       else 0.1, lw=0, label="laser on" if not ep.sham else "sham epoch")
            if ep.ramp_down_s > 0 and not ep.sham:
                ax.axvspan(ep.stop_s - t0, ep.stop_s + ep.ramp_down_s - t0, color=LASER,
                           alpha=0.12, lw=0)
        if "neural_signal" in signals.data:
            act = _activity(signals.data["neural_signal"][w], params)
            ax.plot(tt, _smooth(act, smooth_n)[::step], color=NEURAL, lw=1,
                    label="neural activity (predictor input, 50 ms mean)")
        if "calcium" in signals.data:
            ax.plot(tt, signals.data["calcium"][w][::step], color=CALCIUM, lw=2,
                    label="predicted Ca²⁺")
        if "gliotransmission" in signals.data:
            ax.plot(tt, signals.data["gliotransmission"][w][::step], color=GLIO, lw=1.6,
                    ls="--", label="predicted gliotransmission")
        if thr is not None:
            ax.axhline(thr[0], color=CALCIUM if thr[1] == "calcium" else GLIO, ls=":", lw=1.2,
                       label=f"threshold ({thr[1]})")
        st = states[(states["t_s"] >= t0) & (states["t_s"] <= t1)]
        for name in ("delay", "response"):
            for x in st[st["state"] == name]["t_s"]:
                ax.axvline(x - t0, color="#333333", lw=0.8, ls="-.")
                ax.text(x - t0, 0.99, f" {name}", transform=ax.get_xaxis_transform(),
                        fontsize=8, va="top", ha="left", color="#333333")
        outcome = str(rec["outcome"])
        power = rec["laser_power_mw"]
        power_txt = "" if power != power else f", {power:g} mW"
        pred = rec["predictor_at_onset"]
        pred_txt = "" if pred != pred else f", predictor {pred:.2f} at onset"
        ax.set_title(f"trial {int(rec['trial'])}: {rec['trial_type']}, delay "
                     f"{rec['delay_s']:g} s{power_txt}{pred_txt} — {outcome}", fontsize=9,
                     color=ERROR if outcome == "error" else "black")
        ax.set_xlabel("time from trial start (s)")
        ax.set_xlim(-1.0, t1 - t0)
        ax.set_ylim(0, 1.08)
        if i == 0:
            ax.set_ylabel("a.u.")
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=len(handles), fontsize=8,
                   frameon=False)


TWO_CHOICE = ("trial_type", "delay_s", "correct", "outcome", "reaction_time_s", "correction")


def _task_figure(s: SessionData) -> Figure:
    """A task with its own trial record: its outcomes, its numeric columns over trials and the
    states it went through — drawn from the declared columns, whatever they are."""
    Figure, FigureCanvasAgg = _mpl()
    fig = Figure(figsize=(15, 9), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    m, t = s.metadata, s.trials
    subj, proto = m.get("subject") or {}, m.get("protocol") or {}
    fig.suptitle(f"{subj.get('id', '?')}  —  {proto.get('name', '?')} on "
                 f"{(m.get('rig') or {}).get('name', '?')}  —  status {s.status}  —  "
                 f"{len(t)} trials  ·  seed {m.get('seed', '?')}", fontsize=12, x=0.01,
                 ha="left")
    gs = fig.add_gridspec(2, 2)
    ax = fig.add_subplot(gs[0, 0])
    text_cols = [c for c in t.columns if str(t[c].dtype) == "string"]
    if t.empty:
        _empty(ax, "no trials in this session")
    elif "outcome" in t or text_cols:
        col = "outcome" if "outcome" in t else text_cols[0]
        counts = t[col].fillna("(empty)").value_counts()
        ax.barh(list(counts.index.astype(str)), counts.to_numpy(), color="#4c72b0")
        ax.set_title(f"{col} (count)", fontsize=10)
    else:
        _empty(ax, "no text column to count")
    ax = fig.add_subplot(gs[0, 1])
    # Session-clock times (start_s...) only ever rise: they say nothing per trial.
    numeric = [c for c in t.columns if c != "trial" and str(t[c].dtype) in ("Int64", "float64")
               and not t[c].astype(float).dropna().is_monotonic_increasing]
    x = t["trial"] if "trial" in t else range(len(t))
    for c in numeric[:6]:
        v = t[c].astype(float)
        if c == "correct":  # a running fraction reads better than 0/1 dots
            v = v.rolling(10, min_periods=1).mean()
        if v.notna().any():
            label = c if c != "correct" else "correct (10-trial mean)"
            ax.plot(x, v, ".-", ms=3, lw=0.8, label=label)
    ax.set_xlabel("trial")
    ax.set_title("per-trial columns", fontsize=10)
    if numeric:
        ax.legend(fontsize=8, frameon=False)
    ax = fig.add_subplot(gs[1, :])
    states = s.events[s.events["kind"] == "state"] if not s.events.empty else s.events
    if states.empty:
        _empty(ax, "no state entries logged")
    else:
        names = list(dict.fromkeys(states["name"]))
        y = states["name"].map({n: i for i, n in enumerate(names)})
        ax.step(states["t_s"], y, where="post", lw=0.8)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlim(0, min(float(states["t_s"].max()) + 1, 300))
        ax.set_xlabel("session time (s)")
        ax.set_title("states (first 5 minutes)", fontsize=10)
    return fig


def summary_figure(s: SessionData) -> Figure:
    """Build the figure of a loaded session (no file written)."""
    if not set(TWO_CHOICE) <= set(s.trials.columns):
        return _task_figure(s)
    Figure, FigureCanvasAgg = _mpl()
    fig = Figure(figsize=(15, 12), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    title, sub = _header(s)
    fig.suptitle(f"{title}\n{sub}", fontsize=12, x=0.01, ha="left")
    if s.trials.empty:
        _empty(fig.add_subplot(), "no trials in this session")
        return fig
    top, bottom = fig.subfigures(2, 1, height_ratios=[2.1, 1.0])
    gs = top.add_gridspec(2, 3, height_ratios=[1, 1.15])
    _accuracy_over_trials(top.add_subplot(gs[0, :2]), s.trials)
    _accuracy_by_delay(top.add_subplot(gs[0, 2]), s.trials)
    _reaction_times(top.add_subplot(gs[1, 0]), s.trials)
    _lick_raster(top.add_subplot(gs[1, 1:]), s)
    _examples(bottom, s)
    return fig


def save_summary_figure(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the summary PNG (default ``<folder>/summary.png``, replaced atomically)."""
    folder = Path(folder)
    s = load_session(folder)
    path = Path(out) if out is not None else folder / SUMMARY_FILE
    fig = summary_figure(s)
    tmp = path.with_name(path.name + ".tmp")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    except OSError as exc:
        raise RigctlError(f"cannot write {path}: {exc.strerror}") from None
    return path
