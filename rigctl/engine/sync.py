"""Sync pulses out, timed by the engine's timers (config: :mod:`rigctl.config.sync`).

Every edge is logged (kind ``sync``) with its session time *before* the line is set, like every
output. The log is what ``rigctl align`` reads, so the session side of an alignment is exactly
the times rigctl commanded. On the simulated rig those are the times the line changed; on a real
rig the line follows within the output latency of the device (docs/performance.md), which is
the same for every pulse and therefore ends up in the offset, not in the residuals.

Modes:

- ``random``: pulses of ``width_s`` at intervals uniform in ``mean_s ± spread_s``, drawn from
  the session's seed (a seeded session pulses at the same times every run);
- ``barcode``: at each trial start, the trial number as a barcode — a start bit two bit times
  long, one bit time low, then ``barcode_bits`` bits least significant first (high = 1), then
  low;
- either mode: with ``trial_channel``, a TTL of ``trial_width_s`` at each trial start.

Each pulse is scheduled from the previous pulse's *deadline*, so lateness on the wall clock
never accumulates into the intervals.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

from rigctl.config.rig import RigConfig
from rigctl.config.sync import SyncConfig
from rigctl.engine.hardware_sync import DeviceTrainRunner, device_train
from rigctl.errors import RigctlError
from rigctl.hardware.interfaces import Clock, Device, DigitalOutputDriver
from rigctl.timing.timers import Timers

LogFn = Callable[..., None]  # (t, kind, name, value)
KIND = "sync"
PULSE, TRIAL, BARCODE = "sync", "sync_trial", "sync_barcode"
#: The session seeds streams 0 (protocol) and 1 (devices); sync intervals draw from stream 2.
SEED_STREAM = 2
#: In virtual time, this long with nothing but sync pulses means the protocol waits for an event
#: that cannot come: the pulses' timers would otherwise hide the simulator's stall error.
STALL_S = 3600.0


def barcode_edges(number: int, cfg: SyncConfig) -> list[tuple[float, bool]]:
    """(time after the barcode start, level) of every edge of trial ``number``'s barcode."""
    levels = [True, True, False] + [bool((number >> i) & 1) for i in range(cfg.barcode_bits)]
    levels.append(False)
    edges: list[tuple[float, bool]] = []
    current = False
    for i, level in enumerate(levels):
        if level != current:
            edges.append((i * cfg.bit_s, level))
            current = level
    return edges


class SyncPulses:
    """The sync line (and optional trial-start line) of one session."""

    def __init__(self, cfg: SyncConfig, line: DigitalOutputDriver,
                 trial_line: DigitalOutputDriver | None, clock: Clock, timers: Timers,
                 log: LogFn, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.line = line
        self.trial_line = trial_line
        self.clock = clock
        self.timers = timers
        self.log = log
        self.rng = rng
        self.n_pulses = 0
        self._handles: set[int] = set()
        self._barcode_until = -np.inf
        self._levels = {PULSE: False, TRIAL: False}
        self.running = False
        self._last_activity = 0.0
        self.device_train: DeviceTrainRunner | None = None  # random train timed by the device

    # --- scheduling -----------------------------------------------------------------------
    def _at(self, t: float, action: Callable[[], None]) -> None:
        box: list[int] = []

        def fire() -> None:
            self._handles.discard(box[0])
            if self.running:
                action()

        box.append(self.timers.set_at(t, fire))
        self._handles.add(box[0])

    def _set(self, name: str, level: bool) -> None:
        if self._levels[name] == level:
            return
        self._levels[name] = level
        self.log(self.clock.now(), KIND, name, "1" if level else "0")
        (self.line if name == PULSE else self.trial_line).set(level)  # type: ignore[union-attr]

    def _interval(self) -> float:
        c = self.cfg
        return float(self.rng.uniform(c.mean_s - c.spread_s, c.mean_s + c.spread_s))

    def start(self) -> None:
        """Arm the first pulse (random mode); call once the devices have started."""
        self.running = True
        if self.device_train is not None:
            self.device_train.start(self)
        elif self.cfg.mode == "random":
            first = self.clock.now() + self._interval()
            self._at(first, lambda: self._pulse(first))

    def _pulse(self, deadline: float) -> None:
        if not getattr(self.clock, "realtime", True) and \
                self.clock.now() - self._last_activity > STALL_S:
            raise RigctlError(
                f"simulation stalled: nothing but sync pulses for {STALL_S:g} s of virtual time "
                "(a protocol state waits for an event that cannot come)")
        self.n_pulses += 1
        self._set(PULSE, True)
        self._at(self.clock.now() + self.cfg.width_s, lambda: self._set(PULSE, False))
        after = deadline + self._interval()
        self._at(after, lambda: self._pulse(after))

    def on_event(self, t: float, kind: str, name: str, value: str) -> None:
        """Session event listener: trial starts drive the trial TTL and the barcode."""
        if kind != KIND:
            self._last_activity = t
        if kind != "trial" or name != "start" or not self.running:
            return
        if self.trial_line is not None:
            self._set(TRIAL, True)
            self._at(t + self.cfg.trial_width_s, lambda: self._set(TRIAL, False))
        if self.cfg.mode == "barcode":
            try:
                number = int(str(value).split()[0])
            except (ValueError, IndexError):
                return
            if t < self._barcode_until:  # trials shorter than a barcode: never overlap two
                self.log(t, "warning", BARCODE, f"trial {number}: previous barcode still "
                                                "running; skipped")
                return
            self._barcode_until = t + self.cfg.barcode_s()
            self.log(t, KIND, BARCODE, str(number))
            for dt, level in barcode_edges(number, self.cfg):
                self._at(t + dt, lambda lv=level: self._set(PULSE, lv))

    def stop(self) -> list[str]:
        """Cancel what is scheduled and drive the lines low. Never raises: returns failures."""
        self.running = False
        for h in list(self._handles):
            self.timers.cancel(h)
        self._handles.clear()
        failures = self.device_train.stop() if self.device_train is not None else []
        for name, driver in ((PULSE, self.line), (TRIAL, self.trial_line)):
            if driver is None:
                continue
            try:
                driver.set(False)
                with contextlib.suppress(Exception):
                    if self._levels[name]:
                        self.log(self.clock.now(), KIND, name, "0")
                self._levels[name] = False
            except Exception as exc:  # noqa: BLE001 - the other line must still go low
                failures.append(f"{name}: {exc}")
        return failures


def build_sync(cfg: RigConfig, devices: dict[str, Device], clock: Clock, timers: Timers,
               log: LogFn, seed: int) -> SyncPulses | None:
    """The session's sync pulses from ``cfg.sync`` (None without one). The random intervals
    come from their own stream of the session seed, so adding sync pulses changes no other
    random draw of the session."""
    sc = cfg.sync
    if sc is None:
        return None
    device = devices[cfg.device_of(sc.channel)]
    try:
        train = device_train(device, sc)  # the device times the train where it can
    except ValueError as exc:
        raise RigctlError(f"rig config: {exc}") from None
    line = train if train is not None else device.digital_output(sc.channel, PULSE)
    trial_line = None
    if sc.trial_channel is not None:
        trial_line = devices[cfg.device_of(sc.trial_channel)].digital_output(
            sc.trial_channel, TRIAL)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SEED_STREAM,)))
    pulses = SyncPulses(sc, line, trial_line, clock, timers, log, rng)  # type: ignore[arg-type]
    if train is not None:
        pulses.device_train = DeviceTrainRunner(train, KIND, PULSE)
    return pulses
