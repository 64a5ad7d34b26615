"""Delayed match-to-sample runs on the same engine: cued side, delay, match rule."""

from __future__ import annotations

import itertools

from tests.conftest import run_sim


def test_dmts_rule_cues_and_accuracy(sim_yaml, tmp_path):
    params = {"n_trials": 300, "delays_s": [2, 20], "max_same_side": 3}
    _, data, _ = run_sim(sim_yaml, tmp_path, protocol="delayed_match_to_sample", seed=4,
                         params=params)
    t = data.trials
    assert (t["trial_type"] != "sample").all()  # no free trial: the rule holds from trial 1
    assert set(t["correct_side"]) == {"left", "right"}
    runs = [len(list(g)) for _, g in itertools.groupby(t["correct_side"])]
    assert max(runs) <= 3
    scored = t[t["correct"].notna()]
    assert ((scored["choice"] == scored["correct_side"]).astype(int) == scored["correct"]).all()
    # The sample cue shown in each trial is the trial's correct side.
    ev = data.events
    cues = ev[(ev["kind"] == "output") & ev["name"].str.startswith("cue_sample_")
              & (ev["value"] == "1")]
    assert list(cues["name"].str.removeprefix("cue_sample_")) == list(t["correct_side"])
    acc = scored.groupby("delay_s")["correct"].mean()
    assert acc[2.0] > 0.9 and acc[20.0] < acc[2.0] - 0.15


def test_dmts_needs_sample_cues(capsys, make_config):
    from rigctl.cli import main

    cfg = make_config({"cues": {"sample_left": None}})
    assert main(["run", str(cfg), "--protocol", "delayed_match_to_sample"]) == 2
    assert "cues.sample_left" in capsys.readouterr().err
