"""Sync: alignment speed, and what sync pulses cost the input → output latency.

    python benchmarks/bench_sync.py [--quick]

- ``align``: :func:`rigctl.data.align.align` on rigctl's default pulses (5 ± 3 s) for a 1 h and a
  24 h recording, 5% of pulses dropped on each side, other clock at 10 kHz with 100 ppm drift.
- latency: the input edge → output command path of ``bench_latency.py`` (simulated rig, wall
  clock, event-driven loop) with and without sync pulses on the same loop, runs interleaved in
  one process so the ratio is fair. The pulses are made 100× denser than the default (every
  50 ± 30 ms, 5 ms wide) so that edges collide with them often enough to show up in the p99.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
for p in (str(HERE.parent), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)


def _trains(hours: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 / 5)
    a = np.cumsum(rng.uniform(2, 8, n))
    b = np.floor((7.5 + (1 + 100e-6) * a) * 1e4) / 1e4
    return a[rng.random(n) >= 0.05], b[rng.random(n) >= 0.05]


def align_speed(hours: float, repeats: int) -> np.ndarray:
    from rigctl.data.align import align

    a, b = _trains(hours, 1)
    align(a, b)  # warm-up
    ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        align(a, b)
        ms.append((time.perf_counter() - t0) * 1e3)
    return np.array(ms)


def latency(n: int, with_sync: bool, seed: int) -> np.ndarray:
    """ms from each scheduled lick edge to the cue command it causes (bench_latency's path)."""
    from bench_latency import _edges, _handler_rig, _world

    from rigctl.config.sync import SyncConfig
    from rigctl.engine.loop import ControlLoop
    from rigctl.engine.sync import SyncPulses
    from rigctl.runtime.machine import StateMachine
    from rigctl.timing.clock import WallClock
    from rigctl.timing.timers import Timers
    from sim_backend.devices import SimCue

    clock = WallClock()
    world = _world(clock)
    cue, out = _handler_rig(clock, world)
    timers = Timers()

    def state(event: str) -> None:
        if event == "lick_left":
            cue.set(not cue.level)
            if len(out) >= n:
                machine.stop()

    machine = StateMachine(clock, timers, {"wait": state})
    loop = ControlLoop(clock, world, timers, machine, lambda *a: None)
    sync = None
    if with_sync:
        cfg = SyncConfig(channel="sim/sync", mean_s=0.05, spread_s=0.03, width_s=0.005)
        sync = SyncPulses(cfg, SimCue(world, "sync"), None, clock, timers, lambda *a: None,
                          np.random.default_rng(seed))
    edges = _edges(clock, world, n, np.random.default_rng(seed), clock.now() + 0.05)
    machine.start("wait")
    if sync is not None:
        sync.start()
    loop.run()
    if sync is not None:
        sync.stop()
    return (np.array(out[:n]) - np.array(edges[: len(out[:n])])) * 1000.0


def run(quick: bool = False) -> list[dict]:
    rows = []
    for hours in (1, 24):
        ms = align_speed(hours, 5 if quick else 20)
        rows.append({"name": f"align {hours} h of sync pulses (5% dropped each side)",
                     "unit": "ms", "value": float(np.median(ms)), "p50": float(np.median(ms)),
                     "p99": float(np.percentile(ms, 99)), "max": float(ms.max()),
                     "n": int(ms.size), "target": "", "ok": None})
    n, rounds = (1000, 2) if quick else (2500, 4)
    latency(50, True, 0)  # warm up
    plain, synced = [], []
    for r in range(rounds):  # interleaved, so machine noise hits both alike
        plain.append(latency(n, False, r))
        synced.append(latency(n, True, r))
    p, s = np.concatenate(plain), np.concatenate(synced)
    for name, ms in (("input edge -> output, without sync pulses", p),
                     ("  same, sync pulses every 50 +- 30 ms on the loop", s)):
        rows.append({"name": name, "unit": "ms", "value": float(np.median(ms)),
                     "p50": float(np.median(ms)), "p99": float(np.percentile(ms, 99)),
                     "max": float(ms.max()), "n": int(ms.size), "target": "", "ok": None})
    ratio = float(np.percentile(s, 99) / np.percentile(p, 99))
    rows.append({"name": "  p99 with / without sync pulses", "unit": "x", "value": ratio,
                 "target": "<= 1.5x", "ok": ratio <= 1.5})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    for r in run(ap.parse_args(argv).quick):
        extra = "".join(f"  {k} {r[k]:.3f}" for k in ("p99", "max") if k in r)
        ok = {True: "yes", False: "NO", None: ""}[r["ok"]]
        print(f"{r['name']:60} {r['value']:9.3f} {r['unit']:4}{extra}  {r['target']} {ok}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
