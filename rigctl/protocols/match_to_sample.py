"""Delayed match-to-sample.

As delayed alternation, with another rule: during the sample period a cue shows one side
(``sample_left`` or ``sample_right``, drawn at random with no more than ``max_same_side`` in a row);
after the delay, a choice of the cued side is correct. There is no free first trial.
"""

from __future__ import annotations

from pydantic import Field

from rigctl.engine.machine import ENTRY, EXIT
from rigctl.hardware.rig import Rig
from rigctl.protocols.delayed_alternation import DelayedAlternation
from rigctl.protocols.params import TrialTaskParams


class MatchToSampleParams(TrialTaskParams):
    max_same_side: int = Field(
        3, ge=1, le=100, description="Longest run of trials cued on the same side (count)"
    )


class DelayedMatchToSample(DelayedAlternation):
    name = "delayed_match_to_sample"
    Params = MatchToSampleParams

    _run_side: str | None = None
    _run_len = 0

    @classmethod
    def rig_problems(cls, params, rig: Rig) -> list[str]:
        problems = super().rig_problems(params, rig)
        for side in ("left", "right"):
            if rig.cues[f"sample_{side}"].driver is None:
                problems.append(f"protocol: needs cues.sample_{side} in the rig config")
        return problems

    def choose_correct_side(self) -> str:
        """The sample side: random, never more than ``max_same_side`` times in a row."""
        side = "left" if self.ctx.rng.random() < 0.5 else "right"
        if side == self._run_side and self._run_len >= self.p.max_same_side:
            side = "right" if side == "left" else "left"
        self._run_len = self._run_len + 1 if side == self._run_side else 1
        self._run_side = side
        return side

    def sample(self, event: str) -> None:
        super().sample(event)
        if event == ENTRY:
            self.rig.cues[f"sample_{self.trial.correct_side}"].set(True)
        elif event == EXIT:
            for side in ("left", "right"):
                cue = self.rig.cues[f"sample_{side}"]
                if cue.level:
                    cue.set(False)
