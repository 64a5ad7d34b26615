"""Operator controls during a run: parameter changes from the next trial, pause between trials."""

from __future__ import annotations

from rigctl.catalog.loading import resolve_protocol
from rigctl.config import Subject, load_rig
from rigctl.data import load_session
from rigctl.engine.session import Session, SessionOptions


def make_session(sim_yaml, tmp_path, **params) -> Session:
    cfg = load_rig(str(sim_yaml))
    spec = resolve_protocol(None, cfg, str(sim_yaml), {"n_trials": 12, **params})
    return Session(cfg, SessionOptions(Subject(), spec, tmp_path, seed=3))


def test_parameter_change_applies_from_next_trial_and_is_logged(sim_yaml, tmp_path):
    session = make_session(sim_yaml, tmp_path, reward_ul=4.0)
    answers = {}

    def on_trial(rec, progress):
        if rec.trial == 4:
            answers["bad"] = session.request_params({"reward_ul": -1, "laser_fraction": 3})
            answers["good"] = session.request_params({"reward_ul": 6.0})

    session.trial_listeners.append(on_trial)
    session.run()
    assert any(p.startswith("reward_ul:") for p in answers["bad"])
    assert any(p.startswith("laser_fraction:") for p in answers["bad"])
    assert answers["good"] == []
    data = load_session(session.writer.folder)
    rewarded = data.trials[data.trials["reward_ul"] > 0]
    assert set(rewarded[rewarded["trial"] <= 4]["reward_ul"]) == {4.0}
    assert set(rewarded[rewarded["trial"] >= 5]["reward_ul"]) == {6.0}
    change = data.events[data.events["kind"] == "params"]
    assert list(change["name"]) == ["reward_ul"] and list(change["value"]) == ["4.0 -> 6.0"]
    assert data.metadata["protocol"]["parameters"]["reward_ul"] == 4.0  # as started


def test_changes_that_the_rig_refuses_are_refused(sim_yaml, tmp_path):
    session = make_session(sim_yaml, tmp_path)
    assert "laser_power_mw" in session.request_params({"laser_power_mw": 50})[0]
    assert "reward_ul" in session.request_params({"reward_ul": 40})[0]
    assert session.request_params({"predictor": {"threshold": 0.3}})
    session.rig.close()


def test_pause_holds_between_trials_until_resumed(sim_yaml, tmp_path):
    session = make_session(sim_yaml, tmp_path)

    def on_trial(rec, progress):
        if rec.trial == 3:
            session.request_pause(True)

    def on_event(t, kind, name, value):
        if (kind, name) == ("session", "paused"):
            session.timers.set_at(t + 30.0, lambda: session.request_pause(False))

    session.trial_listeners.append(on_trial)
    session.event_listeners.append(on_event)
    result = session.run()
    assert result.status == "completed"
    data = load_session(session.writer.folder)
    t = data.trials.set_index("trial")
    assert t.loc[4, "start_s"] - t.loc[3, "end_s"] >= 30.0
    assert t.loc[5, "start_s"] - t.loc[4, "end_s"] < 5.0
    names = list(data.events.loc[data.events["kind"] == "session", "name"])
    assert names == ["paused", "resumed"]


def test_finish_after_trial_completes_the_trial_and_marks_aborted(sim_yaml, tmp_path):
    session = make_session(sim_yaml, tmp_path)

    def on_event(t, kind, name, value):
        if kind == "trial" and name == "start" and value.startswith("5 "):
            session.request_finish("GUI closed")

    session.event_listeners.append(on_event)
    result = session.run()
    assert result.status == "aborted" and result.reason == "GUI closed"
    data = load_session(session.writer.folder)
    assert list(data.trials["trial"]) == [1, 2, 3, 4, 5]  # trial 5 ran to its end
    assert data.events.iloc[-1]["name"] == "all_off"
