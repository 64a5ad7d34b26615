"""Faults inside the host: a full disk mid-session, a bug in protocol code."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from rigctl.data import load_session

ROOT = Path(__file__).resolve().parents[2]


def _limit_file_size(limit: int):
    def apply() -> None:
        # A file-size limit makes writes fail with EFBIG; ignore SIGXFSZ so they fail, not kill.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_disk_full_mid_session_stops_safely_and_keeps_what_was_written(sim_yaml, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "rigctl", "run", str(sim_yaml), "--trials", "400", "--seed", "1",
         "--data", str(tmp_path), "--quiet"],
        capture_output=True, text=True, env=env, timeout=300,
        preexec_fn=_limit_file_size(1024 * 1024),
    )
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "session stopped" in err[0] and "Traceback" not in proc.stderr
    (folder,) = tmp_path.glob("*/*")
    s = load_session(folder)
    assert s.status == "aborted"
    assert "File too large" in s.metadata["reason"] or "disk" in s.metadata["reason"]
    assert 0 < len(s.trials) < 400
    assert list(s.trials["trial"]) == list(range(1, len(s.trials) + 1))  # nothing corrupted


def test_protocol_bug_names_the_line_and_turns_outputs_off(sim_yaml, tmp_path, monkeypatch):
    from rigctl.config import Subject, load_rig
    from rigctl.engine.session import Session, SessionOptions
    from rigctl.protocols.delayed_alternation import DelayedAlternation
    from rigctl.protocols.loading import resolve_protocol

    original = DelayedAlternation.response

    def response(self, event):
        if event == "entry" and self.trial.trial == 6:
            self.rig.laser.on(5.0)
            raise KeyError("missing_side")  # a protocol bug, with the laser on
        original(self, event)

    monkeypatch.setattr(DelayedAlternation, "response", response)
    cfg = load_rig(str(sim_yaml))
    spec = resolve_protocol(None, cfg, str(sim_yaml))
    session = Session(cfg, SessionOptions(Subject(), spec, tmp_path, seed=1))
    with contextlib.suppress(KeyError):
        session.run()
    world = session.rig.devices["sim"].world
    assert world.laser_power_mw == 0.0 and world.record.light[-1][1] == 0.0
    s = load_session(session.writer.folder)
    assert s.status == "aborted"
    err = s.events[s.events["kind"] == "error"].iloc[0]
    assert "test_disk_and_bugs.py" in err["value"] and "in response" in err["value"]
    assert len(s.trials) == 5
