"""Stimulation during the delay, by mode: off, open_loop, closed_loop, sham.

- ``open_loop``: on laser trials, the laser is on for the whole delay.
- ``closed_loop``: on laser trials, the laser turns on when the real-time predictor says
  astrocytic Ca²⁺ (or gliotransmission) crosses its threshold during the delay — or at delay
  onset if it is already above — and stays on until the delay ends.
- ``sham``: every decision and log line of ``sham_rule`` (open or closed loop), with the light
  path held off, so sham and real sessions differ only in photons.
Every laser trial records mode, onset, offset, power and the predictor value at onset; the
offset always ramps down (the Laser applies the configured ramp).

While the operator's emergency latch holds the laser off (``Laser.latch``), the session goes on:
a laser trial whose delay overlaps the latch records ``laser_blocked = 1`` — with no onset when
the light never came, or with ``laser_offset_s`` at the latch when it cut the light. A re-arm
gives light again from the next trial's onset, never in the middle of a blocked delay.

On a rig with several lasers (one per hemisphere) the stimulation drives the ones it is given,
together: each turns on at the onset and ramps down at the offset, each with its own
interlocks. The latch holds every laser, so a latch blocks them all alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rigctl.hardware.interfaces import PulseTrain
from rigctl.hardware.rig import Laser
from rigctl.protocols.scheduler import LASER
from rigctl.protocols.trial import TrialRecord


class DelayStimulation:
    def __init__(
        self, mode: str, laser: Laser | Sequence[Laser] | None, power_mw: float,
        now: Callable[[], float], log: Callable[[float, str, str, str], None],
        predictor_value: Callable[[], float] | None = None, threshold: float = 0.0,
        sham_rule: str = "closed_loop", pulses: PulseTrain | None = None,
    ) -> None:
        self.pulses = pulses
        self.mode = mode
        self.rule = sham_rule if mode == "sham" else mode
        if laser is None:
            self.lasers: list[Laser] = []
        elif isinstance(laser, Laser):
            self.lasers = [laser]
        else:
            self.lasers = list(laser)
        self.power_mw = power_mw
        self._now = now
        self._log = log
        self._value = predictor_value
        self.threshold = threshold
        self._trial: TrialRecord | None = None
        self._armed = False
        self._latches = 0  # the lasers' latch count at delay onset

    def _latch_count(self) -> int:
        return sum(la.latches for la in self.lasers)

    def _latched(self) -> bool:
        return any(la.latched for la in self.lasers)

    def delay_started(self, trial: TrialRecord) -> None:
        trial.stim_mode = self.mode
        if self.mode == "off" or trial.trial_type != LASER:
            return
        self._trial, self._armed = trial, True
        if self.lasers:
            self._latches = self._latch_count()
            trial.laser_blocked = int(self._latched())
        if self.rule == "open_loop" or (
            self.rule == "closed_loop" and self._value is not None
            and self._value() >= self.threshold
        ):
            self._onset()

    def crossing(self) -> None:
        """The predictor crossed its threshold: start stimulation if this delay waits for it."""
        if self._trial is not None and self._armed and self.rule == "closed_loop":
            self._onset()

    def _onset(self) -> None:
        trial = self._trial
        assert trial is not None
        self._armed = False
        if self.lasers and (self._latched() or self._latch_count() != self._latches):
            trial.laser_blocked = 1  # latched at or since delay onset: no light in this delay
            self._log(self._now(), "interlock", "laser_latch",
                      f"{self.power_mw:g}mW refused: latched off")
            return
        now = self._now()
        trial.laser_onset_s = now
        trial.laser_power_mw = self.power_mw
        if self._value is not None:
            trial.predictor_at_onset = round(self._value(), 6)
        if self.mode == "sham":
            self._log(now, "output", "laser_sham", f"{self.power_mw:g}mW (held off)")
        else:
            for laser in self.lasers:
                laser.on(self.power_mw, self.pulses)

    def delay_ended(self) -> None:
        """End of the delay: light off (with ramp) and the trial's laser columns completed."""
        trial, self._trial = self._trial, None
        self._armed = False
        if trial is None:
            return
        latched_in_delay = bool(self.lasers) and self._latch_count() != self._latches
        if latched_in_delay:
            trial.laser_blocked = 1
        if trial.laser_onset_s is None:
            return
        if latched_in_delay and self.mode != "sham":
            at = [la.latched_at for la in self.lasers if la.latched_at is not None]
            assert at
            trial.laser_offset_s = max(at)  # the latch cut the light (no ramp)
            return
        trial.laser_offset_s = self._now()
        if self.mode == "sham":
            self._log(self._now(), "output", "laser_sham", "off")
        else:
            for laser in self.lasers:
                laser.off()
