"""Tables derived from ``events.csv``: licks, valve openings, laser epochs, state entries.

The event log is the ground truth of what the rig did (every output command is logged before it
is sent); trials.csv only keeps each trial's first laser onset. These helpers turn the log into
intervals once, so the summary figure and the NWB export cannot disagree about them.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_MW = re.compile(r"^\s*([0-9.eE+-]+)\s*mW")
_RAMP = re.compile(r"ramp\s+([0-9.eE+-]+)\s*s")
_MS = re.compile(r"^\s*([0-9.eE+-]+)\s*ms")


def _times(events: pd.DataFrame) -> np.ndarray:
    return pd.to_numeric(events["t_s"], errors="coerce").to_numpy(float)


def trial_of(times: np.ndarray, trials: pd.DataFrame) -> pd.api.extensions.ExtensionArray:
    """Trial number (Int64; <NA> between trials) in which each session time falls.

    A task's own trial record may lack ``end_s`` (a trial then lasts until the next one
    starts) or ``start_s`` (nothing is placed: all <NA>)."""
    res = pd.array(np.zeros(len(times), dtype="int64"), dtype="Int64")
    if trials.empty or not len(times) or "start_s" not in trials:
        res[:] = pd.NA
        return res
    starts = pd.to_numeric(trials["start_s"], errors="coerce").to_numpy(float)
    ends = (pd.to_numeric(trials["end_s"], errors="coerce").to_numpy(float) if "end_s" in trials
            else np.append(starts[1:], np.inf))
    numbers = (trials["trial"].to_numpy(dtype="int64", na_value=0) if "trial" in trials
               else np.arange(1, len(trials) + 1))
    idx = np.searchsorted(starts, times, side="right") - 1
    safe = np.clip(idx, 0, None)
    ok = (idx >= 0) & (times <= ends[safe])
    res = pd.array(numbers[safe], dtype="Int64")
    res[~ok] = pd.NA
    return res


def _with_trial(df: pd.DataFrame, trials: pd.DataFrame | None, col: str) -> pd.DataFrame:
    if trials is not None:
        df["trial"] = trial_of(df[col].to_numpy(float), trials)
    return df


def licks(events: pd.DataFrame, trials: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per lick: ``t_s`` (onset), ``duration_s`` (to the falling edge; NaN if none),
    ``side`` (left/right) and, with ``trials``, the ``trial`` it fell in."""
    rows = []
    if not events.empty:
        ev = events[(events["kind"] == "input") & events["name"].str.startswith("lick_")]
        t = _times(ev)
        for side in ("left", "right"):
            mask = (ev["name"] == f"lick_{side}").to_numpy()
            values = ev["value"].to_numpy()[mask]
            times = t[mask]
            onset: float | None = None
            for ti, v in zip(times, values, strict=True):
                if str(v) not in ("0", "0.0"):
                    if onset is not None:
                        rows.append((onset, np.nan, side))
                    onset = float(ti)
                elif onset is not None:
                    rows.append((onset, float(ti) - onset, side))
                    onset = None
            if onset is not None:
                rows.append((onset, np.nan, side))
    df = pd.DataFrame(rows, columns=["t_s", "duration_s", "side"])
    df = df.sort_values("t_s", kind="stable").reset_index(drop=True)
    return _with_trial(df, trials, "t_s")


