"""Alignment of sync-pulse trains between two clocks (rigctl.data.align)."""

from __future__ import annotations

import numpy as np
import pytest

from rigctl.data.align import AlignmentError, AlignOptions, align


def _train(rng: np.random.Generator, n: int = 720) -> np.ndarray:
    """rigctl's default sync pulses: intervals uniform in 2-8 s (one hour for n = 720)."""
    return 3.0 + np.cumsum(rng.uniform(2.0, 8.0, n))


def _other(t: np.ndarray, offset: float, drift_ppm: float, rate_hz: float) -> np.ndarray:
    """The same pulses on another clock that samples its input at ``rate_hz``."""
    true = offset + (1 + drift_ppm * 1e-6) * t
    return np.floor(true * rate_hz) / rate_hz


def _drop(rng: np.random.Generator, t: np.ndarray, fraction: float) -> np.ndarray:
    return t[rng.random(t.size) >= fraction]


@pytest.mark.parametrize("drift_ppm", [100.0, -100.0, 0.0, 731.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recovers_offset_and_drift_within_one_sample_with_pulses_dropped_on_both_sides(
        drift_ppm, seed):
    rng = np.random.default_rng(seed)
    session = _train(rng)
    offset, rate = rng.uniform(-500, 500), 1000.0
    other = _other(session, offset, drift_ppm, rate)
    al = align(_drop(rng, session, 0.05), _drop(rng, other, 0.05))
    # Every pulse, matched or dropped, lands within one sample of where the other clock saw it.
    truth = offset + (1 + drift_ppm * 1e-6) * session
    assert np.max(np.abs(al.to_other(session) - truth)) < 1.0 / rate
    assert al.drift_ppm == pytest.approx(drift_ppm, abs=0.5)
    assert al.offset_s == pytest.approx(offset, abs=1.0 / rate)
    assert al.n_matched >= 0.85 * session.size
    assert al.residual_rms_s < 1.0 / rate and al.residual_max_s <= 1.0 / rate
    # The two helpers are inverse maps.
    assert np.allclose(al.to_session(al.to_other(session)), session, atol=1e-9)


def test_extra_pulses_on_the_other_side_are_left_unmatched():
    rng = np.random.default_rng(11)
    session = _train(rng, 400)
    other = _other(session, 3.25, 100.0, 20_000.0)
    noise = np.sort(rng.uniform(other[0], other[-1], 20))  # 5% spurious pulses
    al = align(session, np.union1d(other, noise))
    assert al.n_matched == session.size
    _, extra = al.unmatched()
    assert extra.size == noise.size
    assert al.drift_ppm == pytest.approx(100.0, abs=0.1)


def test_a_recording_that_covers_part_of_the_session_aligns():
    """The microscope starts late and stops early: its pulses are a stretch of the session's."""
    rng = np.random.default_rng(5)
    session = _train(rng)
    other = _other(session, -41.0, -60.0, 1000.0)[200:500]
    al = align(session, other)
    assert al.n_matched == 300 and list(al.matched_session[:2]) == [200, 201]
    assert al.offset_s == pytest.approx(-41.0, abs=1e-3)


def test_a_frame_quantised_recording_aligns_within_one_frame_with_matching_tolerances():
    """A system that timestamps pulses by the frame (30 Hz) is coarse: refused by the default
    tolerances with a line that says what to change, aligned within one frame with them."""
    rng = np.random.default_rng(8)
    session = _train(rng, 300)
    other = _other(session, 100.0, 50.0, 30.0)
    with pytest.raises(AlignmentError) as exc:
        align(session, other)
    assert "\n" not in str(exc.value) and "--max-rms-ms" in str(exc.value)
    coarse = AlignOptions(jitter_s=1 / 30, match_tol_s=0.05, max_rms_s=0.03)
    al = align(session, other, coarse)
    truth = 100.0 + (1 + 50e-6) * session
    assert np.max(np.abs(al.to_other(session) - truth)) < 1 / 30


@pytest.mark.parametrize("seed", range(5))
def test_refuses_unrelated_trains_with_one_line(seed):
    rng = np.random.default_rng(100 + seed)
    with pytest.raises(AlignmentError) as exc:
        align(_train(rng), _train(rng), session_name="rig", other_name="scope.csv")
    message = str(exc.value)
    assert "\n" not in message and "scope.csv" in message and "do not match" in message


def test_refuses_a_train_with_too_large_residuals():
    """Same intervals, but a clock that wanders by ±4 ms: no single offset and drift fits."""
    rng = np.random.default_rng(3)
    session = _train(rng, 300)
    other = session + 0.004 * np.sin(session / 50.0)
    with pytest.raises(AlignmentError, match=r"residuals .* ms RMS, above 1 ms"):
        align(session, other, AlignOptions(max_rms_s=0.001))


def test_bad_trains_are_named():
    with pytest.raises(AlignmentError, match=r"^scope\.csv: 3 pulses; alignment needs at least"):
        align(np.arange(50.0), [1.0, 2.0, 3.0], other_name="scope.csv")
    with pytest.raises(AlignmentError, match=r"rig: pulse times must increase \(pulse 2 at"):
        align([1.0, 2.0, 2.0, 3.0], np.arange(50.0), session_name="rig")
    with pytest.raises(AlignmentError, match="finite"):
        align([1.0, np.nan], np.arange(50.0))


def test_frame_index_puts_session_times_on_frames():
    rng = np.random.default_rng(2)
    session = _train(rng, 100)
    al = align(session, _other(session, 7.0, 0.0, 1e6))
    frames = 7.0 + np.arange(0, 600, 1 / 30)  # 30 Hz frames from session time 0
    idx = al.frame_index([-1.0, 0.001, 0.51, 10.01], frames)
    assert list(idx) == [-1, 0, 15, 300]


def test_summary_is_json_ready():
    import json

    rng = np.random.default_rng(4)
    session = _train(rng, 50)
    d = align(session, _other(session, 1.0, 10.0, 1e4)).summary()
    back = json.loads(json.dumps(d))
    assert {"offset_s", "drift_ppm", "n_matched", "residual_rms_s"} <= back.keys()
    assert back["n_matched"] == 50
