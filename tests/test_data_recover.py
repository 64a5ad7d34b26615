"""Crashed sessions: a real SIGKILL mid-trial, torn files, ``rigctl recover``, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rigctl.cli import main
from rigctl.data import load_session, read_signals
from rigctl.data.metadata import write_metadata
from rigctl.data.recover import recover_session
from rigctl.errors import DataError
from tests.conftest import ROOT, run_sim
from tests.test_data_synth import write_synthetic_signals

KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from rigctl.protocols.delayed_alternation import DelayedAlternation
    from tests.conftest import SIM_YAML, run_sim

    original = DelayedAlternation.delay

    def delay(self, event):
        original(self, event)
        if event == "entry" and self.trials_done == 4:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flush: a real crash

    DelayedAlternation.delay = delay
    run_sim(SIM_YAML, Path(sys.argv[1]), seed=3, params={"n_trials": 20})
""")


def _cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_killed_session_keeps_completed_trials_and_recovers(capsys, tmp_path):
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == -9, proc.stderr
    (folder,) = (tmp_path / "sim-mouse-1").iterdir()
    s = load_session(folder)
    assert s.status == "crashed" and s.metadata["status"] == "running"
    assert list(s.trials["trial"]) == [1, 2, 3, 4]  # only the trial in progress is lost
    code, out, _ = _cli(capsys, "recover", str(folder))
    assert code == 0 and "marked crashed; 4 complete trials kept" in out
    meta = json.loads((folder / "session.json").read_text())
    assert meta["status"] == "crashed" and meta["n_trials"] == 4 and meta["end_time"]
    assert "recovered" in meta
    again = load_session(folder)
    assert again.status == "crashed" and len(again.trials) == 4
    assert not any("incomplete" in w for w in again.warnings)
    code, _, err = _cli(capsys, "recover", str(folder))
    assert code == 2 and "already recovered" in err and err.count("\n") == 1


def _crash(folder, pid: int = 2**22 + 4321, host: str | None = None) -> None:
    meta = json.loads((folder / "session.json").read_text())
    meta.update(status="running", pid=pid, end_time=None)
    if host is not None:
        meta["host"] = host
    write_metadata(folder / "session.json", meta)  # as the writer left it: checksum intact


def test_recover_cuts_torn_records_and_keeps_backups(sim_yaml, tmp_path):
    result, _, _ = run_sim(sim_yaml, tmp_path, seed=4, params={"n_trials": 6})
    folder = result.folder
    write_synthetic_signals(folder)
    originals = {n: (folder / n).read_bytes() for n in ("trials.csv", "events.csv",
                                                         "signals.bin")}
    with open(folder / "trials.csv", "a") as f:
        f.write("7,80.1,9")
    with open(folder / "events.csv", "a") as f:
        f.write("80.2,inp")
    with open(folder / "signals.bin", "ab") as f:
        f.write(b"\0" * 9)
    _crash(folder)
    torn = load_session(folder)
    assert len(torn.trials) == 6 and len(torn.warnings) == 4  # unfinished + 3 torn files
    report = recover_session(folder)
    assert report.dropped == {"trials.csv": 8, "events.csv": 8, "signals.bin": 9}
    assert report.n_trials == 6
    for name, data in originals.items():
        assert (folder / name).read_bytes() == data
        assert (folder / f"{name}.bak").read_bytes().startswith(data)
    s = load_session(folder)
    assert s.status == "crashed"
    assert s.warnings == [f"{folder.name}: session is unfinished (status crashed)"]
    assert np.array_equal(read_signals(folder / "signals.bin").data["calcium"],
                          s.signals.data["calcium"])


def test_recover_refuses_running_finished_foreign_and_non_sessions(capsys, sim_yaml, tmp_path):
    result, _, _ = run_sim(sim_yaml, tmp_path, seed=4, params={"n_trials": 2})
    folder = result.folder
    code, _, err = _cli(capsys, "recover", str(folder))
    assert code == 2 and "already finished (status completed)" in err
    _crash(folder, pid=os.getpid())  # this very process: alive
    code, _, err = _cli(capsys, "recover", str(folder))
    assert code == 2 and "still running" in err and err.count("\n") == 1
    _crash(folder, host="another-rig")
    with pytest.raises(DataError, match="another-rig"):
        recover_session(folder)
    assert recover_session(folder, force=True).n_trials == 2
    code, _, err = _cli(capsys, "recover", str(tmp_path))
    assert code == 2 and "not a session folder" in err
