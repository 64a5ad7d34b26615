"""Calibration: the monotone fit, the no-extrapolation rule, and `rigctl calibrate` end to end.

Done-when of issue 4: calibration round trips (fit → µL → ms → µL within 2%).
"""

from __future__ import annotations

import datetime as dt
import difflib
import io
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rigctl.cli import main
from rigctl.config import load_rig
from rigctl.config.calibration import (
    LaserCalibrationConfig,
    ValveCalibrationConfig,
    write_calibration,
)
from rigctl.errors import ConfigError, InterlockError
from rigctl.hardware.calibration import (
    CalibrationError,
    LaserCurve,
    MonotoneFit,
    ValveCurve,
    command_for_mw,
    command_waveform,
    fit_monotone,
    laser_record,
    parse_amount,
    valve_record,
)

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- the fit ----------------------------------------------------------------------------------


def _true_curve(draw_p, lo, hi):
    """A non-negative, non-decreasing quadratic on [lo, hi] from basis weights p >= 0."""
    p0, p1, p2 = draw_p

    def f(x):
        u = (np.asarray(x, dtype=float) - lo) / (hi - lo)
        return p0 + p1 * (u - u * u / 2) + p2 * u * u / 2

    return f


noisy_sets = st.tuples(
    st.tuples(st.floats(0, 5), st.floats(0.05, 20), st.floats(0, 20)),  # p0, p1, p2
    st.floats(0, 50), st.floats(5, 200),                                # lo, span
    st.integers(2, 8),                                                  # points
    st.lists(st.floats(-0.15, 0.15), min_size=8, max_size=8),           # relative noise
)


@SETTINGS
@given(noisy_sets)
def test_fit_is_monotone_and_non_negative_on_noisy_data(case):
    p, lo, span, n, noise = case
    hi = lo + span
    x = np.linspace(lo, hi, n)
    y = _true_curve(p, lo, hi)(x) * (1 + np.array(noise[:n]))  # may well not be monotone
    try:
        fit = fit_monotone(list(zip(x, y, strict=True)))
    except CalibrationError:
        assume(False)  # noise flattened everything: refusing is right
    grid = np.linspace(lo, hi, 401)
    values = fit(grid)
    tol = 1e-9 * max(1.0, np.abs(values).max())
    assert np.all(np.diff(values) >= -tol)
    assert values[0] >= -tol
    assert fit.is_monotone(slack=1e-9)


monotone_sets = st.lists(
    st.tuples(st.floats(1, 60), st.floats(0.05, 3)), min_size=2, max_size=8
)  # (ms step, µL step): strictly increasing points by construction


def _points(steps, start_ms=5.0, start_ul=0.3):
    ms, ul, pts = start_ms, start_ul, []
    for dms, dul in steps:
        pts.append((ms, ul))
        ms, ul = ms + dms, ul + dul
    return pts


@SETTINGS
@given(monotone_sets, st.integers(1, 200))
def test_round_trip_fit_ul_ms_ul_within_2_percent(steps, openings):
    """Done-when: fit → µL → ms → µL within 2% across the calibrated range."""
    pts = _points(steps)
    record = valve_record([m for m, _ in pts], [u * openings for _, u in pts], openings)
    curve = ValveCurve(record, name="reward_ports.left.calibration")
    lo, hi = curve.ul_range
    for ul in np.linspace(lo, hi, 25):
        ms = curve.ms_for_ul(ul)
        assert curve.ms_range[0] <= ms <= curve.ms_range[1]
        assert curve.ul_for_ms(ms) == pytest.approx(ul, rel=0.02)
        assert curve.ul_for_ms(ms) == pytest.approx(ul, rel=1e-9, abs=1e-12)  # in fact exact


@SETTINGS
@given(monotone_sets)
def test_points_only_curve_and_stored_fit_agree(steps):
    """Old configs (points only) are fitted at load; the stored fit gives the same open times."""
    pts = _points(steps)
    from_points = ValveCurve(pts)
    record = valve_record([m for m, _ in pts], [u for _, u in pts], 1)
    from_record = ValveCurve(record)
    lo, hi = from_record.ul_range
    for ul in np.linspace(lo, hi, 9)[1:-1]:
        assert from_points.ms_for_ul(ul) == pytest.approx(from_record.ms_for_ul(ul), rel=1e-3)


