"""The loop's lateness record: bounded, percentiles that never understate, written by every
wall-clock session and by none in virtual time."""

from __future__ import annotations

import json
import math

import numpy as np

from rigctl.timing.lateness import RESOLUTION_S, Lateness


def test_percentiles_are_the_upper_edge_of_their_bin_and_never_understate():
    rng = np.random.default_rng(7)
    delays = rng.exponential(0.0004, 5000)
    rec = Lateness()
    for d in delays:
        rec.add(float(d))
    for q in (50, 90, 99, 99.9):
        exact = float(np.percentile(delays, q, method="inverted_cdf"))
        got = rec.percentile_s(q)
        assert exact <= got <= exact + RESOLUTION_S, (q, exact, got)
    assert rec.n == 5000 and rec.max_s == float(delays.max())


def test_delays_beyond_the_histogram_are_kept_exactly():
    rec = Lateness()
    for d in [0.001] * 98 + [0.25, 1.5]:
        rec.add(d)
    assert rec.percentile_s(99) == 0.25
    assert rec.percentile_s(100) == 1.5
    s = rec.summary()
    assert s["n"] == 100 and s["max_ms"] == 1500.0 and s["p50_ms"] == 0.001 * 1e3 + 0.01


def test_nothing_timed_is_null_not_zero():
    rec = Lateness()
    assert math.isnan(rec.percentile_s(50))
    assert rec.summary() == {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    rec.add(-0.0002)  # a device stamp a little ahead of the host: no delay, not a negative one
    assert rec.percentile_s(50) == 0.0


def test_a_wall_clock_session_records_how_late_it_answered_every_input(make_config, tmp_path):
    from rigctl.cli import main
    from rigctl.data import load_session

    cfg = make_config({"devices": {"sim": {"mouse": {"rt_median_s": 0.05}}},
                       "protocol": {"parameters": {
                           "iti_s": 0.05, "sample_s": 0.05, "delays_s": [0.1],
                           "response_window_s": 1.0, "reward_consumption_s": 0.05,
                           "timeout_s": 0.05, "n_trials": 100000}}})
    assert main(["run", str(cfg), "--realtime", "--duration", "2", "--seed", "3", "--quiet",
                 "--no-figure", "--data", str(tmp_path / "wall")]) == 0
    (folder,) = (tmp_path / "wall" / "sim-mouse-1").iterdir()
    s = load_session(folder)
    assert s.status == "completed" and s.metadata["duration_s"] == 2
    edges = s.events[(s.events["kind"] == "input") & (s.events["name"] != "ca_crossing")]
    timing = json.loads((folder / "session.json").read_text())["timing"]
    assert timing["input_to_output"]["n"] == len(edges) > 0
    assert timing["timer_late"]["n"] > 0
    assert 0 <= timing["input_to_output"]["p50_ms"] <= timing["input_to_output"]["p99_ms"] \
        <= timing["input_to_output"]["max_ms"]
    assert main(["run", str(cfg), "--trials", "3", "--seed", "3", "--quiet", "--no-figure",
                 "--data", str(tmp_path / "virtual")]) == 0
    (folder,) = (tmp_path / "virtual" / "sim-mouse-1").iterdir()
    assert "timing" not in json.loads((folder / "session.json").read_text())
