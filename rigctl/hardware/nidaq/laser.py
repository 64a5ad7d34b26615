"""The laser on an NI analog output (power as voltage) or on a digital line (on/off only).

Analog: every command is a finite waveform played by the card's AO sample clock, so pulse widths,
the ramp-down and the longest emission are timed to the sample, never by Python. Emission (constant
or a pulse train) is written for what is left of ``laser.max_on_s`` since the light last came on,
ending in its ramp-down at exactly 0 V, which the channel holds: if the host stalls or dies after
writing it, the light still ends by ``max_on_s``. A new command while emitting rewrites the rest of
that same window; it can never push its end later. The ramp-down and off are finite waveforms ending
at 0 V. Power becomes volts through the laser's calibration (``command_unit: V``) or the device's
linear ``laser_volts_per_mw``; the whole range up to ``laser.max_power_mw`` is checked against
``ao_max_v`` when the rig is built.

Digital: the line is high while emitting; the laser's own power setting applies. A TTL line can
neither ramp nor pulse on its own, so a ramp-down must be 0 and a pulse train is refused. With the
device's ``laser_counter`` the line is a counter pulse of at most ``max_on_s`` (``TimedLine``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rigctl.config.rig import LaserConfig
from rigctl.errors import DeviceError
from rigctl.hardware.calibration import LaserCurve, command_waveform
from rigctl.hardware.interfaces import LaserDriver, PulseTrain
from rigctl.hardware.nidaq import waveforms
from rigctl.hardware.nidaq.lines import NiDigitalOutput, TimedLine, close_task
from rigctl.hardware.nidaq.ni import Ni
from rigctl.hardware.nidaq.settings import NiDaqSettings


class PowerToVolts:
    """Laser power at the fibre tip (mW) → command voltage, linear through 0 V at 0 mW."""

    def __init__(self, volts_per_mw: float, max_v: float) -> None:
        self.volts_per_mw = volts_per_mw
        self.max_v = max_v

    def __call__(self, mw: np.ndarray) -> np.ndarray:
        volts = np.asarray(mw, dtype=float) * self.volts_per_mw
        if volts.size and float(volts.max()) > self.max_v + 1e-12:
            raise DeviceError(f"laser command {float(volts.max()):g} V is above ao_max_v "
                              f"{self.max_v:g} V (check laser_volts_per_mw)")
        return volts


class CalibratedVolts:
    """Laser power (mW) → command voltage through the laser's measured calibration
    (``laser.calibration`` with ``command_unit: V``); refuses powers outside it."""

    def __init__(self, cfg: LaserConfig, max_v: float) -> None:
        self.cfg, self.max_v = cfg, max_v

    def __call__(self, mw: np.ndarray) -> np.ndarray:
        volts = command_waveform(self.cfg, np.asarray(mw, dtype=float))
        if volts.size and float(volts.max()) > self.max_v + 1e-12:
            raise DeviceError(f"laser command {float(volts.max()):g} V is above ao_max_v "
                              f"{self.max_v:g} V (check laser.calibration)")
        return volts


class AoLaser(LaserDriver):
    """Laser power on ``Dev1/aoN``, every waveform hardware-timed at ``ao_rate_hz``.

    Power becomes volts through the laser's calibration when it has one in volts, otherwise
    through the device's linear ``laser_volts_per_mw``."""

    def __init__(self, ni: Ni, channel: str, cfg: LaserConfig, settings: NiDaqSettings,
                 now: Callable[[], float]) -> None:
        cal = cfg.calibration
        if cal is not None and cal.command_unit != "V":
            raise DeviceError(
                f"device {ni.device!r}: laser.calibration is in {cal.command_unit}, but a laser "
                f"on the analog output {channel} is commanded in V; recalibrate with "
                "`rigctl calibrate laser`"
            )
        if cal is None and settings.laser_volts_per_mw is None:
            raise DeviceError(
                f"device {ni.device!r}: laser on {channel} needs "
                f"devices.{ni.device}.laser_volts_per_mw (command V per mW at the fibre tip, "
                "from a power-meter calibration)"
            )
        if cal is not None:
            self.volts: Any = CalibratedVolts(cfg, settings.ao_max_v)
            top_v = float(self.volts(np.array([min(cfg.max_power_mw,
                                                   LaserCurve(cal).mw_range[1])]))[0])
        else:
            self.volts = PowerToVolts(settings.laser_volts_per_mw, settings.ao_max_v)
            top_v = cfg.max_power_mw * settings.laser_volts_per_mw
        if top_v > settings.ao_max_v:
            raise DeviceError(
                f"device {ni.device!r}: laser.max_power_mw {cfg.max_power_mw:g} mW needs "
                f"{top_v:g} V, above ao_max_v {settings.ao_max_v:g} V; lower the ceiling or "
                "check laser_volts_per_mw"
            )
        self.ni, self.channel = ni, channel
        self.rate_hz = settings.ao_rate_hz
        self.what = f"laser on {channel}"
        self.max_on_s, self.ramp_s, self._now = cfg.max_on_s, cfg.ramp_down_s, now
        self._period_mw = np.zeros(1)  # the emission now, one period, for the ramp-down
        # The window the card is bounded to: light came on at ``_since`` (None: dark), the
        # waveform playing starts ramping on its own at ``_ramping_at`` and is dark at ``_dark_at``.
        self._since: float | None = None
        self._ramping_at = self._dark_at = 0.0
        self._dead = False  # task given up after an error; off goes through a fresh task
        self.task: Any = ni.task("laser", self.what)
        try:
            with ni.translated(self.what):
                self.task.ao_channels.add_ao_voltage_chan(
                    channel, min_val=settings.ao_min_v, max_val=settings.ao_max_v
                )
            self._play(waveforms.constant(0.0))
        except BaseException:
            close_task(self.task)
            raise

    def _play(self, mw: np.ndarray, period: np.ndarray | None = None, head: int = 0) -> None:
        """Play ``mw`` once as a finite generation; the channel holds its last sample.

        The first ``head`` samples are ``period`` repeated, converted once per period rather
        than per sample (a window of max_on_s is 300,000 samples at 10 kHz)."""
        if self._dead:
            raise DeviceError(f"device {self.ni.device!r}: {self.what} was shut down after an "
                              "error")
        if period is not None and head:
            volts = np.empty(len(mw))
            volts[:head] = np.resize(np.asarray(self.volts(period), dtype=float), head)
            volts[head:] = self.volts(mw[head:])
        else:
            volts = np.asarray(self.volts(mw), dtype=float)
        mode = self.ni.constants.AcquisitionType
        with self.ni.translated(self.what):
            self.task.stop()
            self.task.timing.cfg_samp_clk_timing(
                self.rate_hz, sample_mode=mode.FINITE,
                samps_per_chan=len(volts),
            )
            self.task.write(volts, auto_start=False)
            self.task.start()

    def emit(self, power_mw: float, pulses: PulseTrain | None = None) -> None:
        """Emit for the rest of the ``max_on_s`` window, ending at 0 V on the card's clock."""
        if pulses is None:
            period = np.array([power_mw])
        else:
            try:
                period = waveforms.pulse_period(power_mw, pulses, self.rate_hz)
            except ValueError as exc:
                raise DeviceError(f"device {self.ni.device!r}: {self.what}: {exc}") from None
        now = self._now()
        if self._since is None or now >= self._dark_at:
            self._since = now  # dark before this: a new window
        left = self._since + self.max_on_s - now
        wave = waveforms.limited(period, left, self.ramp_s, self.rate_hz)
        ramp = min(waveforms.samples_for(self.ramp_s, self.rate_hz), len(wave) - 1)
        self._play(wave, period, head=len(wave) - 1 - ramp if wave.any() else 0)
        self._period_mw = period
        self._ramping_at = now + (len(wave) - 1 - ramp) / self.rate_hz
        self._dark_at = now + (len(wave) - 1) / self.rate_hz

    def stop(self, ramp_down_s: float) -> None:
        now = self._now()
        if self._since is not None and now >= self._ramping_at:
            # The card is already ramping to 0 V at the end of the window (max_on_s): let it.
            self._period_mw = np.zeros(1)
            return
        ramp = waveforms.ramp_down(self._period_mw, ramp_down_s, self.rate_hz)
        self._period_mw = np.zeros(1)
        self._play(ramp)
        if self._since is not None:  # the light is on until the ramp ends: same window
            self._ramping_at = now
            self._dark_at = min(self._dark_at, now + (len(ramp) - 1) / self.rate_hz)

    def force_off(self) -> None:
        """0 V now through the task, or through a fresh task if it is broken. Never raises."""
        self._off()

    def _off(self) -> str | None:
        self._period_mw = np.zeros(1)
        self._since = None
        if not self._dead:
            try:
                self._play(waveforms.constant(0.0))
                return None
            except Exception:  # noqa: BLE001 - the off path must not raise: give the task up
                self._dead = True
                close_task(self.task)
        return self.ni.write_once([self.channel], 0.0, self.what)

    def close(self) -> str | None:
        """0 V, task closed. Never raises; returns what failed."""
        problem = self._off()
        if not self._dead:
            try:
                self.task.wait_until_done(timeout=0.5)
                self.task.stop()
            except Exception as exc:  # noqa: BLE001 - 0 V was written; report and close
                problem = f"{self.what}: {exc}"
        self._dead = True
        close_task(self.task)
        return problem


