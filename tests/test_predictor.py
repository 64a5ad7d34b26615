"""Tests of the astrocyte predictor: accuracy, biology sanity, streaming invariance, crossings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from rigctl.predictor import (
    AstrocyteParams,
    Predictor,
    PredictorChunk,
    astro_step,
    integrate_chunk,
    predict_offline,
)
from rigctl.predictor import kernels as K
from rigctl.predictor.stream import _new_chunk

DT = 1e-3
REST = (0.0, 0.0, 1.0, 0.0)


# ----------------------------------------------------------------------------------------------
# helpers


def _rhs(y: np.ndarray, r: float, o: float, p: AstrocyteParams) -> list[float]:
    """The SCIENCE.md equations written out independently of the kernels."""
    i, c, x, g = y
    di = -i / p.tau_i_s + p.k_i * r * (1 - o) + p.cno_drive_per_s
    dc = (i**2 / (i**2 + p.k_half_i**2) - c) / p.tau_c_s - o * c / p.tau_opto_s
    rel = 5 * p.u_a * x * max(c - p.c_theta, 0.0) / (1 - p.c_theta)
    return [di, dc, p.omega_a_per_s * (1 - x) - rel, -g / p.tau_g_s + rel]


def _solve_ivp_reference(r: np.ndarray, o: np.ndarray, p: AstrocyteParams) -> np.ndarray:
    """Zero-order-hold reference: one tight solve_ivp per run of constant (r, o)."""
    n = r.size
    out = np.empty((n, 4))
    y = np.array(REST)
    change = np.flatnonzero((np.diff(r) != 0) | (np.diff(o) != 0)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [n]])
    for a, b in zip(starts, ends, strict=True):
        ra, oa = float(r[a]), float(o[a])
        t_eval = np.arange(a + 1, b + 1) * DT
        sol = solve_ivp(
            lambda _t, yy, ra=ra, oa=oa: _rhs(yy, ra, oa, p),
            (a * DT, b * DT),
            y,
            method="DOP853",
            t_eval=t_eval,
            rtol=1e-10,
            atol=1e-12,
        )
        assert sol.success
        out[a:b] = sol.y.T
        y = sol.y[:, -1]
    return out


def _varied_input(seed: int, seconds: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """Steps, ramps, held noise, a square wave, laser on/off and a partial laser level."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds / DT))
    s = 1000  # samples per second
    r = np.zeros(n)
    r[5 * s : 15 * s] = 1.0
    r[20 * s : 25 * s] = np.linspace(0.0, 1.0, 5 * s)
    r[25 * s : 30 * s] = np.linspace(1.0, 0.2, 5 * s)
    noise = np.clip(0.5 + 0.35 * rng.standard_normal(10 * s // 10), 0.0, 1.0)
    r[30 * s : 40 * s] = np.repeat(noise, 10)  # noise held for 10 ms
    r[40 * s : 50 * s] = 1.0
    t = np.arange(10 * s) * DT
    r[50 * s : 60 * s] = (np.sin(2 * np.pi * 0.3 * t) > 0).astype(float)
    o = np.zeros(n)
    o[8 * s : 11 * s] = 1.0
    o[42 * s : 45 * s] = 1.0
    o[47 * s : 48 * s] = 0.5
    o[55 * s : 57 * s] = 1.0
    return r[:n], o


def _step_loop(r: np.ndarray, o: np.ndarray, p: AstrocyteParams) -> np.ndarray:
    """The model integrated sample by sample with the public astro_step (as the sim mouse does)."""
    state = np.array(REST)
    arr = p.as_array()
    out = np.empty((r.size, 4))
    for k in range(r.size):
        astro_step(state, r[k], o[k], DT, arr)
        out[k] = state
    return out


def _brute_crossings(v: np.ndarray, thr: float, v0: float = 0.0) -> np.ndarray:
    prev = np.concatenate([[v0], v[:-1]])
    return np.flatnonzero((prev < thr) & (v >= thr))


def _noisy_ramps(seed: int, n: int) -> np.ndarray:
    """Activity alternating between random low and high levels every 3 s, with 0.4 s ramps and
    noise, so that C and G rise and fall through mid-range thresholds again and again."""
    rng = np.random.default_rng(seed)
    m = n // 3000 + 1
    low, high = rng.uniform(0.0, 0.25, m), rng.uniform(0.4, 1.0, m)
    level = np.repeat(np.where(np.arange(m) % 2 == 0, low, high), 3000)[:n]
    smooth = np.convolve(level, np.ones(400) / 400, mode="same")
    return np.clip(smooth + 0.1 * rng.standard_normal(n), 0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# accuracy against solve_ivp


@pytest.mark.parametrize(
    "params",
    [
        AstrocyteParams(cno_drive_per_s=0.7),
        AstrocyteParams(),
        AstrocyteParams(tau_i_s=0.5, tau_c_s=0.4, tau_g_s=0.3, u_a=0.9, cno_drive_per_s=0.3),
    ],
    ids=["cno", "default", "fast"],
)
def test_matches_solve_ivp(params: AstrocyteParams) -> None:
    r, o = _varied_input(seed=1)
    ref = _solve_ivp_reference(r, o, params)
    c, g, _ = predict_offline(r, params, dt_s=DT, laser=o)
    err_c = np.abs(c - ref[:, 1]).max()
    err_g = np.abs(g - ref[:, 3]).max()
    assert err_c < 1e-3 and err_g < 1e-3
    # Heun's measured accuracy (kernels docstring); fails if the scheme silently degrades.
    assert err_c < 1e-5 and err_g < 1e-5
    # the input exercised the model: release happened and the laser mattered
    assert ref[:, 3].max() > 0.1 and ref[:, 1].max() > 0.6


# ----------------------------------------------------------------------------------------------
# biology sanity


def test_steady_state_full_drive() -> None:
    p = AstrocyteParams()
    pred = Predictor(p)
    pred.process(np.ones(40_000))
    i_ss = p.k_i * p.tau_i_s
    i, c, x, g = pred.state
    assert i == pytest.approx(i_ss, abs=1e-9)
    assert c == pytest.approx(i_ss**2 / (i_ss**2 + p.k_half_i**2), abs=1e-9)
    # x and G at their joint fixed point
    rel = 5 * p.u_a * x * (c - p.c_theta) / (1 - p.c_theta)
    assert p.omega_a_per_s * (1 - x) == pytest.approx(rel, abs=1e-9)
    assert g == pytest.approx(rel * p.tau_g_s, abs=1e-9)


def test_ip3r2_knockout_has_no_calcium() -> None:
    c, g, crossings = predict_offline(np.ones(20_000), AstrocyteParams(k_i=0.0), threshold=0.1)
    assert np.all(c == 0.0) and np.all(g == 0.0) and crossings.size == 0


@pytest.mark.parametrize("cno", [0.5, 1.0])
def test_cno_rescues_knockout(cno: float) -> None:
    p = AstrocyteParams(k_i=0.0, cno_drive_per_s=cno)
    pred = Predictor(p)
    pred.process(np.zeros(40_000))  # no neural drive at all
    i_ss = cno * p.tau_i_s
    assert pred.state[0] == pytest.approx(i_ss, abs=1e-9)
    assert pred.value == pytest.approx(i_ss**2 / (i_ss**2 + p.k_half_i**2), abs=1e-9)
    assert pred.value > 0.4


def test_laser_inhibition_lowers_calcium_with_tau_opto() -> None:
    p = AstrocyteParams()
    pred = Predictor(p)
    pred.process(np.ones(30_000))  # at steady state: I²/(I²+K²) == C, so only the laser term acts
    c0 = pred.value
    control = Predictor(p)
    control.process(np.ones(30_000))
    lit = pred.process(np.ones(3000), laser=1.0).calcium
    dark = control.process(np.ones(3000)).calcium
    assert np.all(lit < dark) and lit[-1] < 0.5 * c0
    assert np.all(np.diff(lit) < 0)
    # initial slope is -C/τ_opto: at steady state the drive term is 0, and I barely moves in 1 ms
    slope = (lit[0] - c0) / DT
    assert slope == pytest.approx(-c0 / p.tau_opto_s, rel=0.005)


def test_partial_laser_is_in_between() -> None:
    ends = [Predictor().process(np.ones(5000), laser=o).calcium[-1] for o in (0.0, 0.5, 1.0)]
    assert ends[0] > ends[1] > ends[2]


# ----------------------------------------------------------------------------------------------
# one model everywhere: astro_step, integrate_chunk, Predictor, predict_offline agree bitwise


def test_astro_step_integrate_chunk_and_offline_agree_bitwise() -> None:
    p = AstrocyteParams(cno_drive_per_s=0.2)
    r, o = _varied_input(seed=2)
    loop = _step_loop(r, o, p)
    c, g, _ = predict_offline(r, p, laser=o)
    assert np.array_equal(loop[:, 1], c) and np.array_equal(loop[:, 3], g)

    state = np.array(REST)
    carry = np.array([0.0, 1.0])
    out_c = np.empty(r.size)
    out_g = np.empty(r.size)
    first = integrate_chunk(state, r, o, DT, p.as_array(), out_c, out_g, 0.5, 0, carry, 0)
    assert np.array_equal(out_c, c) and np.array_equal(out_g, g)
    assert np.array_equal(state, loop[-1])
    assert first == _brute_crossings(c, 0.5)[0]


def test_integrate_chunk_scalar_laser_as_one_element_array() -> None:
    p = AstrocyteParams().as_array()
    r = np.linspace(0, 1, 500)
    outs = []
    for o in (np.full(500, 0.25), np.array([0.25])):
        c, g = np.empty(500), np.empty(500)
        integrate_chunk(np.array(REST), r, o, DT, p, c, g, 0.5, 0, np.array([0.0, 1.0]), 0)
        outs.append((c, g))
    assert np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1])


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=4000), min_size=0, max_size=30),
    on=st.sampled_from(["calcium", "gliotransmission"]),
    lookahead_s=st.sampled_from([0.0, 0.05, 0.3]),
    scalar_laser=st.booleans(),
    seed=st.integers(0, 3),
)
def test_chunking_is_bitwise_invariant(
    cuts: list[int], on: str, lookahead_s: float, scalar_laser: bool, seed: int
) -> None:
    n = 6000
    rng = np.random.default_rng(seed)
    x = _noisy_ramps(seed, n)
    laser = np.zeros(n) if scalar_laser else (rng.uniform(size=n) < 0.001).cumsum() % 2 * 1.0
    thr = 0.5 if on == "calcium" else 0.15
    kw = dict(threshold=thr, on=on, lookahead_s=lookahead_s)
    c_all, g_all, crossings = predict_offline(x, laser=laser, **kw)

    bounds = sorted({0, n, *(c for c in cuts if c < n)})
    pred = Predictor(**kw)
    cs, gs = [], []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        chunk = pred.process(x[a:b], laser=0.0 if scalar_laser else laser[a:b])
        cs.append(chunk.calcium)
        gs.append(chunk.gliotransmission)
        inside = crossings[(crossings >= a) & (crossings < b)]
        assert chunk.crossing == (inside[0] - a if inside.size else -1)
    assert np.array_equal(np.concatenate(cs), c_all)
    assert np.array_equal(np.concatenate(gs), g_all)


