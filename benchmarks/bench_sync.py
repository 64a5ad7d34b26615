"""Sync: alignment speed, and what sync pulses cost the input → output latency.

    python benchmarks/bench_sync.py [--quick]

- ``align``: :func:`rigctl.data.align.align` on rigctl's default pulses (5 ± 3 s) for a 1 h and a
  24 h recording, 5% of pulses dropped on each side, other clock at 10 kHz with 100 ppm drift.
- latency: the input edge → output command path of ``bench_latency.py`` (simulated rig, wall
  clock, event-driven loop) with and without sync pulses on the same loop, runs interleaved in
  one process so the ratio is fair. The pulses are made 100× denser than the default (every
  50 ± 30 ms, 5 ms wide) so that edges collide with them often enough to show up in the p99.
- frame clock: what recording a 1 kHz frame clock costs. Storage and CPU: ``FRAMES_S`` seconds
  of 1 kHz frames through the engine's frame path (``FrameClocks.take`` → ``frames_<input>.bin``),
  against the alternative of an ``events.csv`` row (with its CRC) per edge as every other input
  gets, both scaled to an hour; CPU time is process time, so other jobs on the machine do not
  inflate it. Latency: the same edge → output path with a 1 kHz frame clock (rising and falling
  edges, from the simulated microscope's exact-time queue) on the same loop, interleaved.
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


FRAMES_S = 600  # seconds of 1 kHz frame clock recorded for the storage and CPU numbers


def frame_cost(seconds: float) -> list[dict]:
    """Bytes and CPU per hour of a 1 kHz frame clock: frames file vs an events.csv row."""
    import tempfile

    from rigctl.data.writer import SessionWriter
    from rigctl.engine.frames import FrameClocks
    from rigctl.hardware.interfaces import InputEvent

    n = int(seconds * 1000)
    t = 0.5 + np.arange(n) / 1000.0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        w = SessionWriter(Path(tmp) / "s", {"protocol": {"parameters": {}}})
        frames = FrameClocks(["frame_clock"])
        frames.attach("frame_clock", w.open_frames("frame_clock", "sim/frame_clock"))
        edges = [InputEvent(float(x), "frame_clock", 1.0) for x in t]
        c0 = time.process_time()
        for k, ev in enumerate(edges):
            frames.take(ev)
            if k % 10_000 == 0:
                w._sync()  # a trial end every 10 s flushes and fsyncs, as in a session
        w.close("completed")
        cpu_bin = time.process_time() - c0
        size_bin = sum(f.stat().st_size for f in (Path(tmp) / "s").glob("frames_*"))
        w2 = SessionWriter(Path(tmp) / "e", {"protocol": {"parameters": {}}})
        before = (Path(tmp) / "e" / "events.csv").stat().st_size
        c0 = time.process_time()
        for k, x in enumerate(t):  # rising and falling edge, as any other input is logged
            w2.log_event(float(x), "input", "frame_clock", "1")
            w2.log_event(float(x) + 0.0005, "input", "frame_clock", "0")
            if k % 10_000 == 0:
                w2._sync()
        w2.close("completed")
        cpu_csv = time.process_time() - c0
        size_csv = (Path(tmp) / "e" / "events.csv").stat().st_size - before
    per_hour = 3600.0 / seconds
    for name, cpu, size in (("1 kHz frame clock -> frames_<input>.bin", cpu_bin, size_bin),
                            ("  alternative: an events.csv row per edge", cpu_csv, size_csv)):
        rows.append({"name": f"{name}, CPU per hour of recording", "unit": "%",
                     "value": 100 * cpu / seconds, "target": "", "ok": None})
        rows.append({"name": f"{name}, bytes per hour", "unit": "MB",
                     "value": size * per_hour / 1e6, "target": "", "ok": None})
    return rows


def rig_latency(n: int, frames_hz: float, seed: int) -> np.ndarray:
    """ms from a lick edge put into a real rig's event queue to the cue command it causes,
    with (``frames_hz``) or without a frame clock's edges put by the same reader thread, as an
    NI change-detection reader or the serial controller's reader thread puts them."""
    import tempfile
    import threading

    from rigctl.data.frames import FramesWriter
    from rigctl.engine.frames import FrameClocks
    from rigctl.engine.loop import ControlLoop
    from rigctl.hardware.events import QueueEventSource
    from rigctl.hardware.interfaces import InputEvent
    from rigctl.hardware.rig import Cue
    from rigctl.runtime.machine import StateMachine
    from rigctl.timing.clock import WallClock
    from rigctl.timing.timers import Timers
    from sim_backend.devices import SimCue

    clock = WallClock()
    source = QueueEventSource(clock)
    out: list[float] = []
    cue = Cue("go", SimCue(None, "bench"), clock,
              lambda t, kind, name, value: out.append(t) if kind == "output" else None)
    timers = Timers()

    def state(event: str) -> None:
        if event == "lick_left":
            cue.set(not cue.level)
            if len(out) >= n:
                machine.stop()

    machine = StateMachine(clock, timers, {"wait": state})
    loop = ControlLoop(clock, source, timers, machine, lambda *a: None)
    rng = np.random.default_rng(seed)
    t0 = clock.now() + 0.05
    licks = t0 + np.cumsum(rng.uniform(0.002, 0.006, n))
    plan = [(float(t), "lick_left", 1.0) for t in licks]
    tmp = tempfile.TemporaryDirectory()
    if frames_hz:
        loop.frames = FrameClocks(["frame_clock"])
        loop.frames.attach("frame_clock", FramesWriter(Path(tmp.name), "frame_clock", "x"))
        for k in range(int((licks[-1] - t0 + 0.5) * frames_hz)):
            t = t0 + (k + 0.3) / frames_hz
            plan += [(t, "frame_clock", 1.0), (t + 0.5 / frames_hz, "frame_clock", 0.0)]
    plan.sort()
    put: list[float] = []

    def reader() -> None:
        for t, name, value in plan:
            wait = t - clock.now()
            if wait > 0:
                time.sleep(wait)
            now = clock.now()
            if name == "lick_left":
                put.append(now)
            source.put(InputEvent(now, name, value))
            if machine.finished:
                return

    thread = threading.Thread(target=reader, daemon=True)
    machine.start("wait")
    thread.start()
    loop.run()
    thread.join(5)
    if loop.frames is not None:
        loop.frames.writers["frame_clock"].close()
    tmp.cleanup()
    m = min(len(out), len(put), n)
    return (np.array(out[:m]) - np.array(put[:m])) * 1000.0