def test_fit_recovers_a_known_valve_within_2_percent():
    rng = np.random.default_rng(4)
    true = MonotoneFit((-0.15, 0.095, 0.0004), (15.0, 90.0))  # a dead time and a convex rise
    ms = np.array([15, 30, 45, 60, 75, 90], dtype=float)
    ul = true(ms) * (1 + rng.normal(0, 0.005, ms.size))
    fit = fit_monotone(list(zip(ms, ul, strict=True)))
    grid = np.linspace(15, 90, 50)
    assert np.allclose(fit(grid), true(grid), rtol=0.02)


def test_fit_follows_a_saturating_laser():
    """Concave curves are monotone quadratics too (the basis has slopes at both ends)."""
    cmd = np.array([0.5, 1, 2, 3, 4, 5])
    mw = 12 * (1 - np.exp(-cmd / 3))
    fit = fit_monotone(list(zip(cmd, mw, strict=True)))
    assert fit.coefficients[2] < 0
    assert np.allclose(fit(cmd), mw, rtol=0.03)


def test_two_points_make_a_line_and_bad_data_is_refused():
    fit = fit_monotone([(20, 2.0), (60, 6.5)])
    assert fit.coefficients[2] == 0
    assert fit(20) == pytest.approx(2.0) and fit(60) == pytest.approx(6.5)
    with pytest.raises(CalibrationError, match="at least two"):
        fit_monotone([(20, 2.0)])
    with pytest.raises(CalibrationError, match="measured once"):
        fit_monotone([(20, 2.0), (20, 2.1)])
    with pytest.raises(CalibrationError, match="does not rise"):
        fit_monotone([(20, 3.0), (60, 1.0)])
    with pytest.raises(CalibrationError, match="40 ms gave 2.9 µL per opening, not more than"):
        valve_record([20, 40, 60], [300, 290, 700], 100)
    with pytest.raises(CalibrationError, match="at least two"):
        valve_record([20], [300], 100)


# --- the no-extrapolation rule and config compatibility ----------------------------------------


def test_rewards_outside_the_calibrated_range_are_refused_with_port_and_range():
    curve = ValveCurve(valve_record([20, 40, 60, 80], [220, 450, 700, 950], 100),
                       name="reward_ports.left.calibration")
    lo, hi = curve.ul_range
    assert lo == pytest.approx(2.2, rel=0.01) and hi == pytest.approx(9.5, rel=0.01)
    for ul in (lo * 0.99, hi * 1.01, 0.0, 50.0):
        with pytest.raises(InterlockError) as info:
            curve.ms_for_ul(ul)
        msg = str(info.value)
        assert msg.startswith("reward_ports.left.calibration: ")
        assert "outside the calibrated range" in msg and f"{lo:g}-{hi:g} µL" in msg
    assert curve.ms_for_ul(lo) == pytest.approx(20) and curve.ms_for_ul(hi) == pytest.approx(80)
    # The volume of an opening outside the calibrated times is only an estimate, held at the ends
    assert curve.ul_for_ms(5) == pytest.approx(lo) and curve.ul_for_ms(500) == pytest.approx(hi)


def test_old_points_configs_still_load(sim_yaml, make_config):
    cfg = load_rig(str(sim_yaml))  # the shipped config: points only
    cal = cfg.reward_ports.left.calibration
    assert cal.fit is None and cal.points[0] == (10.0, 1.0)
    assert cal.date == dt.date(2026, 11, 27)
    curve = ValveCurve(cal.points, name="x")  # the call rig.py makes
    assert curve.ms_for_ul(4.0) == pytest.approx(ValveCurve(cal).ms_for_ul(4.0))
    assert 30 < curve.ms_for_ul(4.0) < 40
    # unquoted dates (YAML 1.1 dates) and unsorted points load too
    path = make_config({"reward_ports": {"left": {"calibration": {
        "points": [[60, 6.9], [10, 1.0], [30, 3.2]], "date": dt.date(2026, 1, 2)}}}})
    cal = load_rig(str(path)).reward_ports.left.calibration
    assert cal.points == [(10.0, 1.0), (30.0, 3.2), (60.0, 6.9)]
    assert cal.date == dt.date(2026, 1, 2)