class LineLaser(LaserDriver):
    """A laser switched by a TTL line: on/off only (its power is set on the laser itself)."""

    def __init__(self, ni: Ni, line: str, cfg: LaserConfig, counter: str | None,
                 now: Callable[[], float]) -> None:
        if cfg.ramp_down_s > 0:
            raise DeviceError(
                f"device {ni.device!r}: laser.channel {line} is a digital line and cannot ramp "
                f"down; drive the laser's analog input from an ao channel, or set "
                f"laser.ramp_down_s: 0 (now {cfg.ramp_down_s:g})"
            )
        self.output: NiDigitalOutput | TimedLine = (
            NiDigitalOutput(ni, line, "laser") if counter is None
            else TimedLine(ni, line, "laser", counter, cfg.max_on_s, now)
        )

    def emit(self, power_mw: float, pulses: PulseTrain | None = None) -> None:
        if pulses is not None:
            raise DeviceError(
                f"device {self.output.ni.device!r}: laser on {self.output.line}: a digital line "
                "cannot time pulse trains; drive the laser from an ao channel"
            )
        self.output.set(True)

    def stop(self, ramp_down_s: float) -> None:
        self.output.set(False)

    def force_off(self) -> None:
        self.output.off()

    def close(self) -> str | None:
        return self.output.close()
