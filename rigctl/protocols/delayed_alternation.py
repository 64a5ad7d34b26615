"""Delayed alternation.

Each trial: inter-trial interval → sample period (trial-start cue) → delay (laser on laser trials,
per ``stim_mode``; in ``closed_loop`` from the moment the predicted Ca²⁺ crosses its threshold)
→ response window (go cue) → the first lick at the left or right port is the choice. A choice
opposite to the previous trial's choice is correct and rewarded with ``reward_ul`` µL; an error is
followed by a timeout. The first trial is a free sample: any choice is rewarded. Trials without a
lick in the window are recorded as ``no_response`` and are neither correct nor errors. With
``correction_trials``, an error is followed by a control trial with the same correct side
(flagged, and excluded from accuracy).
"""

from __future__ import annotations

from rigctl.task import CROSSING, ENTRY, EXIT, TrialTaskParams, TwoChoiceTask, WorkingMemoryMapping


class DelayedAlternationParams(TrialTaskParams):
    """Delayed alternation has no parameters beyond the shared two-choice task timing."""


class DelayedAlternation(TwoChoiceTask):
    name = "delayed_alternation"
    Params = DelayedAlternationParams
    agent = WorkingMemoryMapping(
        rule="alternate", sample_period="trial_start", go="go",
        responses={"left": "lick_left", "right": "lick_right"},
    )

    def choose_correct_side(self) -> str:
        """Alternation: the side not chosen last time; the first choice is free."""
        if self.last_choice is None:
            return "any"
        return "right" if self.last_choice == "left" else "left"

    # --- states, in the order a trial visits them -----------------------------------------
    def iti(self, event: str) -> None:
        if event == ENTRY:
            self.end_trial()
            if self.trials_done >= self.p.n_trials:
                self.finish()
            else:
                self.timed_goto("sample", self.p.iti_s)

    def sample(self, event: str) -> None:
        if event == ENTRY:
            if self.holding():  # paused by the operator: wait in `paused`, then come back
                return
            self.begin_trial()
            self.on("trial_start")
            self.timed_goto("delay", self.p.sample_s)
        elif event == EXIT:
            self.off("trial_start")

    def delay(self, event: str) -> None:
        if event == ENTRY:
            self.stim.delay_started(self.trial)
            self.timed_goto("response", self.trial.delay_s)
        elif event == CROSSING:
            self.stim.crossing()
        elif event == EXIT:
            self.stim.delay_ended()

    def response(self, event: str) -> None:
        if event == ENTRY:
            self.on("go")
            self.timed_goto("iti", self.p.response_window_s)
        elif event in ("lick_left", "lick_right"):
            self.goto("reward" if self.choose(event.removeprefix("lick_")) else "timeout")
        elif event == EXIT:
            self.off("go")

    def reward(self, event: str) -> None:
        if event == ENTRY:
            self.trial.reward_ul = self.p.reward_ul
            self.deliver(self.trial.choice, self.p.reward_ul)
            self.timed_goto("iti", self.p.reward_consumption_s)

    def timeout(self, event: str) -> None:
        if event == ENTRY:
            self.timed_goto("iti", self.p.timeout_s)