def valve_openings(events: pd.DataFrame, trials: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per valve command: ``t_s``, ``duration_s`` (commanded open time), ``side``."""
    rows = []
    if not events.empty:
        ev = events[(events["kind"] == "output") & events["name"].str.startswith("valve_")]
        for t, name, value in zip(_times(ev), ev["name"], ev["value"], strict=True):
            m = _MS.match(str(value))
            rows.append((float(t), float(m.group(1)) / 1000.0 if m else np.nan,
                         str(name).removeprefix("valve_")))
    df = pd.DataFrame(rows, columns=["t_s", "duration_s", "side"])
    return _with_trial(df, trials, "t_s")


def _laser_names(events: pd.DataFrame) -> set[str]:
    """Names of the lasers in an event log: ``laser`` (a rig's single laser) and every output
    whose commands are powers (``5mW``), as a rig's named lasers (``left_mpfc``) log them."""
    out = events[events["kind"] == "output"]
    powered = out["value"].astype(str).str.match(_MW.pattern)
    return {"laser"} | set(out.loc[powered, "name"].astype(str)) - {"laser_sham"}


def laser_epochs(events: pd.DataFrame, trials: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per laser epoch, from the commands in the event log.

    ``start_s`` is the on command, ``stop_s`` the off command (where the ramp-down starts),
    ``ramp_down_s`` the ramp that followed, ``power_mw`` the commanded power (the last one
    if it changed), ``sham`` True for sham epochs (light path held off), ``cut_by_interlock``
    True when ``max_on_s`` ended it, ``laser`` the laser's name (``laser`` for a rig's single
    laser; each of a rig's named lasers has its own epochs). An epoch still open at the end
    closes at ``all_off``.
    """
    cols = ["start_s", "stop_s", "power_mw", "ramp_down_s", "sham", "cut_by_interlock", "laser"]
    rows: list[tuple[float, float, float, float, bool, bool, str]] = []
    if not events.empty:
        names = _laser_names(events)
        ev = events[events["name"].isin([*names, "laser_sham", "all_off"])
                    & events["kind"].isin(["output", "interlock"])]
        open_: dict[str, list] = {}  # by laser name ("laser_sham" for sham epochs)
        cut: set[str] = set()
        for t, kind, name, value in zip(_times(ev), ev["kind"], ev["name"], ev["value"],
                                        strict=True):
            value, name = str(value), str(name)
            if kind == "interlock":
                cut.add(name)
                continue
            if name == "all_off":
                for key, (start, power) in open_.items():
                    sham = key == "laser_sham"
                    rows.append((start, float(t), power, 0.0, sham, key in cut,
                                 "laser" if sham else key))
                open_.clear()
                continue
            sham = name == "laser_sham"
            m = _MW.match(value)
            if m:
                start = open_[name][0] if name in open_ else float(t)
                open_[name] = [start, float(m.group(1))]
            elif value.startswith("off") and name in open_:
                start, power = open_.pop(name)
                r = _RAMP.search(value)
                rows.append((start, float(t), power, float(r.group(1)) if r else 0.0, sham,
                             name in cut and not sham, "laser" if sham else name))
                cut.discard(name)
    df = pd.DataFrame(rows, columns=cols).sort_values("start_s", kind="stable")
    df = df.reset_index(drop=True).astype({"sham": bool, "cut_by_interlock": bool,
                                           "laser": str})
    return _with_trial(df, trials, "start_s")


def state_entries(events: pd.DataFrame, trials: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per state entry: ``t_s``, ``state``."""
    if events.empty:
        df = pd.DataFrame({"t_s": pd.Series(dtype=float), "state": pd.Series(dtype="string")})
    else:
        ev = events[events["kind"] == "state"]
        df = pd.DataFrame({"t_s": _times(ev), "state": ev["name"].to_numpy()})
        df = df.reset_index(drop=True)
    return _with_trial(df, trials, "t_s")


def choice_times(trials: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """Session time of each trial's choice (response-window onset + reaction time), by row."""
    states = state_entries(events)
    resp = states[states["state"] == "response"]["t_s"].to_numpy(float)
    out = np.full(len(trials), np.nan)
    if len(resp) and not trials.empty:
        starts = trials["start_s"].to_numpy(float)
        ends = trials["end_s"].to_numpy(float)
        rt = pd.to_numeric(trials["reaction_time_s"], errors="coerce").to_numpy(float)
        k = np.searchsorted(resp, starts, side="left")
        ok = k < len(resp)
        onset = np.where(ok, resp[np.clip(k, 0, len(resp) - 1)], np.nan)
        onset = np.where(onset <= ends, onset, np.nan)
        out = onset + rt
    return pd.Series(out, index=trials.index, name="choice_s")
