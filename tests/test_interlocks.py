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
