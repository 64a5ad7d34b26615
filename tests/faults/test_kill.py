"""SIGKILL of the engine at random moments: every completed trial stays readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from rigctl.cli import main
from rigctl.data import load_session
from tests.conftest import SIM_YAML

ROOT = Path(__file__).resolve().parents[2]
FAST = {
    "iti_s": 0.05, "sample_s": 0.05, "delays_s": [0.1, 0.2], "response_window_s": 1.0,
    "reward_consumption_s": 0.05, "timeout_s": 0.05, "n_trials": 10_000,
    "stim_mode": "closed_loop",
}

# Runs the CLI with the first trial write after TEAR_AFTER seconds stopped half-way through its
# row (flushed to disk, marker file created, then a long pause), so the kill lands inside the
# write: the harness (not rigctl) tears the write, as a crash mid-write would.
TORN_WRITER = textwrap.dedent("""
    import os, pathlib, sys, time
    from rigctl.data import writer
    original = writer.SessionWriter.write_trial
    t0, after, marker = time.monotonic(), float(os.environ["TEAR_AFTER"]), os.environ["MARKER"]
    def torn(self, rec):
        if time.monotonic() - t0 > after:
            self._trials_f.write("%d,%s,lase" % (rec.trial, rec.start_s))
            self._trials_f.flush()
            os.fsync(self._trials_f.fileno())
            pathlib.Path(marker).touch()
            time.sleep(30)
        original(self, rec)
    writer.SessionWriter.write_trial = torn
    from rigctl.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def _config(tmp_path: Path) -> Path:
    data = yaml.safe_load(SIM_YAML.read_text())
    data["devices"]["sim"]["mouse"] = {"rt_median_s": 0.05, "licks_per_ul": 0.5}
    data["protocol"]["parameters"].update(FAST)
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _run_and_kill(cfg: Path, data: Path, after_s: float, torn: bool) -> Path:
    marker = data.parent / "in_write"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TEAR_AFTER": str(after_s),
           "MARKER": str(marker)}
    args = ["run", str(cfg), "--realtime", "--data", str(data), "--quiet", "--no-figure",
            "--seed", "1"]
    cmd = [sys.executable, "-c", TORN_WRITER, *args] if torn else \
        [sys.executable, "-m", "rigctl", *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list(data.glob("*/*/trials.csv")):  # started (not a timing assertion)
            assert proc.poll() is None, proc.stderr.read().decode()
            if time.monotonic() >= deadline:  # hang guard, not a speed check
                pytest.fail("session did not start")
            time.sleep(0.02)
        if torn:
            while not marker.exists():  # inside the trial write
                assert proc.poll() is None, proc.stderr.read().decode()
                if time.monotonic() >= deadline:  # hang guard, not a speed check
                    pytest.fail("no trial write")
                time.sleep(0.01)
        else:
            time.sleep(after_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    # a killed run leaves its subject's lock behind (stale: the next run takes it over)
    (folder,) = [f for f in data.glob("*/*") if not f.parent.name.startswith(".")]
    assert (data / ".rigctl-locks" / "subject-sim-mouse-1.lock").exists()
    return folder


@pytest.mark.parametrize("moment", range(10))
def test_sigkill_at_a_random_moment_keeps_every_completed_trial(tmp_path, moment):
    rng = np.random.default_rng(2026 + moment)
    torn = moment % 2 == 1  # half the kills aim at the trial write itself
    folder = _run_and_kill(_config(tmp_path), tmp_path / "data", float(rng.uniform(0.2, 2.5)),
                           torn)
    s = load_session(folder)
    assert s.status == "crashed" and not s.finished
    torn_rows = [w for w in s.warnings if "incomplete last line" in w]
    assert bool(torn_rows) == torn  # the torn row is dropped, with a warning
    t = s.trials
    assert list(t["trial"]) == list(range(1, len(t) + 1))  # no gap, no torn row
    assert t["outcome"].notna().all() and t["end_s"].notna().all()
    if len(t):  # the events of every completed trial are on disk too (same fsync)
        assert (s.events["kind"] == "trial").sum() >= 2 * len(t) - 1
    # The crash can be marked and the session exported afterwards.
    assert main(["recover", str(folder)]) == 0
    recovered = load_session(folder)
    assert recovered.status == "crashed" and len(recovered.trials) == len(t)
    assert not [w for w in recovered.warnings if "incomplete" in w]
