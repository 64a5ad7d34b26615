"""Delayed non-match-to-sample.

Each trial: inter-trial interval → sample period (trial-start light, and a light above the
sample port, left or right at random) → delay (laser on laser trials) → response window (go
cue) → the first lick at a port is the choice. A choice of the port that was *not* cued is
correct and rewarded; an error is followed by a timeout.

Runs on any rig with two reward ports and the cues trial_start, go, sample_left and
sample_right (hardware_configs/sim.yaml):

    rigctl run hardware_configs/sim.yaml --protocol examples/tasks/delayed_non_match.py
"""

from rigctl.task import (
    CROSSING,
    ENTRY,
    EXIT,
    Field,
    Requires,
    TrialTaskParams,
    TwoChoiceTask,
    WorkingMemoryMapping,
)

OTHER = {"left": "right", "right": "left"}


class NonMatchParams(TrialTaskParams):
    max_same_side: int = Field(3, ge=1, le=100, description="Longest run of one cued side")


class DelayedNonMatch(TwoChoiceTask):
    name = "delayed_non_match"
    Params = NonMatchParams
    requires = Requires(ports=("left", "right"), inputs=("lick_left", "lick_right"),
                        outputs=("trial_start", "go", "sample_left", "sample_right"))
    agent = WorkingMemoryMapping(
        rule="non_match", sample_period="trial_start", go="go",
        sample_cues={"left": "sample_left", "right": "sample_right"},
        responses={"left": "lick_left", "right": "lick_right"},
    )
    run_side, run_len = None, 0

    def choose_correct_side(self):
        """Cue a random side (no more than max_same_side in a row); the other one is correct."""
        cued = "left" if self.rng.random() < 0.5 else "right"
        if cued == self.run_side and self.run_len >= self.p.max_same_side:
            cued = OTHER[cued]
        self.run_len = self.run_len + 1 if cued == self.run_side else 1
        self.run_side = cued
        return OTHER[cued]

    def iti(self, event):
        if event == ENTRY:
            self.end_trial()
            if self.trials_done >= self.p.n_trials:
                self.finish()
            else:
                self.timed_goto("sample", self.p.iti_s)

    def sample(self, event):
        if event == ENTRY:
            if self.holding():
                return
            self.begin_trial()
            self.on("trial_start", f"sample_{OTHER[self.trial.correct_side]}")
            self.timed_goto("delay", self.p.sample_s)
        elif event == EXIT:
            self.off("sample_left", "sample_right", "trial_start")

    def delay(self, event):
        if event == ENTRY:
            self.stim.delay_started(self.trial)
            self.timed_goto("response", self.trial.delay_s)
        elif event == CROSSING:
            self.stim.crossing()
        elif event == EXIT:
            self.stim.delay_ended()

    def response(self, event):
        if event == ENTRY:
            self.on("go")
            self.timed_goto("iti", self.p.response_window_s)
        elif event in ("lick_left", "lick_right"):
            self.goto("reward" if self.choose(event.removeprefix("lick_")) else "timeout")
        elif event == EXIT:
            self.off("go")

    def reward(self, event):
        if event == ENTRY:
            self.trial.reward_ul = self.p.reward_ul
            self.deliver(self.trial.choice, self.p.reward_ul)
            self.timed_goto("iti", self.p.reward_consumption_s)

    def timeout(self, event):
        if event == ENTRY:
            self.timed_goto("iti", self.p.timeout_s)