def test_stored_fit_must_match_its_points(make_config):
    good = valve_record([20, 40, 60, 80], [220, 450, 700, 950], 100)
    fit = good.fit.model_dump()
    path = make_config({"reward_ports": {"left": {"calibration": {
        "points": [list(p) for p in good.points], "fit": fit}}}})
    assert load_rig(str(path)).reward_ports.left.calibration.fit == good.fit
    edited = {**fit, "coefficients": [0.0, 0.2, 0.0]}  # somebody "corrected" the fit by hand
    path = make_config({"reward_ports": {"left": {"calibration": {
        "points": [list(p) for p in good.points], "fit": edited}}}})
    with pytest.raises(ConfigError, match=r"reward_ports\.left\.calibration: fit: does not "
                                          r"match the measured points"):
        load_rig(str(path))
    path = make_config({"reward_ports": {"left": {"calibration": {
        "points": [list(p) for p in good.points],
        "fit": {**fit, "coefficients": [20.0, -0.2, 0.0]}}}}})
    with pytest.raises(ConfigError, match="not increasing"):
        load_rig(str(path))


# --- laser --------------------------------------------------------------------------------------


def _laser_cfg(make_config, record: LaserCalibrationConfig | None, **changes):
    laser = {"calibration": None if record is None else record.model_dump(mode="json"), **changes}
    return load_rig(str(make_config({"laser": laser}))).laser


def test_laser_command_for_mw_round_trips_and_refuses_outside(make_config):
    record = laser_record([0, 1, 2, 3, 4, 5], [0, 2.2, 4.9, 7.4, 9.8, 12.1], "V")
    la = _laser_cfg(make_config, record, max_power_mw=10)
    curve = LaserCurve(la.calibration)
    for mw in (0.5, 2.2, 5.0, 9.9):
        volts = command_for_mw(la, mw)
        assert 0 <= volts <= 5
        assert curve.mw_for_command(volts) == pytest.approx(mw, rel=1e-9)
    assert command_for_mw(la, 0) == 0.0
    with pytest.raises(InterlockError, match="above laser.max_power_mw = 10 mW"):
        command_for_mw(la, 11)  # inside the calibration, above the ceiling
    with pytest.raises(InterlockError, match="must be >= 0"):
        command_for_mw(la, -1)
    narrow = _laser_cfg(make_config, laser_record([1, 2, 3], [2.0, 4.8, 7.5], "V"))
    with pytest.raises(InterlockError, match=r"laser.calibration: 1 mW is outside the "
                                             r"calibrated range 2-7.5 mW"):
        command_for_mw(narrow, 1)
    with pytest.raises(InterlockError, match="calibrated range"):
        command_for_mw(narrow, 8)
    with pytest.raises(InterlockError, match="run `rigctl calibrate laser"):
        command_for_mw(_laser_cfg(make_config, None), 5)


def test_laser_waveform_ramps_below_the_calibrated_range_towards_zero(make_config):
    la = _laser_cfg(make_config, laser_record([1, 2, 3, 4], [2.0, 4.8, 7.5, 10.0], "V"))
    ramp = np.linspace(6.0, 0.0, 61)
    volts = command_waveform(la, ramp)
    assert volts[0] == pytest.approx(command_for_mw(la, 6.0))
    assert volts[-1] == 0.0 and np.all(np.diff(volts) <= 1e-12)
    assert np.all(volts[ramp < 2.0] <= 1.0)  # below the lowest calibrated command
    with pytest.raises(InterlockError, match="max_power_mw"):
        command_waveform(la, np.array([1.0, 20.0]))


