"""Stimulation during the delay, by mode: off, open_loop, closed_loop, sham.

- ``open_loop``: on laser trials, the laser is on for the whole delay.
- ``closed_loop``: on laser trials, the laser turns on when the real-time predictor says
  astrocytic Ca²⁺ (or gliotransmission) crosses its threshold during the delay — or at delay
  onset if it is already above — and stays on until the delay ends.
- ``sham``: every decision and log line of ``sham_rule`` (open or closed loop), with the light
  path held off, so sham and real sessions differ only in photons.
Every laser trial records mode, onset, offset, power and the predictor value at onset; the
offset always ramps down (the Laser applies the configured ramp).
"""

from __future__ import annotations

from collections.abc import Callable

from rigctl.hardware.interfaces import PulseTrain
from rigctl.hardware.rig import Laser
from rigctl.protocols.scheduler import LASER
from rigctl.protocols.trial import TrialRecord


class DelayStimulation:
    def __init__(
        self, mode: str, laser: Laser | None, power_mw: float,
        now: Callable[[], float], log: Callable[[float, str, str, str], None],
        predictor_value: Callable[[], float] | None = None, threshold: float = 0.0,
        sham_rule: str = "closed_loop", pulses: PulseTrain | None = None,
    ) -> None:
        self.pulses = pulses
        self.mode = mode
        self.rule = sham_rule if mode == "sham" else mode
        self.laser = laser
        self.power_mw = power_mw
        self._now = now
        self._log = log
        self._value = predictor_value
        self.threshold = threshold
        self._trial: TrialRecord | None = None
        self._armed = False

    def delay_started(self, trial: TrialRecord) -> None:
        trial.stim_mode = self.mode
        if self.mode == "off" or trial.trial_type != LASER:
            return
        self._trial, self._armed = trial, True
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
        now = self._now()
        trial.laser_onset_s = now
        trial.laser_power_mw = self.power_mw
        if self._value is not None:
            trial.predictor_at_onset = round(self._value(), 6)
        if self.mode == "sham":
            self._log(now, "output", "laser_sham", f"{self.power_mw:g}mW (held off)")
        elif self.laser is not None:
            self.laser.on(self.power_mw, self.pulses)

    def delay_ended(self) -> None:
        trial, self._trial = self._trial, None
        self._armed = False
        if trial is None or trial.laser_onset_s is None:
            return
        trial.laser_offset_s = self._now()
        if self.mode == "sham":
            self._log(self._now(), "output", "laser_sham", "off")
        elif self.laser is not None:
            self.laser.off()
