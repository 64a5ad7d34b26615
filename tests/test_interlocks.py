"""Interlocks from the rig config hold on the simulated rig, whatever the protocol asks."""

from __future__ import annotations

import numpy as np
import pytest

from rigctl.errors import InterlockError
from rigctl.hardware.calibration import ValveCurve
from tests.conftest import run_sim


def test_laser_max_on_time_cuts_a_long_delay(make_config, tmp_path):
    cfg = make_config({"laser": {"max_on_s": 1.5}})
    params = {"n_trials": 30, "delays_s": [5], "stim_mode": "open_loop"}
    _, data, session = run_sim(cfg, tmp_path / "x", seed=2, params=params)
    rec = session.rig.events.record.laser
    ons = [t for t, _, k in rec if k == "on"]
    ramps = [t for t, _, k in rec if k == "ramp"]
    assert len(ons) == len(ramps) > 5
    assert np.allclose(np.array(ramps) - np.array(ons), 1.5)
    cuts = data.events[data.events["kind"] == "interlock"]
    assert len(cuts) == len(ons) and cuts["value"].str.contains("max_on_s").all()


def test_laser_refuses_power_above_ceiling(sim_yaml, tmp_path):
    _, _, session = run_sim(sim_yaml, tmp_path, seed=1, params={"n_trials": 2})
    laser = session.rig.laser
    with pytest.raises(InterlockError, match="max_power_mw"):
        laser.on(15.5)
    with pytest.raises(InterlockError):
        laser.on(0.0)


def test_valve_open_time_is_capped_and_calibration_never_extrapolates(make_config, tmp_path):
    cfg = make_config({"reward_ports": {"left": {"valve": {"max_open_s": 0.05}}}})
    _, _, session = run_sim(cfg, tmp_path / "y", seed=1, params={"n_trials": 2})
    port = session.rig.ports["left"]
    with pytest.raises(InterlockError, match="max_open_s"):
        port.deliver(6.0)  # 6 µL needs ~52 ms on this valve
    with pytest.raises(InterlockError, match="calibrated range"):
        port.deliver(0.5)
    curve = ValveCurve([(10, 1.0), (30, 3.2), (60, 6.9)])
    for ul in (1.0, 2.0, 4.4, 6.9):
        assert curve.ul_for_ms(curve.ms_for_ul(ul)) == pytest.approx(ul)


# --- the laser calibration is enforced on every path (issue 11 §3) ---------------------------


def _calibrated_copy(tmp_path, capsys, power_mw: float):
    """sim.yaml calibrated by `rigctl calibrate laser` (50% fibre loss, 1-7 mW at the tip), its
    protocol asking ``power_mw``."""
    import shutil

    from rigctl.cli import main
    from tests.conftest import SIM_YAML

    path = tmp_path / "rig.yaml"
    shutil.copyfile(SIM_YAML, path)
    assert main(["calibrate", "laser", str(path), "--virtual-time", "--commands", "2,8,14",
                 "--on-s", "1", "--measured", "1,4,7"]) == 0
    assert "higher powers will be refused" in capsys.readouterr().out
    text = path.read_text().replace("laser_power_mw: 5", f"laser_power_mw: {power_mw:g}")
    path.write_text(text.replace("data_root: data", f"data_root: {tmp_path / 'data'}"))
    return path


@pytest.mark.parametrize("command", ["run", "check"])
def test_power_outside_the_laser_calibration_is_refused_before_the_session(
        tmp_path, capsys, command):
    from rigctl.cli import main

    path = _calibrated_copy(tmp_path, capsys, 10)
    assert "laser_power_mw: 5" not in path.read_text()
    code = main([command, str(path)])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "laser_power_mw: laser.calibration: 10 mW is outside the calibrated range 1-7 mW" \
        in lines[0] and str(path) in lines[0]
    assert not (tmp_path / "data").exists()  # nothing ran


def test_the_rig_interlock_refuses_powers_outside_the_calibration(tmp_path, capsys):
    path = _calibrated_copy(tmp_path, capsys, 4)
    _, data, session = run_sim(path, tmp_path / "x", seed=1, params={"n_trials": 4})
    assert data.trials["laser_power_mw"].dropna().eq(4).all()
    laser = session.rig.laser
    for outside in (10.0, 0.5):  # inside the 15 mW ceiling, outside the calibration
        with pytest.raises(InterlockError, match="outside the calibrated range 1-7 mW"):
            laser.on(outside)
    assert not laser.is_on


# --- rigctl check: a laser only the host can turn off (issue 11 §3) ---------------------------


def _variant(tmp_path, name: str, edit) -> str:
    import yaml

    from tests.conftest import ROOT

    data = yaml.safe_load((ROOT / "hardware_configs" / name).read_text())
    edit(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def _obis_alone(d):
    del d["laser"]["gate_channel"]
    d["devices"]["obis"]["modulation"] = "cw"


def _obis_cw_gated_by_the_card(d):
    d["devices"]["obis"]["modulation"] = "cw"  # a cw OBIS ignores its TTL input


def _ttl_laser_on_an_untimed_line(d):
    d["devices"]["Dev1"]["laser_counter"] = None
    d["laser"].update(channel="Dev1/port1/line3", ramp_down_s=0)
    del d["laser"]["gate_channel"]


@pytest.mark.parametrize(
    ("name", "edit", "warned"),
    [
        ("serial_rig.yaml", _obis_alone, True),
        ("mixed_rig.yaml", _obis_cw_gated_by_the_card, True),
        ("nidaq_rig.yaml", _ttl_laser_on_an_untimed_line, True),
        ("serial_rig.yaml", lambda d: None, False),  # gate on the controller's output
        ("mixed_rig.yaml", lambda d: None, False),  # gate on an NI counter-timed line
        ("nidaq_rig.yaml", lambda d: None, False),  # NI analog output: finite waveform
        ("sim.yaml", lambda d: None, False),
    ],
)
def test_check_warns_when_only_the_host_limits_emission(tmp_path, capsys, name, edit, warned):
    from rigctl.cli import main

    path = _variant(tmp_path, name, edit)
    code = main(["check", path])
    captured = capsys.readouterr()
    assert code == 0 and f"{path}: OK" in captured.out
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    if not warned:
        assert lines == []
        return
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"rigctl: warning: {path}: laser: only this computer ends "
                               "emission after laser.max_on_s")
    assert "light stays on" in lines[0] and "gate the laser" in lines[0]
