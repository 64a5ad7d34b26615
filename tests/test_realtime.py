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


# --- stalls of the host are logged (issue 11 §3) ---------------------------------------------


class _StepClock:
    """A clock the test moves; ``realtime`` as a wall clock (or not, as the virtual one)."""

    def __init__(self, realtime: bool) -> None:
        self.realtime = realtime
        self.t = 0.0

    def now(self) -> float:
        return self.t


class _Source:
    """Returns at each deadline asked, except that the first wait ending at or after
    ``stall[0]`` s ends ``stall[1]`` s late (the host was stopped that long), once per stall."""

    def __init__(self, clock: _StepClock, stalls: list[tuple[float, float]]) -> None:
        self.clock, self.stalls = clock, list(stalls)

    def next_event(self, deadline: float):
        late = 0.0
        if self.stalls and deadline >= self.stalls[0][0]:
            late = self.stalls.pop(0)[1]
        self.clock.t = deadline + late

    def wake(self) -> None:
        pass


class _Machine:
    finished = False

    def dispatch(self, name: str) -> None:
        raise AssertionError("no inputs in this test")


def _run_loop(realtime: bool, stalls: list[tuple[float, float]], **kw) -> list[tuple]:
    from rigctl.engine.loop import ControlLoop
    from rigctl.timing.timers import Timers

    clock, timers, machine = _StepClock(realtime), Timers(), _Machine()
    logged: list[tuple] = []
    fired: list[float] = []
    for t in (1.0, 1.1, 1.2):  # three timers due during one stall
        timers.set_at(t, lambda t=t: fired.append(t))
    timers.set_at(2.0, lambda: fired.append(2.0))
    timers.set_at(3.0, lambda: setattr(machine, "finished", True))
    loop = ControlLoop(clock, _Source(clock, stalls), timers, machine,  # type: ignore[arg-type]
                       lambda *a: logged.append(a), **kw)
    loop.run()
    assert fired == [1.0, 1.1, 1.2, 2.0]  # every timer still ran, late
    return [a for a in logged if a[1] == "warning"]


def test_a_stalled_loop_is_logged_once_per_stall_as_a_warning_event(caplog):
    # The wait for the 1.0 s timer ends at 1.4 s: stalled 400 ms, three timers late.
    with caplog.at_level("WARNING", logger="rigctl.engine.loop"):
        warnings = _run_loop(True, [(1.0, 0.4)])
    assert len(warnings) == 1  # the 1.1 and 1.2 s timers were late by the same stall
    t, kind, name, value = warnings[0]
    assert (kind, name) == ("warning", "stall") and t == pytest.approx(1.4)
    assert "a timer due at 1.000 s was handled 400 ms late" in value
    assert [r.getMessage() for r in caplog.records] == [value]  # and a warning line


def test_a_stall_with_no_timer_due_is_seen_by_the_loops_own_look_at_the_clock():
    # Stopped for 0.5 s at 1.5 s, between timers (1.2 and 2.0 s): nothing was due but the look.
    (warning,) = _run_loop(True, [(1.5, 0.5)])
    assert warning[0] == pytest.approx(2.0, abs=0.11)
    assert "a look at the clock due at" in warning[3] and "500 ms late" in warning[3]


def test_stall_threshold_is_configurable_and_the_virtual_clock_never_stalls():
    assert _run_loop(True, [(1.0, 0.4)], stall_s=0.5) == []
    assert _run_loop(True, [(1.0, 0.04), (2.0, 0.02)]) == []  # under 50 ms: not a stall
    assert len(_run_loop(True, [(1.0, 0.4), (2.0, 0.06)])) == 2  # two separate stalls
    assert _run_loop(False, [(1.0, 0.4), (2.0, 0.06)]) == []  # virtual time: jumps, no stall


def test_sigstop_of_a_realtime_session_is_logged_as_a_stall(make_config, tmp_path):
    """Stop the engine process for a while, let it go on: the stall is in events.csv and on
    stderr. (The stop's length is not asserted against any speed: only that it was seen.)"""
    cfg = make_config(FAST)
    data = tmp_path / "data"
    proc = start(cfg, data)
    try:
        folder = wait_for_rows(data, 2)
        proc.send_signal(signal.SIGSTOP)
        time.sleep(1.0)
        proc.send_signal(signal.SIGCONT)
        rows = (folder / "trials.csv").read_text().count("\n") - 1
        wait_for_rows(data, rows + 2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    s = load_session(folder)
    stalls = s.events[(s.events["kind"] == "warning") & (s.events["name"] == "stall")]
    assert len(stalls) >= 1, err
    assert stalls["value"].str.contains("control loop stalled").all()
    assert b"rigctl: warning: control loop stalled" in err
    assert s.status == "aborted" and s.events.iloc[-1]["name"] == "all_off"