def test_single_sample_chunks_match_offline() -> None:
    x = _noisy_ramps(7, 3000)
    c_all, g_all, crossings = predict_offline(x, lookahead_s=0.1)
    pred = Predictor(lookahead_s=0.1)
    chunks = [pred.process(float(v)) for v in x]
    assert np.array_equal(np.concatenate([ch.calcium for ch in chunks]), c_all)
    assert np.array_equal(np.concatenate([ch.gliotransmission for ch in chunks]), g_all)
    assert np.array_equal(np.flatnonzero([ch.crossing == 0 for ch in chunks]), crossings)


# ----------------------------------------------------------------------------------------------
# crossings


@pytest.mark.parametrize(
    "on,thr",
    [("calcium", 0.5), ("calcium", 0.65), ("gliotransmission", 0.1), ("gliotransmission", 0.25)],
)
def test_crossings_match_brute_force_scan(on: str, thr: float) -> None:
    x = _noisy_ramps(3, 60_000)
    c, g, crossings = predict_offline(x, threshold=thr, on=on)
    v = c if on == "calcium" else g
    expected = _brute_crossings(v, thr)
    assert expected.size >= 3  # the input does cross repeatedly
    assert np.array_equal(crossings, expected)


def test_crossing_carried_across_chunk_boundary() -> None:
    x = np.ones(5000)
    c, _, crossings = predict_offline(x)
    k = int(crossings[0])
    assert c[k - 1] < 0.5 <= c[k]

    before = Predictor()
    assert before.process(x[:k]).crossing == -1  # ends just below the threshold
    assert before.process(x[k:]).crossing == 0  # the first sample of the next chunk crosses

    at = Predictor()
    assert at.process(x[: k + 1]).crossing == k  # ends on the crossing
    assert at.process(x[k + 1 :]).crossing == -1  # already above: no new crossing