def test_parse_amount_units():
    assert parse_amount("213.5") == 213.5
    assert parse_amount(" 213.5 mg ") == 213.5
    assert parse_amount("0.2135 g") == pytest.approx(213.5)
    assert parse_amount("210µL") == 210 and parse_amount("210 ul") == 210
    assert parse_amount("250", default_unit="ul") == 250
    for bad in ("abc", "", "12 kg", "-3", "nan"):
        with pytest.raises(CalibrationError):
            parse_amount(bad)


# --- writing the config -------------------------------------------------------------------------


def test_write_keeps_a_plain_pyyaml_file_valid(make_config):
    path = make_config({})  # written by PyYAML: block style, no comments
    record = valve_record([20, 40, 60], [220, 450, 700], 100, dt.date(2026, 3, 4))
    write_calibration(path, record, side="right")
    write_calibration(path, laser_record([1, 2, 4], [0.8, 1.7, 3.5], "mW", dt.date(2026, 3, 4)),
                      None)
    cfg = load_rig(str(path))
    assert cfg.reward_ports.right.calibration == record
    assert cfg.laser.calibration.points == [(1.0, 0.8), (2.0, 1.7), (4.0, 3.5)]
    assert cfg.reward_ports.left.calibration.fit is None  # the other port is untouched
    text = path.read_text()
    assert 'date: "2026-03-04"' in text  # quoted: PyYAML would read a bare date as a date
    # and again: the record is replaced in place, not duplicated
    write_calibration(path, valve_record([20, 40], [220, 450], 100, dt.date(2026, 3, 5)),
                      side="right")
    assert load_rig(str(path)).reward_ports.right.calibration.points == [(20, 2.2), (40, 4.5)]
    assert path.read_text().count("openings:") == 1


def test_write_refuses_a_config_without_laser(make_config):
    path = make_config({})
    data = yaml.safe_load(path.read_text())
    del data["laser"]
    data["protocol"]["parameters"]["stim_mode"] = "off"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="no laser section"):
        write_calibration(path, laser_record([1, 2], [1, 2], "mW"), None)
    assert path.read_bytes() == before


# --- `rigctl calibrate` end to end ----------------------------------------------------------------


@pytest.fixture
def rig_copy(sim_yaml, tmp_path) -> Path:
    """A byte-for-byte copy of the shipped sim.yaml, comments and all."""
    path = tmp_path / "rig.yaml"
    shutil.copyfile(sim_yaml, path)
    return path


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


MEASURED = "230,460,700,950"  # mg for 100 openings at 20, 40, 60, 80 ms


def _changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0))
    removed = [ln[1:] for ln in diff if ln.startswith("-") and not ln.startswith("---")]
    added = [ln[1:] for ln in diff if ln.startswith("+") and not ln.startswith("+++")]
    return removed, added


def _valve_ms(folder: Path, side: str) -> list[float]:
    from rigctl.data import load_session

    ev = load_session(folder).events
    rows = ev[(ev["kind"] == "output") & (ev["name"] == f"valve_{side}")]
    return [float(v.removesuffix("ms")) for v in rows["value"]]


def _session(capsys, config: Path, data: Path) -> Path:
    code, out, _ = run_cli(capsys, "run", str(config), "--trials", "12", "--seed", "5",
                           "--data", str(data), "--quiet")
    assert code == 0, out
    (folder,) = data.glob("*/*")
    return folder


