"""rigctl.stats: the cohort analysis shared by `rigctl power` and real cohorts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rigctl import stats


def synthetic_trials(rng: np.random.Generator, mice: int, trials: int, effect: float,
                     mouse_sd: float, delays=(2.0, 10.0)) -> pd.DataFrame:
    """Mice that differ (a random intercept on the logit scale), laser on every other trial."""
    rows = []
    for m in range(mice):
        u = rng.normal(0.0, mouse_sd)
        for t in range(trials):
            laser = t % 2
            d = delays[rng.integers(len(delays))]
            logit = 2.0 + u + effect * laser - 0.8 * (d == max(delays))
            rows.append({"subject": f"m{m}", "genotype": "wt" if m % 2 else "ip3r2_ko",
                         "trial_type": "laser" if laser else "control", "delay_s": d,
                         "correct": float(rng.random() < 1 / (1 + math.exp(-logit)))})
    return pd.DataFrame(rows)


def test_count_based_fit_is_the_trial_level_gee():
    trials = synthetic_trials(np.random.default_rng(1), mice=6, trials=200, effect=-0.7,
                              mouse_sd=0.5)
    fast = stats.analyse_trials(trials, "trial_type", "laser")
    gee = stats.gee_trial_level(trials, "trial_type", "laser")
    assert fast.estimate == pytest.approx(gee.params["arm"], rel=1e-6)
    g = trials["subject"].nunique()
    assert fast.se == pytest.approx(gee.bse["arm"] * math.sqrt(g / (g - 1)), rel=1e-6)
    assert fast.df == g - 1 and fast.formula == "correct ~ arm + C(delay_s)"
    assert fast.p_value < 0.01 and fast.ci()[1] < 0  # the laser lowers accuracy


def test_between_group_contrast_uses_group_degrees_of_freedom():
    trials = synthetic_trials(np.random.default_rng(2), mice=8, trials=100, effect=0.0,
                              mouse_sd=0.3, delays=(10.0,))
    r = stats.analyse_trials(trials, "genotype", "ip3r2_ko")
    assert r.df == 8 - 2 and r.formula == "correct ~ arm" and r.ok
    gee = stats.gee_trial_level(trials, "genotype", "ip3r2_ko")
    assert r.estimate == pytest.approx(gee.params["arm"], rel=1e-6)


def test_false_positive_rate_is_nominal_with_few_mice_that_differ():
    """Four mice with real between-mouse variation and no effect: the small-sample test
    rejects at α = 5% within Monte-Carlo error (a plain z test on the sandwich rejects more)."""
    rng = np.random.default_rng(2026)
    n_sim, p = 400, []
    for _ in range(n_sim):
        mouse = np.repeat(np.arange(4), 2)
        arm = np.tile([0, 1], 4)
        base = 1.5 + rng.normal(0, 0.6, 4)
        slope = rng.normal(0, 0.3, 4)  # mice also differ in their (zero-mean) laser effect
        prob = 1 / (1 + np.exp(-(base[mouse] + slope[mouse] * arm)))
        n = np.full(8, 50)
        p.append(stats.contrast_test(mouse, arm, np.zeros(8), n, rng.binomial(n, prob),
                                     between=False).p_value)
    rejected = int((np.asarray(p) < 0.05).sum())
    lo, hi = stats.proportion_interval(rejected, n_sim, level=0.99)
    assert lo <= 0.05 <= hi, rejected / n_sim


def test_a_contrast_without_trials_in_an_arm_is_a_failed_fit_not_a_crash():
    r = stats.contrast_test(np.array([0, 1, 2]), np.zeros(3, int), np.zeros(3),
                            np.full(3, 20), np.full(3, 15), between=False)
    assert not r.ok and math.isnan(r.p_value)


def test_across_mice_interval_needs_three_mice():
    assert all(math.isnan(v) for v in stats.across_mice_interval([9, 10], [10, 10]))
    lo, hi = stats.across_mice_interval([10, 10, 10], [10, 10, 10])
    assert 0.5 < lo < hi == 1.0


def test_joint_fits_give_each_tables_own_fit():
    """contrast_tests fits tables together (block-diagonal design, a cluster per mouse per
    table); each result must be that table's own contrast_test, a failed table included."""
    rng = np.random.default_rng(5)
    tables, between = [], []
    for i in range(11):
        mice = 4 + i % 3
        mouse = np.repeat(np.arange(mice), 4)
        arm = np.tile([0, 0, 1, 1], mice)
        delay = np.tile([2.0, 10.0, 2.0, 10.0], mice)
        n = rng.integers(20, 60, mouse.size)
        prob = 1 / (1 + np.exp(-(1.5 - 0.6 * arm - 0.8 * (delay == 10.0))))
        tables.append((mouse, arm, delay, n, rng.binomial(n, prob)))
        between.append(False)
    tables.insert(3, (np.arange(3), np.zeros(3, int), np.zeros(3), np.full(3, 20),
                      np.full(3, 15)))  # no test arm: a failed fit
    between.insert(3, False)
    joint = stats.contrast_tests(tables, between)
    for t, b, r in zip(tables, between, joint, strict=True):
        alone = stats.contrast_test(*t, between=b)
        assert r.ok == alone.ok and r.df == alone.df
        if alone.ok:
            assert r.estimate == pytest.approx(alone.estimate, rel=1e-7)
            assert r.se == pytest.approx(alone.se, rel=1e-7)
            assert r.p_value == pytest.approx(alone.p_value, rel=1e-6, abs=1e-12)
    assert sum(not r.ok for r in joint) == 1
