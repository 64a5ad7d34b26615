"""Fast trial-level simulation of the simulated mouse, for power analyses of thousands of cohorts.

The full simulated rig (``sim_backend.device``) runs the engine, the protocol, the drivers and
the mouse on a 1 ms grid: about 1 s per 200-trial session. A power grid needs thousands of
cohorts, so this module replays the same agent model (:mod:`sim_backend.mouse`, SCIENCE.md) trial
by trial in one numba loop, with what the engine would do written out:

- a trial is ITI → sample (r = 1, memory loaded with the side to visit) → delay (memory SDE
  coupled to the astrocyte, laser inhibition ``o`` on laser trials) → go (miss, lapse, decision
  noise, side bias, log-normal reaction time) → reward consumption or timeout → next ITI; the
  astrocyte state carries from trial to trial as in the full simulation, and the laser's
  inhibition lasts through the ramp-down after the delay;
- the first trial (and every trial until the first response) is the free sample; laser trials
  come in balanced blocks with a longest run, delays in balanced random cycles, by the rules of
  :mod:`rigctl.protocols.scheduler`;
- during the delay the memory takes exact Ornstein-Uhlenbeck steps of ``DT_MEMORY`` (its
  decay rate λ held over the step, from G at its start) and the astrocyte the shared Heun step
  (:func:`rigctl.predictor.kernels.astro_step`) at ``DT_DELAY``, with the activity r of the
  memory step; the rest phases, whose input is constant, take Heun steps of ``DT_REST``.
  docs/power.md gives the measured effect of the steps on accuracy (none within ±0.2 pp);
  ``tests/test_power_fast.py`` checks the result against the full simulation.

What it leaves out, and refuses rather than approximates: closed-loop stimulation (it needs the
real-time predictor on the noisy signal), pulsed light, correction trials and protocols other than
delayed alternation. The random streams differ from the full simulation's, so the two agree in
distribution, not trial by trial.

This module is reached by the core through the ``rigctl.fast_simulators`` entry point (keyed by
the device type ``sim``), never imported by name, as the backend registry reaches the simulator.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from rigctl.config.subject import Subject
from rigctl.predictor.kernels import _coeffs, _heun  # the step astro_step takes, unwrapped
from sim_backend.mouse import astrocyte_params_for
from sim_backend.settings import SimSettings

DT_DELAY = 0.025
DT_MEMORY = 0.05
DT_REST = 0.02
NOT_SCORED = -1
SUPPORTED_STIM_MODES = ("off", "open_loop", "sham")
SUPPORTED_PROTOCOLS = ("delayed_alternation",)
_SHUFFLE_TRIES = 5000

# Layouts of the float arrays handed to the kernel.
_TIMING = ("iti_s", "sample_s", "response_window_s", "reward_consumption_s", "timeout_s")
_MOUSE = ("lambda0_per_s", "lambda_a_per_s", "k_a", "sigma", "decision_noise", "lapse_rate",
          "side_bias", "miss_rate", "rt_median_s", "rt_log_sd", "baseline_activity")


def unsupported(protocol: str, params: dict[str, Any]) -> str | None:
    """Why this protocol cannot run on the fast path (a sentence for the user), or None."""
    if protocol not in SUPPORTED_PROTOCOLS:
        return f"the fast simulation models {', '.join(SUPPORTED_PROTOCOLS)} only, not {protocol}"
    mode = params.get("stim_mode", "off")
    if mode not in SUPPORTED_STIM_MODES:
        return (f"the fast simulation supports stim_mode {', '.join(SUPPORTED_STIM_MODES)}, "
                f"not {mode} (closed loop needs the real-time predictor)")
    if params.get("laser_pulse_hz") is not None:
        return "the fast simulation models continuous light only (laser_pulse_hz is set)"
    if params.get("correction_trials"):
        return "the fast simulation does not model correction trials"
    return None


@njit(cache=True)
def _rest(a, duration, r, o, o_until, cf):  # pragma: no cover - compiled
    """Constant activity ``r`` for ``duration`` s; inhibition ``o`` for the first ``o_until`` s.
    ``a`` is the astrocyte state [I, C, x, G], advanced in place."""
    if duration <= 0.0:
        return
    i, c, x, g = a[0], a[1], a[2], a[3]
    if o_until > 0.0 and o > 0.0:
        first = min(o_until, duration)
        n = max(1, int(math.ceil(first / DT_REST)))
        for _ in range(n):
            i, c, x, g = _heun(i, c, x, g, r, o, first / n, cf)
        duration -= first
    if duration > 0.0:
        n = max(1, int(math.ceil(duration / DT_REST)))
        for _ in range(n):
            i, c, x, g = _heun(i, c, x, g, r, 0.0, duration / n, cf)
    a[0], a[1], a[2], a[3] = i, c, x, g


@njit(cache=True)
def _runs_ok(order, run_type, run_len, max_run):  # pragma: no cover - compiled
    kind, run = run_type, run_len
    for t in order:
        run = run + 1 if t == kind else 1
        kind = t
        if run > max_run:
            return False
    return True


@njit(cache=True)
def _new_block(frac, block_size, run_type, run_len, max_run):  # pragma: no cover - compiled
    """One balanced block (1 = laser, 0 = control) whose runs stay within ``max_run``."""
    exact = frac * block_size
    n_laser = int(math.floor(exact)) + (1 if np.random.random() < exact - math.floor(exact) else 0)
    order = np.zeros(block_size, np.int8)
    order[:n_laser] = 1
    for _ in range(_SHUFFLE_TRIES):
        for i in range(block_size - 1, 0, -1):  # Fisher-Yates
            j = np.random.randint(0, i + 1)
            order[i], order[j] = order[j], order[i]
        if _runs_ok(order, run_type, run_len, max_run):
            return order
    left_l, left_c = n_laser, block_size - n_laser  # greedy fallback, as the scheduler does
    kind, run = run_type, run_len
    for i in range(block_size):
        forced = kind >= 0 and run >= max_run
        pick = (1 - kind) if forced else (1 if left_l >= left_c else 0)
        if pick == 1:
            left_l -= 1
        else:
            left_c -= 1
        run = run + 1 if pick == kind else 1
        kind = pick
        order[i] = pick
    return order


@njit(cache=True)
def simulate_session(seed, noise, dt, every, delays, frac, max_run, block_size, o_light, ramp_s,
                     timing, mouse, astro_p, correct, laser, delay_out):  # pragma: no cover
    """Simulate one session of ``len(correct)`` trials.

    ``noise[t, j]`` is the memory noise of memory step j of trial t's delay (every ``every``
    astrocyte steps of ``dt``) (standard normal, drawn in
    bulk by numpy, which is several times faster than numba's per-call normal); ``seed`` seeds
    every other draw. Writes per trial: ``correct`` 1/0, or -1 when not scored (free sample, no
    response); ``laser`` 1 on laser trials; ``delay_out`` the trial's delay (s)."""
    iti, sample_s, window, consume, timeout = timing[0], timing[1], timing[2], timing[3], \
        timing[4]
    lam0, lam_a, k_a, sigma = mouse[0], mouse[1], mouse[2], mouse[3]
    dec_noise, lapse, bias, miss_rate = mouse[4], mouse[5], mouse[6], mouse[7]
    rt_med, rt_sd, base = mouse[8], mouse[9], mouse[10]
    n_delays = delays.shape[0]
    cycle = np.empty(n_delays)
    n_trials = correct.shape[0]
    np.random.seed(seed)
    cf = _coeffs(astro_p)  # once per session: astro_step recomputes them every step
    astro = np.array([0.0, 0.0, 1.0, 0.0])
    last = 0  # last choice: +1 right, -1 left, 0 none yet
    block = np.zeros(0, np.int8)
    pos = 0
    run_type, run_len = -1, 0
    n_cycle = 0
    for t in range(n_trials):
        _rest(astro, iti, base, 0.0, 0.0, cf)
        is_laser = 0
        d = 0.0
        if last != 0:
            if frac >= 1.0:
                is_laser = 1
            elif frac > 0.0:
                if pos >= block.shape[0]:
                    block = _new_block(frac, block_size, run_type, run_len, max_run)
                    pos = 0
                is_laser = block[pos]
                pos += 1
                if is_laser == run_type:
                    run_len += 1
                else:
                    run_type, run_len = is_laser, 1
            if n_cycle == 0:
                cycle[:] = delays
                for i in range(n_delays - 1, 0, -1):
                    j = np.random.randint(0, i + 1)
                    cycle[i], cycle[j] = cycle[j], cycle[i]
                n_cycle = n_delays
            n_cycle -= 1
            d = cycle[n_cycle]
        m = -float(last)  # the side to visit: opposite to the last choice
        _rest(astro, sample_s, 1.0, 0.0, 0.0, cf)
        o = o_light if is_laser == 1 else 0.0
        n = int(round(d / dt))
        ai, ac, ax, ag = astro[0], astro[1], astro[2], astro[3]
        r = base
        j = 0
        for k in range(n):
            if k % every == 0:  # a memory step: exact OU over the next `every` astro steps
                h = min(every, n - k) * dt
                lam = lam0 - lam_a * ag / (ag + k_a)
                var = h if abs(lam) * h < 1e-12 else -math.expm1(-2.0 * lam * h) / (2.0 * lam)
                r = base + (1.0 - base) * min(abs(m), 1.0)
                m = m * math.exp(-lam * h) + sigma * math.sqrt(var) * noise[t, j]
                j += 1
            ai, ac, ax, ag = _heun(ai, ac, ax, ag, r, o, dt, cf)
        astro[0], astro[1], astro[2], astro[3] = ai, ac, ax, ag
        miss_u, lapse_u, side_u, z, rt_z = np.random.random(), np.random.random(), \
            np.random.random(), np.random.normal(), np.random.normal()
        rt = rt_med * math.exp(rt_sd * rt_z)
        laser[t] = is_laser
        delay_out[t] = d
        if miss_u < miss_rate or rt >= window:
            correct[t] = NOT_SCORED
            _rest(astro, window, base, o, ramp_s, cf)
            continue
        if lapse_u < lapse:
            side = 1 if side_u < 0.5 + 0.5 * bias else -1
        else:
            side = 1 if m + dec_noise * z + bias * dec_noise > 0 else -1
        if last == 0:
            correct[t] = NOT_SCORED
            ok = True
        else:
            ok = side == -last
            correct[t] = 1 if ok else 0
        last = side
        _rest(astro, rt + (consume if ok else timeout), base, o, ramp_s, cf)


def simulate(
    settings: dict[str, Any], params: dict[str, Any], ramp_down_s: float, subject: Subject,
    n_units: int, n_trials: int, seed: np.random.SeedSequence, dt: float = DT_DELAY,
    mem_dt: float = DT_MEMORY, laser_share: float = 1.0,
) -> dict[str, np.ndarray]:
    """``n_units`` sessions of one subject kind; arrays of shape (n_units, n_trials).

    ``settings`` are the sim device's keys from the rig config (``mouse:`` …), ``params`` the
    validated protocol parameters, ``ramp_down_s`` the laser's ramp, ``laser_share`` the share
    of the rig's lasers that laser trials light (the world's inhibition is their mean: one of
    two lasers inhibits half as much). Returns ``correct`` (int8, -1 = not scored), ``laser``
    (int8) and ``delay_s`` (float64)."""
    sim = SimSettings.model_validate(settings)
    ms = sim.mouse
    light = params.get("stim_mode", "off") == "open_loop"
    o_light = laser_share * min(1.0, float(params.get("laser_power_mw", 5.0))
                                / ms.laser_saturation_mw)
    frac = float(params.get("laser_fraction", 0.5)) if params.get("stim_mode", "off") != "off" \
        else 0.0
    timing = np.array([float(params.get(k, d)) for k, d in
                       zip(_TIMING, (2.0, 1.0, 5.0, 2.0, 5.0), strict=True)])
    mouse = np.array([float(getattr(ms, k)) for k in _MOUSE])
    astro_p = astrocyte_params_for(subject, ms).as_array()
    delays = np.asarray(params.get("delays_s", [2.0, 5.0, 10.0]), float)
    every = max(1, int(round(mem_dt / dt)))
    steps = -(-int(round(float(delays.max()) / dt)) // every) + 1
    correct = np.full((n_units, n_trials), NOT_SCORED, np.int8)
    laser = np.zeros((n_units, n_trials), np.int8)
    delay = np.zeros((n_units, n_trials))
    for u, unit_seed in enumerate(seed.spawn(n_units)):
        noise_seed, other = unit_seed.spawn(2)
        noise = np.random.default_rng(noise_seed).standard_normal((n_trials, steps), np.float32)
        simulate_session(
            int(other.generate_state(1, np.uint32)[0]), noise, dt, every, delays, frac,
            int(params.get("max_consecutive", 3)), int(params.get("block_size", 10)),
            o_light if light else 0.0, float(ramp_down_s) if light else 0.0, timing, mouse,
            astro_p, correct[u], laser[u], delay[u])
    return {"correct": correct, "laser": laser, "delay_s": delay}