def test_calibrate_valve_end_to_end_updates_yaml_and_sessions_use_it(capsys, rig_copy, tmp_path):
    before = rig_copy.read_text()
    old_expected = ValveCurve(load_rig(str(rig_copy)).reward_ports.left.calibration).ms_for_ul(4)
    old_folder = _session(capsys, rig_copy, tmp_path / "before")

    # The measurement date is an input (never the calendar of the machine running the test).
    code, out, err = run_cli(capsys, "calibrate", "valve", str(rig_copy), "--port", "left",
                             "--measured", MEASURED, "--virtual-time", "--date", "2027-01-05")
    assert code == 0, err
    assert "fit: µL = " in out and "residual" in out and "wrote reward_ports.left" in out
    assert "(2027-01-05)" in out

    after = rig_copy.read_text()
    removed, added = _changed_lines(before, after)
    # nothing but the points and the date changed
    assert [ln.split(":")[0].strip() for ln in removed] == ["points", "date"]
    assert "# [open ms, µL per opening]" in added[0]  # the comment on the changed line is kept
    for line in before.splitlines():  # every comment of the file is still there
        if line.lstrip().startswith("#"):
            assert line in after.splitlines()
    assert '      date: "2027-01-05"' in after.splitlines()

    cfg = load_rig(str(rig_copy))
    cal = cfg.reward_ports.left.calibration
    assert cal.points == [(20, 2.3), (40, 4.6), (60, 7.0), (80, 9.5)] and cal.openings == 100
    assert cal.fit is not None and cal.date == dt.date(2027, 1, 5)
    assert cfg.reward_ports.right.calibration.fit is None

    new_folder = _session(capsys, rig_copy, tmp_path / "after")
    expected = ValveCurve(cal).ms_for_ul(4.0)  # the protocol's default reward
    left_new, left_old = _valve_ms(new_folder, "left"), _valve_ms(old_folder, "left")
    assert left_new and left_old
    assert all(v == pytest.approx(expected, abs=1e-3) for v in left_new)
    assert all(v == pytest.approx(old_expected, abs=1e-3) for v in left_old)
    assert abs(expected - old_expected) > 1.0  # the recalibration did change the open time


def test_calibrate_valve_reads_stdin(capsys, rig_copy, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("230\n460 mg\n0.7 g\n950 µL\n"))
    code, out, err = run_cli(capsys, "calibrate", "valve", str(rig_copy), "--port", "right",
                             "--virtual-time", "--openings", "100")
    assert code == 0, err
    assert "water from 100 openings of 20 ms" in out
    cal = load_rig(str(rig_copy)).reward_ports.right.calibration
    assert cal.points == [(20, 2.3), (40, 4.6), (60, 7.0), (80, 9.5)]


def test_calibrate_valve_measurements_file_and_dry_run(capsys, rig_copy, tmp_path):
    file = tmp_path / "weights.txt"
    file.write_text("# ms  mg\n20 230\n40, 460\n60 700 mg\n80\t950\n")
    before = rig_copy.read_bytes()
    code, out, err = run_cli(capsys, "calibrate", "valve", str(rig_copy), "--port", "left",
                             "--measurements", str(file), "--virtual-time", "--dry-run")
    assert code == 0, err
    assert "dry run" in out and rig_copy.read_bytes() == before
    code, _, err = run_cli(capsys, "calibrate", "valve", str(rig_copy), "--port", "left",
                           "--measurements", str(file), "--virtual-time")
    assert code == 0, err
    assert load_rig(str(rig_copy)).reward_ports.left.calibration.points[-1] == (80, 9.5)


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["--measured", "230,abc,700,950"], None, "--measured: 'abc' is not a number"),
        (["--measured", "230,220,700,950"], None,
         "40 ms gave 2.2 µL per opening, not more than 20 ms (2.3 µL per opening)"),
        (["--times", "20", "--measured", "230"], None, "at least two open times"),
        (["--measured", "230,460,700"], None, "3 values for 4 open times"),
        (["--times", "20,40,600"], None, "600 ms is above reward_ports.left.valve.max_open_s"),
        (["--times", "20,x"], None, "--times: 'x' is not a number"),
        (["--openings", "0"], None, "openings must be at least 1"),
        ([], "230\n4x6\n", "measurement: '4x6' is not a number"),
        ([], "230\n", "input ended before the calibration was complete"),
        ([], "230\n200\n700\n950\n", "measurements must increase with the command"),
    ],
)
def test_calibrate_valve_bad_input_is_one_line_and_leaves_the_file(
    capsys, monkeypatch, rig_copy, args, stdin, expected,
):
    before = rig_copy.read_bytes()
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code, _, err = run_cli(capsys, "calibrate", "valve", str(rig_copy), "--port", "left",
                           "--virtual-time", *args)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("rigctl: error: "), err
    assert expected in lines[0] and "Traceback" not in err
    assert rig_copy.read_bytes() == before


