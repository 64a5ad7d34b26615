"""Outputs a pyControl task drives keep rigctl's interlocks: a solenoid held on is cut at the
valve's max_open_s, a laser held on at the laser's max_on_s, and a task that raises leaves the
valves closed."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rigctl.compat.pycontrol import PyControlBinding, TaskError
from tests.compat.conftest import make_session, press, run_task

DEVICES = PyControlBinding(
    pins={"port_1.DIO_A": "lick_left", "port_1.DIO_B": "lick_right", "port_1.POW_A": "left",
          "port_1.POW_B": "right", "port_3": "trial_start", "port_4.POW_A": "sample_left",
          "port_5": "laser", "BNC_2": "sample_right"},
    laser_power_mw=5, unbound="virtual",
)


def test_solenoid_held_on_is_cut_at_max_open_s(tmp_path):
    run = run_task(tmp_path, "valve_hold.py")
    world = run.session.rig.events
    # The left valve was opened for at most max_open_s (0.5 s in sim.yaml), though the task
    # held SOL on for 2 s; the right one closed when the task turned it off after 0.1 s.
    opened = [(t, side, round(d, 3)) for t, side, d, _ in world.record.deliveries]
    assert opened == [(0.0, "left", 0.5), (2.0, "right", 0.5)]
    assert set(world.record.valve_closed_early) == {(2.1, "right")}  # task off, then all_off
    cut = run.events[(run.events["kind"] == "interlock") & (run.events["name"] == "valve_left")]
    assert cut["t_s"].tolist() == [0.5]
    assert run.result.status == "completed"


def test_task_exception_closes_valve_and_names_the_line(tmp_path):
    session = make_session(tmp_path, "crash.py")
    with pytest.raises(TaskError, match=r"crash\.py:16: ZeroDivisionError"):
        session.run()
    world = session.rig.events
    assert world.record.valve_closed_early == [(0.1, "left")]  # all_off on the error path
    folder = next(tmp_path.glob("m1/*"))
    meta = json.loads((folder / "session.json").read_text())
    assert meta["status"] == "aborted" and "crash.py:16" in meta["reason"]
    tsv = pd.read_csv(next(folder.glob("*.tsv")), sep="\t", keep_default_na=False)
    errors = tsv[tsv["type"] == "error"]
    assert len(errors) == 1 and "crash.py:16" in errors["content"].iloc[0]
    # the run still ends as on a board: run_end variables and end_time follow the error
    assert tsv["type"].iloc[-2:].tolist() == ["variable", "info"]
    assert tsv["subtype"].iloc[-2:].tolist() == ["run_end", "end_time"]


def test_device_classes_bind_to_rig_outputs_and_laser_interlock(tmp_path):
    inputs = [*press(0.5, "lick_right"), *press(1.0, "lick_left")]
    run = run_task(tmp_path, "devices_misc.py", binding=DEVICES, inputs=inputs)
    assert run.result.status == "completed"
    assert run.states()[:3] == [(0.0, "wait_lick"), (1.0, "tone"), (2.0, "stim")]
    end = json.loads(run.rows("variable", "run_end")["content"].iloc[0])
    assert end == {"licks_A": 1, "licks_B": 1}
    ev = run.events
    out = ev[ev["kind"] == "output"]
    # Audio_board: on with the tone, off on exit; what it played is logged.
    tone = out[out["name"] == "cue_trial_start"]
    assert tone[["t_s", "value"]].astype(str).values.tolist() == [["1.0", "1"], ["2.0", "0"]]
    assert "sine 5000Hz" in set(out[out["name"] == "pycontrol_port_3"]["value"])
    # Digital_output.pulse(10 Hz, 50 %, 3 pulses): three 50 ms pulses, 100 ms apart.
    flash = out[out["name"] == "cue_sample_left"]
    assert flash["t_s"].round(3).tolist() == [1.0, 1.05, 1.1, 1.15, 1.2, 1.25]
    # LED_driver bound to the laser: held on, cut by the laser's max_on_s (30 s in sim.yaml).
    assert out[out["name"] == "laser"]["t_s"].iloc[0] == 2.0
    cut = ev[(ev["kind"] == "interlock") & (ev["name"] == "laser")]
    assert cut["t_s"].tolist() == [32.0]
    # Rsync: sync events in the data file, on the bound line, at random intervals.
    sync = run.rows("event", "sync")
    assert len(sync) > 20 and set(sync["content"]) == {"rsync"}
    assert (out["name"] == "cue_sample_right").sum() == 2 * len(sync)


@pytest.mark.parametrize(("task", "message"), [
    ("goto_in_entry.py", "goto_in_entry.py:11: goto_state('b') called in response to 'entry'"),
    ("run_end_raises.py", "run_end_raises.py:10: AttributeError: "),
])
def test_task_errors_are_one_located_line(tmp_path, task, message):
    session = make_session(tmp_path, task)
    with pytest.raises(TaskError) as err:
        session.run()
    assert str(err.value).startswith(message) and str(err.value).count(".py:") == 1
    meta = json.loads(next(tmp_path.glob("m1/*/session.json")).read_text())
    assert meta["status"] == "aborted"
