"""load_session and load_sessions: signals on demand, old formats, cohorts of 100 sessions."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import types

import numpy as np
import pandas as pd
import pytest

import rigctl.data.writer as writer_module
import rigctl.engine.session as session_module
from rigctl.data import load_session, load_sessions
from rigctl.data.events import choice_times, laser_epochs, licks, valve_openings
from rigctl.errors import DataError
from rigctl.protocols.trial import COLUMNS
from tests.conftest import SIM_YAML, run_sim

N_SUBJECTS, PER_SUBJECT = 10, 10
DAY0 = dt.datetime(2026, 3, 2, 9, 0, 0)


def _fake_datetime_module(now: list[dt.datetime]) -> types.SimpleNamespace:
    """A stand-in for the ``datetime`` module whose ``datetime.now()`` returns ``now[0]``, so
    simulated sessions can be dated on different days."""

    class FakeDateTime(dt.datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN001, ANN206 - mirrors datetime.now
            return now[0] if tz is None else now[0].astimezone(tz)

    return types.SimpleNamespace(datetime=FakeDateTime, date=dt.date, timedelta=dt.timedelta)


@pytest.fixture(scope="module")
def cohort_root(tmp_path_factory):
    """100 short sessions: 10 subjects × 10 days; subjects 5-9 are IP3R2-KO, odd days CNO."""
    root = tmp_path_factory.mktemp("cohort")
    now = [DAY0]
    fake = _fake_datetime_module(now)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(session_module, "dt", fake)
        mp.setattr(writer_module, "dt", fake)
        for day in range(PER_SUBJECT):
            for s in range(N_SUBJECTS):
                now[0] = DAY0 + dt.timedelta(days=day, minutes=s)
                subject = {"id": f"M{s:02d}", "genotype": "ip3r2_ko" if s >= 5 else "wt",
                           "treatment": "cno" if day % 2 else "none"}
                protocol = "delayed_match_to_sample" if (s == 0 and day == 9) else None
                run_sim(SIM_YAML, root, seed=100 * s + day, subject=subject, protocol=protocol,
                        params={"n_trials": 3, "delays_s": [2], "iti_s": 0.5})
    return root


def test_load_sessions_concatenates_100_sessions_in_one_call(cohort_root):
    df = load_sessions(cohort_root)
    assert df["session"].nunique() == N_SUBJECTS * PER_SUBJECT
    assert len(df) == 3 * N_SUBJECTS * PER_SUBJECT
    assert list(df.columns[:8]) == ["session", "subject", "genotype", "treatment", "date",
                                    "protocol", "rig", "status"]
    assert tuple(df.columns[8:]) == COLUMNS
    assert str(df["correct"].dtype) == "Int64" and str(df["date"].dtype).startswith("datetime")
    assert set(df["status"]) == {"completed"} and df.attrs["warnings"] == []
    first = df[df["session"].str.startswith("M03/")]
    assert first["date"].min() == pd.Timestamp("2026-03-02")
    assert first.groupby("session")["trial"].apply(list).map(lambda t: t == [1, 2, 3]).all()


def test_load_sessions_filters(cohort_root):
    ko = load_sessions(cohort_root, genotype="ip3r2_ko")
    assert set(ko["subject"]) == {f"M{s:02d}" for s in range(5, 10)}
    cno = load_sessions(cohort_root, genotype=["ip3r2_ko"], treatment="cno")
    assert set(cno["treatment"]) == {"cno"} and cno["session"].nunique() == 25
    some = load_sessions(cohort_root, subject=["M01", "M02"], date_from="2026-03-04",
                         date_to=dt.date(2026, 3, 6))
    assert set(some["subject"]) == {"M01", "M02"} and some["session"].nunique() == 6
    assert some["date"].between("2026-03-04", "2026-03-06").all()
    dmts = load_sessions(cohort_root, protocol="delayed_match_to_sample")
    assert dmts["session"].nunique() == 1 and set(dmts["subject"]) == {"M00"}
    none = load_sessions(cohort_root, subject="nobody")
    assert none.empty and tuple(none.columns[8:]) == COLUMNS
    with pytest.raises(DataError, match="date_from: 'March' is not a date"):
        load_sessions(cohort_root, date_from="March")
    with pytest.raises(DataError, match="no such folder"):
        load_sessions(cohort_root / "missing")


def test_load_sessions_skips_unreadable_folders_with_warnings(cohort_root, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(cohort_root / "M00", root / "M00")
    folders = sorted((root / "M00").iterdir())
    meta = json.loads((folders[0] / "session.json").read_text())
    meta["format_version"] = 99
    (folders[0] / "session.json").write_text(json.dumps(meta))
    (folders[0] / "session.start.json").write_text(json.dumps(meta))  # a newer rigctl: both
    with open(folders[1] / "trials.csv", "a") as f:
        f.write("4,99.0,10")  # torn: in a completed session, damage (no crash explains it)
    running = json.loads((folders[2] / "session.json").read_text())
    running.update(status="running", pid=2**22 + 7)  # a dead process: crashed
    (folders[2] / "session.json").write_text(json.dumps(running))
    with pytest.warns(UserWarning, match="warning"):
        df = load_sessions(root)
    assert df["session"].nunique() == PER_SUBJECT - 1
    notes = df.attrs["warnings"]
    assert any("newer rigctl" in n for n in notes)
    assert any("incomplete last line" in n for n in notes)
    assert set(df["status"]) == {"completed", "crashed", "damaged"}
    damaged = df[df["status"] == "damaged"]
    assert set(damaged["session"]) == {folders[1].relative_to(root).as_posix()}
    assert len(damaged) == 3  # its intact trials all load
    with pytest.warns(UserWarning):
        crashed = load_sessions(root, status="crashed")
    assert set(crashed["session"]) == {folders[2].relative_to(root).as_posix()}


def test_signals_are_read_on_first_access(make_config, sim_yaml, tmp_path):
    no_signal = make_config({"neural_signal": None})
    _, data, _ = run_sim(no_signal, tmp_path / "n", seed=3, params={"n_trials": 6})
    assert data.signals is None and data.signals_header is None
    result, _, _ = run_sim(sim_yaml, tmp_path, seed=3, params={"n_trials": 6})
    s = load_session(result.folder)
    assert s._signals is None and s.signals_header is not None
    sig = s.signals
    assert sig is not None and sig is s.signals  # cached
    assert sig.t[-1] + 1 / sig.rate_hz >= s.trials["end_s"].max()  # t: sample start times
    assert np.isfinite(sig.data["calcium"]).all()


def test_format_1_sessions_still_load(sim_yaml, tmp_path):
    result, _, _ = run_sim(sim_yaml, tmp_path, seed=1, params={"n_trials": 4})
    folder = result.folder
    meta = json.loads((folder / "session.json").read_text())
    meta["format_version"] = 1
    del meta["provenance"]
    (folder / "session.json").write_text(json.dumps(meta))
    # Format 1: no checksum column, no device_t_s.
    lines = (folder / "events.csv").read_text().splitlines()
    (folder / "events.csv").write_text("\n".join(ln.rsplit(",", 2)[0] for ln in lines) + "\n")
    lines = (folder / "trials.csv").read_text().splitlines()
    (folder / "trials.csv").write_text("\n".join(ln.rsplit(",", 1)[0] for ln in lines) + "\n")
    (folder / "session.start.json").unlink()
    s = load_session(folder)
    assert len(s.trials) == 4 and s.events["device_t_s"].isna().all()
    assert list(s.events.columns) == ["t_s", "kind", "name", "value", "device_t_s"]
    assert s.status == "completed" and not s.damage


def test_event_tables(sim_yaml, tmp_path):
    _, s, _ = run_sim(sim_yaml, tmp_path, seed=9, params={"n_trials": 30})
    lk = licks(s.events, s.trials)
    assert len(lk) == int(((s.events["kind"] == "input")
                           & s.events["name"].str.startswith("lick_")
                           & (s.events["value"] == "1")).sum())
    assert (lk["duration_s"] > 0).all()
    first_licks = lk.groupby("trial")["t_s"].min()
    assert set(first_licks.index) == set(s.trials.loc[s.trials["choice"] != "none", "trial"])
    vo = valve_openings(s.events, s.trials)
    assert len(vo) == int((s.trials["reward_ul"] > 0).sum()) and (vo["duration_s"] > 0).all()
    ep = laser_epochs(s.events, s.trials)
    laser = s.trials[s.trials["trial_type"] == "laser"]
    assert list(ep["trial"]) == list(laser["trial"])
    assert np.allclose(ep["start_s"], laser["laser_onset_s"])
    assert np.allclose(ep["stop_s"], laser["laser_offset_s"])
    assert (ep["ramp_down_s"] == 0.1).all() and not ep["sham"].any()
    choice = choice_times(s.trials, s.events)
    responded = s.trials["choice"] != "none"
    assert choice[responded].notna().all() and choice[~responded].isna().all()
    # The choice is the first lick of the trial's response window.
    t = s.trials[responded]
    assert np.allclose(choice[responded].to_numpy(), first_licks[t["trial"]].to_numpy(),
                       atol=1e-6)
