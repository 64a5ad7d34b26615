"""One mouse runs in one place at a time: `rigctl run` and a GUI tab hold the subject's lock.

An experiment takes every lock before any rig starts (tests/test_experiment.py); a single
session started from the command line or from a GUI tab takes the subject's lock in the data
root too, so the same mouse cannot be started on a second rig while it runs, and gives it back
however the session ends.
"""

from __future__ import annotations

import json
import socket

import pytest

from rigctl.cli import main
from rigctl.data.locks import LockedError, acquire, lock_path
from tests.conftest import SIM_YAML, run_sim
from tests.test_experiment import CRASHING_TASK


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rigctl_run_refuses_a_mouse_that_is_running_elsewhere(capsys, tmp_path):
    held = acquire(tmp_path, "subject", "M7", "experiment cage3 (cage3.yaml)")
    try:
        code, out, err = run_cli(capsys, "run", str(SIM_YAML), "--trials", "5", "--data",
                                 str(tmp_path), "--subject", "M7")
        assert lock_path(tmp_path, "subject", "M7").exists()  # theirs, untouched
    finally:
        held.release()
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "subject M7 is already running elsewhere" in lines[0]
    assert "experiment cage3" in lines[0] and "Traceback" not in err
    assert not (tmp_path / "M7").exists()  # no session folder was made
    # the other mouse is free, and once the lock is given back M7 runs
    assert run_cli(capsys, "run", str(SIM_YAML), "--trials", "3", "--data", str(tmp_path),
                   "--subject", "M7")[0] == 0


def test_the_lock_is_held_while_the_session_runs_and_given_back_at_its_end(tmp_path):
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import Subject, load_rig
    from rigctl.engine.session import Session, SessionOptions

    cfg = load_rig(str(SIM_YAML))
    spec = resolve_protocol(None, cfg, str(SIM_YAML), {"n_trials": 4})
    session = Session(cfg, SessionOptions(subject=Subject(id="M3"), protocol=spec,
                                          data_root=tmp_path, seed=2, lock=True,
                                          summary_figure=False))
    seen = []
    session.trial_listeners.append(
        lambda *_: seen.append(lock_path(tmp_path, "subject", "M3").exists()))
    result = session.run()
    assert result.status == "completed" and seen == [True] * 4
    assert not lock_path(tmp_path, "subject", "M3").exists()
    # a simulated rig is not a place: two simulations of it may run at once
    assert not lock_path(tmp_path, "rig", cfg.name).exists() and len(seen) == 4


def test_a_session_that_fails_gives_the_lock_back(tmp_path):
    task = tmp_path / "broken.py"
    task.write_text(CRASHING_TASK)  # raises in its code after two trials
    with pytest.raises(Exception, match="ZeroDivisionError"):
        run_sim(SIM_YAML, tmp_path / "data", protocol=str(task), subject={"id": "M4"},
                lock=True)
    assert not lock_path(tmp_path / "data", "subject", "M4").exists()


def test_a_stale_lock_left_by_a_crash_is_taken_over_and_said(capsys, tmp_path):
    path = lock_path(tmp_path, "subject", "M9")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": 2 ** 22 + 12345, "host": socket.gethostname(),
                                "what": "a run that crashed"}))
    code, out, _ = run_cli(capsys, "run", str(SIM_YAML), "--trials", "3", "--data",
                           str(tmp_path), "--subject", "M9")
    assert code == 0 and "note: took over the stale lock" in out
    (folder,) = (tmp_path / "M9").iterdir()
    events = (folder / "events.csv").read_text()
    assert "warning,lock,took over the stale lock" in events
    assert not path.exists()


def test_a_gui_tab_start_is_refused_while_the_mouse_runs_elsewhere(tmp_path):
    """The GUI's engine child builds its session from a StartRequest, which locks by default
    (an experiment's requests say lock=False: it holds the locks itself)."""
    from rigctl.engine.remote import StartRequest, _build_session

    req = StartRequest(config=str(SIM_YAML), protocol="delayed_alternation",
                       params={"n_trials": 3}, subject={"id": "M5"}, data_root=str(tmp_path),
                       seed=1, realtime=False)
    held = acquire(tmp_path, "subject", "M5", "rigctl run on rig 2")
    try:
        with pytest.raises(LockedError, match="rigctl run on rig 2"):
            _build_session(req)
    finally:
        held.release()
    assert not (tmp_path / "M5").exists()
    session = _build_session(req)
    try:
        assert lock_path(tmp_path, "subject", "M5").exists()
    finally:
        session.run()
    assert not lock_path(tmp_path, "subject", "M5").exists()
