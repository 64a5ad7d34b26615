"""Bookkeeping shared by two-choice working-memory tasks: trials, scheduling, scoring.

Subclasses decide only the rule (which side is correct) and write the states; this class keeps
the trial record, draws the schedule, runs delay stimulation and counts accuracy.
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel

from rigctl.hardware.rig import Laser, Rig
from rigctl.protocols.base import Protocol, ProtocolContext, Requires
from rigctl.protocols.params import TrialTaskParams
from rigctl.protocols.scheduler import CONTROL, TrialScheduler
from rigctl.protocols.stimulation import DelayStimulation
from rigctl.protocols.trial import TrialRecord
from rigctl.runtime.machine import ENTRY
from rigctl.runtime.signals import CROSSING

SAMPLE = "sample"


class TwoChoiceTask(Protocol):
    states = ("iti", "sample", "delay", "response", "reward", "timeout", "paused")
    initial_state = "iti"
    operator_states = ("paused",)
    events = ("lick_left", "lick_right", CROSSING, "resume_check")
    requires = Requires(ports=("left", "right"), inputs=("lick_left", "lick_right"))
    p: TrialTaskParams

    def __init__(self, params: BaseModel, ctx: ProtocolContext) -> None:
        super().__init__(params, ctx)
        self._configure()
        self.trial: TrialRecord | None = None
        self.trials_done = 0
        self.last_choice: str | None = None
        self._repeat: TrialRecord | None = None
        self.scored: Counter[str] = Counter()
        self.correct: Counter[str] = Counter()

    def _configure(self) -> None:
        """Build the schedule and the stimulation from the current parameters."""
        p, ctx = self.p, self.ctx
        fraction = p.laser_fraction if p.stim_mode != "off" else 0.0
        self.scheduler = TrialScheduler(
            fraction, p.max_consecutive, p.delays_s, ctx.rng, block_size=p.block_size
        )
        signals = ctx.signals
        self.stim = DelayStimulation(
            p.stim_mode, self.stim_lasers(), p.laser_power_mw, self.now, ctx.log,
            predictor_value=(lambda: signals.value) if signals is not None else None,
            threshold=p.predictor.threshold, sham_rule=p.sham_rule, pulses=p.pulse_train(),
        )

    def stim_lasers(self) -> list[Laser]:
        """The lasers laser trials light: those the ``lasers`` parameter names, else all."""
        names = self.p.lasers or list(self.rig.lasers)
        return [self.rig.lasers[n] for n in names]

    def _apply_new_params(self) -> None:
        """Parameters changed by the operator take effect here, between trials, and are logged."""
        new = self.ctx.controls.take_params()
        if new is None:
            return
        old, new_d = self.p.model_dump(mode="json"), new.model_dump(mode="json")
        for key in old:
            if old[key] != new_d[key]:
                self.log("params", key, f"{old[key]} -> {new_d[key]}")
        self.p = new  # type: ignore[assignment]
        self._configure()

    def holding(self) -> bool:
        """At a trial boundary: end here if the operator asked to finish after the trial, or
        wait in ``paused`` while the session is paused."""
        if self.ctx.controls.finish_reason:
            self.finish()
            return True
        if self.ctx.controls.paused:
            self.goto("paused")
            return True
        return False

    def paused(self, event: str) -> None:
        if event == ENTRY:
            self.log("session", "paused")
            self.ctx.machine.set_timer("resume_check", 0.1)
        elif event == "resume_check":
            if self.ctx.controls.finish_reason:
                self.finish()
            elif self.ctx.controls.paused:
                self.ctx.machine.set_timer("resume_check", 0.1)
            else:
                self.log("session", "resumed")
                self.goto("sample")

    @classmethod
    def rig_problems(cls, params: BaseModel, rig: Rig) -> list[str]:
        p: TrialTaskParams = params  # type: ignore[assignment]
        problems = super().rig_problems(params, rig)
        rule = p.sham_rule if p.stim_mode == "sham" else p.stim_mode
        if rule == "closed_loop" and p.laser_fraction > 0 and rig.cfg.neural_signal is None:
            problems.append(
                f"stim_mode: {p.stim_mode} needs a `neural_signal` input in the rig config"
            )
        for name in p.lasers:
            if name not in rig.lasers:
                problems.append(f"lasers: the rig has no laser {name!r} (lasers: "
                                f"{', '.join(rig.lasers) or 'none'}); add lasers.{name} to "
                                "the rig config or name another")
        if p.stim_mode != "off" and p.laser_fraction > 0:
            if not rig.lasers:
                problems.append(f"stim_mode: {p.stim_mode} needs a `laser` in the rig config")
            for laser in [rig.lasers[n] for n in p.lasers if n in rig.lasers] or \
                    list(rig.lasers.values()):
                if p.laser_power_mw > laser.cfg.max_power_mw:
                    problems.append(
                        f"laser_power_mw: {p.laser_power_mw:g} mW is above the rig's "
                        f"{laser.field}.max_power_mw ({laser.cfg.max_power_mw:g} mW)"
                    )
                elif (problem := laser.calibration_problem(p.laser_power_mw)) is not None:
                    problems.append(f"laser_power_mw: {problem}")
        for port in rig.ports.values():
            try:
                port.open_ms_for(p.reward_ul)
            except Exception as exc:  # InterlockError carries the field-naming message
                problems.append(f"reward_ul: {exc}")
        return problems

    def choose_correct_side(self) -> str:
        """The rule of the task: ``left``, ``right`` or ``any`` for this trial."""
        raise NotImplementedError

    # --- trial bookkeeping ---------------------------------------------------------------
    def begin_trial(self) -> None:
        self._apply_new_params()
        number = self.trials_done + 1
        rec = TrialRecord(trial=number, start_s=self.now(), stim_mode=self.p.stim_mode)
        if self._repeat is not None:
            rec.trial_type, rec.correction = CONTROL, 1
            rec.delay_s, rec.correct_side = self._repeat.delay_s, self._repeat.correct_side
            self._repeat = None
        else:
            rec.correct_side = self.choose_correct_side()
            if rec.correct_side == "any":
                rec.trial_type, rec.delay_s = SAMPLE, 0.0
            else:
                planned = self.scheduler.next()
                rec.trial_type, rec.delay_s = planned.trial_type, planned.delay_s
        self.trial = rec
        self.log("trial", "start", f"{number} {rec.trial_type} delay={rec.delay_s:g}")

    def choose(self, side: str) -> bool:
        """Record the choice; returns True when it earns a reward."""
        rec = self.trial
        assert rec is not None
        rec.choice = side
        rec.reaction_time_s = self.ctx.machine.time_in_state()
        self.last_choice = side
        if rec.correct_side == "any":
            rec.outcome = SAMPLE
            return True
        rec.correct = int(side == rec.correct_side)
        rec.outcome = "correct" if rec.correct else "error"
        if not rec.correction:
            self.scored[rec.trial_type] += 1
            self.correct[rec.trial_type] += rec.correct
        if not rec.correct and self.p.correction_trials:
            self._repeat = rec
        return bool(rec.correct)

    def end_trial(self) -> None:
        rec, self.trial = self.trial, None
        if rec is None:
            return
        rec.end_s = self.now()
        if rec.choice == "none":
            rec.outcome = "no_response"
        self.trials_done += 1
        self.ctx.write_trial(rec)
        self.log("trial", "end", f"{rec.trial} {rec.outcome}")

    def progress(self) -> dict[str, float]:
        n = sum(self.scored.values())
        return {
            "trial": self.trials_done,
            "n_trials": self.p.n_trials,
            "scored": n,
            "accuracy": sum(self.correct.values()) / n if n else float("nan"),
        }
