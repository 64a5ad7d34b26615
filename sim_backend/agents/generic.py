"""The generic agent: a subject that knows no task, for trying any task file.

It reacts to any output turning on by acting on a random input after a log-normal latency
(with probability ``respond_p``), acts on each input spontaneously at ``explore_hz``, and licks
after water. That is enough to walk a task through its states in virtual time, so a task's
branches, interlocks and data can be tested before an animal sees it.
"""

from __future__ import annotations

import math

import numpy as np

from sim_backend.agents.base import Agent
from sim_backend.mouse import SimMouse
from sim_backend.settings import GenericAgentSettings


class GenericAgent(Agent):
    def __init__(self, body: SimMouse, settings: GenericAgentSettings,
                 rng: np.random.Generator) -> None:
        super().__init__(body)
        self.s = settings
        self.rng = rng

    def start(self, t: float) -> None:
        assert self.world is not None
        if self.s.explore_hz > 0:
            for name in self.world.inputs:
                self._explore(t, name)

    def _explore(self, t: float, name: str) -> None:
        assert self.world is not None
        world = self.world
        when = t + self.rng.exponential(1.0 / self.s.explore_hz)

        def act() -> None:
            world.press(when, name, self.s.hold_s)
            self._explore(when, name)

        world.at(when, act)

    def output(self, t: float, name: str, level: bool) -> None:
        assert self.world is not None
        inputs = self.world.inputs
        if not level or not inputs or self.rng.random() >= self.s.respond_p:
            return
        target = inputs[int(self.rng.integers(len(inputs)))]
        latency = self.s.latency_median_s * math.exp(self.s.latency_log_sd * self.rng.normal())
        self.world.press(t + latency, target, self.s.hold_s)

    def water(self, t: float, port: str, ul: float) -> None:
        self.lick_bout(t, port, ul)
