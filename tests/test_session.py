"""Whole sessions on the simulated rig, in virtual time: completeness, determinism, behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import run_sim


def test_200_trial_session_completes_with_every_trial_on_disk(sim_yaml, tmp_path):
    result, data, session = run_sim(sim_yaml, tmp_path, seed=11)
    assert result.status == "completed"
    t = data.trials
    assert list(t["trial"]) == list(range(1, 201))
    assert data.status == "completed" and data.finished and not data.warnings
    # First trial is the free sample; later trials alternate relative to the last choice.
    assert t.loc[0, "trial_type"] == "sample" and t.loc[0, "correct_side"] == "any"
    responded = t[t["choice"] != "none"]
    prev = responded["choice"].shift(1)
    scored = responded[(responded["trial_type"] != "sample")]
    expected = prev[scored.index].map({"left": "right", "right": "left"})
    assert (scored["correct_side"] == expected).all()
    assert ((scored["choice"] == scored["correct_side"]).astype(int) == scored["correct"]).all()
    # Rewards only after correct (or sample) choices, and laser only on laser trials.
    rewarded = t["reward_ul"] > 0
    assert (t.loc[rewarded, "outcome"].isin(["correct", "sample"])).all()
    assert t.loc[t["trial_type"] == "laser", "laser_onset_s"].notna().all()
    assert t.loc[t["trial_type"] != "laser", "laser_onset_s"].isna().all()
    # Every valve opening the world saw is in the event log, in order.
    world = session.rig.events
    logged = data.events[(data.events["kind"] == "output")
                         & data.events["name"].str.startswith("valve_")]
    assert len(logged) == len(world.record.deliveries) == int(rewarded.sum())
    assert np.allclose(logged["t_s"].to_numpy(float),
                       [d[0] for d in world.record.deliveries])
    # The session ended safely: laser off, last event is the all-off command.
    assert world.laser_power_mw == 0.0
    assert data.events.iloc[-1]["name"] == "all_off"


def test_same_seed_gives_byte_identical_trials_csv(sim_yaml, tmp_path):
    r1, _, _ = run_sim(sim_yaml, tmp_path / "a", seed=5, params={"n_trials": 60})
    r2, _, _ = run_sim(sim_yaml, tmp_path / "b", seed=5, params={"n_trials": 60})
    r3, _, _ = run_sim(sim_yaml, tmp_path / "c", seed=6, params={"n_trials": 60})
    a = (r1.folder / "trials.csv").read_bytes()
    assert a == (r2.folder / "trials.csv").read_bytes()
    assert (r1.folder / "events.csv").read_bytes() == (r2.folder / "events.csv").read_bytes()
    assert a != (r3.folder / "trials.csv").read_bytes()


def _accuracy(trials, delay):
    t = trials[(trials["delay_s"] == delay) & trials["correct"].notna()]
    return t["correct"].astype(float).mean(), len(t)


def test_simulated_mouse_accuracy_falls_with_delay(sim_yaml, tmp_path):
    params = {"n_trials": 600, "delays_s": [2, 10, 20], "stim_mode": "off",
              "iti_s": 1.0, "reward_consumption_s": 1.0}
    _, data, _ = run_sim(sim_yaml, tmp_path, seed=3, params=params)
    acc = {d: _accuracy(data.trials, d) for d in (2.0, 10.0, 20.0)}
    (a2, n2), (a10, n10), (a20, n20) = acc[2.0], acc[10.0], acc[20.0]
    assert min(n2, n10, n20) > 150
    # SCIENCE.md reference: 97% / 84% / 65%; binomial SE at n≈190 is ≤ 3.5 points.
    assert a2 > a10 > a20
    assert a2 > 0.9 and a20 < 0.8
    assert a2 - a20 > 0.15


def test_no_response_trials_are_recorded_and_not_scored(make_config, tmp_path):
    cfg = make_config({"devices": {"sim": {"mouse": {"miss_rate": 0.3}}}})
    _, data, _ = run_sim(cfg, tmp_path / "d", seed=2, params={"n_trials": 80})
    miss = data.trials[data.trials["outcome"] == "no_response"]
    assert len(miss) > 10
    assert (miss["choice"] == "none").all() and miss["correct"].isna().all()
    assert (miss["reward_ul"] == 0).all()


def test_correction_trials_repeat_the_correct_side_and_are_flagged(sim_yaml, tmp_path):
    params = {"n_trials": 150, "correction_trials": True, "delays_s": [20]}
    _, data, _ = run_sim(sim_yaml, tmp_path, seed=4, params=params)
    t = data.trials.reset_index(drop=True)
    corr = t[t["correction"] == 1]
    assert len(corr) > 5
    for i in corr.index:
        before = t.loc[i - 1]
        assert before["outcome"] == "error"
        assert t.loc[i, "correct_side"] == before["correct_side"]
        assert t.loc[i, "trial_type"] == "control"


def test_sham_records_laser_decisions_but_never_emits(sim_yaml, tmp_path):
    params = {"n_trials": 40, "stim_mode": "sham"}
    _, data, session = run_sim(sim_yaml, tmp_path, seed=8, params=params)
    laser = data.trials[data.trials["trial_type"] == "laser"]
    assert len(laser) > 5 and laser["laser_onset_s"].notna().all()
    assert session.rig.events.record.laser == []
    assert (data.events["name"] == "laser_sham").sum() == 2 * len(laser)


def test_open_loop_laser_is_on_exactly_during_laser_trial_delays(sim_yaml, tmp_path):
    _, data, session = run_sim(sim_yaml, tmp_path, seed=9, params={"n_trials": 60})
    rec = session.rig.events.record.laser
    ons = [t for t, _p, kind in rec if kind == "on"]
    ramps = [t for t, _p, kind in rec if kind == "ramp"]
    laser = data.trials[data.trials["trial_type"] == "laser"]
    assert np.allclose(ons, laser["laser_onset_s"].to_numpy(float))
    assert np.allclose(ramps, laser["laser_offset_s"].to_numpy(float))
    assert np.allclose(laser["laser_offset_s"] - laser["laser_onset_s"], laser["delay_s"])


@pytest.mark.parametrize("bad_state", ["delay", "response"])
def test_exception_in_protocol_turns_outputs_off_and_marks_aborted(sim_yaml, tmp_path, monkeypatch,
                                                                   bad_state):
    from rigctl.protocols.delayed_alternation import DelayedAlternation

    original = getattr(DelayedAlternation, bad_state)
    calls = {"n": 0}

    def broken(self, event):
        original(self, event)
        if event == "entry" and self.trial is not None and self.trial.trial_type == "laser":
            calls["n"] += 1
            raise ZeroDivisionError("bug in protocol")

    monkeypatch.setattr(DelayedAlternation, bad_state, broken)
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import Subject, load_rig
    from rigctl.data import load_session
    from rigctl.engine.session import Session, SessionOptions

    cfg = load_rig(str(sim_yaml))
    spec = resolve_protocol(None, cfg, str(sim_yaml))
    session = Session(cfg, SessionOptions(Subject(), spec, tmp_path, seed=1))
    with pytest.raises(ZeroDivisionError):
        session.run()
    world = session.rig.events
    data = load_session(session.writer.folder)
    assert data.status == "aborted" and "bug in protocol" in data.metadata["reason"]
    assert world.laser_power_mw == 0.0  # the laser that the delay turned on is off
    assert data.events.iloc[-1]["name"] == "all_off"
    assert "ZeroDivisionError" in set(data.events["name"])
