"""The summary figure: written for sessions with and without signals, tiny or empty ones."""

from __future__ import annotations

import math

import pytest

from rigctl.cli import main
from rigctl.data.stats import accuracy_by, wilson_ci
from tests.conftest import run_sim
from tests.test_data_synth import write_synthetic_signals

matplotlib = pytest.importorskip("matplotlib")

from rigctl.data.figures import SUMMARY_FILE, save_summary_figure, summary_figure  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def _texts(fig) -> str:
    return " ".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


def test_wilson_interval_matches_reference_values():
    lo, hi = wilson_ci(8, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)
    lo, hi = wilson_ci(10, 10)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(0.722, abs=1e-3)
    assert all(math.isnan(x) for x in wilson_ci(0, 0))


def test_figure_with_signals_shows_laser_trials_against_the_predictor(sim_yaml, tmp_path):
    result, data, _ = run_sim(sim_yaml, tmp_path, seed=7, params={"n_trials": 24})
    write_synthetic_signals(result.folder)
    path = save_summary_figure(result.folder)
    assert path == result.folder / SUMMARY_FILE and path.read_bytes()[:8] == PNG
    from rigctl.data import load_session

    fig = summary_figure(load_session(result.folder))
    text = _texts(fig)
    assert "Example laser trials" in text and "predicted Ca²⁺" in text
    assert "Accuracy by delay (95% CI)" in text and "Licks around the choice" in text
    tab = accuracy_by(data.trials, ["trial_type", "delay_s"])
    assert (tab["ci_lo"] <= tab["accuracy"]).all() and (tab["accuracy"] <= tab["ci_hi"]).all()


def test_figure_without_signals_says_so_and_cli_writes_it(capsys, make_config, tmp_path):
    no_signal = make_config({"neural_signal": None})
    result, _, _ = run_sim(no_signal, tmp_path, seed=8, params={"n_trials": 3})
    from rigctl.data import load_session

    assert "No signals recorded" in _texts(summary_figure(load_session(result.folder)))
    code = main(["summary", str(result.folder), "--out", str(tmp_path / "s.png")])
    out = capsys.readouterr().out
    assert code == 0 and "correct" in out and (tmp_path / "s.png").read_bytes()[:8] == PNG


def test_figure_of_a_session_without_trials(sim_yaml, tmp_path):
    result, _, _ = run_sim(sim_yaml, tmp_path, seed=8, params={"n_trials": 1})
    trials = result.folder / "trials.csv"
    trials.write_text(trials.read_text().splitlines()[0] + "\n")
    assert save_summary_figure(result.folder).read_bytes()[:8] == PNG



def test_wilson_bounds_contain_the_estimate_exactly_at_0_and_1():
    for n in range(1, 80):
        for k in (0, n // 3, n):
            lo, hi = wilson_ci(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0
        assert wilson_ci(n, n)[1] == 1.0 and wilson_ci(0, n)[0] == 0.0


TRACES = ("neural activity (predictor input, 50 ms mean)", "predicted Ca²⁺",
          "predicted gliotransmission")


def _traces(fig) -> dict:
    """(panel title, trace label) -> (x, y) of every predictor trace the figure draws."""
    import numpy as np

    return {(ax.get_title(), ln.get_label()): (np.asarray(ln.get_xdata(), float),
                                               np.asarray(ln.get_ydata(), float))
            for ax in fig.axes for ln in ax.get_lines() if ln.get_label() in TRACES}


def test_memory_mapped_and_thinned_traces_draw_what_the_whole_signal_drew(sim_yaml, tmp_path,
                                                                          monkeypatch):
    """The figure on memory-mapped signals draws exactly what it drew on signals read whole
    into memory; a window longer than MAX_TRACE_POINTS is every k-th of those points."""
    import numpy as np

    from rigctl.data import figures, load_session, read_signals

    result, _, _ = run_sim(sim_yaml, tmp_path, seed=7,
                           params={"n_trials": 12, "stim_mode": "closed_loop"})
    write_synthetic_signals(result.folder)
    s = load_session(result.folder)
    whole = load_session(result.folder)
    whole._signals = read_signals(result.folder / "signals.bin")  # as the loader read before
    assert isinstance(s.signals.data["calcium"], np.memmap)
    mapped, before = _traces(summary_figure(s)), _traces(summary_figure(whole))
    assert len(before) == 3 * len(TRACES)  # three example trials, three traces each
    assert mapped.keys() == before.keys()
    for key, (x, y) in before.items():
        assert x.size > 1000
        assert np.array_equal(mapped[key][0], x) and np.array_equal(mapped[key][1], y)
    monkeypatch.setattr(figures, "MAX_TRACE_POINTS", 1000)
    thin = _traces(summary_figure(s))
    assert thin.keys() == before.keys()
    for key, (x, y) in before.items():
        step = -(-x.size // 1000)
        assert step > 1 and thin[key][0].size <= 1000
        assert np.array_equal(thin[key][0], x[::step]) and np.array_equal(thin[key][1], y[::step])
