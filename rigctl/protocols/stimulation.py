"""Stimulation during the delay, by mode: off, open_loop, sham.

``sham`` takes every decision and writes every log line that ``open_loop`` would, but holds the
light path off, so sham and real sessions differ only in photons.
"""

from __future__ import annotations

from collections.abc import Callable

from rigctl.hardware.rig import Laser
from rigctl.protocols.scheduler import LASER
from rigctl.protocols.trial import TrialRecord


class DelayStimulation:
    """Turns the laser on for the delay of laser trials and records onset, offset and power."""

    def __init__(
        self, mode: str, laser: Laser | None, power_mw: float,
        now: Callable[[], float], log: Callable[[float, str, str, str], None],
    ) -> None:
        self.mode = mode
        self.laser = laser
        self.power_mw = power_mw
        self._now = now
        self._log = log
        self._trial: TrialRecord | None = None

    def delay_started(self, trial: TrialRecord) -> None:
        trial.stim_mode = self.mode
        if self.mode == "off" or trial.trial_type != LASER:
            return
        self._trial = trial
        trial.laser_onset_s = self._now()
        trial.laser_power_mw = self.power_mw
        if self.mode == "sham":
            self._log(self._now(), "output", "laser_sham", f"{self.power_mw:g}mW (held off)")
        elif self.laser is not None:
            self.laser.on(self.power_mw)

    def delay_ended(self) -> None:
        trial, self._trial = self._trial, None
        if trial is None:
            return
        trial.laser_offset_s = self._now()
        if self.mode == "sham":
            self._log(self._now(), "output", "laser_sham", "off")
        elif self.laser is not None:
            self.laser.off()
