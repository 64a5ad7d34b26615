"""A scientist's own task file: found, checked before it runs, run to its own trials table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from rigctl.cli import main
from tests.conftest import SIM_YAML, run_sim

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "tasks"
TMAZE_YAML = ROOT / "hardware_configs" / "sim_tmaze.yaml"

GOOD = '''
from dataclasses import dataclass
from rigctl.task import ENTRY, EXIT, Field, Requires, Task, TaskParams, col

class Params(TaskParams):
    n_trials: int = Field(5, ge=1, le=100, description="Trials (count)")

@dataclass
class Trial:
    trial: int = col("", "Trial number")
    licked: int = col("", "1 if the mouse licked during the light")

class LightLick(Task):
    name = "light_lick"
    Params = Params
    Trial = Trial
    states = ("dark", "light")
    initial_state = "dark"
    requires = Requires(outputs=("house_light",), inputs=("lick_left",), ports=("left",))
    n = 0

    def dark(self, event):
        if event == ENTRY:
            if self.n >= self.p.n_trials:
                self.finish()
            else:
                self.timed_goto("light", 1.0)

    def light(self, event):
        if event == ENTRY:
            self.on("house_light")
            self.licked = 0
            self.timed_goto("dark", 2.0)
        elif event == "lick_left":
            self.licked = 1
        elif event == EXIT:
            self.off("house_light")
            self.n += 1
            self.write_trial(Trial(trial=self.n, licked=self.licked))
'''


def write(tmp_path: Path, text: str, name: str = "my_task.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_task_file_outside_the_repository_runs_to_its_own_trials_table(tmp_path, capsys):
    task = write(tmp_path, GOOD)
    code, out, err = cli(capsys, "run", str(SIM_YAML), "--protocol", str(task), "--seed", "3",
                         "--data", str(tmp_path / "data"), "--quiet", "--no-figure")
    assert code == 0, err
    folder = Path(next(ln for ln in out.splitlines() if ln.startswith("data:")).split()[-1])
    trials = pd.read_csv(folder / "trials.csv").drop(columns="crc")
    assert list(trials.columns) == ["trial", "licked"]
    assert trials["trial"].tolist() == [1, 2, 3, 4, 5]
    meta = json.loads((folder / "session.json").read_text())
    assert meta["protocol"]["task_file"]["text"] == task.read_text()
    assert meta["protocol"]["task_file"]["path"] == str(task.resolve())
    assert [c["name"] for c in meta["trial_schema"]] == ["trial", "licked"]
    from rigctl.data import load_session

    s = load_session(folder)
    assert list(s.trials.columns) == ["trial", "licked"]
    assert str(s.trials["licked"].dtype) == "Int64"


def test_a_protocol_yaml_names_a_task_file_relative_to_itself(tmp_path):
    write(tmp_path, GOOD)
    (tmp_path / "proto.yaml").write_text("task: my_task.py\nparameters: {n_trials: 2}\n")
    result, data, _ = run_sim(SIM_YAML, tmp_path / "data", protocol=str(tmp_path / "proto.yaml"))
    assert result.status == "completed" and len(data.trials) == 2


STATES = 'states = ("dark", "light")'
BAD_TASKS = {
    "syntax": ("class T(:\n", r"my_task\.py:1: syntax error"),
    "missing_import": ("import not_a_module_anywhere\n",
                       r"my_task\.py:1: cannot import 'not_a_module_anywhere'"),
    "no_task": ("x = 1\n", r"defines no task"),
    "state_twice": (GOOD.replace(STATES, 'states = ("dark", "light", "dark")'),
                    r"state 'dark' is declared twice"),
    "no_initial": (GOOD.replace('    initial_state = "dark"\n', ""),
                   r"set `initial_state`"),
    "bad_goto": (GOOD.replace('self.timed_goto("light", 1.0)', 'self.timed_goto("lihgt", 1.0)'),
                 r"my_task\.py:\d+: goto target 'lihgt' is not a state"),
    "unreachable": (GOOD.replace(STATES, 'states = ("dark", "light", "spare")')
                    + "    def spare(self, event):\n        pass\n",
                    r"state 'spare' is never reached from the initial state 'dark'"),
    "impossible_event": (GOOD.replace('event == "lick_left"', 'event == "nose_poke"'),
                         r"my_task\.py:\d+: state 'light' handles event 'nose_poke', which no "
                         r"input of this rig produces"),
    "missing_input": (GOOD.replace('inputs=("lick_left",)', 'inputs=("centre_poke",)'),
                      r"task light_lick needs input 'centre_poke': add it under `inputs:`"),
    "missing_output": (GOOD.replace('self.on("house_light")', 'self.on("buzzer")'),
                       r"my_task\.py:\d+: output 'buzzer' is not on this rig"),
    "helper_name": (GOOD.replace(STATES, 'states = ("dark", "light", "log")')
                    .replace('self.timed_goto("dark", 2.0)', 'self.timed_goto("log", 2.0)'),
                    r"state 'log' has the name of a Task helper"),
}


@pytest.mark.parametrize("case", sorted(BAD_TASKS))
def test_check_and_run_refuse_a_bad_task_in_one_line_and_write_nothing(case, tmp_path, capsys):
    import re

    text, pattern = BAD_TASKS[case]
    task = write(tmp_path, text)
    for command in (["check", str(SIM_YAML), "--protocol", str(task)],
                    ["run", str(SIM_YAML), "--protocol", str(task), "--data",
                     str(tmp_path / "data")]):
        code, _, err = cli(capsys, *command)
        assert code == 2, err
        assert "Traceback" not in err
        assert re.search(pattern, err), err
        assert all(ln.startswith("rigctl: error: ") for ln in err.strip().splitlines())
    assert not (tmp_path / "data").exists()


def test_a_missing_or_non_python_task_file_is_one_line(tmp_path, capsys):
    code, _, err = cli(capsys, "check", str(SIM_YAML), "--protocol", str(tmp_path / "nope.py"))
    assert code == 2 and "nope.py: task file not found" in err
    (tmp_path / "bin.py").write_bytes(b"\xff\xfe\x00binary")
    code, _, err = cli(capsys, "check", str(SIM_YAML), "--protocol", str(tmp_path / "bin.py"))
    assert code == 2 and "is not a UTF-8 text file" in err


def test_a_bug_in_a_task_handler_turns_the_laser_off_and_names_the_line(tmp_path, capsys):
    task = write(tmp_path, '''
        from rigctl.task import ENTRY, Requires, Task, TaskParams

        class P(TaskParams):
            power_mw: float = 5.0

        class Buggy(Task):
            name = "buggy"
            Params = P
            states = ("wait", "stim")
            initial_state = "wait"
            requires = Requires(laser=True)

            def wait(self, event):
                if event == ENTRY:
                    self.timed_goto("stim", 1.0)

            def stim(self, event):
                if event == ENTRY:
                    self.rig.laser.on(self.p.power_mw)
                    self.set_timer("oops", 2.0)
                elif event == "oops":
                    return {}["missing"]
        ''')
    code, _, err = cli(capsys, "run", str(SIM_YAML), "--protocol", str(task), "--seed", "1",
                       "--data", str(tmp_path / "data"), "--quiet")
    assert code == 1  # the session ran 3 s and ended aborted (2 would say nothing ran)
    line = next(i for i, ln in enumerate(task.read_text().splitlines(), 1) if "missing" in ln)
    assert f"{task.resolve()}:{line} in stim: KeyError" in err and "Traceback" not in err
    folder = next((tmp_path / "data").glob("*/*buggy"))
    events = pd.read_csv(folder / "events.csv", keep_default_na=False)
    laser = events[(events["kind"] == "output") & (events["name"] == "laser")]
    assert laser["value"].tolist() == ["5mW"]  # on, then cut by the shutdown below
    assert events.iloc[-1]["name"] == "all_off" and events.iloc[-1]["t_s"] == 3.0
    assert "KeyError: 'missing'" in (folder / "error.txt").read_text()
    meta = json.loads((folder / "session.json").read_text())
    assert meta["status"] == "aborted" and f"my_task.py:{line}" in meta["reason"]


def test_a_task_installed_as_a_package_is_found_through_its_entry_point(tmp_path):
    pkg = tmp_path / "site"
    (pkg / "labtasks").mkdir(parents=True)
    (pkg / "labtasks" / "__init__.py").write_text(textwrap.dedent(GOOD))
    dist = pkg / "labtasks-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: labtasks\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[rigctl.protocols]\nlight_lick = labtasks:LightLick\n")
    env = {**os.environ, "PYTHONPATH": f"{pkg}{os.pathsep}{ROOT}"}
    proc = subprocess.run(
        [sys.executable, "-m", "rigctl", "run", str(SIM_YAML), "--protocol", "light_lick",
         "--seed", "1", "--data", str(tmp_path / "data"), "--quiet", "--no-figure"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    folder = next((tmp_path / "data").glob("*/*light_lick"))
    columns = pd.read_csv(folder / "trials.csv").drop(columns="crc").columns.tolist()
    assert columns == ["trial", "licked"]


def test_a_damaged_row_of_a_tasks_own_table_is_reported_and_the_rest_load(tmp_path, capsys):
    task = write(tmp_path, GOOD)
    code, out, err = cli(capsys, "run", str(SIM_YAML), "--protocol", str(task), "--seed", "3",
                         "--data", str(tmp_path / "data"), "--quiet", "--no-figure")
    assert code == 0, err
    folder = next((tmp_path / "data").glob("*/*light_lick"))
    path = folder / "trials.csv"
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"3,", b"9,", 1)  # trial 3's row no longer matches its checksum
    path.write_bytes(b"\n".join(lines))
    from rigctl.data import load_session

    s = load_session(folder)
    assert s.status == "damaged"
    assert s.trials["trial"].tolist() == [1, 2, 4, 5]
    assert [d.line for d in s.damage] == [4]
