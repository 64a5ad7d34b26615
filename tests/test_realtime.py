"""Wall-clock sessions in their own process: SIGKILL keeps completed trials, SIGINT ends cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rigctl.data import load_session

FAST = {
    "devices": {"sim": {"mouse": {"rt_median_s": 0.05, "licks_per_ul": 0.5}}},
    "protocol": {"parameters": {
        "iti_s": 0.05, "sample_s": 0.05, "delays_s": [0.1], "response_window_s": 1.0,
        "reward_consumption_s": 0.05, "timeout_s": 0.05, "n_trials": 1000,
    }},
}
ROOT = Path(__file__).resolve().parents[1]


def start(cfg: Path, data: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "rigctl", "run", str(cfg), "--realtime", "--data", str(data),
         "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )


def wait_for_rows(data: Path, n: int, timeout: float = 60.0) -> Path:
    """Poll (not a timing assertion) until the session has written ``n`` trial rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in data.glob("*/*/trials.csv"):
            if f.read_text().count("\n") > n:
                return f.parent
        time.sleep(0.05)
    pytest.fail(f"no session wrote {n} trials within {timeout} s")


def test_sigkill_keeps_every_completed_trial_and_reads_as_unfinished(make_config, tmp_path):
    cfg = make_config(FAST)
    data = tmp_path / "data"
    proc = start(cfg, data)
    try:
        folder = wait_for_rows(data, 5)
        before = (folder / "trials.csv").read_text().count("\n") - 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    s = load_session(folder)
    assert s.status == "crashed" and not s.finished
    assert any("unfinished" in w for w in s.warnings)
    assert len(s.trials) >= before >= 5
    assert list(s.trials["trial"]) == list(range(1, len(s.trials) + 1))
    assert s.trials["outcome"].notna().all()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_session_cleanly_with_outputs_off(make_config, tmp_path, sig):
    cfg = make_config(FAST)
    data = tmp_path / "data"
    proc = start(cfg, data)
    try:
        folder = wait_for_rows(data, 3)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    assert b"status: aborted (stopped by " + signal.Signals(sig).name.encode() in out
    s = load_session(folder)
    assert s.status == "aborted" and s.finished and not s.warnings
    assert s.metadata["clock"] == "wall"
    assert s.events.iloc[-1]["name"] == "all_off"
    assert len(s.trials) >= 3
