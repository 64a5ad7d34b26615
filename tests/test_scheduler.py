"""Trial scheduler: laser fraction, run lengths, delays, seeding."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from rigctl.protocols.scheduler import LASER, TrialScheduler, check_feasible


def longest_run(seq):
    return max(len(list(g)) for _, g in itertools.groupby(seq))


@pytest.mark.parametrize(
    ("fraction", "max_run", "block"),
    [(0.5, 3, 10), (0.4, 2, 10), (0.25, 3, 8), (0.7, 3, 10), (0.5, 1, 10), (0.33, 4, 7)],
)
def test_fraction_and_runs_over_10000_trials(fraction, max_run, block):
    s = TrialScheduler(fraction, max_run, [2.0, 5.0, 10.0], np.random.default_rng(7), block)
    plan = [s.next() for _ in range(10_000)]
    types = [p.trial_type for p in plan]
    assert longest_run(types) <= max_run
    assert abs(types.count(LASER) / len(types) - fraction) < 0.01
    # Delays are balanced: every delay once per cycle of three trials.
    delays = Counter(p.delay_s for p in plan)
    assert max(delays.values()) - min(delays.values()) <= 1


def test_runs_never_exceed_maximum_even_in_short_sessions():
    for seed in range(200):
        s = TrialScheduler(0.5, 2, [1.0], np.random.default_rng(seed), 10)
        assert longest_run([s.next().trial_type for _ in range(60)]) <= 2


def test_same_seed_same_schedule_and_different_seed_differs():
    def plan(seed):
        s = TrialScheduler(0.5, 3, [2.0, 5.0], np.random.default_rng(seed))
        return [s.next() for _ in range(100)]

    assert plan(3) == plan(3)
    assert plan(3) != plan(4)


def test_all_or_nothing_fractions():
    s = TrialScheduler(1.0, 1, [1.0], np.random.default_rng(0))
    assert {s.next().trial_type for _ in range(50)} == {LASER}
    s = TrialScheduler(0.0, 1, [1.0], np.random.default_rng(0))
    assert LASER not in {s.next().trial_type for _ in range(50)}


def test_infeasible_fraction_is_refused_with_the_reason():
    assert check_feasible(0.9, 3) is not None and "max_consecutive" in check_feasible(0.9, 3)
    with pytest.raises(ValueError, match="max_consecutive"):
        TrialScheduler(0.9, 3, [1.0], np.random.default_rng(0))
    assert check_feasible(0.75, 3) is None
