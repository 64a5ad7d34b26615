"""The command line as a user meets it: run, check, and every bad-input case of issue #2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rigctl.cli import main
from rigctl.data import load_session


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_run_writes_session_folder_and_prints_summary(capsys, sim_yaml, tmp_path):
    code, out, err = run_cli(capsys, "run", str(sim_yaml), "--trials", "30", "--seed", "2",
                             "--data", str(tmp_path), "--subject", "M7")
    assert code == 0
    assert "status: completed" in out and "correct_pct" in out
    assert "trial 30/30" in err  # progress lines when stderr is not a terminal
    (folder,) = (tmp_path / "M7").iterdir()
    assert folder.name.endswith("_delayed_alternation")
    data = load_session(folder)
    assert len(data.trials) == 30 and data.metadata["subject"]["id"] == "M7"
    assert data.metadata["seed"] == 2 and data.metadata["clock"] == "virtual"


def test_check_prints_devices_and_interlocks(capsys, sim_yaml):
    code, out, _ = run_cli(capsys, "check", str(sim_yaml))
    assert code == 0
    assert "sim/valve_left" in out and "ceiling 15 mW" in out and "delayed_alternation" in out


def test_check_of_a_rig_that_names_no_protocol_checks_the_rig_alone(capsys):
    # sim_pycontrol.yaml is kept for users' own tasks: the built-in default task cannot run on
    # it, and checking the rig must not fail on that.
    rig = Path(__file__).resolve().parents[1] / "hardware_configs" / "sim_pycontrol.yaml"
    code, out, err = run_cli(capsys, "check", str(rig))
    assert code == 0 and err == ""
    assert "input    poke_centre: sim/poke_centre" in out
    assert "protocol none: this config names no protocol" in out and "--protocol TASK.py" in out


def _one_line_errors(err: str) -> list[str]:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("rigctl: error: ") for ln in lines), err
    assert "Traceback" not in err
    return lines


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"reward_ports": {"left": {"valve": {"max_open_s": -1}}}},
         "reward_ports.left.valve.max_open_s: Input should be greater than 0"),
        ({"reward_ports": {"left": {"valve": {"max_open_ms": 3}}}},
         "reward_ports.left.valve.max_open_ms: unknown field"),
        ({"laser": {"max_power_mw": "lots"}}, "laser.max_power_mw: Input should be a valid"),
        ({"devices": {"sim": {"type": "labview"}}}, "devices.sim.type: unknown device type"),
        ({"devices": {"sim": {"mouse": {"lapse_rate": 2}}}}, "devices.sim.mouse.lapse_rate"),
        ({"laser": {"channel": "Dev1/ao0"}}, "laser.channel: device 'Dev1' is not listed"),
        ({"cues": {"go": {"channel": "door"}}}, "cues.go.channel: 'door' must be DEVICE/CHANNEL"),
        ({"reward_ports": {"right": {"calibration": {"points": [[10, 5], [20, 3]]}}}},
         "reward_ports.right.calibration.points: volumes must increase"),
    ],
)
def test_bad_config_fields_are_named(capsys, make_config, changes, expected):
    cfg = make_config(changes)
    for command in ("check", "run"):
        code, _, err = run_cli(capsys, command, str(cfg))
        assert code == 2
        lines = _one_line_errors(err)
        assert any(expected in ln and str(cfg) in ln for ln in lines), lines


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"delays_s": [2, -5]}, "protocol.parameters.delays_s.1: Input should be greater than"),
        ({"laser_fraction": 1.5}, "protocol.parameters.laser_fraction: Input should be less"),
        ({"delays_s": []}, "protocol.parameters.delays_s: List should have at least 1 item"),
        ({"laser_fraction": 0.9}, "max_consecutive 3 allows at most 3 laser trials in a row"),
        ({"reward_ul": 30}, "reward_ul: reward_ports.left.calibration: 30 µL is outside"),
        ({"laser_power_mw": 20}, "laser_power_mw: 20 mW is above the rig's laser.max_power_mw"),
        ({"n_trails": 20}, "protocol.parameters.n_trails: unknown field"),
    ],
)
def test_bad_protocol_parameters_are_named(capsys, make_config, tmp_path, params, expected):
    cfg = make_config({"protocol": {"parameters": params}})
    code, _, err = run_cli(capsys, "run", str(cfg))
    assert code == 2
    assert any(expected in ln for ln in _one_line_errors(err)), err
    assert not (tmp_path / "data").exists()  # nothing half-written


def test_bad_protocol_file_and_command_line_values(capsys, sim_yaml, tmp_path):
    pfile = tmp_path / "proto.yaml"
    pfile.write_text(yaml.safe_dump({"name": "delayed_alternation",
                                     "parameters": {"iti_s": -1}}))
    code, _, err = run_cli(capsys, "run", str(sim_yaml), "--protocol", str(pfile))
    assert code == 2 and f"{pfile}: parameters.iti_s: Input should be greater" in err
    code, _, err = run_cli(capsys, "run", str(sim_yaml), "--trials", "0")
    assert code == 2 and "--trials: Input should be greater than or equal to 1" in err
    code, _, err = run_cli(capsys, "run", str(sim_yaml), "--protocol", "delayed_altenation")
    assert code == 2 and "unknown task 'delayed_altenation' (known: delayed_alternation" in err
    code, _, err = run_cli(capsys, "run", str(sim_yaml), "--subject", "bad/id")
    assert code == 2 and "--subject: id: String should match pattern" in err


def test_missing_and_malformed_config(capsys, tmp_path):
    code, _, err = run_cli(capsys, "check", str(tmp_path / "nope.yaml"))
    assert code == 2 and "nope.yaml: file not found" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nreward_ports: [unclosed\n")
    code, _, err = run_cli(capsys, "check", str(bad))
    assert code == 2 and "bad.yaml: line" in _one_line_errors(err)[0]
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    code, _, err = run_cli(capsys, "check", str(empty))
    assert code == 2 and "name: required field is missing" in err


def test_unwritable_data_folder_and_existing_session_folder(capsys, sim_yaml, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(capsys, "run", str(sim_yaml), "--data", str(blocker / "x"))
    # the subject's lock is the first thing written in the data folder
    (line,) = _one_line_errors(err)
    assert code == 2 and "cannot create the lock folder" in line and str(blocker / "x") in line

    from rigctl.data.writer import SessionWriter
    from rigctl.errors import DataError

    SessionWriter(tmp_path / "s", {})
    with pytest.raises(DataError, match="already exists"):
        SessionWriter(tmp_path / "s", {})


def test_cli_process_errors_have_no_traceback(sim_yaml, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run(
        [sys.executable, "-m", "rigctl", "run", str(sim_yaml), "--trials", "-3"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "rigctl: error: command line: --trials: Input should be " \
        "greater than or equal to 1 (got -3)"


# --- what the operator sees: progress, device failures, Ctrl-C (issue #11, section 4) ---------


def test_without_a_terminal_every_trial_prints_a_line(capsys, sim_yaml, tmp_path):
    code, _, err = run_cli(capsys, "run", str(sim_yaml), "--trials", "12", "--seed", "3",
                           "--data", str(tmp_path), "--no-figure")
    assert code == 0
    lines = [ln for ln in err.splitlines() if ln.startswith("trial ")]
    assert [ln.split()[1] for ln in lines] == [f"{i}/12" for i in range(1, 13)]
    assert all("correct so far" in ln for ln in lines)


def test_on_a_terminal_the_progress_bar_shows_an_eta(sim_yaml, tmp_path):
    import pty
    import select

    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "COLUMNS": "120"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rigctl", "run", str(sim_yaml), "--trials", "20", "--seed", "1",
         "--data", str(tmp_path), "--no-figure"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    screen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            pytest.fail("hang guard: no terminal output for 120 s")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    text = screen.decode("utf-8", "replace")
    assert proc.returncode == 0, text
    assert "20/20 trials" in text and "correct" in text
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d\]", text), text  # elapsed<remaining (ETA)
    assert "trial 1/20 " not in text  # no per-trial lines on a terminal
    assert b"status: completed" in out


def _fail_at_trial(monkeypatch, trial: int) -> None:
    from rigctl.errors import DeviceError
    from rigctl.protocols.delayed_alternation import DelayedAlternation

    original = DelayedAlternation.response

    def response(self, event):
        if event == "entry" and self.trial.trial == trial:
            raise DeviceError("device 'sim': stopped answering (simulated fault)")
        original(self, event)

    monkeypatch.setattr(DelayedAlternation, "response", response)


def test_device_failure_has_its_own_exit_code_and_says_where_the_data_is(
        capsys, sim_yaml, tmp_path, monkeypatch):
    from rigctl.errors import EXIT_DEVICE, EXIT_USAGE

    _fail_at_trial(monkeypatch, 5)
    code, out, err = run_cli(capsys, "run", str(sim_yaml), "--trials", "20", "--data",
                             str(tmp_path), "--no-figure")
    assert code == EXIT_DEVICE == 3 and EXIT_DEVICE != EXIT_USAGE
    (folder,) = (tmp_path / "sim-mouse-1").iterdir()
    assert "status: aborted (DeviceError: device 'sim': stopped answering" in out
    assert f"data:   {folder} (4 completed trials kept)" in out
    errs = [ln for ln in err.splitlines() if ln.startswith("rigctl: ")]
    assert errs == ["rigctl: error: device 'sim': stopped answering (simulated fault)"]
    s = load_session(folder)
    assert s.status == "aborted" and len(s.trials) == 4


def test_device_failing_to_open_prints_that_nothing_was_written(capsys, sim_yaml, tmp_path,
                                                                monkeypatch):
    import rigctl.engine.session as session_module
    from rigctl.errors import DeviceError

    def no_device(*_a, **_k):
        raise DeviceError("device 'sim': not found (simulated)")

    monkeypatch.setattr(session_module, "open_rig", no_device)
    code, out, err = run_cli(capsys, "run", str(sim_yaml), "--data", str(tmp_path))
    assert code == 3
    assert out.splitlines() == ["status: not started (DeviceError: device 'sim': not found "
                                "(simulated))", "data:   none written"]
    assert _one_line_errors(err) == ["rigctl: error: device 'sim': not found (simulated)"]
    assert not any(tmp_path.iterdir())


def test_ctrl_c_during_start_up_never_prints_a_traceback(sim_yaml, tmp_path):
    """SIGINT at seeded moments of a fresh `rigctl run`: imports, config, numba, devices, the
    first trials. Each ends in one of three clean ways, never a KeyboardInterrupt traceback."""
    import json
    import random
    import signal
    import time

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    # From 0.25 s: the first few ms, before any rigctl code runs, belong to Python itself
    # (rigctl.entry installs the guard as its first statement).
    moments = sorted(random.Random(20261202).uniform(0.25, 3.0) for _ in range(8))
    outcomes = []
    for i, moment in enumerate(moments):
        data = tmp_path / f"d{i}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "rigctl", "run", str(sim_yaml), "--trials", "200",
             "--data", str(data), "--quiet", "--no-figure"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env)
        time.sleep(moment)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, (moment, err)
        folders = list(data.glob("*/*")) if data.exists() else []
        if not folders:  # interrupted before the session folder existed
            assert proc.returncode == 1 and err.strip() == "rigctl: interrupted", (moment, err)
            assert out == "" or "status: not started (interrupted while starting)" in out
            outcomes.append("before start")
        else:
            assert proc.returncode in (0, 1), (moment, out, err)
            (folder,) = folders
            status = json.loads((folder / "session.json").read_text())["status"]
            assert status in ("aborted", "completed") and f"status: {status}" in out
            outcomes.append(status)
    assert outcomes  # reported by -v runs; every moment above ended cleanly
