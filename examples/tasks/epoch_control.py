"""Delayed alternation with inhibition in a chosen epoch: the control for delay-specific effects.

As the built-in delayed alternation, but on laser trials the light is on during the epoch
named by ``epoch`` — ``sample``, ``delay``, ``response`` or ``iti`` — instead of always the
delay. If inhibiting astrocytes impairs working memory by shortening its maintenance, only
``delay`` should lower accuracy.

    rigctl run hardware_configs/sim.yaml --protocol examples/tasks/epoch_control.py
"""

from typing import Literal

from rigctl.task import (
    CROSSING,
    ENTRY,
    EXIT,
    Field,
    TrialTaskParams,
    TwoChoiceTask,
    WorkingMemoryMapping,
)


class EpochParams(TrialTaskParams):
    epoch: Literal["sample", "delay", "response", "iti"] = Field(
        "delay", description="Epoch of laser trials in which the light is on")
    stim_mode: Literal["off", "open_loop", "sham"] = Field(
        "open_loop", description="Laser in the chosen epoch: off, open_loop, sham")


class EpochControl(TwoChoiceTask):
    name = "epoch_control"
    Params = EpochParams
    agent = WorkingMemoryMapping(rule="alternate", sample_period="trial_start", go="go",
                                 responses={"left": "lick_left", "right": "lick_right"})
    stim_trial = None

    def choose_correct_side(self):
        """Alternation: the side not chosen last time; the first choice is free."""
        if self.last_choice is None:
            return "any"
        return "right" if self.last_choice == "left" else "left"

    def light(self, epoch, event):
        """Start the epoch's stimulation on entry and end it on exit, in the chosen epoch."""
        if epoch != self.p.epoch:
            return
        if event == ENTRY and self.trial is not None:
            self.stim_trial = self.trial
            self.stim.delay_started(self.trial)
        elif event == CROSSING:
            self.stim.crossing()
        elif event == EXIT and self.stim_trial is not None:
            self.stim.delay_ended()
            self.stim_trial = None

    def iti(self, event):
        # The ITI after a trial belongs to it: with epoch iti the trial is written at ITI exit.
        deferred = self.p.epoch == "iti"
        if event == ENTRY:
            self.light("iti", event)
            if not deferred:
                self.end_trial()
            pending = 1 if deferred and self.trial is not None else 0
            if self.trials_done + pending >= self.p.n_trials:
                self.finish()
            else:
                self.timed_goto("sample", self.p.iti_s)
        elif event == EXIT:
            self.light("iti", event)
            if deferred:
                self.end_trial()

    def sample(self, event):
        if event == ENTRY:
            if self.holding():
                return
            self.begin_trial()
            self.on("trial_start")
            self.timed_goto("delay", self.p.sample_s)
        elif event == EXIT:
            self.off("trial_start")
        self.light("sample", event)

    def delay(self, event):
        if event == ENTRY:
            self.timed_goto("response", self.trial.delay_s)
        self.light("delay", event)

    def response(self, event):
        if event == ENTRY:
            self.on("go")
            self.timed_goto("iti", self.p.response_window_s)
        elif event in ("lick_left", "lick_right"):
            self.goto("reward" if self.choose(event.removeprefix("lick_")) else "timeout")
        elif event == EXIT:
            self.off("go")
        self.light("response", event)

    def reward(self, event):
        if event == ENTRY:
            self.trial.reward_ul = self.p.reward_ul
            self.deliver(self.trial.choice, self.p.reward_ul)
            self.timed_goto("iti", self.p.reward_consumption_s)

    def timeout(self, event):
        if event == ENTRY:
            self.timed_goto("iti", self.p.timeout_s)
