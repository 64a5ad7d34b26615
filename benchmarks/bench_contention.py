"""Several wall-clock sessions at once on one PC: what they do to each other's timing.

    python benchmarks/bench_contention.py [--quick] [--n 1 2 4] [--seconds S]

N simulated rigs (hardware_configs/sim.yaml, renamed per rig; and the serial emulators of
hardware_configs/serial_sim.yaml) each run a real wall-clock :class:`Session` in its own
process, as ``rigctl experiment`` runs them, all started together. Per rig:

- **input → output**: wall time when the state handler of a lick edge has returned (outputs
  commanded) − the edge's scheduled time, for every lick of the session;
- **state-timer lateness**: wall time a state timer's callback runs − its deadline.

Reported: p50/p99 of each over every rig of a run, the ratio to N = 1, and the largest N with
every rig's p99 input→output ≤ 1 ms. The simulated rig runs with its wall-clock signal chunk
of 1 ms and 5 ms (``signal_chunk_s`` of the sim device), so the cost of the 1 ms wake-ups is
measured, not guessed. The load average is printed beside the numbers: on a shared machine
they are an upper bound of what a quiet lab PC would show.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FAST = {"iti_s": 0.3, "sample_s": 0.2, "delays_s": [0.5, 1.0], "response_window_s": 1.0,
        "reward_consumption_s": 0.3, "timeout_s": 0.3, "n_trials": 100000}


def _config(tmp: Path, base: str, i: int, chunk_s: float | None) -> Path:
    data = yaml.safe_load((ROOT / "hardware_configs" / base).read_text())
    data["name"] = f"{data['name']}-{i}"
    if chunk_s is not None:
        data["devices"]["sim"]["signal_chunk_s"] = chunk_s
    data["protocol"]["parameters"].update(FAST)
    path = tmp / f"rig{i}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _worker(config: str, data: str, seconds: float, go, out) -> None:  # type: ignore[no-untyped-def]
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import Subject, load_rig
    from rigctl.engine.session import Session, SessionOptions

    cfg = load_rig(config)
    spec = resolve_protocol(None, cfg, config)
    session = Session(cfg, SessionOptions(Subject(id=f"M{os.getpid()}"), spec, Path(data),
                                          seed=1, realtime=True, summary_figure=False))
    clock = session.clock
    lat: list[float] = []
    late: list[float] = []
    original = session.loop.handle_input

    def handle(ev):  # type: ignore[no-untyped-def]
        original(ev)
        if ev.name.startswith("lick") and ev.value:
            lat.append(clock.now() - ev.t)

    session.loop.handle_input = handle  # type: ignore[method-assign]
    set_at = session.timers.set_at

    def timed(t, cb):  # type: ignore[no-untyped-def]
        def fire() -> None:
            late.append(clock.now() - t)
            cb()
        return set_at(t, fire)

    session.timers.set_at = timed  # type: ignore[method-assign]
    session.open()
    go.wait()
    session.timers.set_at(clock.now() + seconds, session.protocol.finish)
    result = session.run()
    out.put({"lat_ms": np.array(lat) * 1e3, "late_ms": np.array(late) * 1e3,
             "trials": result.n_trials, "status": result.status})


def run_n(base: str, n: int, seconds: float, chunk_s: float | None) -> list[dict]:
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        go, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(str(_config(Path(tmp), base, i, chunk_s)),
                                                   tmp, seconds, go, out))
                 for i in range(n)]
        for p in procs:
            p.start()
        time.sleep(1.0)
        go.set()  # the sessions' windows overlap: each waits for this before running
        results = [out.get(timeout=seconds + 240) for _ in procs]
        for p in procs:
            p.join(30)
    return results


def _pct(a: np.ndarray, q: float) -> float:
    return float(np.percentile(a, q)) if a.size else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="12 s sessions, N = 1, 2, 4")
    ap.add_argument("--n", type=int, nargs="+", default=None)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--no-serial", action="store_true")
    args = ap.parse_args(argv)
    seconds = args.seconds or (12.0 if args.quick else 60.0)
    ns = args.n or ([1, 2, 4] if args.quick else [1, 2, 4, 8])
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} CPUs; {seconds:g} s wall-clock sessions")
    cases = [("sim.yaml", 0.001), ("sim.yaml", 0.005)]
    if not args.no_serial:
        cases.append(("serial_sim.yaml", None))
    print(f"{'rig':<16}{'chunk':>6}{'N':>3}  {'in->out p50':>11} {'p99':>7} {'x N=1':>6}   "
          f"{'timer late p50':>14} {'p99':>7}  {'trials':>6}  load")
    for base, chunk in cases:
        ref = None
        best = 0
        for n in (ns if base == "sim.yaml" else [x for x in ns if x <= 2]):
            res = run_n(base, n, seconds, chunk)
            lat = np.concatenate([r["lat_ms"] for r in res])
            late = np.concatenate([r["late_ms"] for r in res])
            worst_p99 = max(_pct(r["lat_ms"], 99) for r in res)
            p99 = _pct(lat, 99)
            ref = ref if ref is not None else p99
            if worst_p99 <= 1.0:
                best = n
            print(f"{base:<16}{'' if chunk is None else f'{chunk * 1e3:g}ms':>6}{n:>3}  "
                  f"{_pct(lat, 50):11.3f} {p99:7.3f} {p99 / ref:6.2f}   "
                  f"{_pct(late, 50):14.3f} {_pct(late, 99):7.3f}  "
                  f"{sum(r['trials'] for r in res):>6}  {os.getloadavg()[0]:.2f}", flush=True)
        print(f"  largest N with every rig's p99 input->output <= 1 ms: {best or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
