"""A config means exactly what a careful reader sees (issue #11, section 2).

Every case here was accepted, crashed or misled before: a repeated key silently won, ``true`` ran
as the number 1, a huge number overflowed the calibration fit, two fields shared one channel, a
schedule contradicted its own run limit, and files and lists had no size bound. Each must now be
one ``rigctl: error:`` line naming the file and the field (or line), with exit code 2, before any
session folder exists.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from rigctl.cli import main
from rigctl.config import load_rig
from tests.conftest import SIM_YAML


def errors(capsys, *args: str) -> list[str]:
    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("rigctl: error: ") for ln in lines), err
    assert "Traceback" not in err
    return lines


def sim_text() -> str:
    return SIM_YAML.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str, name: str = "rig.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def check_and_run(capsys, cfg: Path, tmp_path: Path, *extra: str) -> list[str]:
    """The same refusal from `rigctl check` and `rigctl run`; no data written."""
    check = errors(capsys, "check", str(cfg), *extra)
    data = tmp_path / "data"
    run = errors(capsys, "run", str(cfg), "--data", str(data), "--quiet", "--no-figure", *extra)
    assert check == run
    assert not data.exists()
    return run


# --- repeated keys ------------------------------------------------------------------------------


def test_repeated_laser_ceiling_is_refused_with_both_lines(capsys, tmp_path):
    ceiling = "  max_power_mw: 15        # interlock: power ceiling at the fibre tip"
    text = sim_text().replace(ceiling, "  max_power_mw: 15\n  max_power_mw: 100")
    cfg = write(tmp_path, text)
    first = text.splitlines().index("  max_power_mw: 15") + 1
    (line,) = check_and_run(capsys, cfg, tmp_path)
    assert line == (f"rigctl: error: {cfg}: line {first + 1}: duplicate key 'max_power_mw' "
                    f"(also on line {first}); YAML would silently keep only the last one: "
                    "remove one of them")


def test_repeated_key_in_a_flow_mapping_is_refused(capsys, tmp_path):
    cfg = write(tmp_path, sim_text().replace("{channel: sim/valve_left, max_open_s: 0.5}",
                                             "{channel: sim/valve_left, max_open_s: 0.5, "
                                             "max_open_s: 5}"))
    (line,) = check_and_run(capsys, cfg, tmp_path)
    assert "duplicate key 'max_open_s'" in line and str(cfg) in line


def test_second_laser_section_is_refused(capsys, tmp_path):
    cfg = write(tmp_path, sim_text() + "\nlaser:\n  channel: sim/laser\n  max_power_mw: 100\n")
    (line,) = check_and_run(capsys, cfg, tmp_path)
    laser_lines = [i + 1 for i, ln in enumerate(cfg.read_text().splitlines())
                   if ln.startswith("laser:")]
    assert f"line {laser_lines[1]}: duplicate key 'laser' (also on line {laser_lines[0]})" in line


def test_protocol_file_with_two_names_is_refused(capsys, tmp_path):
    proto = write(tmp_path, "name: delayed_alternation\nparameters: {n_trials: 5}\n"
                            "name: delayed_match_to_sample\n", "proto.yaml")
    (line,) = errors(capsys, "run", str(SIM_YAML), "--protocol", str(proto), "--data",
                     str(tmp_path / "d"), "--quiet", "--no-figure")
    assert line.startswith(f"rigctl: error: {proto}: line 3: duplicate key 'name' (also on line 1)")
    assert not (tmp_path / "d").exists()


def test_calibration_is_not_written_into_a_file_with_a_repeated_key(capsys, tmp_path):
    from rigctl.config.calibration import ValveCalibrationConfig, write_calibration
    from rigctl.errors import ConfigError

    text = sim_text().replace("name: sim-rig-1", "name: sim-rig-1\nname: sim-rig-2")
    cfg = write(tmp_path, text)
    (line,) = errors(capsys, "calibrate", "valve", str(cfg), "--port", "left", "--measured",
                     "230,460,700,950", "--virtual-time", "--date", "2026-12-01")
    assert "line 4: duplicate key 'name' (also on line 3)" in line
    record = ValveCalibrationConfig(points=[(10, 1.0), (20, 2.0)])
    with pytest.raises(ConfigError, match="duplicate key 'name'"):
        write_calibration(cfg, record, side="left")
    assert cfg.read_text() == text


def test_merge_keys_may_still_override(tmp_path):
    """A YAML merge (<<: *base) overriding a key is what YAML means, not a repeated key."""
    text = sim_text().replace(
        "    valve: {channel: sim/valve_right, max_open_s: 0.5}",
        "    valve: {<<: {channel: sim/valve_right, max_open_s: 0.3}, max_open_s: 0.4}")
    cfg = load_rig(str(write(tmp_path, text)))
    assert cfg.reward_ports.right.valve.max_open_s == 0.4


# --- booleans where a number is meant -----------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("    n_trials: 200", "    n_trials: true", "protocol.parameters.n_trials"),
        ("  max_power_mw: 15 ", "  max_power_mw: true ", "laser.max_power_mw"),
        ("    delays_s: [2, 5, 10]", "    delays_s: [2, false]", "protocol.parameters.delays_s.1"),
        ("[[10, 1.1], [30, 3.4]", "[[10, 1.1], [true, 3.4]",
         "reward_ports.right.calibration.points.1.0"),
        ("lapse_rate: 0.06", "lapse_rate: true", "devices.sim.mouse.lapse_rate"),
    ],
)
def test_booleans_are_not_numbers(capsys, tmp_path, old, new, field):
    text = sim_text()
    assert old in text
    cfg = write(tmp_path, text.replace(old, new, 1))
    (line,) = check_and_run(capsys, cfg, tmp_path)
    assert line.startswith(f"rigctl: error: {cfg}: {field}: must be a number, not ")


def test_a_boolean_parameter_still_takes_a_boolean(tmp_path):
    text = sim_text().replace("    n_trials: 200", "    n_trials: 200\n    correction_trials: true")
    from rigctl.catalog.loading import resolve_protocol

    cfg_path = write(tmp_path, text)
    spec = resolve_protocol(None, load_rig(str(cfg_path)), str(cfg_path))
    assert spec.params.correction_trials is True


# --- astronomical numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "field"),
    [
        ("[[1.34e154, 12.3], [30, 3.4]]", "reward_ports.right.calibration.points.0.0"),
        ("[[1.0e+154, 12.3], [1.4e+154, 13.4]]", "reward_ports.right.calibration.points.0.0"),
        ("[[100, 1.0], [200, 1.0e+308]]", "reward_ports.right.calibration.points.1.1"),
    ],
)
def test_huge_calibration_points_are_one_line_naming_the_field(capsys, tmp_path, points, field):
    cfg = write(tmp_path, sim_text().replace("[[10, 1.1], [30, 3.4], [60, 7.1], [100, 12.3]]",
                                             points))
    lines = check_and_run(capsys, cfg, tmp_path)
    assert lines[0].startswith(f"rigctl: error: {cfg}: {field}: Input should be less than")


def test_fit_of_huge_values_never_overflows():
    """Was OverflowError at `span**2` (a 29-line traceback through `rigctl check`)."""
    from rigctl.hardware.calibration import CalibrationError, fit_monotone

    for pts in ([(10, 1.0), (1.4e154, 12.3)], [(1e-300, 1.0), (1.7e308, 2.0)],
                [(0, 0.0), (1, 1e308), (2, 1.7e308)]):
        try:
            fit = fit_monotone(pts)
        except CalibrationError as exc:
            assert "too large" in str(exc) or "does not rise" in str(exc)
        else:
            assert all(abs(c) < float("inf") for c in fit.coefficients)


def test_huge_integer_is_shown_short(capsys, tmp_path):
    cfg = write(tmp_path, sim_text().replace("    n_trials: 200", "    n_trials: " + "9" * 400))
    (line,) = check_and_run(capsys, cfg, tmp_path)
    assert "protocol.parameters.n_trials: Input should be less than or equal to 100000" in line
    assert len(line) < 250 and "(400 chars)" in line


# --- one channel, one use -----------------------------------------------------------------------


def test_laser_on_a_valve_line_is_refused_naming_both_fields(capsys, tmp_path):
    cfg = write(tmp_path, sim_text().replace("  channel: sim/laser", "  channel: sim/valve_left"))
    (line,) = check_and_run(capsys, cfg, tmp_path)
    assert line == (f"rigctl: error: {cfg}: laser.channel: 'sim/valve_left' is also "
                    "reward_ports.left.valve.channel; each channel may be used by one field only "
                    "(give each its own channel)")


def test_both_ports_on_the_same_valve_and_lick_lines_are_refused(capsys, tmp_path):
    text = (sim_text().replace("channel: sim/valve_right", "channel: sim/valve_left")
            .replace("channel: sim/lick_right", "channel: sim/lick_left"))
    lines = check_and_run(capsys, write(tmp_path, text), tmp_path)
    assert len(lines) == 2
    assert ("reward_ports.right.valve.channel: 'sim/valve_left' is also "
            "reward_ports.left.valve.channel") in lines[0]
    assert ("reward_ports.right.lick_sensor.channel: 'sim/lick_left' is also "
            "reward_ports.left.lick_sensor.channel") in lines[1]


def test_channel_names_differing_only_in_case_are_the_same_channel(capsys, tmp_path):
    cfg = write(tmp_path, sim_text().replace("go: {channel: sim/door}",
                                             "go: {channel: sim/LIGHT}"))
    (line,) = check_and_run(capsys, cfg, tmp_path)
    assert "cues.go.channel: 'sim/LIGHT' is also cues.trial_start.channel" in line


# --- schedules that contradict themselves -------------------------------------------------------


def test_all_laser_trials_with_a_run_limit_of_one_is_refused(capsys, tmp_path):
    text = sim_text().replace("    laser_fraction: 0.5\n    max_consecutive: 3",
                              "    laser_fraction: 1\n    max_consecutive: 1")
    (line,) = check_and_run(capsys, write(tmp_path, text), tmp_path)
    assert ("protocol.parameters: laser_fraction 1 makes all 200 trials laser trials, but "
            "max_consecutive 1 allows at most 1 laser trials in a row") in line


def test_rare_laser_trials_get_a_message_a_scientist_can_act_on(capsys, tmp_path):
    text = sim_text().replace("    laser_fraction: 0.5", "    laser_fraction: 0.01")
    (line,) = check_and_run(capsys, write(tmp_path, text), tmp_path)
    assert "[0.5, 0.5]" not in line and "[0.25, 0.75]" not in line
    assert "laser_fraction 0.01 means about 99 control trials for each laser trial" in line
    assert "choose laser_fraction between 0.25 and 0.75, or raise max_consecutive to 99" in line


# --- size limits --------------------------------------------------------------------------------


def test_a_huge_protocol_file_is_refused_before_it_is_read(capsys, tmp_path):
    proto = tmp_path / "big.yaml"
    with proto.open("w") as f:
        f.write("name: delayed_alternation\nparameters:\n  delays_s: [")
        f.write("1, " * 1_000_000)
        f.write("1]\n")
    t0 = time.perf_counter()
    (line,) = errors(capsys, "run", str(SIM_YAML), "--protocol", str(proto), "--data",
                     str(tmp_path / "d"), "--quiet", "--no-figure")
    if time.perf_counter() - t0 > 60:  # hang guard, not a speed test
        pytest.fail("the oversized file was parsed instead of refused by its size")
    assert line == (f"rigctl: error: {proto}: file is 3.0 MB; a rig config or protocol file is "
                    "at most 1 MB (is this the right file?)")


def test_too_many_delays_are_refused(capsys, tmp_path):
    proto = write(tmp_path, "name: delayed_alternation\nparameters:\n  delays_s: ["
                  + ", ".join(["2"] * 101) + "]\n", "proto.yaml")
    (line,) = errors(capsys, "run", str(SIM_YAML), "--protocol", str(proto), "--data",
                     str(tmp_path / "d"), "--quiet", "--no-figure")
    assert "parameters.delays_s: List should have at most 100 items" in line


def test_too_many_calibration_points_are_refused(capsys, tmp_path):
    points = "[" + ", ".join(f"[{i + 1}, {0.1 * (i + 1):.1f}]" for i in range(101)) + "]"
    cfg = write(tmp_path, sim_text().replace("[[10, 1.1], [30, 3.4], [60, 7.1], [100, 12.3]]",
                                             points))
    (line,) = check_and_run(capsys, cfg, tmp_path)
    assert "reward_ports.right.calibration.points: List should have at most 100 items" in line


def test_alias_bomb_and_self_reference_are_refused(capsys, tmp_path):
    levels = ["x0: &x0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = write(tmp_path, "name: x\n" + "\n".join(levels) + "\n", "bomb.yaml")
    (line,) = errors(capsys, "check", str(bomb))
    assert "holds more than 200,000 values once its aliases (*name) are expanded" in line
    loop = write(tmp_path, "name: x\nreward_ports: &a {left: *a}\n", "loop.yaml")
    (line,) = errors(capsys, "check", str(loop))
    assert "refers to a value that contains it" in line


def test_shipped_configs_still_load(tmp_path):
    for cfg in sorted((SIM_YAML.parent).glob("*.yaml")):
        copy = tmp_path / cfg.name
        shutil.copyfile(cfg, copy)
        load_rig(str(copy))
