"""Input edge → output command latency on the simulated rig, wall-clock mode.

    python benchmarks/bench_latency.py [--quick]

The product's own code path: the simulated world (the rig's event source) delivers lick edges at
random times 2-6 ms apart on the wall clock; the control loop dispatches each to a state handler
that commands a cue output through the rig's Cue wrapper. Latency = wall time of the output
command − scheduled time of the edge. Beside it, the same handler driven by a naive loop that
sleeps 1 ms and then polls (pyControl-style fixed tick), so the event-driven design's gain is a
ratio measured in the same run.

Also: predictor threshold crossing → laser command in a short wall-clock closed-loop session:
loop iterations between the two (by design 0: the crossing is dispatched inside the iteration
that processed its samples) and microseconds from the end of the crossing sample to the command.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_P50_MS, TARGET_P99_MS = 0.1, 0.5


def _world(clock):
    from rigctl.config import Subject
    from sim_backend.agents import Agent
    from sim_backend.mouse import SimMouse
    from sim_backend.settings import SimSettings
    from sim_backend.world import SimWorld

    s = SimSettings()
    return SimWorld(clock, s, Agent(SimMouse(Subject(), s.mouse, np.random.SeedSequence(0))))


def _edges(clock, world, n: int, rng: np.random.Generator, t_first: float) -> list[float]:
    times = t_first + np.cumsum(rng.uniform(0.002, 0.006, n))
    times = np.round(times, 3)  # the world lives on a 1 kHz grid
    for t in times:
        world.schedule_input(float(t), "lick_left", 1.0)
    return [float(t) for t in times]


def _handler_rig(clock, world):
    from rigctl.hardware.rig import Cue
    from sim_backend.devices import SimCue

    out: list[float] = []

    def log(t, kind, name, value):
        if kind == "output":
            out.append(t)

    cue = Cue("go", SimCue(world, "bench"), clock, log)
    return cue, out


def event_driven(n: int) -> np.ndarray:
    from rigctl.engine.loop import ControlLoop
    from rigctl.runtime.machine import StateMachine
    from rigctl.timing.clock import WallClock
    from rigctl.timing.timers import Timers

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
    edges = _edges(clock, world, n, np.random.default_rng(1), clock.now() + 0.05)
    machine.start("wait")
    loop.run()
    return (np.array(out[:n]) - np.array(edges[: len(out[:n])])) * 1000.0


def naive_tick(n: int) -> np.ndarray:
    from rigctl.timing.clock import WallClock

    clock = WallClock()
    world = _world(clock)
    cue, out = _handler_rig(clock, world)
    edges = _edges(clock, world, n, np.random.default_rng(1), clock.now() + 0.05)
    while len(out) < n:
        time.sleep(0.001)  # the fixed 1 ms tick
        now = clock.now()
        while world.next_time() <= now:
            ev = world.next_event(now)
            if ev is not None and ev.value:
                cue.set(not cue.level)
    return (np.array(out[:n]) - np.array(edges[:n])) * 1000.0


def crossing_to_laser(n_trials: int) -> tuple[np.ndarray, int]:
    """µs from the end of the crossing sample to the laser command; iterations in between."""
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import Subject, load_rig
    from rigctl.engine.session import Session, SessionOptions

    base = yaml.safe_load((ROOT / "hardware_configs" / "sim.yaml").read_text())
    base["devices"]["sim"]["mouse"] = {"rt_median_s": 0.05, "licks_per_ul": 0.5}
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = Path(tmp) / "rig.yaml"
        cfg_path.write_text(yaml.safe_dump(base))
        cfg = load_rig(str(cfg_path))
        spec = resolve_protocol(None, cfg, str(cfg_path), {
            "n_trials": n_trials, "stim_mode": "closed_loop", "laser_fraction": 1.0,
            "max_consecutive": n_trials,  # every trial a laser trial: one run of n_trials
            "delays_s": [1.5], "iti_s": 0.1, "sample_s": 0.2, "reward_consumption_s": 0.1,
            "timeout_s": 0.1, "response_window_s": 1.0, "predictor": {"threshold": 0.45},
        })
        session = Session(cfg, SessionOptions(Subject(), spec, Path(tmp), seed=1, realtime=True))
        lat: list[float] = []
        pending: dict[str, float] = {}
        later: list[int] = []  # crossings in a delay whose command came in a later iteration
        original = session.loop.handle_input

        def handle(ev):
            if ev.name != "ca_crossing":
                original(ev)
                return
            in_delay = session.machine.state == "delay" and session.rig.laser is not None \
                and not session.rig.laser.is_on
            pending.clear()
            original(ev)
            if "t" in pending:
                lat.append((pending["t"] - ev.t) * 1e6)
            elif in_delay and session.protocol.trial.trial_type == "laser":
                later.append(1)

        def on_event(t, kind, name, value):
            if kind == "output" and name == "laser" and value.endswith("mW"):
                pending["t"] = session.clock.now()

        session.loop.handle_input = handle  # type: ignore[method-assign]
        session.event_listeners.append(on_event)
        session.run()
    return np.array(lat), len(later)


def _row(name: str, ms: np.ndarray, target: str, ok: bool | None) -> dict:
    return {"name": name, "unit": "ms", "value": float(np.median(ms)),
            "p50": float(np.median(ms)), "p99": float(np.percentile(ms, 99)),
            "max": float(ms.max()), "n": int(ms.size), "target": target, "ok": ok}


def run(quick: bool = False) -> list[dict]:
    n = 2000 if quick else 5000
    event_driven(50)  # warm up imports and the JIT
    ev = event_driven(n)
    tick = naive_tick(n // 2)
    rows = [
        _row("input edge -> output, sim rig, wall clock (event-driven)", ev,
             f"p50 <= {TARGET_P50_MS} ms, p99 <= {TARGET_P99_MS} ms",
             bool(np.median(ev) <= TARGET_P50_MS and np.percentile(ev, 99) <= TARGET_P99_MS)),
        _row("  same, naive fixed 1 ms tick loop", tick, "", None),
    ]
    rows.append({"name": "  tick / event-driven (p50 ratio)", "unit": "x",
                 "value": float(np.median(tick) / np.median(ev)), "target": "", "ok": None})
    lat_us, iters = crossing_to_laser(4 if quick else 20)
    rows.append({"name": "predictor crossing -> laser command", "unit": "us",
                 "value": float(np.median(lat_us)), "p50": float(np.median(lat_us)),
                 "p99": float(np.percentile(lat_us, 99)), "n": int(lat_us.size),
                 "target": "same loop iteration", "ok": iters == 0,
                 "note": f"{iters} crossings answered in a later loop iteration"})
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
