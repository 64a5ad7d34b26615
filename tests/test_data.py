"""The loader on finished, unfinished, damaged and foreign folders."""

from __future__ import annotations

import json

import pytest

from rigctl.data import load_session
from rigctl.errors import DataError
from rigctl.protocols.trial import COLUMNS
from tests.conftest import run_sim


@pytest.fixture
def session_folder(sim_yaml, tmp_path):
    result, _, _ = run_sim(sim_yaml, tmp_path, seed=1, params={"n_trials": 20})
    return result.folder


def test_loaded_trials_have_documented_columns_and_types(session_folder):
    s = load_session(session_folder)
    assert tuple(s.trials.columns) == COLUMNS
    assert str(s.trials["correct"].dtype) == "Int64"
    assert s.trials["start_s"].is_monotonic_increasing
    assert set(s.events["kind"]) >= {"state", "input", "output", "trial"}
    assert s.metadata["protocol"]["parameters"]["n_trials"] == 20
    assert s.metadata["rig"]["name"] == "sim-rig-1"


def test_truncated_last_line_is_dropped_with_a_warning(session_folder):
    path = session_folder / "trials.csv"
    text = path.read_text()
    path.write_text(text + "21,200.5,201.0,lase")  # a write torn by a crash
    meta = json.loads((session_folder / "session.json").read_text())
    meta.update(status="running", pid=2**22 + 12345)  # a pid that does not exist
    (session_folder / "session.json").write_text(json.dumps(meta))
    s = load_session(session_folder)
    assert len(s.trials) == 20
    assert s.status == "crashed"
    assert any("incomplete last line" in w for w in s.warnings)


def test_not_a_session_and_newer_format_are_clear_errors(session_folder, tmp_path):
    with pytest.raises(DataError, match="not a session folder"):
        load_session(tmp_path)
    meta = json.loads((session_folder / "session.json").read_text())
    meta["format_version"] = 99
    (session_folder / "session.json").write_text(json.dumps(meta))
    start = json.loads((session_folder / "session.start.json").read_text())
    start["format_version"] = 99  # a newer rigctl writes both
    (session_folder / "session.start.json").write_text(json.dumps(start))
    with pytest.raises(DataError, match="newer rigctl"):
        load_session(session_folder)
    start["format_version"] = 3
    (session_folder / "session.start.json").write_text(json.dumps(start))
    (session_folder / "session.json").write_text("{not json")
    # An unreadable session.json no longer costs the session: the start copy stands in for
    # it, the damage is reported, and the end is inferred from the files.
    s = load_session(session_folder)
    assert s.status == "damaged" and s.recorded_status == "completed"
    assert [(d.file, d.what.split(" ")[0]) for d in s.damage] == [("session.json", "unreadable")]
    assert len(s.trials) == 20
    (session_folder / "session.start.json").unlink()
    (session_folder / "trials.csv").unlink()
    (session_folder / "session.json").unlink()
    with pytest.raises(DataError, match="not a session folder"):
        load_session(session_folder)
