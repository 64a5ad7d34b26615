"""A pyControl run that ends early still ends as on a board: ``run_end`` runs (its print and
the run_end variable row follow whatever ended the run), the data files are closed with an
``end_time`` row, and every output is off at the end, including one ``run_end`` turned on."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rigctl.compat.pycontrol import TaskError
from rigctl.compat.pycontrol.binding import default_binding
from tests.compat.conftest import make_session

LASER_PIN = default_binding().model_copy(update={
    "pins": {**default_binding().pins, "BNC_1": "laser"}, "laser_power_mw": 40.0})


def _tsv(tmp_path) -> pd.DataFrame:
    folder = next(tmp_path.glob("m1/*"))
    return pd.read_csv(next(folder.glob("*.tsv")), sep="\t", keep_default_na=False)


def _house_light(session) -> tuple[list[str], bool]:
    """Levels the task wrote to the house light (the trial_start cue) in events.csv, and the
    line's level at the end (all_off sets the lines low without a row per line)."""
    folder = next(session.opts.data_root.glob("m1/*"))
    ev = pd.read_csv(folder / "events.csv", keep_default_na=False)
    logged = ev[(ev["kind"] == "output") & (ev["name"] == "cue_trial_start")]["value"]
    return logged.astype(str).tolist(), session.rig.cues["trial_start"].driver.level


def _ended_like_a_board(tsv: pd.DataFrame, at: float) -> None:
    tail = tsv.iloc[-3:]
    assert tail["type"].tolist() == ["print", "variable", "info"]
    assert tail["content"].iloc[0] == f"run_end ran at {round(at * 1000)}"
    assert tail["subtype"].iloc[1:].tolist() == ["run_end", "end_time"]
    assert tsv["time"].iloc[-1] == pytest.approx(at)


@pytest.mark.parametrize("how", ["error", "interlock"])
def test_run_end_runs_when_a_handler_raises(tmp_path, how):
    session = make_session(tmp_path, "abort_run_end.py",
                           binding=LASER_PIN if how == "interlock" else None)
    setattr(session.protocol.rt.v, "crash" if how == "error" else "stim", True)
    line = 27 if how == "interlock" else 29
    with pytest.raises(TaskError, match=rf"abort_run_end\.py:{line}: "):
        session.run()
    tsv = _tsv(tmp_path)
    (error,) = tsv[tsv["type"] == "error"]["content"]
    if how == "interlock":  # the laser's power ceiling refused the pin's power
        assert "40 mW refused" in error
    else:
        assert "ZeroDivisionError" in error
    _ended_like_a_board(tsv, 0.2)
    assert json.loads(tsv["content"].iloc[-2])["n_boom"] == 1
    assert _house_light(session) == (["1", "1"], False)  # on, on by run_end, then all off
    assert session.rig.laser is not None and session.rig.laser.power_mw == 0


def test_run_end_runs_when_the_operator_stops(tmp_path):
    session = make_session(tmp_path, "abort_run_end.py")
    session.timers.set_at(0.5, lambda: session.request_stop("Ctrl-C"))
    result = session.run()
    assert result.status == "aborted"
    tsv = _tsv(tmp_path)
    assert not (tsv["type"] == "error").any()
    _ended_like_a_board(tsv, 0.5)
    assert json.loads(tsv["content"].iloc[-2])["n_boom"] == 2  # at 0.2 and 0.4 s
    assert _house_light(session) == (["1", "1"], False)


def test_run_end_runs_once_at_duration(tmp_path):
    session = make_session(tmp_path, "abort_run_end.py", duration=0.3)
    assert session.run().status == "completed"
    tsv = _tsv(tmp_path)
    assert (tsv["type"] == "print").sum() == 1
    _ended_like_a_board(tsv, 0.3)
    assert _house_light(session) == (["1"], False)  # run_end ran before all_off

