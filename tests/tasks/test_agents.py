"""Simulated subjects that know no task: the working-memory agent reads a task through its
mapping, the generic agent walks any task through its states."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from rigctl.cli import main
from tests.conftest import SIM_YAML, run_sim

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "tasks"
TMAZE_YAML = ROOT / "hardware_configs" / "sim_tmaze.yaml"


def accuracy(trials, **where) -> float:
    t = trials
    for k, v in where.items():
        t = t[t[k] == v]
    scored = t["correct"].dropna()
    return float(scored.mean())


def test_non_match_mouse_is_above_chance_and_forgets_with_delay(tmp_path):
    _, data, _ = run_sim(SIM_YAML, tmp_path, protocol=str(EXAMPLES / "delayed_non_match.py"),
                         params={"n_trials": 240, "delays_s": [1, 30], "stim_mode": "off"},
                         seed=11)
    short, long = accuracy(data.trials, delay_s=1.0), accuracy(data.trials, delay_s=30.0)
    assert short > 0.85
    assert 0.5 < long < short - 0.1


def test_go_nogo_mouse_withholds_on_nogo_trials(tmp_path):
    _, wm, _ = run_sim(SIM_YAML, tmp_path / "wm", protocol=str(EXAMPLES / "go_nogo.py"),
                       params={"n_trials": 120}, seed=5)
    _, gen, _ = run_sim(SIM_YAML, tmp_path / "gen", protocol=str(EXAMPLES / "go_nogo.py"),
                        params={"n_trials": 120}, seed=5, agent="generic")
    nogo = wm.trials[wm.trials["trial_type"] == "nogo"]
    rejections = (nogo["outcome"] == "correct_rejection").mean()
    assert rejections > 0.8
    hits = (wm.trials[wm.trials["trial_type"] == "go"]["outcome"] == "hit").mean()
    assert hits > 0.8
    # A subject that knows no task rejects no-go trials far less often.
    gen_nogo = gen.trials[gen.trials["trial_type"] == "nogo"]
    assert (gen_nogo["outcome"] == "correct_rejection").mean() < rejections - 0.2


def test_epoch_control_lowers_accuracy_most_when_light_is_in_the_delay(tmp_path):
    """Inhibition in the delay shortens the memory's maintenance: a large loss. Inhibition in
    the sample leaves the slow astrocyte lower at the delay's onset: a small one (about 4
    points at 10 s in this model, README). Three seeded sessions of each."""
    effect = {}
    for epoch in ("delay", "sample"):
        trials = []
        for seed in (1, 2, 3):
            _, data, _ = run_sim(SIM_YAML, tmp_path / f"{epoch}{seed}",
                                 protocol=str(EXAMPLES / "epoch_control.py"), seed=seed,
                                 params={"epoch": epoch, "n_trials": 200, "delays_s": [10]})
            t = data.trials
            assert t[t["trial_type"] == "laser"]["laser_onset_s"].notna().all()
            trials.append(t)
        t = pd.concat(trials)
        effect[epoch] = accuracy(t, trial_type="control") - accuracy(t, trial_type="laser")
    assert effect["delay"] > 0.12
    assert effect["sample"] < effect["delay"] / 2


CASES = [
    (SIM_YAML, EXAMPLES / "delayed_non_match.py"),
    (SIM_YAML, EXAMPLES / "go_nogo.py"),
    (SIM_YAML, EXAMPLES / "epoch_control.py"),
    (TMAZE_YAML, EXAMPLES / "t_maze.py"),
    (SIM_YAML, "delayed_alternation"),
    (SIM_YAML, "delayed_match_to_sample"),
]


@pytest.mark.parametrize("config,task", CASES, ids=lambda v: Path(str(v)).stem)
def test_the_generic_agent_reaches_every_state_of_every_example_task(config, task, tmp_path):
    """Three seeded sessions of 40 trials reach every state but the operator's pause."""
    entered: set[str] = set()
    for seed in (1, 2, 3):
        result, data, session = run_sim(config, tmp_path / str(seed), protocol=str(task),
                                        params={"n_trials": 40}, seed=seed, agent="generic")
        assert result.status == "completed", result.reason
        report = session.coverage.report()
        entered |= {s for s, n in report["states"].items() if n}
    cls = session.protocol
    expected = set(cls.states) - set(cls.operator_states)
    assert expected <= entered, f"never entered: {sorted(expected - entered)}"