def test_crossing_rearms_after_falling_below() -> None:
    x = np.concatenate([np.ones(6000), np.zeros(8000), np.ones(6000)])
    c, _, crossings = predict_offline(x)
    assert crossings.size == 2
    assert np.array_equal(crossings, _brute_crossings(c, 0.5))


_C_AT_HALF = 0.75**2 / (0.75**2 + 0.5**2)  # steady-state C for r = 0.5 held (I = 0.75)


@pytest.mark.parametrize(
    "on,level,thr",
    [
        ("calcium", 0.8, 0.6),
        ("gliotransmission", 0.8, 0.3),
        # just below the steady state: the analytic bound is nearly tight here
        ("calcium", 0.5, _C_AT_HALF - 1e-3),
        ("calcium", 0.5, _C_AT_HALF - 1e-5),
    ],
)
def test_lookahead_exact_for_held_input(on: str, level: float, thr: float) -> None:
    """With the input really held, the prediction integrates the very future that happens."""
    x = np.full(40_000, level)
    actual = predict_offline(x, threshold=thr, on=on)[2]
    assert actual.size == 1
    for la in (0.05, 0.4, 1.0):
        steps = round(la / DT)
        predicted = predict_offline(x, threshold=thr, on=on, lookahead_s=la)[2]
        assert predicted.size == 1
        assert predicted[0] == max(actual[0] - steps, 0)


