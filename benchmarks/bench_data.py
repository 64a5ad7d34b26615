"""Benchmark of the crash-safe session writer: what durability costs the control loop.

    python benchmarks/bench_data.py [--quick] [--dir FOLDER]

Measures, on the filesystem of ``--dir`` (default: the system temp folder; use the rig's data
disk for numbers that matter):

- the per-trial sync (``SessionWriter.write_trial``: flush + fsync of events.csv, signals.bin
  and trials.csv) after a realistic trial: 30 event lines and 10 s of the four closed-loop
  channels at 1 kHz (160 kB), p50/p99 over many trials;
- the same without signals (trials.csv + events.csv only);
- ``SignalWriter.append`` of a 10-sample block, the call the control loop makes per signal
  chunk, per sample.

The sync runs in the control loop when a trial ends (at the start of the inter-trial interval,
2 s by default), so its p99 must stay far below the ITI; an input arriving during it waits.
``run(quick)`` returns the rows as dicts for ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    from rigctl.data.writer import SessionWriter
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from rigctl.data.writer import SessionWriter

from rigctl.data.signals import SignalWriter
from rigctl.protocols.trial import TrialRecord

CHANNELS = ("neural_signal", "calcium", "gliotransmission", "laser_mw")
RATE_HZ = 1000.0
TRIAL_S = 10.0
EVENTS_PER_TRIAL = 30
BLOCK = 10
SYNC_TARGET_MS = 50.0  # p99: a small fraction of the 2 s default ITI
APPEND_TARGET_US = 1.0  # per sample: half the predictor's 2 µs budget


def _sync_row(root: Path, n_trials: int, signals: bool) -> dict:
    folder = root / f"session-{'sig' if signals else 'nosig'}"
    w = SessionWriter(folder, {"subject": {"id": "bench"}, "seed": 0})
    sig = w.open_signals(CHANNELS, RATE_HZ) if signals else None
    per_trial = int(TRIAL_S * RATE_HZ)
    block = np.random.default_rng(0).random((BLOCK, len(CHANNELS))).astype(np.float32)
    times = np.empty(n_trials, dtype=np.int64)
    t = 0.0
    for k in range(n_trials):
        for e in range(EVENTS_PER_TRIAL):
            w.log_event(t + e * 0.1, "input", "lick_left", str(e % 2))
        if sig is not None:
            for _ in range(per_trial // BLOCK):
                sig.append(sig.n_samples, block)
        rec = TrialRecord(trial=k + 1, start_s=t, end_s=t + TRIAL_S, trial_type="control",
                          delay_s=5.0, stim_mode="off", correct_side="left", choice="left",
                          correct=1, outcome="correct", reaction_time_s=0.4, reward_ul=4.0)
        t0 = time.perf_counter_ns()
        w.write_trial(rec)
        times[k] = time.perf_counter_ns() - t0
        t += TRIAL_S
    w.close("completed")
    p50, p99 = np.percentile(times, [50, 99]) / 1e6
    what = "trials+events+signals (10 s x 4 ch @ 1 kHz)" if signals else "trials+events"
    return {
        "name": f"per-trial fsync, {what}",
        "unit": "ms",
        "p50": float(p50),
        "p99": float(p99),
        "value": float(p50),
        "target": f"p99 <= {SYNC_TARGET_MS:g}",
        "ok": bool(p99 <= SYNC_TARGET_MS),
    }


def _append_row(root: Path, n_calls: int) -> dict:
    block = np.random.default_rng(1).random((BLOCK, len(CHANNELS))).astype(np.float32)
    times = np.empty(n_calls, dtype=np.int64)
    clock = time.perf_counter_ns
    with SignalWriter(root / "append.bin", CHANNELS, RATE_HZ) as w:
        append = w.append
        for k in range(min(2000, n_calls)):  # warm-up
            append(k * BLOCK, block)
        n0 = w.n_samples
        for k in range(n_calls):
            t0 = clock()
            append(n0 + k * BLOCK, block)
            times[k] = clock() - t0
    p50, p99 = np.percentile(times, [50, 99]) / 1000.0 / BLOCK
    return {
        "name": f"SignalWriter.append, {BLOCK}-sample block",
        "unit": "µs/sample",
        "p50": float(p50),
        "p99": float(p99),
        "value": float(p50),
        "target": f"<= {APPEND_TARGET_US:g}",
        "ok": bool(p50 <= APPEND_TARGET_US),
    }


def run(quick: bool = False, folder: str | None = None) -> list[dict]:
    """Run all measurements; ``quick`` shortens them (noisier, for CI smoke runs)."""
    n_trials = 20 if quick else 200
    n_calls = 5_000 if quick else 100_000
    with tempfile.TemporaryDirectory(dir=folder, prefix="rigctl-bench-data-") as tmp:
        root = Path(tmp)
        return [
            _sync_row(root, n_trials, signals=True),
            _sync_row(root, n_trials, signals=False),
            _append_row(root, n_calls),
        ]


def _format(rows: list[dict]) -> str:
    lines = [f"{'benchmark':58} {'p50':>9} {'p99':>9} {'unit':10} {'target':16} ok"]
    for r in rows:
        ok = {True: "yes", False: "NO", None: ""}[r["ok"]]
        lines.append(f"{r['name']:58} {r['p50']:9.3f} {r['p99']:9.3f} {r['unit']:10} "
                     f"{r['target']:16} {ok}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--dir", default=None, help="measure on this folder's filesystem")
    args = ap.parse_args(argv)
    print(_format(run(args.quick, args.dir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