def test_the_coverage_report_names_what_the_subject_never_did(tmp_path, capsys):
    code = main(["run", str(SIM_YAML), "--trials", "10", "--seed", "2", "--data", str(tmp_path),
                 "--quiet", "--no-figure", "--coverage"])
    out = capsys.readouterr().out
    assert code == 0
    assert "coverage: 6/7 states entered" in out
    assert re.search(r"-- paused +0x +\(entered only when the operator pauses\)", out)
    folder = next(tmp_path.glob("*/*delayed_alternation"))
    import json

    report = json.loads((folder / "coverage.json").read_text())
    assert report["states"]["sample"] == 10 and report["never_entered"] == []


def test_the_simulated_world_names_no_task_and_no_cue():
    names = ["trial_start", "sample_left", "sample_right", "\"go\"", "'go'", "alternat",
             "delayed", "match", "lick_left", "lick_right"]
    for f in ("world.py", "devices.py", "device.py"):
        text = (ROOT / "sim_backend" / f).read_text()
        for name in names:
            assert name not in text, f"sim_backend/{f} names {name}"


def test_an_agent_mapping_the_rig_cannot_serve_is_one_line_at_check(capsys):
    code = main(["check", str(TMAZE_YAML), "--protocol", "delayed_alternation"])
    err = capsys.readouterr().err
    assert code == 2
    assert "task delayed_alternation: agent.go: output 'go' is not on this rig" in err


def test_a_task_waiting_for_an_input_the_subject_never_makes_stops_naming_the_state(
        tmp_path, capsys):
    code = main(["run", str(TMAZE_YAML), "--protocol", str(EXAMPLES / "t_maze.py"),
                 "--agent", "working_memory", "--data", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "working_memory needs the task to declare an agent mapping" in err
    task = tmp_path / "wait.py"
    task.write_text(
        "from rigctl.task import ENTRY, Requires, Task, TaskParams\n"
        "class P(TaskParams):\n    pass\n"
        "class Wait(Task):\n    name = 'wait'\n    Params = P\n    states = ('waiting', 'done')\n"
        "    initial_state = 'waiting'\n    requires = Requires(inputs=('lick_right',))\n"
        "    def waiting(self, event):\n        if event == 'lick_right':\n"
        "            self.goto('done')\n"
        "    def done(self, event):\n        if event == ENTRY:\n            self.finish()\n")
    # Delayed alternation's mapping never licks outside a response window: nothing happens.
    proto = tmp_path / "p.yaml"
    proto.write_text(f"task: {task}\n")
    from sim_backend.agents.generic import GenericAgent  # noqa: F401 - the default agent
    settings = tmp_path / "rig.yaml"
    settings.write_text(SIM_YAML.read_text().replace(
        "mouse: {lapse_rate: 0.06, side_bias: 0.0, miss_rate: 0.02}",
        "mouse: {lapse_rate: 0.06, side_bias: 0.0, miss_rate: 0.02}\n"
        "    generic_agent: {explore_hz: 0}"))
    code = main(["run", str(settings), "--protocol", str(task), "--data", str(tmp_path / "d"),
                 "--quiet", "--no-figure"])
    err = capsys.readouterr().err
    assert code == 1  # the session ran (its folder is kept) and did not complete
    assert "simulation stalled" in err and "stalled in state 'waiting'" in err
    assert "Traceback" not in err