def test_lookahead_reports_ramp_crossing_early() -> None:
    x = np.concatenate([np.linspace(0.0, 1.0, 10_000), np.ones(5000)])
    actual = predict_offline(x, threshold=0.6)[2]
    assert actual.size == 1
    for la in (0.1, 0.5, 2.0):
        predicted = predict_offline(x, threshold=0.6, lookahead_s=la)[2]
        assert predicted.size == 1
        assert actual[0] - round(la / DT) <= predicted[0] <= actual[0]
    # a longer look-ahead never reports later
    early = [predict_offline(x, threshold=0.6, lookahead_s=la)[2][0] for la in (0.1, 0.5, 2.0)]
    assert early == sorted(early, reverse=True)


@pytest.mark.parametrize("on,thr", [("calcium", 0.6), ("gliotransmission", 0.4)])
def test_lookahead_silent_when_no_crossing_follows(on: str, thr: float) -> None:
    # ramp up to a level whose steady state (C 0.52, G 0.31) stays below the threshold, hold, stop
    x = np.concatenate([np.linspace(0.0, 0.35, 5000), np.full(20_000, 0.35), np.zeros(5000)])
    c, g, actual = predict_offline(x, threshold=thr, on=on)
    v = c if on == "calcium" else g
    assert actual.size == 0 and v.max() > 0.5 * thr
    for la in (0.2, 1.0, 3.0):
        assert predict_offline(x, threshold=thr, on=on, lookahead_s=la)[2].size == 0


def _reference_lookahead(
    x: np.ndarray, p: AstrocyteParams, thr: float, which: int, steps: int
) -> list[int]:
    """The documented rule, in plain Python on astro_step, without the analytic-bound shortcut."""
    arr = p.as_array()
    state = np.array(REST)
    prev, armed, found = 0.0, True, []
    for k, r in enumerate(x):
        astro_step(state, r, 0.0, DT, arr)
        v = state[1 + 2 * which]
        if armed:
            hit = v >= thr
            if not hit and v > prev:
                ahead = state.copy()
                for _ in range(steps):
                    astro_step(ahead, r, 0.0, DT, arr)
                    if ahead[1 + 2 * which] >= thr:
                        hit = True
                        break
            if hit:
                armed = False
                found.append(k)
        elif v < thr and v <= prev:
            armed = True
        prev = v
    return found


