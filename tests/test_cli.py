"""The command line as a user meets it: run, check, and every bad-input case of issue #2."""

from __future__ import annotations

import os
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
        ({"laser_fraction": 0.9}, "needs runs longer than max_consecutive"),
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
    assert code == 2 and "cannot create session folder" in _one_line_errors(err)[0]

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