def test_calibrate_unknown_port_and_bad_config(capsys, rig_copy, tmp_path):
    before = rig_copy.read_bytes()
    code, _, err = run_cli(capsys, "calibrate", "valve", str(rig_copy), "--port", "middle",
                           "--measured", MEASURED)
    assert code == 2 and err.strip() == "rigctl: error: unknown port 'middle' (ports: left, right)"
    assert rig_copy.read_bytes() == before
    code, _, err = run_cli(capsys, "calibrate", "valve", str(tmp_path / "nope.yaml"), "--port",
                           "left")
    assert code == 2 and "nope.yaml: file not found" in err


def test_calibrate_laser_on_the_simulated_rig(capsys, rig_copy):
    before = rig_copy.read_text()
    code, out, err = run_cli(capsys, "calibrate", "laser", str(rig_copy), "--virtual-time",
                             "--commands", "1,2,4,8,12", "--on-s", "1",
                             "--measured", "0.8,1.6,3.3,6.5,9.9", "--date", "2026-02-28")
    assert code == 0, err
    assert "simulated laser has no analog input" in out and "set-point" in out
    cfg = load_rig(str(rig_copy))
    cal = cfg.laser.calibration
    assert cal.command_unit == "mW" and cal.date == dt.date(2026, 2, 28)
    assert cal.points[-1] == (12, 9.9)
    # 5 mW at the fibre tip needs a set-point above 5 mW (the measured losses)
    assert 6 < command_for_mw(cfg.laser, 5.0) < 6.4
    removed, added = _changed_lines(before, rig_copy.read_text())
    assert removed == [] and added[0] == "  calibration:"
    text = rig_copy.read_text()
    assert text.index("  calibration:\n    command_unit") < text.index("\ncues:")
    assert "\n\ncues:" in text  # the blank line before the next section stays where it was


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--commands", "1,2,20", "--measured", "1,2,3"], "20 mW is above laser.max_power_mw"),
        (["--commands", "1,2", "--measured", "2,1"], "2 mW gave 1 mW, not more than 1 mW"),
        (["--commands", "1,2", "--measured", "1,x"], "--measured: 'x' is not a number"),
        (["--commands", "1,2", "--on-s", "40", "--measured", "1,2"], "above laser.max_on_s"),
    ],
)
def test_calibrate_laser_bad_input(capsys, rig_copy, args, expected):
    before = rig_copy.read_bytes()
    code, _, err = run_cli(capsys, "calibrate", "laser", str(rig_copy), "--virtual-time", *args)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in err
    assert rig_copy.read_bytes() == before


def test_calibrated_records_validate_like_configs():
    with pytest.raises(ValueError, match="volumes must increase"):
        ValveCalibrationConfig(points=[(10, 2.0), (20, 1.0)])
    with pytest.raises(ValueError, match="power"):
        LaserCalibrationConfig(command_unit="V", points=[(1, 2.0), (2, 2.0)])


class _FixedDate(dt.date):
    """A ``date`` whose today() is a fixed day, standing in for the machine's calendar."""

    @classmethod
    def today(cls):  # noqa: ANN206 - mirrors date.today
        return cls(2031, 7, 14)


def test_calibration_date_defaults_to_the_calendar_day_of_the_run(capsys, rig_copy, monkeypatch):
    import types

    import rigctl.commands.calibrate as calibrate

    monkeypatch.setattr(calibrate, "dt", types.SimpleNamespace(date=_FixedDate))
    code, out, err = run_cli(capsys, "calibrate", "valve", str(rig_copy), "--port", "right",
                             "--measured", MEASURED, "--virtual-time")
    assert code == 0, err
    assert load_rig(str(rig_copy)).reward_ports.right.calibration.date == dt.date(2031, 7, 14)


def test_calibration_date_that_is_not_a_date_is_a_usage_error(capsys, rig_copy):
    before = rig_copy.read_bytes()
    with pytest.raises(SystemExit) as exc:
        main(["calibrate", "valve", str(rig_copy), "--port", "left", "--measured", MEASURED,
              "--virtual-time", "--date", "27/11/2026"])
    assert exc.value.code == 2
    assert "'27/11/2026' is not a date like 2026-11-27" in capsys.readouterr().err
    assert rig_copy.read_bytes() == before
