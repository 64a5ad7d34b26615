"""Delayed alternation with training stages that carry over from one session to the next.

The subject's persistent state (``State``, saved in ``<data_root>/subjects/<id>/state.json``
at the end of each session, history in ``history.jsonl`` beside it) holds:

- ``stage``: which delays the subject is trained on (stage 1: 0.5 s, 2: 1-2 s, 3: 2-10 s);
  the subject moves up one stage in a session once ``criterion`` of the last ``window`` scored
  trials are correct;
- ``reward_ul``: the reward, which shrinks a little with each stage (motivation stays high);
- ``side_bias``: a running estimate of the preference for the left port (-0.5 ... 0.5), which
  the task corrects by giving ``bias_gain`` times more water on the other side.

    rigctl run hardware_configs/sim.yaml --protocol examples/tasks/staged_alternation.py \
        --subject M1 --trials 40
    rigctl run ... (again: the session starts at the stage the last one reached)
"""

from collections import deque

from rigctl.protocols.delayed_alternation import DelayedAlternation
from rigctl.task import Field, TaskParams, TrialTaskParams

#: delays (s) of each stage
STAGES = {1: [0.5], 2: [1.0, 2.0], 3: [2.0, 5.0, 10.0]}


class StagedParams(TrialTaskParams):
    criterion: float = Field(0.8, gt=0, le=1, description="Fraction correct to move up (0-1)")
    window: int = Field(10, ge=2, le=500, description="Scored trials the criterion looks at")
    bias_gain: float = Field(0.5, ge=0, le=2, description="Extra water on the non-preferred "
                                                          "side per unit of side bias")


class StagedState(TaskParams):
    stage: int = Field(1, ge=1, le=max(STAGES), description="Training stage (1-3)")
    reward_ul: float = Field(4.0, gt=0, le=50, description="Reward of a correct choice (µL)")
    side_bias: float = Field(0.0, ge=-0.5, le=0.5,
                             description="Running preference for the left port (-0.5-0.5)")
    sessions: int = Field(0, ge=0, description="Sessions run with this task")


class StagedAlternation(DelayedAlternation):
    name = "staged_alternation"
    Params = StagedParams
    State = StagedState
    p: StagedParams

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.state.sessions += 1
        self.recent = deque(maxlen=self.p.window)
        self.moved_up = False
        self.log("session", "stage", f"{self.state.stage} (delays {STAGES[self.state.stage]})")

    def _configure(self):
        """The stage decides the delays; the rest of the parameters are the session's."""
        stage = self.state.stage if self.state is not None else 1
        self.p = self.p.model_copy(update={"delays_s": STAGES[stage]})
        super()._configure()

    def reward(self, event):
        if event == "entry":
            side = self.trial.choice
            bias = self.state.side_bias if side == "right" else -self.state.side_bias
            ul = self.state.reward_ul * (1 + self.p.bias_gain * max(0.0, bias))
            self.trial.reward_ul = ul
            self.deliver(side, ul)
            self.timed_goto("iti", self.p.reward_consumption_s)

    def end_trial(self):
        rec = self.trial
        if rec is not None and rec.choice in ("left", "right"):
            left = 0.5 if rec.choice == "left" else -0.5
            self.state.side_bias = round(0.9 * self.state.side_bias + 0.1 * left, 6)
        if rec is not None and rec.correct is not None and not rec.correction:
            self.recent.append(rec.correct)
        super().end_trial()
        full = len(self.recent) == self.recent.maxlen
        if (full and not self.moved_up and self.state.stage < max(STAGES)
                and sum(self.recent) / len(self.recent) >= self.p.criterion):
            old = self.state.stage
            self.state.stage += 1
            self.state.reward_ul = round(max(2.0, self.state.reward_ul * 0.9), 3)
            self.moved_up = True
            self.recent.clear()
            self.log("session", "stage", f"{old} -> {self.state.stage}")
            self._configure()  # the next trials draw the new stage's delays
