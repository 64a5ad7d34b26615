"""Trial scheduler: laser fraction, run lengths, delays, seeding."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    s = TrialScheduler(1.0, 50, [1.0], np.random.default_rng(0))
    assert {s.next().trial_type for _ in range(50)} == {LASER}
    s = TrialScheduler(0.0, 50, [1.0], np.random.default_rng(0))
    assert LASER not in {s.next().trial_type for _ in range(50)}


def test_infeasible_fraction_is_refused_with_the_reason():
    assert check_feasible(0.9, 3) is not None and "max_consecutive" in check_feasible(0.9, 3)
    with pytest.raises(ValueError, match="max_consecutive"):
        TrialScheduler(0.9, 3, [1.0], np.random.default_rng(0))
    assert check_feasible(0.75, 3) is None


def test_rare_laser_fraction_message_says_what_is_possible():
    # was: "keep it within [0.5, 0.5]" for max_consecutive 1, a range nobody can act on
    msg = check_feasible(0.01, 3)
    assert "at most 3 control trials in a row" in msg
    assert "at least 1 trial in 4 must be a laser trial" in msg
    assert "between 0.25 and 0.75" in msg and "raise max_consecutive to 99" in msg
    msg1 = check_feasible(0.01, 1)
    assert "must then alternate" in msg1 and "set laser_fraction to 0.5" in msg1
    assert "[0.5, 0.5]" not in msg1


def test_all_laser_session_longer_than_max_consecutive_is_refused():
    msg = check_feasible(1.0, 1, n_trials=200)
    assert msg is not None and "all 200 trials laser trials" in msg
    assert "raise max_consecutive to 200" in msg
    assert "stim_mode: off" in check_feasible(0.0, 3, n_trials=200)
    assert check_feasible(1.0, 3, n_trials=3) is None  # the whole session is one allowed run
    assert check_feasible(1.0, 3) is None  # no session length: the caller bounds it


@given(
    fraction=st.floats(0, 1),
    max_run=st.integers(1, 8),
    block=st.integers(1, 24),
    n_trials=st.integers(1, 400),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=120, deadline=None)
def test_an_accepted_schedule_is_never_violated(fraction, max_run, block, n_trials, seed):
    """Whatever parameters the protocol accepts, no run is longer than max_consecutive."""
    from pydantic import ValidationError

    from rigctl.protocols.params import TrialTaskParams

    try:
        p = TrialTaskParams(stim_mode="open_loop", laser_fraction=fraction,
                            max_consecutive=max_run, block_size=block, n_trials=n_trials)
    except ValidationError:
        assert check_feasible(fraction, max_run, n_trials) is not None
        return
    s = TrialScheduler(p.laser_fraction, p.max_consecutive, p.delays_s,
                       np.random.default_rng(seed), p.block_size)
    types = [s.next().trial_type for _ in range(n_trials)]
    assert longest_run(types) <= max_run
