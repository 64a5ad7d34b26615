"""Delayed match-to-sample.

As delayed alternation, with another rule: during the sample period a cue shows one side
(``sample_left`` or ``sample_right``, drawn at random with no more than ``max_same_side`` in a row);
after the delay, a choice of the cued side is correct. There is no free first trial.
"""

from __future__ import annotations

from rigctl.protocols.delayed_alternation import DelayedAlternation
from rigctl.task import ENTRY, EXIT, Field, Requires, TrialTaskParams, WorkingMemoryMapping


class MatchToSampleParams(TrialTaskParams):
    max_same_side: int = Field(
        3, ge=1, le=100, description="Longest run of trials cued on the same side (count)"
    )


class DelayedMatchToSample(DelayedAlternation):
    name = "delayed_match_to_sample"
    Params = MatchToSampleParams

    requires = Requires(ports=("left", "right"), inputs=("lick_left", "lick_right"),
                        outputs=("sample_left", "sample_right"))
    agent = WorkingMemoryMapping(
        rule="match", sample_period="trial_start", go="go",
        sample_cues={"left": "sample_left", "right": "sample_right"},
        responses={"left": "lick_left", "right": "lick_right"},
    )

    _run_side: str | None = None
    _run_len = 0

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
            self.on(f"sample_{self.trial.correct_side}")
        elif event == EXIT:
            self.off("sample_left", "sample_right")