@pytest.mark.parametrize(
    "on,thr",
    [("calcium", 0.45), ("calcium", 0.62), ("gliotransmission", 0.1), ("gliotransmission", 0.25)],
)
def test_lookahead_matches_reference_rule(on: str, thr: float) -> None:
    """The kernel's bound-based skipping never changes what the rule reports."""
    x = _noisy_ramps(12, 12_000)
    which = 0 if on == "calcium" else 1
    got = predict_offline(x, threshold=thr, on=on, lookahead_s=0.15)[2]
    expected = _reference_lookahead(x, AstrocyteParams(), thr, which, 150)
    assert len(expected) >= 1
    assert got.tolist() == expected


# ----------------------------------------------------------------------------------------------
# streaming object behaviour


def test_input_offset_and_scale() -> None:
    r = np.repeat(np.arange(9) / 8, 400)  # exact binary fractions, so the mapping is exact
    c_ref, g_ref, _ = predict_offline(r)
    raw = 2.0 + 4.0 * r
    c, g, _ = predict_offline(raw, input_offset=2.0, input_scale=0.25)
    assert np.array_equal(c, c_ref) and np.array_equal(g, g_ref)
    clipped = predict_offline(np.where(r > 0.5, 7.0, -3.0))[0]
    assert np.array_equal(clipped, predict_offline(np.where(r > 0.5, 1.0, 0.0))[0])


def test_reset_state_value_and_returned_arrays_not_mutated() -> None:
    pred = Predictor(on="gliotransmission", threshold=0.2)
    assert np.array_equal(pred.state, REST) and pred.value == 0.0
    first = pred.process(np.ones(3000))
    kept = first.calcium.copy(), first.gliotransmission.copy()
    state = pred.state
    state[:] = 99.0  # a copy: does not touch the predictor
    assert pred.value == first.gliotransmission[-1] == first.tracked[-1]
    pred.process(np.zeros(100))
    pred.process(np.ones(3000))
    assert np.array_equal(first.calcium, kept[0])
    assert np.array_equal(first.gliotransmission, kept[1])
    pred.reset()
    assert np.array_equal(pred.state, REST)
    again = pred.process(np.ones(3000))
    assert np.array_equal(again.gliotransmission, kept[1]) and again.crossing == first.crossing


def test_chunk_dataclass() -> None:
    pred = Predictor()
    chunk = pred.process([0.2, 0.4, 0.6])
    assert isinstance(chunk, PredictorChunk)
    assert chunk.tracked is chunk.calcium
    assert chunk == PredictorChunk(chunk.calcium, chunk.gliotransmission, -1, "calcium")
    assert repr(chunk).startswith("PredictorChunk(calcium=")
    with pytest.raises(dataclasses.FrozenInstanceError):
        chunk.crossing = 3  # type: ignore[misc]
    fast = _new_chunk(chunk.calcium, chunk.gliotransmission, 2, "gliotransmission")
    assert fast == PredictorChunk(chunk.calcium, chunk.gliotransmission, 2, "gliotransmission")
    assert fast.tracked is chunk.gliotransmission


def test_scalar_list_and_empty_inputs() -> None:
    pred = Predictor()
    assert pred.process(0.5).calcium.shape == (1,)
    assert pred.process([0.5, 0.5]).calcium.shape == (2,)
    empty = pred.process(np.empty(0))
    assert empty.calcium.size == 0 and empty.crossing == -1
    assert pred.process(np.array([1.0, 1.0]), laser=np.array([0.0, 1.0])).calcium.shape == (2,)


