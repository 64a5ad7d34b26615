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


def check_feasible(laser_fraction: float, max_consecutive: int) -> str | None:
    """Why ``laser_fraction`` cannot be met with runs of at most ``max_consecutive``, or None."""
    if laser_fraction in (0.0, 1.0):
        return None
    limit = max_consecutive / (max_consecutive + 1)
    if laser_fraction > limit or 1 - laser_fraction > limit:
        return (
            f"laser_fraction {laser_fraction:g} needs runs longer than max_consecutive "
            f"{max_consecutive}; keep it within [{1 - limit:.3g}, {limit:.3g}] or raise "
            "max_consecutive"
        )
    return None


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
