"""The fast trial-level simulation against the full simulated rig, and its trial schedule."""

from __future__ import annotations

import numpy as np
import pytest

from rigctl.data.stats import wilson_ci
from rigctl.power import PowerDesign
from rigctl.power.simulate import ArmPlan, Rig, plan_arms, simulate_arm
from tests.conftest import SIM_YAML

Z99 = 2.576


def accuracy(sim: dict, laser: int) -> tuple[int, int]:
    sel = (sim["correct"] >= 0) & (sim["laser"] == laser)
    return int(sim["correct"][sel].sum()), int(sel.sum())


@pytest.fixture(scope="module")
def arms() -> dict[str, ArmPlan]:
    wt = plan_arms(PowerDesign(config=str(SIM_YAML), delays_s=(10.0,)), "laser", False)[0]
    ko = plan_arms(PowerDesign(config=str(SIM_YAML), delays_s=(10.0,)), "ko_vs_wt", False)[1]
    return {"wt_open_loop": wt, "ko": ko}


@pytest.mark.parametrize("name", ["wt_open_loop", "ko"])
def test_fast_accuracy_lies_within_the_full_simulations_interval(arms, name):
    """Full rig (engine, protocol, drivers, 1 ms mouse): 6 sessions of 150 trials per group.
    Fast path: 200 sessions. Each fast accuracy (laser and control trials at a 10 s delay) must
    lie in the full simulation's 99% interval: a guard against the two drifting apart by
    several points; docs/science.md compares them closely (50 full sessions per group)."""
    arm = arms[name]
    full = simulate_arm(PowerDesign(config=str(SIM_YAML), engine="full"), arm, 6, 150,
                        np.random.SeedSequence(7))
    fast = simulate_arm(PowerDesign(config=str(SIM_YAML)), arm, 200, 150,
                        np.random.SeedSequence(8))
    laser_types = (0, 1) if name == "wt_open_loop" else (0,)
    for laser in laser_types:
        k_full, n_full = accuracy(full, laser)
        k_fast, n_fast = accuracy(fast, laser)
        lo, hi = wilson_ci(k_full, n_full, Z99)
        assert lo <= k_fast / n_fast <= hi, (name, laser, k_full / n_full, k_fast / n_fast)
    if name == "ko":
        assert accuracy(fast, 1)[1] == 0  # stimulation off: every trial is a control trial
    # Same share of unscored trials (first-trial sample and ~2% misses) in both.
    assert abs((full["correct"] < 0).mean() - (fast["correct"] < 0).mean()) < 0.03


def test_fast_schedule_keeps_the_protocol_rules(arms):
    sim = simulate_arm(PowerDesign(config=str(SIM_YAML), delays_s=(2.0, 10.0)),
                       plan_arms(PowerDesign(config=str(SIM_YAML), delays_s=(2.0, 10.0)),
                                 "laser", False)[0], 20, 201, np.random.SeedSequence(3))
    for u in range(20):
        scheduled = sim["delay_s"][u] > 0  # after the free sample
        laser = sim["laser"][u][scheduled]
        assert laser[:200 - 10].reshape(-1, 10).sum(axis=1).tolist() == [5] * 19  # blocks of 10
        runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, laser, -1]) != 0))
        assert runs.max() <= 3  # max_consecutive
        delays = sim["delay_s"][u][scheduled][:198].reshape(-1, 2)
        assert (np.sort(delays, axis=1) == [2.0, 10.0]).all()  # balanced delay cycles


def test_fast_simulation_is_seeded(arms):
    rig = Rig.load(str(SIM_YAML))
    d = PowerDesign(config=str(SIM_YAML))
    a = simulate_arm(d, arms["wt_open_loop"], 3, 50, np.random.SeedSequence(1), rig)
    b = simulate_arm(d, arms["wt_open_loop"], 3, 50, np.random.SeedSequence(1), rig)
    c = simulate_arm(d, arms["wt_open_loop"], 3, 50, np.random.SeedSequence(2), rig)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["correct"], c["correct"])


def test_power_on_a_rig_with_one_laser_a_hemisphere(arms):
    """A `lasers:` rig is simulated as the world lights it: both lasers inhibit as sim.yaml's
    one bilateral laser (the same numbers from the same seed), one of the two as both would at
    half the power (the astrocyte feels their mean), and the full rig agrees on that."""
    bilateral = str(SIM_YAML.parent / "sim_bilateral.yaml")

    def run(config, n, seed, engine="fast", **extra):
        d = PowerDesign(config=config, delays_s=(10.0,), engine=engine, extra=extra)
        return simulate_arm(d, plan_arms(d, "laser", False)[0], n, 150,
                            np.random.SeedSequence(seed))

    same = (run(bilateral, 40, 4), run(str(SIM_YAML), 40, 4))
    assert all(np.array_equal(same[0][k], same[1][k]) for k in same[0])
    one = run(bilateral, 200, 5, lasers=["left_mpfc"], laser_power_mw=2.0)
    both_half = run(bilateral, 200, 5, laser_power_mw=1.0)
    assert all(np.array_equal(one[k], both_half[k]) for k in one)
    k1, n1 = accuracy(one, 1)
    k2, n2 = accuracy(run(bilateral, 200, 5, laser_power_mw=2.0), 1)
    assert k1 / n1 > wilson_ci(k2, n2)[1]  # one laser of two: less inhibition, more accurate
    full = run(bilateral, 4, 6, "full", lasers=["left_mpfc"], laser_power_mw=2.0)
    lo, hi = wilson_ci(*accuracy(full, 1))
    assert lo <= k1 / n1 <= hi