def test_params_layout_and_docs() -> None:
    p = AstrocyteParams(
        tau_i_s=1.1, k_i=1.2, k_half_i=0.3, tau_c_s=1.4, c_theta=0.35,
        u_a=0.55, omega_a_per_s=0.7, tau_g_s=0.8, tau_opto_s=0.9, cno_drive_per_s=0.25,
    )  # fmt: skip
    arr = p.as_array()
    assert arr.dtype == np.float64 and arr.shape == (K.N_PARAMS,)
    index = {
        "tau_i_s": K.P_TAU_I, "k_i": K.P_K_I, "k_half_i": K.P_K_HALF_I, "tau_c_s": K.P_TAU_C,
        "c_theta": K.P_C_THETA, "u_a": K.P_U_A, "omega_a_per_s": K.P_OMEGA_A,
        "tau_g_s": K.P_TAU_G, "tau_opto_s": K.P_TAU_OPTO, "cno_drive_per_s": K.P_CNO,
    }  # fmt: skip
    assert set(index) == set(AstrocyteParams.model_fields)
    for name, i in index.items():
        assert arr[i] == getattr(p, name)
    for name, field in AstrocyteParams.model_fields.items():
        assert field.description and "(" in field.description, name  # states a unit
    with pytest.raises(ValueError, match="frozen"):  # pydantic ValidationError
        p.k_i = 0.0  # type: ignore[misc]


# ----------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(threshold=1.5), r"^threshold must be in \(0, 1\], got 1.5$"),
        (dict(threshold=0.0), r"^threshold must be in \(0, 1\], got 0.0$"),
        (dict(threshold=float("nan")), r"^threshold must be finite, got nan$"),
        (dict(threshold=-1.0, on="gliotransmission"), r"^threshold must be > 0, got -1.0$"),
        (dict(threshold="high"), r"^threshold must be a number, got 'high'$"),
        (dict(on="ip3"), r"^on must be 'calcium' or 'gliotransmission', got 'ip3'$"),
        (dict(dt_s=0.0), r"^dt_s must be > 0, got 0.0$"),
        (dict(dt_s=float("inf")), r"^dt_s must be finite, got inf$"),
        (dict(dt_s=0.05), r"^dt_s must be <= 0.01389 s for these params .* got 0.05$"),
        (dict(lookahead_s=-0.1), r"^lookahead_s must be >= 0, got -0.1$"),
        (dict(lookahead_s=float("nan")), r"^lookahead_s must be finite, got nan$"),
        (dict(input_scale=0.0), r"^input_scale must be > 0, got 0.0$"),
        (dict(input_offset=float("nan")), r"^input_offset must be finite, got nan$"),
    ],
)
def test_bad_configuration(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Predictor(**kwargs)


def test_gliotransmission_threshold_may_exceed_one() -> None:
    assert Predictor(threshold=1.5, on="gliotransmission").threshold == 1.5


def test_bad_params_type() -> None:
    with pytest.raises(TypeError, match="params must be AstrocyteParams"):
        Predictor({"k_i": 1.0})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "field,value",
    [
        ("tau_i_s", 0.0), ("tau_c_s", -1.0), ("tau_g_s", 0.0), ("tau_opto_s", 0.0),
        ("k_half_i", 0.0), ("c_theta", 0.0), ("c_theta", 1.0), ("k_i", -0.1), ("u_a", 1.5),
        ("omega_a_per_s", -0.1), ("cno_drive_per_s", -0.5), ("k_i", float("nan")),
        ("tau_i_s", float("inf")), ("not_a_param", 1.0),
    ],
)  # fmt: skip
def test_bad_params(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):  # pydantic's ValidationError is a ValueError
        AstrocyteParams(**{field: value})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_sample_raises_and_leaves_state(bad: float) -> None:
    pred = Predictor()
    pred.process(np.ones(500))
    before = pred.state
    x = np.ones(10)
    x[7] = bad
    with pytest.raises(ValueError, match=r"^neural signal sample is not finite at index 7$"):
        pred.process(x)
    assert np.array_equal(pred.state, before)
    with pytest.raises(ValueError, match="not finite at index 3"):
        predict_offline(np.array([0.0, 0.1, 0.2, bad]))


def test_bad_laser() -> None:
    pred = Predictor()
    with pytest.raises(ValueError, match=r"^laser must be in \[0, 1\], got 1.5 at index 0$"):
        pred.process(np.ones(3), laser=1.5)
    with pytest.raises(ValueError, match=r"^laser must be in \[0, 1\], got nan at index 1$"):
        pred.process(np.ones(3), laser=np.array([0.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match=r"^laser must be a scalar or have 3 values"):
        pred.process(np.ones(3), laser=np.zeros(2))
    with pytest.raises(ValueError, match=r"^neural signal samples must be 1-D"):
        pred.process(np.ones((2, 2)))
    assert np.array_equal(pred.state, REST)
