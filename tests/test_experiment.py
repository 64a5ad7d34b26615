"""Experiments: the experiment file's checks, subject locks, per-subject persistent state, and
several rigs run side by side by real engine processes, each stopped on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rigctl.cli import main
from rigctl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
STAGED = ROOT / "examples" / "tasks" / "staged_alternation.py"

CRASHING_TASK = '''
from rigctl.protocols.delayed_alternation import DelayedAlternation


class Crashing(DelayedAlternation):
    """Raises in its code after two trials: a bug in a task file, mid-session."""
    name = "crashing"

    def end_trial(self):
        super().end_trial()
        if self.trials_done >= 2:
            raise ZeroDivisionError("a bug in the task")
'''


def _experiment(tmp_path: Path, subjects: list[dict], **top) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "data_root": str(tmp_path / "data"),
                                    "summary_figure": False, **top, "subjects": subjects},
                                   sort_keys=False))
    return path


def _rigs(make_config, n: int) -> list[Path]:
    return [make_config({"name": f"box-{i}"}, name=f"box{i}.yaml") for i in range(1, n + 1)]


# --- bad input: one line each, exit 2, nothing started ----------------------------------------


def _refused(capsys, path: Path) -> list[str]:
    assert main(["experiment", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    return err


def test_one_rig_config_used_twice_is_refused(tmp_path, make_config, capsys):
    (box,) = _rigs(make_config, 1)
    err = _refused(capsys, _experiment(tmp_path, [{"id": "M1", "rig": str(box)},
                                                  {"id": "M2", "rig": str(box)}]))
    assert len(err) == 1
    assert "subjects.1.rig" in err[0] and "already used by subject M1" in err[0]


def test_two_subjects_on_one_rig_name_are_refused(tmp_path, make_config, capsys):
    a = make_config({"name": "box-1"}, name="a.yaml")
    b = make_config({"name": "box-1"}, name="b.yaml")
    err = _refused(capsys, _experiment(tmp_path, [{"id": "M1", "rig": str(a)},
                                                  {"id": "M2", "rig": str(b)}]))
    assert len(err) == 1 and "two subjects on one rig" in err[0] and "'box-1'" in err[0]


def test_a_subject_listed_twice_and_an_unknown_field_are_refused(tmp_path, make_config, capsys):
    a, b = _rigs(make_config, 2)
    err = _refused(capsys, _experiment(tmp_path, [{"id": "M1", "rig": str(a)},
                                                  {"id": "M1", "rig": str(b)}]))
    assert len(err) == 1 and "subjects.1.id: subject M1 is listed twice" in err[0]
    err = _refused(capsys, _experiment(tmp_path, [{"id": "M1", "rig": str(a), "rigg": 1}]))
    assert len(err) == 1 and "subjects.0.rigg: unknown field" in err[0]


def test_bad_parameters_name_the_subject_entry(tmp_path, make_config, capsys):
    (a,) = _rigs(make_config, 1)
    err = _refused(capsys, _experiment(tmp_path, [{"id": "M1", "rig": str(a),
                                                   "parameters": {"n_trials": -1}}]))
    assert len(err) == 1 and err[0].startswith("rigctl: error: ") and "subjects.0" in err[0]
    assert "n_trials" in err[0]


def test_a_subject_already_running_elsewhere_is_refused_and_nothing_starts(
        tmp_path, make_config, capsys):
    from rigctl.data.locks import acquire

    a, b = _rigs(make_config, 2)
    path = _experiment(tmp_path, [{"id": "M1", "rig": str(a)}, {"id": "M2", "rig": str(b)}])
    held = acquire(tmp_path / "data", "subject", "M2", "rigctl run on another terminal")
    try:
        err = _refused(capsys, path)
    finally:
        held.release()
    assert len(err) == 1 and "subject M2 is already running elsewhere" in err[0]
    assert "rigctl run on another terminal" in err[0] and ".lock" in err[0]
    assert not list((tmp_path / "data").glob("M*/*"))  # no session folder anywhere
    # every lock this attempt took was given back: the same experiment can run now
    assert not (tmp_path / "data" / ".rigctl-locks").exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    from rigctl.data.locks import acquire, lock_path

    path = lock_path(tmp_path, "subject", "M1")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": 2 ** 22 + 12345, "host": __import__("socket")
                                .gethostname(), "what": "crashed run"}))
    lock = acquire(tmp_path, "subject", "M1", "me")
    assert "stale lock" in lock.stale_note
    lock.release()
    assert not path.exists()


# --- persistent state --------------------------------------------------------------------------


def _staged(make_config, tmp_path, seed: int, trials: int = 30):
    from tests.conftest import run_sim

    return run_sim(make_config(), tmp_path / "data", protocol=str(STAGED),
                   params={"n_trials": trials}, subject={"id": "M1"}, seed=seed)


def test_staged_alternation_carries_its_stage_from_one_session_to_the_next(make_config,
                                                                            tmp_path):
    state = tmp_path / "data" / "subjects" / "M1" / "state.json"
    _res, first, _s = _staged(make_config, tmp_path, seed=1)
    assert json.loads(state.read_text())["state"]["stage"] == 2
    assert set(first.trials["delay_s"][first.trials["trial"] <= 5]) <= {0.0, 0.5}
    _res, second, _s = _staged(make_config, tmp_path, seed=2)
    saved = json.loads(state.read_text())["state"]
    assert saved["stage"] == 3 and saved["sessions"] == 2
    assert second.metadata["subject_state_at_start"]["stage"] == 2
    early = second.trials[(second.trials["trial"] <= 5) & (second.trials["trial"] > 1)]
    assert set(early["delay_s"]) <= {1.0, 2.0}  # started at stage 2, where the first ended
    history = [json.loads(x) for x in (state.parent / "history.jsonl").read_text()
               .splitlines()]
    assert [(h["before"]["stage"], h["after"]["stage"]) for h in history] == [(1, 2), (2, 3)]
    assert not list(state.parent.glob("*.tmp"))


@pytest.mark.parametrize("text, where", [
    ('{"state": {"stage": 9}}', "state.stage: Input should be less than or equal to 3"),
    ('{"state": {"stage": 1, "colour": 2}}', "state.colour: unknown field"),
    ('{"state": {"stage": 1,', "line 1: not valid JSON"),
])
def test_a_bad_state_file_is_one_line_naming_the_file_and_field(make_config, tmp_path, text,
                                                                where):
    state = tmp_path / "data" / "subjects" / "M1" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(text)
    with pytest.raises(ConfigError) as err:
        _staged(make_config, tmp_path, seed=1, trials=3)
    (line,) = str(err.value).splitlines()
    assert line.startswith(f"{state}: {where}") and "delete it" in line
    assert not list((tmp_path / "data").glob("M1/*"))  # refused before any session folder


# --- several rigs side by side: each stops on its own, outputs off on every path -----------------


def _ends_with_outputs_off(folder: str) -> None:
    from rigctl.data import load_session

    s = load_session(Path(folder))
    out = s.events[s.events["kind"] == "output"]
    assert out["name"].iloc[-1] == "all_off", out.tail()


def test_rigs_stop_one_by_one_each_with_its_outputs_off(tmp_path, make_config):
    from rigctl.commands.experiment import command
    from rigctl.experiment.plan import load_plan
    from rigctl.experiment.runner import ExperimentRunner

    crash = tmp_path / "crashing.py"
    crash.write_text(CRASHING_TASK)
    a, b, c = _rigs(make_config, 3)
    plan = load_plan(_experiment(tmp_path, [
        # stopped by the operator typing `stop M1`
        {"id": "M1", "rig": str(a), "parameters": {"n_trials": 100000}, "seed": 1},
        # its data folder "fills up": a free-space floor above any disk's free space
        {"id": "M2", "rig": str(b), "parameters": {"n_trials": 100000}, "seed": 2,
         "min_free_mb": 1e12},
        # a bug in its task file after two trials
        {"id": "M3", "rig": str(c), "protocol": str(crash), "seed": 3},
    ], realtime=True))
    runner = ExperimentRunner(plan)
    runner.start()
    try:
        m1 = runner.find("M1")
        assert m1 is not None
        for _ in range(3000):
            runner.poll()
            if m1.n_trials >= 1:
                break
            __import__("time").sleep(0.05)
        assert m1.n_trials >= 1, m1
        assert "M1: stopping" in command(runner, "stop M1")
        assert runner.wait(240), [(r.subject, r.phase) for r in runner.runs]
    finally:
        runner.close()
    phases = {r.subject: (r.phase, r.reason) for r in runner.runs}
    assert phases["M1"] == ("aborted", "stopped by the operator"), phases
    assert phases["M2"][0] == "aborted" and "below min_free_mb" in phases["M2"][1], phases
    assert phases["M3"][0] == "aborted" and "ZeroDivisionError" in phases["M3"][1], phases
    for r in runner.runs:
        _ends_with_outputs_off(r.folder)
    assert not (tmp_path / "data" / ".rigctl-locks").exists()


def _cli(args: list[str], **kw):  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "rigctl", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.PIPE, **kw)


def test_a_rig_whose_writes_fail_stops_safely_and_the_other_completes(tmp_path, make_config):
    """A real write failure, deterministic: a 1 MB file-size limit on the experiment (its
    engines inherit it). M2 records a 1 kHz neural signal and reaches the limit; M1, without
    a signal, writes a few kB and completes."""
    import resource
    import signal

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, 1024 * 1024))

    small = make_config({"name": "box-1", "neural_signal": None}, name="box1.yaml")
    big = make_config({"name": "box-2"}, name="box2.yaml")
    path = _experiment(tmp_path, [
        {"id": "M1", "rig": str(small), "parameters": {"n_trials": 10}, "seed": 1},
        {"id": "M2", "rig": str(big), "parameters": {"n_trials": 2000}, "seed": 2},
    ])
    proc = _cli(["experiment", str(path)], preexec_fn=limit)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in out + err
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("M")}
    assert " completed " in lines["M1"] and " 10 trials" in lines["M1"], out
    assert " aborted " in lines["M2"] and "file-size limit" in lines["M2"], out
    from rigctl.data import load_session

    for subject in ("M1", "M2"):
        (folder,) = (tmp_path / "data" / subject).iterdir()
        s = load_session(folder)
        assert s.events[s.events["kind"] == "output"]["name"].iloc[-1] == "all_off"
        assert list(s.trials["trial"]) == list(range(1, len(s.trials) + 1))


def test_ctrl_c_stops_every_rig_with_its_outputs_off(tmp_path, make_config):
    import signal

    a, b = _rigs(make_config, 2)
    path = _experiment(tmp_path, [
        {"id": "M1", "rig": str(a), "parameters": {"n_trials": 100000}, "seed": 1},
        {"id": "M2", "rig": str(b), "parameters": {"n_trials": 100000}, "seed": 2},
    ], realtime=True)
    proc = _cli(["experiment", str(path)])
    assert proc.stdout is not None
    running: set[str] = set()
    for line in proc.stdout:  # not a terminal: one line per change of phase
        if line.endswith(": running\n"):
            running.add(line.split(":")[0])
        if running == {"M1", "M2"}:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "Traceback" not in out + err, (out, err)
    assert "stopping every rig (Ctrl-C)" in out
    from rigctl.data import load_session

    for subject in ("M1", "M2"):
        (folder,) = (tmp_path / "data" / subject).iterdir()
        s = load_session(folder)
        assert s.status == "aborted" and s.metadata["reason"] == "stopped by Ctrl-C"
        assert s.events[s.events["kind"] == "output"]["name"].iloc[-1] == "all_off"


def test_an_experiment_of_fixed_duration_completes_every_rig_and_reports_its_timing(
        tmp_path, make_config):
    a, b = _rigs(make_config, 2)
    fast = {"n_trials": 100000, "iti_s": 0.05, "sample_s": 0.05, "delays_s": [0.1],
            "response_window_s": 1.0, "reward_consumption_s": 0.05, "timeout_s": 0.05}
    path = _experiment(tmp_path, [
        {"id": "M1", "rig": str(a), "parameters": fast, "seed": 1},
        {"id": "M2", "rig": str(b), "parameters": fast, "seed": 2},
    ], realtime=True)
    proc = _cli(["experiment", str(path), "--duration", "3"])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, (out, err)
    from rigctl.data import load_session

    for subject in ("M1", "M2"):
        (folder,) = (tmp_path / "data" / subject).iterdir()
        s = load_session(folder)
        assert s.status == "completed" and s.metadata["duration_s"] == 3
        assert s.events["t_s"].iloc[-1] >= 3.0
        n = s.metadata["timing"]["input_to_output"]["n"]
        assert "timing: input→output" in out and f"(n={n:,})" in out, out
