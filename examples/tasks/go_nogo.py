"""Go/no-go working memory.

Each trial: inter-trial interval → sample period (trial-start light and a tone: the go tone or
the no-go tone, at random, half each) → delay → response window (go cue). On a go trial a lick
at the reward port within the window is a hit and is rewarded; no lick is a miss. On a no-go
trial a lick is a false alarm, followed by a timeout; withholding is a correct rejection. The
subject must hold the tone's meaning across the delay.

    rigctl run hardware_configs/sim.yaml --protocol examples/tasks/go_nogo.py
"""

from dataclasses import dataclass

from rigctl.task import (
    ENTRY,
    EXIT,
    Field,
    Requires,
    Task,
    TaskParams,
    WorkingMemoryMapping,
    col,
)


class GoNoGoParams(TaskParams):
    n_trials: int = Field(100, ge=1, le=100_000, description="Trials in the session (count)")
    go_fraction: float = Field(0.5, gt=0, lt=1, description="Fraction of go trials (0-1)")
    delays_s: list[float] = Field([1.0, 4.0], min_length=1, max_length=20,
                                  description="Delays (s), drawn at random")
    sample_s: float = Field(1.0, gt=0, le=10, description="Tone duration (s)")
    iti_s: float = Field(2.0, ge=0, le=60, description="Inter-trial interval (s)")
    response_window_s: float = Field(2.0, gt=0, le=30, description="Time to respond (s)")
    reward_ul: float = Field(4.0, gt=0, le=50, description="Water per hit (µL)")
    timeout_s: float = Field(4.0, ge=0, le=60, description="Extra wait after a false alarm (s)")


@dataclass
class GoNoGoTrial:
    trial: int = col("", "Trial number, from 1")
    start_s: float = col("s", "Sample onset on the session clock")
    trial_type: str = col("", "go or nogo", levels=("go", "nogo"), role="condition")
    delay_s: float = col("s", "Delay between tone offset and response window", in_log=True)
    outcome: str = col("", "hit, miss, false_alarm or correct_rejection",
                       levels=("hit", "miss", "false_alarm", "correct_rejection"), role="outcome")
    correct: int = col("", "1 for hit or correct rejection, else 0")
    response_time_s: float | None = col("s", "Response-window onset to first lick", in_log=True)
    reward_ul: float = col("µL", "Water delivered", 0.0)


class GoNoGo(Task):
    name = "go_nogo"
    Params = GoNoGoParams
    Trial = GoNoGoTrial
    states = ("iti", "sample", "delay", "response", "reward", "timeout")
    initial_state = "iti"
    events = ("lick_left",)
    requires = Requires(ports=("left",), inputs=("lick_left",),
                        outputs=("trial_start", "go", "tone_go", "tone_nogo"))
    agent = WorkingMemoryMapping(
        rule="go_nogo", sample_period="trial_start", go="go",
        sample_cues={"go": "tone_go", "nogo": "tone_nogo"}, responses={"go": "lick_left"},
    )
    trial = None
    n_done = 0

    def iti(self, event):
        if event == ENTRY:
            if self.trial is not None:
                self.write_trial(self.trial)
                self.n_done += 1
            if self.n_done >= self.p.n_trials:
                self.finish()
            else:
                self.timed_goto("sample", self.p.iti_s)

    def sample(self, event):
        if event == ENTRY:
            kind = "go" if self.rng.random() < self.p.go_fraction else "nogo"
            delay = float(self.rng.choice(self.p.delays_s))
            self.trial = GoNoGoTrial(trial=self.n_done + 1, start_s=self.now(), trial_type=kind,
                                     delay_s=delay, outcome="", correct=0)
            self.on("trial_start", f"tone_{kind}")
            self.timed_goto("delay", self.p.sample_s)
        elif event == EXIT:
            self.off("trial_start", "tone_go", "tone_nogo")

    def delay(self, event):
        if event == ENTRY:
            self.timed_goto("response", self.trial.delay_s)

    def response(self, event):
        if event == ENTRY:
            self.on("go")
            # No lick in the window: a miss on go trials, a correct rejection on no-go trials.
            self.trial.outcome = "miss" if self.trial.trial_type == "go" else "correct_rejection"
            self.trial.correct = int(self.trial.trial_type == "nogo")
            self.timed_goto("iti", self.p.response_window_s)
        elif event == "lick_left":
            self.trial.response_time_s = self.time_in_state()
            go = self.trial.trial_type == "go"
            self.trial.outcome = "hit" if go else "false_alarm"
            self.trial.correct = int(go)
            self.goto("reward" if go else "timeout")
        elif event == EXIT:
            self.off("go")

    def reward(self, event):
        if event == ENTRY:
            self.trial.reward_ul = self.p.reward_ul
            self.deliver("left", self.p.reward_ul)
            self.timed_goto("iti", 2.0)

    def timeout(self, event):
        if event == ENTRY:
            self.timed_goto("iti", self.p.timeout_s)
