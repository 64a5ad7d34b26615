"""The working-memory agent: SCIENCE.md's mouse, reading any task through its mapping.

Memory ``m`` is loaded during the sample, decays during the delay at a rate gliotransmission
lowers (the body integrates it), and at the go cue the sign of ``m`` (plus noise, lapses and
bias) picks the answer. The mapping names which outputs mean sample, delay and go and which
input gives each answer; the rule says what to load: the side not chosen last (alternate), the
cued side (match), the other side (non_match), or go / no-go (m = +1 / -1).
"""

from __future__ import annotations

from rigctl.config.agent import WorkingMemoryMapping
from sim_backend.agents.base import Agent
from sim_backend.mouse import SimMouse

_OTHER = {"left": "right", "right": "left"}


class WorkingMemoryAgent(Agent):
    def __init__(self, body: SimMouse, mapping: WorkingMemoryMapping) -> None:
        super().__init__(body)
        self.map = mapping
        self._cue_of = {out: key for key, out in mapping.sample_cues.items()}
        self._last_answer: str | None = None

    def output(self, t: float, name: str, level: bool) -> None:
        m, rule = self.map, self.map.rule
        if name == m.sample_period:
            if level:
                self.body.sample_started(self._alternation() if rule == "alternate" else None)
            else:
                self.body.delay_started()
        if level and name in self._cue_of:
            shown = self._cue_of[name]
            if rule == "non_match":
                shown = _OTHER[shown]
            elif rule == "go_nogo":  # the body remembers go as +1 (right), no-go as -1 (left)
                shown = "right" if shown == "go" else "left"
            self.body.sample_started(shown)
        if level and name == m.go:
            self._answer(t)

    def _alternation(self) -> str | None:
        last = self._last_answer
        return None if last is None else _OTHER[last]

    def _answer(self, t: float) -> None:
        assert self.world is not None
        decision = self.body.go()
        if decision is None:
            return
        side, rt = decision
        self._last_answer = side
        if self.map.rule == "go_nogo":
            if side == "left":  # no-go: withhold
                return
            target = self.map.responses["go"]
        else:
            target = self.map.responses[side]
        self.world.press(t + rt, target, self.body.s.lick_contact_s)

    def water(self, t: float, port: str, ul: float) -> None:
        self.lick_bout(t, port, ul)