def latency(n: int, with_sync: bool, seed: int, frames_hz: float = 0.0) -> np.ndarray:
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
    tmp = None
    if frames_hz:  # a microscope's frame-out on the same loop, recorded as in a session
        import tempfile

        from rigctl.data.frames import FramesWriter
        from rigctl.engine.frames import FrameClocks

        tmp = tempfile.TemporaryDirectory()
        loop.frames = FrameClocks(["frame_clock"])
        loop.frames.attach("frame_clock", FramesWriter(Path(tmp.name), "frame_clock", "x"))
        t0, span = clock.now() + 0.04, n * 0.006 + 1.0
        for k in range(int(span * frames_hz)):
            t = t0 + k / frames_hz
            world.schedule_exact(t, "frame_clock", 1.0)
            world.schedule_exact(t + 0.5 / frames_hz, "frame_clock", 0.0)
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
    if tmp is not None:
        assert loop.frames is not None
        loop.frames.writers["frame_clock"].close()
        tmp.cleanup()
    return (np.array(out[:n]) - np.array(edges[: len(out[:n])])) * 1000.0


def run(quick: bool = False) -> list[dict]:
    rows = []
    for hours in (1, 24):
        ms = align_speed(hours, 5 if quick else 20)
        rows.append({"name": f"align {hours} h of sync pulses (5% dropped each side)",
                     "unit": "ms", "value": float(np.median(ms)), "p50": float(np.median(ms)),
                     "p99": float(np.percentile(ms, 99)), "max": float(ms.max()),
                     "n": int(ms.size), "target": "", "ok": None})
    n, rounds = (1000, 2) if quick else (2500, 3)
    latency(50, True, 0)  # warm up
    latency(50, False, 0, frames_hz=1000.0)
    plain, synced, framed = [], [], []
    for r in range(rounds):  # interleaved, so machine noise hits all alike
        plain.append(latency(n, False, r))
        synced.append(latency(n, True, r))
        framed.append(latency(n, False, r, frames_hz=1000.0))
    p, s = np.concatenate(plain), np.concatenate(synced)
    for name, ms in (("input edge -> output, without sync pulses", p),
                     ("  same, sync pulses every 50 +- 30 ms on the loop", s)):
        rows.append({"name": name, "unit": "ms", "value": float(np.median(ms)),
                     "p50": float(np.median(ms)), "p99": float(np.percentile(ms, 99)),
                     "max": float(ms.max()), "n": int(ms.size), "target": "", "ok": None})
    ratio = float(np.percentile(s, 99) / np.percentile(p, 99))
    rows.append({"name": "  p99 with / without sync pulses", "unit": "x", "value": ratio,
                 "target": "<= 1.5x", "ok": ratio <= 1.5})
    f = np.concatenate(framed)
    rows.append({"name": "  same, a 1 kHz frame clock recorded on the loop", "unit": "ms",
                 "value": float(np.median(f)), "p50": float(np.median(f)),
                 "p99": float(np.percentile(f, 99)), "max": float(f.max()), "n": int(f.size),
                 "target": "", "ok": None})
    ratio = float(np.percentile(f, 99) / np.percentile(p, 99))
    rows.append({"name": "  p99 with / without the 1 kHz frame clock", "unit": "x",
                 "value": ratio, "target": "<= 1.5x", "ok": ratio <= 1.5})
    plain, framed = [], []
    rig_latency(50, 1000.0, 0)  # warm up
    for r in range(rounds):
        plain.append(rig_latency(n, 0.0, r))
        framed.append(rig_latency(n, 1000.0, r))
    p, f = np.concatenate(plain), np.concatenate(framed)
    for name, ms in (("rig event queue: input edge -> output, no frame clock", p),
                     ("  same, a 1 kHz frame clock from the same reader thread", f)):
        rows.append({"name": name, "unit": "ms", "value": float(np.median(ms)),
                     "p50": float(np.median(ms)), "p99": float(np.percentile(ms, 99)),
                     "max": float(ms.max()), "n": int(ms.size), "target": "", "ok": None})
    ratio = float(np.percentile(f, 99) / np.percentile(p, 99))
    rows.append({"name": "  p99 with / without the 1 kHz frame clock (rig queue)", "unit": "x",
                 "value": ratio, "target": "<= 1.5x", "ok": ratio <= 1.5})
    return rows + frame_cost(60 if quick else FRAMES_S)


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
