"""pyControl task files on the simulated rig in virtual time: states, timers, all_states,
variables, random helpers, and the .tsv/.txt read back as pyControl's data tools read them."""

from __future__ import annotations

import json
import math
import sys

import pytest
from conftest import press, run_task

from rigctl.compat.pycontrol import PyControlBinding

INLINE = PyControlBinding(pins={"X1": "lick_left", "X2": "lick_right", "B4": "trial_start"})


def test_states_entry_exit_goto_and_variables(tmp_path):
    inputs = [*press(1.0, "lick_left"), *press(2.0, "lick_left"), *press(2.2, "lick_right"),
              *press(3.0, "lick_left")]
    run = run_task(tmp_path, "poke_states.py", inputs=inputs, duration=10.0)
    assert run.result.status == "completed"
    assert run.states() == [(0.0, "wait_poke"), (2.0, "light_on"), (2.2, "reward"),
                            (2.3, "wait_poke")]
    prints = run.rows("print", "task")["content"].tolist()
    assert prints == ["poke 1", "poke 2", "poke 3", "run_end pokes=3"]
    # print_variables in reward's exit; hidden ___ variables are never dumped.
    (dump,) = run.rows("variable", "print")["content"]
    assert json.loads(dump) == {"pokes": 2, "rewards": 1}
    assert json.loads(run.rows("variable", "run_start")["content"].iloc[0]) == {
        "pokes": 0, "rewards": 0}
    assert json.loads(run.rows("variable", "run_end")["content"].iloc[0]) == {
        "pokes": 3, "rewards": 1}
    # Input events are written by their pyControl names; events not in `events` are not.
    inputs_seen = run.rows("event", "input")
    assert inputs_seen["content"].iloc[:3].tolist() == ["left_poke", "left_poke_out",
                                                        "left_poke"]
    assert "right_poke_out" not in set(inputs_seen["content"])
    # Outputs reached the rig: LED = cue sample_left during light_on, SOL = right valve.
    out = run.events[run.events["kind"] == "output"]
    led = out[out["name"] == "cue_sample_left"]
    assert led[["t_s", "value"]].astype(str).values.tolist() == [["2.0", "1"], ["2.2", "0"]]
    valve = out[out["name"] == "valve_right"]
    assert valve["t_s"].tolist() == [2.2, 2.3]
    assert run.events["name"].iloc[-1] == "all_off"


def test_tsv_info_rows_and_txt_format(tmp_path):
    run = run_task(tmp_path, "poke_states.py", inputs=press(1.0, "lick_left"), duration=2.0)
    info = dict(zip(run.rows("info")["subtype"], run.rows("info")["content"], strict=True))
    assert info["task_name"] == "poke_states" and info["subject_id"] == "m1"
    assert info["setup_id"] == "sim-rig-1" and "end_time" in info
    assert list(run.tsv.columns) == ["time", "type", "subtype", "content"]
    (txt,) = run.result.folder.glob("*.txt")
    lines = txt.read_text().splitlines()
    states = json.loads(next(ln for ln in lines if ln.startswith("S "))[2:])
    events = json.loads(next(ln for ln in lines if ln.startswith("E "))[2:])
    assert states == {"wait_poke": 1, "light_on": 2, "reward": 3}
    data = [ln.split() for ln in lines if ln.startswith("D ")]
    assert data[:2] == [["D", "0", "1"], ["D", "1000", str(events["left_poke"])]]
    assert "P 1000 poke 1" in lines


def test_timer_semantics(tmp_path):
    run = run_task(tmp_path, "timers.py")
    assert run.result.status == "completed"  # ended by stop_framework, not by --duration
    # timed_goto_state('done', 150 ms) set in first's entry was cancelled by leaving at 100 ms.
    assert run.states() == [(0.0, "first"), (0.1, "second"), (0.55, "third"), (1.55, "done")]
    timers = run.rows("event", "timer")
    # early_timer was set in first's entry, first was left early: it still fired (pyControl).
    # disarmed_timer never fired; tick (output_event False) is not written.
    assert list(zip(timers["time"].round(3), timers["content"], strict=True)) == [
        (0.3, "early_timer"), (0.5, "paused_timer"), (0.55, "reset_timer_ev")]
    assert run.rows("event", "publish")[["time", "content"]].values.tolist() == [
        [0.5, "marker"]]
    assert run.rows("print", "task")["content"].tolist() == [
        "early_timer in second at 300", "paused_timer at 500", "marker at 500"]
    values = json.loads(run.rows("variable", "print")["content"].iloc[0])
    assert values == {"remaining_paused": 200, "remaining_none": 0, "remaining_running": 250}


