"""The tutorial's task, exactly as docs/writing-tasks.md prints it, checks and runs."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from rigctl.cli import main
from tests.conftest import SIM_YAML

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-tasks.md"


def tutorial_code() -> str:
    text = DOC.read_text()
    match = re.search(r"<!-- tutorial: lick_for_light.py -->\n```python\n(.*?)```", text, re.S)
    assert match, "the tutorial's code block is missing"
    return match.group(1)


def test_the_tutorial_task_checks_and_runs_as_printed(tmp_path, capsys):
    task = tmp_path / "lick_for_light.py"
    task.write_text(tutorial_code())
    assert main(["check", str(SIM_YAML), "--protocol", str(task)]) == 0
    code = main(["run", str(SIM_YAML), "--protocol", str(task), "--seed", "4", "--data",
                 str(tmp_path / "data"), "--quiet", "--no-figure", "--coverage"])
    out = capsys.readouterr().out
    assert code == 0
    assert "coverage: 3/3 states entered" in out
    folder = next((tmp_path / "data").glob("*/*lick_for_light"))
    trials = pd.read_csv(folder / "trials.csv").drop(columns="crc")
    assert list(trials.columns) == ["trial", "light_on_s", "hit", "reaction_time_s"]
    assert len(trials) == 20 and 0 < trials["hit"].sum() < 20
    yaml_text = (tmp_path / "my_protocol.yaml")
    yaml_text.write_text("task: lick_for_light.py\nparameters: {n_trials: 5, light_s: 1.5}\n")
    assert main(["run", str(SIM_YAML), "--protocol", str(yaml_text), "--data",
                 str(tmp_path / "d2"), "--quiet", "--no-figure"]) == 0
