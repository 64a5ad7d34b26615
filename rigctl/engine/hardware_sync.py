"""Sync pulses timed by the device that carries the line, logged from the edges it reports.

The engine's own timers (:mod:`rigctl.engine.sync`) fire a few ms late on a loaded host; a
reward controller's firmware or an NI card times a train to microseconds. When the sync line's
device offers ``sync_train(channel)`` (:class:`rigctl.hardware.sync_train.SyncTrain`) and the
mode is ``random``, the engine hands the train to it: the seed is drawn from the session's sync
stream (so a seeded session pulses at the same intervals every run), and the edges the device
reports are logged as the usual ``sync`` rows — at the device's time of each edge, mapped to
the session clock, with the raw device time in ``device_t`` — so ``rigctl align`` reads them as
it reads engine-timed pulses. The barcode mode and the trial-start TTL stay engine-timed.

Edges are collected every ``POLL_S`` by a timer on the control loop (the log is written only
there), so a sync row can be logged up to ``POLL_S`` after rows with later times; readers order
by ``t_s``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rigctl.errors import RigctlError
from rigctl.hardware.sync_train import SyncTrain, TrainSpec

if TYPE_CHECKING:
    from rigctl.config.sync import SyncConfig
    from rigctl.engine.sync import SyncPulses

log = logging.getLogger(__name__)

POLL_S = 0.1


def device_train(device: Any, cfg: SyncConfig) -> SyncTrain | None:
    """The device's own timer for ``cfg``'s random train, or None (the engine times it: the
    mode is not random, or the device cannot, or is configured not to)."""
    if cfg.mode != "random" or not callable(getattr(device, "sync_train", None)):
        return None
    TrainSpec.from_seconds(1, cfg.mean_s, cfg.spread_s, cfg.width_s, "sync")  # checked now
    train: SyncTrain | None = device.sync_train(cfg.channel)
    return train


class DeviceTrainRunner:
    """Starts a device-timed train for a :class:`SyncPulses` and logs the edges it reports."""

    def __init__(self, train: SyncTrain, kind: str, name: str) -> None:
        self.train, self.kind, self.name = train, kind, name
        self.high = False
        self._pulses: SyncPulses | None = None
        self._handle: int | None = None

    def start(self, pulses: SyncPulses) -> None:
        c = pulses.cfg
        seed = int(pulses.rng.integers(1, 2**32))
        try:
            spec = TrainSpec.from_seconds(seed, c.mean_s, c.spread_s, c.width_s, "sync")
        except ValueError as exc:
            raise RigctlError(str(exc)) from None
        self._pulses = pulses
        log.info("sync pulses timed by the device: seed %d, %d±%d ms, %d ms pulses", seed,
                 spec.mean_ms, spec.spread_ms, spec.width_ms)
        self.train.start(spec)
        self._arm()

    def _arm(self) -> None:
        assert self._pulses is not None
        p = self._pulses
        self._handle = p.timers.set_at(p.clock.now() + POLL_S, self._poll)

    def _poll(self) -> None:
        self._handle = None
        self.drain()
        if self._pulses is not None and self._pulses.running:
            self._arm()

    def drain(self) -> None:
        """Log the edges reported since the last call."""
        p = self._pulses
        if p is None:
            return
        for edge in self.train.edges():
            if edge.level == self.high:
                continue
            self.high = edge.level
            if edge.level:
                p.n_pulses += 1
            p.log(edge.t, self.kind, self.name, "1" if edge.level else "0", edge.device_t)

    def stop(self) -> list[str]:
        """End the train, log its last edges; the line is low after. Never raises."""
        p = self._pulses
        if p is None:
            return []
        if self._handle is not None:
            p.timers.cancel(self._handle)
            self._handle = None
        failures = []
        try:
            problem = self.train.stop()
        except Exception as exc:  # noqa: BLE001 - the line must still be driven low
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            failures.append(f"{self.name}: {problem}")
        try:
            self.drain()
            if self.high:  # its fall was not reported: the line is driven low by hand now
                self.train.set(False)
                p.log(p.clock.now(), self.kind, self.name, "0")
                self.high = False
        except Exception as exc:  # noqa: BLE001 - shutting down must go on
            failures.append(f"{self.name}: {exc}")
        self._pulses = None
        return failures