def test_all_states_precedence_and_inline_devices(tmp_path):
    inputs = [*press(1.0, "lick_left", 0.1), *press(1.5, "lick_right"),
              *press(2.0, "lick_right"), *press(3.0, "lick_left", 0.2)]
    run = run_task(tmp_path, "all_states.py", binding=INLINE, inputs=inputs)
    assert run.result.status == "completed"
    assert run.states() == [(0.0, "idle"), (1.0, "active"), (1.1, "idle"), (3.0, "active"),
                            (3.2, "idle")]
    end = json.loads(run.rows("variable", "run_end")["content"].iloc[0])
    assert end["blocked"] == 2 and end["state_saw_lever"] == 0
    # 2 button + 2 release + 2 lever + the session timer; entry/exit do not go to all_states.
    assert end["all_states_calls"] == 7
    assert end["button_level_in_active"] is True
    assert run.tsv["time"].iloc[-1] == 5.0  # session_timer -> stop_framework at 5 s
    # Blocked events are still data: both lever presses are in the file.
    assert (run.rows("event", "input")["content"] == "lever").sum() == 2


def test_random_helpers_follow_the_seed(tmp_path):
    a = run_task(tmp_path / "a", "random_helpers.py", seed=5)
    b = run_task(tmp_path / "b", "random_helpers.py", seed=5)
    c = run_task(tmp_path / "c", "random_helpers.py", seed=6)
    va, vb, vc = (json.loads(r.rows("variable", "print")["content"].iloc[0]) for r in (a, b, c))
    assert va == vb and va != vc
    assert sorted(va["draws"][:3]) == ["a", "b", "c"] == sorted(va["draws"][3:])
    assert set(va["ints"]) == {1, 2, 3}
    assert 200 < va["heads"] < 300
    assert sorted(va["shuffled"]) == [1, 2, 3, 4, 5] and va["choice"] in "xyz"
    assert va["exp"] > 0 and 0 <= va["uniform"] < 1
    assert va["ema"] == pytest.approx(1 - math.exp(-1 / 2) ** 3)
    assert va["mean"] == 3
    assert a.states() == [(0.0, "only")]


def test_same_seed_same_data_file(tmp_path):
    inputs = [*press(1.0, "lick_left"), *press(2.0, "lick_left"), *press(2.2, "lick_right")]
    runs = [run_task(tmp_path / str(i), "poke_states.py", inputs=inputs, duration=8.0, seed=2)
            for i in range(2)]
    a, b = (r.tsv[~r.tsv["subtype"].isin(["start_time", "end_time"])] for r in runs)
    assert a.equals(b)


def test_task_load_leaves_no_modules_behind(tmp_path):
    before = set(sys.modules)
    run_task(tmp_path, "poke_states.py", duration=1.0)
    added = {m for m in set(sys.modules) - before
             if m.split(".")[0] in ("pyControl", "devices", "hardware_definition")}
    assert added == set()
    assert "pyControl" not in sys.modules and "hardware_definition" not in sys.modules


def test_named_imports_and_virtual_pins(tmp_path):
    run = run_task(tmp_path, "timers.py")
    out = run.events[run.events["kind"] == "output"]
    virtual = out[out["name"] == "virtual_B4"]  # dv.Digital_output('B4'), bound to nothing
    assert virtual[["t_s", "value"]].astype(str).values.tolist() == [["0.5", "1"]]


def test_wall_clock_run_keeps_the_order_and_never_fires_early(tmp_path):
    """The same task paced by the wall clock (as on a rig): same states in the same order,
    and no timer fires before its time (how late depends on the machine: not asserted)."""
    run = run_task(tmp_path, "timers.py", realtime=True)
    assert run.result.status == "completed"
    assert [s for _, s in run.states()] == ["first", "second", "third", "done"]
    nominal = [0.0, 0.1, 0.55, 1.55]
    assert all(t >= n for (t, _), n in zip(run.states(), nominal, strict=True))


def test_hardware_definition_from_the_binding_and_virtual_pins_are_warned(tmp_path):
    hw = tmp_path / "box3_hw.py"
    hw.write_text("from devices import *\n"
                  "left_poke = Poke(Breakout_1_0().port_1, rising_event='left_poke')\n"
                  "right_poke = Poke(Breakout_1_2().port_2, rising_event='right_poke')\n"
                  "house_light = Digital_output('Y1')\n")
    binding = PyControlBinding(hardware_definition=str(hw), unbound="virtual",
                               pins={"port_1.DIO_A": "lick_left", "port_2.DIO_A": "lick_right"})
    run = run_task(tmp_path / "data", "poke_states.py", binding=binding,
                   inputs=[*press(1.0, "lick_left"), *press(1.5, "lick_left")], duration=3.0)
    assert [s for _, s in run.states()] == ["wait_poke", "light_on", "wait_poke"]
    warned = run.rows("warning")["content"].tolist()
    assert "pin Y1 is not bound to this rig (virtual: see pycontrol.pins)" in warned
    assert not any("port_2.DIO_A" in w for w in warned)
