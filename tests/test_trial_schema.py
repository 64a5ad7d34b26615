"""A task's declared trial record: levels and roles of its columns, as the GUI and cohort read
them, and the engine's first message carries it."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from rigctl.cli import main
from rigctl.engine import messages as m
from rigctl.protocols.trial import TrialRecord, TrialSchema, col, trial_schema

ROOT = Path(__file__).resolve().parents[1]
GO_NOGO = ROOT / "examples" / "tasks" / "go_nogo.py"


def _go_nogo_trial() -> type:
    spec = importlib.util.spec_from_file_location("go_nogo_for_schema", GO_NOGO)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.GoNoGoTrial


def test_the_builtin_record_declares_its_outcome_and_condition():
    s = TrialSchema.of(TrialRecord)
    assert s.outcome.name == "outcome"
    assert s.outcome.levels == ("correct", "error", "no_response", "sample")
    assert s.condition.name == "trial_type"
    assert s.condition.levels == ("control", "laser", "sample")
    assert s.score.name == "correct"


def test_go_nogo_declares_its_own_levels():
    s = TrialSchema.of(_go_nogo_trial())
    assert s.outcome.levels == ("hit", "miss", "false_alarm", "correct_rejection")
    assert s.condition.levels == ("go", "nogo")


def test_without_roles_the_columns_named_outcome_and_trial_type_are_used():
    @dataclass
    class Plain:
        trial: int = col("", "n")
        trial_type: str = col("", "a or b")
        outcome: str = col("", "x or y")

    s = TrialSchema.of(Plain)
    assert (s.outcome.name, s.condition.name, s.outcome.levels) == ("outcome", "trial_type", ())


def test_a_record_without_an_outcome_has_none():
    @dataclass
    class Licks:
        trial: int = col("", "n")
        licked: int = col("", "1 if licked")

    s = TrialSchema.of(Licks)
    assert s.outcome is None and s.condition is None and s.score is None


def test_two_outcome_columns_are_refused_naming_both():
    @dataclass
    class Two:
        a: str = col("", "a", role="outcome")
        b: str = col("", "b", role="outcome")

    with pytest.raises(ValueError, match=r"2 columns have role='outcome' \(a, b\)"):
        TrialSchema.of(Two)


def test_a_bad_role_or_string_levels_is_refused_when_written():
    with pytest.raises(ValueError, match="role is one of"):
        col("", "x", role="result")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tuple of level names"):
        col("", "x", levels="hit")


def test_session_json_keeps_levels_and_roles_and_reads_back():
    own = trial_schema(_go_nogo_trial())
    back = TrialSchema.from_json(json.loads(json.dumps(own)))
    assert back.outcome.levels == ("hit", "miss", "false_alarm", "correct_rejection")
    assert back.condition.name == "trial_type"


def test_a_session_written_before_roles_reads_as_rigctls_record():
    old = [{k: c[k] for k in ("name", "unit", "doc", "dtype")} for c in trial_schema()]
    assert TrialSchema.from_json(old).outcome.levels[0] == "correct"
    assert TrialSchema.from_json(None).condition.name == "trial_type"


def test_the_ready_message_carries_the_schema_typed_through_a_pipe():
    msg = m.Ready(folder="f", rig="r", protocol="go_nogo", n_trials=5, realtime=False, seed=1,
                  pid=os.getpid(), threshold=None, tracked=None, has_signal=False,
                  has_laser=False, trial_schema=TrialSchema.of(_go_nogo_trial()))
    back = pickle.loads(pickle.dumps(msg))
    assert isinstance(back.trial_schema, TrialSchema)
    assert back.trial_schema.outcome.levels[0] == "hit"


def test_rigctl_check_names_the_task_with_two_outcome_columns(tmp_path, capsys):
    task = tmp_path / "two.py"
    task.write_text(GO_NOGO.read_text().replace(
        'correct: int = col("", "1 for hit or correct rejection, else 0")',
        'correct: int = col("", "1 for hit or correct rejection, else 0", role="outcome")'))
    code = main(["check", str(ROOT / "hardware_configs" / "sim.yaml"), "--protocol", str(task)])
    err = capsys.readouterr()
    assert code == 2
    text = err.out + err.err
    assert "two.py" in text and "role='outcome' (outcome, correct)" in text
