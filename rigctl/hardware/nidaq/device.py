"""One NI-DAQ card as a rigctl :class:`Device`: routes each configured channel to a driver.

Opening checks, in this order, what an operator can fix: the NI-DAQmx driver is installed, the
session runs on the wall clock, the card named in the config is present. The rig builder then asks
for a driver per channel; the kind of each channel (line, ao, ai) and its single use are checked
there. ``start`` creates the shared tasks (valve bank, inputs, signal) once every channel is known;
``close`` stops the readers and drives every output to its off value, never raising.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from rigctl.config.rig import LaserConfig
from rigctl.errors import DeviceError
from rigctl.hardware.interfaces import Device, DigitalOutputDriver, LaserDriver, ValveDriver
from rigctl.hardware.nidaq.channels import ChannelClaims
from rigctl.hardware.nidaq.inputs import DigitalInputs, SignalInput
from rigctl.hardware.nidaq.laser import AoLaser, LineLaser
from rigctl.hardware.nidaq.lines import NiDigitalOutput, TimedLine
from rigctl.hardware.nidaq.ni import Ni
from rigctl.hardware.nidaq.settings import NiDaqSettings
from rigctl.hardware.nidaq.sync import CardSyncTrain
from rigctl.hardware.nidaq.valves import ThreadValve, ValveBank
from rigctl.hardware.registry import BuildContext

log = logging.getLogger(__name__)


class _Closable(Protocol):
    def close(self) -> str | None: ...


#: Frames per second a change-detection reader keeps up with: two host reads per frame (rise
#: and fall), each a DAQmx call of ~0.1 ms, with room for the rest of the loop.
CHANGE_DETECTION_FRAME_HZ = 2000.0


class NiDaqDevice(Device):
    """A card such as ``Dev1``; every channel routed to it is an NI physical channel."""

    def __init__(self, name: str, settings: NiDaqSettings, ctx: BuildContext) -> None:
        self.name = name
        self.settings = settings
        self.ctx = ctx
        self.ni = Ni(name, ctx.source)
        self.product = self.ni.connect()
        log.info("%s: NI device %s (%s)", ctx.source, name, self.product)
        if not getattr(ctx.clock, "realtime", True):
            raise DeviceError(
                f"{ctx.source}: device {name!r} is real hardware and runs on the wall clock; "
                "run with --realtime"
            )
        self.claims = ChannelClaims(name)
        self.bank = ValveBank(self.ni, settings.do_rate_hz)
        self.inputs = DigitalInputs(self.ni, settings, ctx.clock, ctx.sink)
        self.signal: SignalInput | None = None
        self._outputs: list[_Closable] = []
        self._thread_valves: list[ThreadValve] = []
        self._closed = False

    def _hardware_timed(self, line: str) -> bool:
        timing = self.settings.valve_timing
        if timing == "auto":
            return self.ni.supports(line, "do_samp_clk_supported")
        return timing == "hardware"

    def valve(self, channel: str, role: str, nominal_ul: Callable[[float], float]) -> ValveDriver:
        self.claims.claim(channel, role, "line")
        if self._hardware_timed(channel):
            return self.bank.add(channel, role)
        valve = ThreadValve(self.ni, channel, role, self.ctx.sink.fail)
        self._thread_valves.append(valve)
        return valve

    def digital_input(self, channel: str, role: str) -> None:
        self.claims.claim(channel, role, "line")
        self.inputs.add(channel, role)

    def frame_clock_rate_hz(self, channel: str) -> tuple[float, str]:
        """Change detection wakes the reader once per edge (two per frame); polling must see
        the line high and low, so a frame lasts at least two polling periods."""
        mode = self.settings.di_mode
        if mode == "auto":
            mode = ("change_detection" if self.ni.supports(channel, "di_change_detect_supported")
                    else "polled")
        if mode == "change_detection":
            return CHANGE_DETECTION_FRAME_HZ, "change detection, one host read per edge"
        period = self.settings.di_poll_period_s
        return 1.0 / (2 * period), f"polled every di_poll_period_s = {period:g} s"

    def digital_output(self, channel: str, role: str) -> DigitalOutputDriver:
        self.claims.claim(channel, role, "line")
        out = NiDigitalOutput(self.ni, channel, role)
        self._outputs.append(out)
        return out

    def laser(self, channel: str, cfg: LaserConfig) -> LaserDriver:
        kind = self.claims.claim(channel, "laser", "ao", "line")
        driver: AoLaser | LineLaser
        if kind == "ao":
            driver = AoLaser(self.ni, channel, cfg, self.settings, self.ctx.clock.now)
        else:
            driver = LineLaser(self.ni, channel, cfg, self._take_counter(channel),
                               self.ctx.clock.now)
        self._outputs.append(driver)
        return driver

    def laser_gate(self, channel: str, cfg: LaserConfig) -> DigitalOutputDriver:
        """The laser's gate: a counter pulse of at most ``max_on_s`` (``laser_counter``), or an
        on-demand line when the device has no laser counter."""
        counter = self._take_counter(channel)
        if counter is None:
            return self.digital_output(channel, "laser_gate")
        self.claims.claim(channel, "laser_gate", "line")
        out = TimedLine(self.ni, channel, "laser_gate", counter, cfg.max_on_s, self.ctx.clock.now)
        self._outputs.append(out)
        return out

    def sync_train(self, channel: str) -> CardSyncTrain | None:
        """The sync line, its random train played out by ``sync_counter`` (None without one:
        the engine times it on an on-demand line)."""
        counter = self.settings.sync_counter
        if counter is None:
            return None
        self.claims.claim(channel, "sync", "line")
        self.claims.claim(f"{self.name}/{counter}", f"timing {channel}", "ctr")
        train = CardSyncTrain(self.ni, channel, counter, self.settings.sync_horizon_s,
                              self.ctx.clock.now)
        self._outputs.append(train)
        return train

    def _take_counter(self, line: str) -> str | None:
        counter = self.settings.laser_counter
        if counter is None:
            return None
        self.claims.claim(f"{self.name}/{counter}", f"timing {line}", "ctr")
        return counter

    def signal_input(self, channel: str, role: str, rate_hz: float) -> None:
        self.claims.claim(channel, role, "ai")
        if self.signal is not None:
            raise DeviceError(f"device {self.name!r}: one continuous analog input per card "
                              f"({self.signal.channel} already samples {self.signal.role})")
        self.signal = SignalInput(self.ni, channel, role, rate_hz, self.settings,
                                  self.ctx.clock, self.ctx.sink)

    def start(self) -> None:
        if self.bank.lines:
            self.bank.start()
        self.inputs.start()
        if self.signal is not None:
            self.signal.start()

    def close(self) -> None:
        """Every output off first (laser before valves before cues), then the readers stopped
        and every task closed. Never raises; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.inputs.stop_reading()  # readers wind down while the outputs go off
        if self.signal is not None:
            self.signal.stop_reading()
        lasers = [o for o in self._outputs if isinstance(o, (AoLaser, LineLaser, TimedLine))]
        # (a card-timed sync train is among the others: its counter stops, its line goes low)
        others = [o for o in self._outputs if o not in lasers]
        problems: list[str | None] = [out.close() for out in lasers]
        problems.append(self.bank.close())
        problems.extend(valve.shutdown() for valve in self._thread_valves)
        problems.extend(out.close() for out in others)
        for reader in (self.inputs, self.signal):
            if reader is not None:
                try:
                    reader.close()
                except Exception as exc:  # noqa: BLE001 - closing the rest regardless
                    problems.append(str(exc))
        for p in problems:
            if p:
                log.error("device %r: on close: %s", self.name, p)
