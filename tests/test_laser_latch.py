"""The emergency laser-off latches: light off in the same loop iteration, no light until the
operator re-arms, and the session goes on recording which laser trials were blocked."""

from __future__ import annotations

import math

import numpy as np

from rigctl.catalog.loading import resolve_protocol
from rigctl.config import Subject, load_rig
from rigctl.data import load_session
from rigctl.engine.session import Session, SessionOptions

PARAMS = {"n_trials": 40, "delays_s": [4.0], "stim_mode": "open_loop", "laser_fraction": 0.5,
          "max_consecutive": 3}


def _session(config, data, params=PARAMS, seed: int = 7) -> Session:
    cfg = load_rig(str(config))
    spec = resolve_protocol(None, cfg, str(config), dict(params))
    return Session(cfg, SessionOptions(subject=Subject(), protocol=spec, data_root=data,
                                       seed=seed, summary_figure=False))


def test_latch_mid_delay_blocks_light_until_rearmed_and_the_session_goes_on(sim_yaml, tmp_path):
    session = _session(sim_yaml, tmp_path)
    world = session.rig.events
    marks: dict[str, float] = {}
    trial_no = {"n": 0}

    def listener(t: float, kind: str, name: str, value: str) -> None:
        # runs in the loop thread, like every engine callback
        if kind == "trial" and name == "start":
            trial_no["n"] = int(value.split()[0])
        if (kind == "output" and name == "laser" and value.endswith("mW")
                and trial_no["n"] >= 5 and "request" not in marks):
            marks["request"] = t + 1.5  # mid-delay: 1.5 s into a 4 s light period
            marks["trial"] = trial_no["n"]
            session.timers.set_at(t + 1.5, lambda: session.request_laser_off("test operator"))
        if kind == "trial" and name == "end" and "trial" in marks:
            n = int(value.split()[0])
            if n == marks["trial"] + 2:
                session.request_laser_off("test operator")  # a second press: still latched
            if n == marks["trial"] + 10:
                marks["rearm"] = t
                session.rearm_laser("test operator")

    session.event_listeners.append(listener)
    result = session.run()
    assert result.status == "completed" and result.n_trials == 40  # the latch did not end it
    data = load_session(result.folder)
    t = data.trials.set_index("trial")
    k, t_req, t_rearm = marks["trial"], marks["request"], marks["rearm"]

    # light off in the loop iteration of the request: at the same (virtual) instant, no ramp
    offs = [(ts, p) for ts, p, kind in world.record.laser if ts >= t_req]
    assert offs[0] == (t_req, 0.0)
    # no light at all between the latch and the re-arm
    between = [e for e in world.record.laser if t_req <= e[0] < t_rearm]
    assert all(p == 0.0 for _, p, _ in between)

    laser = t[t["trial_type"] == "laser"]
    # the trial that was cut: onset kept, offset at the latch, marked blocked
    assert laser.loc[k, "laser_blocked"] == 1
    assert math.isclose(laser.loc[k, "laser_offset_s"], t_req)
    blocked = laser[(laser["start_s"] > t_req) & (laser["end_s"] <= t_rearm)]
    assert len(blocked) >= 2
    assert (blocked["laser_blocked"] == 1).all() and blocked["laser_onset_s"].isna().all()
    after = laser[laser["start_s"] > t_rearm]
    assert len(after) >= 2
    assert (after["laser_blocked"] == 0).all() and after["laser_onset_s"].notna().all()
    ons_after = [ts for ts, p, kind in world.record.laser if ts > t_rearm and kind == "on"]
    assert len(ons_after) == len(after)  # re-arm restores light on every later laser trial
    before = laser[laser["end_s"] < t_req]
    assert (before["laser_blocked"] == 0).all() and before["laser_onset_s"].notna().all()
    assert (t.loc[t["trial_type"] != "laser", "laser_blocked"] == 0).all()

    # every press and the re-arm are events; each refused onset is logged too
    ev = data.events
    latch = ev[ev["name"] == "laser_latch"]
    values = list(latch["value"])
    assert values[0] == "latched off (test operator)"
    assert np.isclose(float(latch.iloc[0]["t_s"]), t_req)
    assert "pressed again (test operator): still latched off" in values
    assert "re-armed (test operator)" in values
    refused = [v for v in values if v.endswith("refused: latched off")]
    assert len(refused) == len(blocked)
    cut = ev[(ev["kind"] == "output") & (ev["name"] == "laser") & (ev["value"] == "off latched")]
    assert np.allclose(cut["t_s"].to_numpy(float), [t_req])  # the cut is logged as an output
    assert ev.iloc[-1]["name"] == "all_off"


def test_rearm_without_a_latch_is_logged_and_harmless(sim_yaml, tmp_path):
    session = _session(sim_yaml, tmp_path, params={**PARAMS, "n_trials": 6})
    session.event_listeners.append(
        lambda t, k, n, v: session.rearm_laser("op") if (k, n) == ("trial", "start")
        and v.startswith("2 ") else None)
    result = session.run()
    data = load_session(result.folder)
    assert result.status == "completed"
    assert list(data.events.loc[data.events["name"] == "laser_latch", "value"]) == [
        "re-arm (op): was not latched"]
    assert (data.trials["laser_blocked"] == 0).all()
