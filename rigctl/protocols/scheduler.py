"""Trial scheduling: which trials get the laser, and which delay each trial has.

Laser and control trials are drawn in balanced blocks (each block of ``block_size`` trials holds
``laser_fraction`` laser trials, rounding randomly so the long-run fraction is exact) in
pseudo-random order with no run of one type longer than ``max_consecutive``, also across block
boundaries: a block is reshuffled until it fits after the previous one. Delays are drawn
in balanced random order: every delay once per cycle through the list. Everything is seeded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONTROL = "control"
LASER = "laser"
_SHUFFLE_TRIES = 5000


@dataclass(frozen=True)
class PlannedTrial:
    trial_type: str
    delay_s: float


def check_feasible(
    laser_fraction: float, max_consecutive: int, n_trials: int | None = None
) -> str | None:
    """Why ``laser_fraction`` cannot be met with runs of at most ``max_consecutive``, or None.

    With runs of at most m trials of one type, each trial of the other type can follow at most m
    of them, so each type needs at least 1 in m + 1 trials: 1/(m+1) <= laser_fraction <=
    m/(m+1). A fraction of 0 or 1 makes the whole session one run, so it is refused when the
    session (``n_trials``, when given) is longer than ``max_consecutive``. The message says
    what the numbers mean and the two ways out, in the protocol's own field names.
    """
    p, m = float(laser_fraction), int(max_consecutive)
    if p in (0.0, 1.0):
        if n_trials is None or n_trials <= m:
            return None
        kind, other = ("laser", "control") if p == 1.0 else ("control", "laser")
        way_out = ("lower laser_fraction" if p == 1.0 else
                   "use stim_mode: off for a session without light, raise laser_fraction")
        return (
            f"laser_fraction {p:g} makes all {n_trials} trials {kind} trials, but "
            f"max_consecutive {m} allows at most {m} {kind} trials in a row before a {other} "
            f"trial; {way_out}, or raise max_consecutive to {n_trials}"
        )
    low, high = 1 / (m + 1), m / (m + 1)
    if low - 1e-12 <= p <= high + 1e-12:
        return None
    if m == 1:
        return (
            f"laser_fraction {p:g} is impossible with max_consecutive 1: laser and control "
            "trials must then alternate, which makes laser_fraction 0.5; set laser_fraction "
            f"to 0.5{_raise_to(p)}"
        )
    rare, common = ("laser", "control") if p < low else ("control", "laser")
    rare_fraction = min(p, 1 - p)
    about = (f"about {(1 - rare_fraction) / rare_fraction:.3g}" if rare_fraction > 1e-6
             else "more than a million")
    return (
        f"laser_fraction {p:g} means {about} {common} trials for each {rare} trial, but "
        f"max_consecutive {m} allows at most {m} {common} trials in a row, so at least 1 trial "
        f"in {m + 1} must be a {rare} trial; choose laser_fraction between {low:.3g} and "
        f"{high:.3g}{_raise_to(p)}"
    )


#: the largest max_consecutive a protocol accepts (TrialTaskParams.max_consecutive)
MAX_RUN_LIMIT = 1000


def _raise_to(p: float) -> str:
    """``, or raise max_consecutive to N``: the smallest run limit that allows fraction ``p``."""
    rare = min(p, 1 - p)
    if rare * (MAX_RUN_LIMIT + 1) < 1:
        return ""  # no allowed max_consecutive is long enough
    return f", or raise max_consecutive to {max(1, math.ceil((1 - rare) / rare - 1e-9))}"


class TrialScheduler:
    """Yields :class:`PlannedTrial` one at a time; see the module docstring for the rules."""

    def __init__(
        self,
        laser_fraction: float,
        max_consecutive: int,
        delays_s: Sequence[float],
        rng: np.random.Generator,
        block_size: int = 10,
    ) -> None:
        problem = check_feasible(laser_fraction, max_consecutive)
        if problem:
            raise ValueError(problem)
        if not delays_s:
            raise ValueError("delays_s must list at least one delay")
        self.p = laser_fraction
        self.max_run = max_consecutive
        self.delays = [float(d) for d in delays_s]
        self.block_size = block_size
        self.rng = rng
        self._block: list[str] = []
        self._run_type: str | None = None
        self._run_len = 0
        self._delay_cycle: list[float] = []

    def _new_block(self) -> list[str]:
        """One block in random order whose runs, joined to the previous block, stay short."""
        exact = self.p * self.block_size
        n_laser = math.floor(exact) + (1 if self.rng.random() < exact - math.floor(exact) else 0)
        block = np.array([LASER] * n_laser + [CONTROL] * (self.block_size - n_laser))
        for _ in range(_SHUFFLE_TRIES):
            order = list(self.rng.permutation(block))
            if self._runs_ok(order):
                return order
        return self._greedy(n_laser)

    def _runs_ok(self, order: list[str]) -> bool:
        kind, run = self._run_type, self._run_len
        for t in order:
            run = run + 1 if t == kind else 1
            kind = t
            if run > self.max_run:
                return False
        return True

    def _greedy(self, n_laser: int) -> list[str]:
        """Fallback when shuffling finds no valid order: alternate as the run limit forces."""
        left = {LASER: n_laser, CONTROL: self.block_size - n_laser}
        kind, run, order = self._run_type, self._run_len, []
        for _ in range(self.block_size):
            other = {LASER: CONTROL, CONTROL: LASER}
            if kind is not None and run >= self.max_run:
                pick = other[kind]
            else:
                pick = LASER if left[LASER] >= left[CONTROL] else CONTROL
            left[pick] -= 1
            run = run + 1 if pick == kind else 1
            kind = pick
            order.append(pick)
        return order

    def _next_type(self) -> str:
        if self.p == 0.0:
            return CONTROL
        if self.p == 1.0:
            return LASER
        if not self._block:
            self._block = self._new_block()
            self._block.reverse()
        kind = self._block.pop()
        if kind == self._run_type:
            self._run_len += 1
        else:
            self._run_type, self._run_len = kind, 1
        return kind

    def _next_delay(self) -> float:
        if not self._delay_cycle:
            self._delay_cycle = list(self.rng.permutation(self.delays))
        return float(self._delay_cycle.pop())

    def next(self) -> PlannedTrial:
        return PlannedTrial(self._next_type(), self._next_delay())
