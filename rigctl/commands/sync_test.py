"""``rigctl sync-test CONFIG``: pulse each sync line and check the rig sees it, before a session.

For every sync line of the config's ``sync:`` section (``channel``, and ``trial_channel`` if
set) with a readback input (``readback_channel``, ``trial_readback_channel``: an input wired to
the line, or to the other system's copy of it), sends ``--pulses`` pulses of the line's width and
reports per line: pulses sent, rising edges read back, and the delay from the command having
been sent to the edge.
PASS needs every pulse back within ``--timeout-ms``; a line without a readback input is
reported as not checkable (exit 1), never as passed. Outputs are off at the end on every path.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

NAME = "sync-test"
HELP = "pulse each sync line and read it back (run before the animal is in the box)"


@dataclass
class LineResult:
    line: str  # config field of the output, e.g. sync.channel
    channel: str
    readback: str | None
    sent: int = 0
    delays_ms: list[float] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.readback is not None and self.sent > 0 and len(self.delays_ms) == self.sent

    def line_text(self) -> str:
        if self.readback is None:
            return (f"NOT CHECKED  {self.line} {self.channel}: no readback input (set "
                    f"{self.line.replace('channel', 'readback_channel')})")
        got = len(self.delays_ms)
        verdict = "PASS" if self.passed else "FAIL"
        text = f"{verdict:11}  {self.line} {self.channel} -> {self.readback}: {got}/{self.sent}"
        if got:
            text += (f" pulses back, delay median {sorted(self.delays_ms)[got // 2]:.2f} ms, "
                     f"max {max(self.delays_ms):.2f} ms")
        else:
            text += " pulses back (check the wiring and the input's channel)"
        return text


def pulse_and_read(driver, events, clock, role: str, result: LineResult, n: int,
                   width_s: float, timeout_s: float) -> None:
    """Send ``n`` pulses on ``driver``; count rising ``role`` edges from ``events`` after each."""
    from rigctl.hardware.interfaces import InputEvent

    for _ in range(n):
        driver.set(True)
        t0 = clock.now()  # the command has left rigctl (a first command may warm up a driver)
        result.sent += 1
        seen: float | None = None
        off_at, end, high = t0 + width_s, t0 + max(width_s, timeout_s), True
        while True:
            now = clock.now()
            if high and now >= off_at:
                driver.set(False)
                high = False
            if not high and (seen is not None or now >= end):
                break
            ev = events.next_event(off_at if high else end)
            if isinstance(ev, InputEvent) and ev.name == role and ev.value and seen is None:
                seen = ev.t
        if seen is not None:
            result.delays_ms.append(max(0.0, (seen - t0) * 1e3))
        rest = clock.now() + width_s  # the line rests as long as it was high
        while clock.now() < rest:
            events.next_event(rest)


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="rig config with a sync: section")
    p.add_argument("--pulses", type=int, default=5, help="pulses per line (default 5)")
    p.add_argument("--timeout-ms", type=float, default=100.0,
                   help="longest acceptable delay from command to read-back edge (default 100)")


def run(args: argparse.Namespace) -> int:
    import contextlib

    import numpy as np

    from rigctl.config import Subject, load_rig
    from rigctl.engine.sync import PULSE, TRIAL
    from rigctl.errors import RigctlError
    from rigctl.hardware.rig import open_rig
    from rigctl.timing.clock import WallClock
    from rigctl.timing.timers import Timers

    if args.pulses < 1:
        raise RigctlError(f"--pulses: must be at least 1 (got {args.pulses})")
    cfg = load_rig(args.config)
    sc = cfg.sync
    if sc is None:
        raise RigctlError(f"{args.config}: no sync: section; nothing to test (docs/sync.md)")
    cfg = cfg.model_copy(update={"neural_signal": None})
    plan = [("sync.channel", sc.channel, sc.readback_channel, PULSE, sc.width_s)]
    if sc.trial_channel is not None:
        plan.append(("sync.trial_channel", sc.trial_channel, sc.trial_readback_channel, TRIAL,
                     sc.trial_width_s))
    clock = WallClock()
    rig = open_rig(cfg, clock, Timers(), lambda *a: None, subject=Subject(id="sync-test"),
                   seed=np.random.SeedSequence(0), source=args.config)
    devices = rig.devices
    results, drivers = [], []
    try:
        for path, channel, readback, role, _ in plan:
            drivers.append(devices[cfg.device_of(channel)].digital_output(channel, role))
            if readback is not None:
                devices[cfg.device_of(readback)].digital_input(readback, f"{role}_readback")
            results.append(LineResult(path, channel, readback))
        rig.start()
        for (_, _, readback, role, width), driver, res in zip(plan, drivers, results,
                                                              strict=True):
            if readback is not None:
                pulse_and_read(driver, rig.events, clock, f"{role}_readback", res,
                               args.pulses, width, args.timeout_ms / 1e3)
    finally:
        for driver in drivers:
            with contextlib.suppress(Exception):  # every line must be tried
                driver.set(False)
        rig.all_off()
        rig.close()
        with contextlib.suppress(Exception):
            rig.events.close()
    for res in results:
        print(res.line_text())
    return 0 if all(r.passed for r in results) else 1
