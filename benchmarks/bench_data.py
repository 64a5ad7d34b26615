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
- what the integrity data (format 3: a CRC-32 per CSV row, a CRC-32 per signals block) cost,
  each against the same code with the checksums switched off, in the same run: a trial's rows
  (30 events + the trial row, formatted and written, no fsync) and the signals append;
- loader throughput: ``load_session`` (trials + events + signals check) and ``load_sessions`` over
  100 sessions of 50 trials, with this rigctl on format-3 folders and, as "before", the loader
  of ``--baseline`` (a git ref, default ``main``; extracted to a temporary folder) on the same
  sessions written as format 2 (no checksums).

The sync runs in the control loop when a trial ends (at the start of the inter-trial interval,
2 s by default), so its p99 must stay far below the ITI; an input arriving during it waits.
``run(quick)`` returns the rows as dicts for ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
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

ROOT = Path(__file__).resolve().parents[1]
N_SESSIONS = 100
SESSION_TRIALS = 50

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


class _PlainRows:
    """Rows as format 2 wrote them (csv, no checksum): the 'without integrity' side."""

    def __init__(self) -> None:
        import csv
        import io

        self._buf = io.StringIO()
        self._csv = csv.writer(self._buf, lineterminator="\n")

    def line(self, cells) -> str:
        self._buf.seek(0)
        self._buf.truncate()
        self._csv.writerow(cells)
        return self._buf.getvalue()


def _rec(k: int, t: float) -> TrialRecord:
    return TrialRecord(trial=k + 1, start_s=t, end_s=t + TRIAL_S, trial_type="control",
                       delay_s=5.0, stim_mode="off", correct_side="left", choice="left",
                       correct=1, outcome="correct", reaction_time_s=0.4, reward_ul=4.0)


def _rows_ratio_row(root: Path, n_trials: int) -> dict:
    """A trial's rows (30 events + the trial row) formatted and written, without the fsync,
    with and without the checksum, alternating so both see the same machine."""
    from dataclasses import asdict

    from rigctl.data.writer import fmt
    from rigctl.protocols.trial import COLUMNS

    times = {True: [], False: []}
    for integrity in (True, False):  # warm-up
        w = SessionWriter(root / f"rows-warm-{integrity}", {"subject": {"id": "bench"}})
        w.close("completed")
    writers = {i: SessionWriter(root / f"rows-{i}", {"subject": {"id": "bench"}})
               for i in (True, False)}
    writers[False]._rows = _PlainRows()  # type: ignore[assignment]
    for k in range(n_trials):
        for integrity in ((True, False) if k % 2 else (False, True)):
            w = writers[integrity]
            rec = _rec(k, k * TRIAL_S)
            t0 = time.perf_counter_ns()
            for e in range(EVENTS_PER_TRIAL):
                w.log_event(k * TRIAL_S + e * 0.1, "input", "lick_left", str(e % 2))
            row = asdict(rec)
            w._trials_f.write(w._rows.line([fmt(row[c]) for c in COLUMNS]))
            times[integrity].append(time.perf_counter_ns() - t0)
    for w in writers.values():
        w.close("completed")
    on, off = (np.percentile(times[i], 50) / 1000.0 for i in (True, False))
    return {"name": "trial rows (30 events + trial), with CRC vs without", "unit": "ratio",
            "p50": float(on), "p99": float(off), "value": float(on / off),
            "target": f"{on:.0f} vs {off:.0f} us p50", "ok": None}


def _append_ratio_row(root: Path, n_calls: int) -> dict:
    block = np.random.default_rng(2).random((BLOCK, len(CHANNELS))).astype(np.float32)
    times = {True: np.empty(n_calls, dtype=np.int64), False: np.empty(n_calls, dtype=np.int64)}
    clock = time.perf_counter_ns
    writers = {i: SignalWriter(root / f"append-{i}.bin", CHANNELS, RATE_HZ)
               for i in (True, False)}
    writers[False]._checksum = lambda data, n: None  # type: ignore[method-assign]
    for k in range(n_calls):
        for integrity in ((True, False) if k % 2 else (False, True)):
            w = writers[integrity]
            t0 = clock()
            w.append(k * BLOCK, block)
            times[integrity][k] = clock() - t0
    for w in writers.values():
        w.close()
    on, off = (float(np.percentile(times[i][n_calls // 10:], 50)) / 1000.0 / BLOCK
               for i in (True, False))
    return {"name": "SignalWriter.append with block CRC vs without", "unit": "ratio",
            "p50": on, "p99": off, "value": on / off,
            "target": f"{on:.3f} vs {off:.3f} us/sample", "ok": None}


def _make_sessions(root: Path, n: int) -> Path:
    """``n`` sessions of SESSION_TRIALS trials (events, 10 s of signals per trial at 100 Hz)."""
    data = root / "cohort"
    block = np.random.default_rng(4).random((100, len(CHANNELS))).astype(np.float32)
    for i in range(n):
        w = SessionWriter(data / f"M{i % 10:02d}" / f"2026010{i // 10 % 10}-0000{i % 10:02d}_da",
                          {"subject": {"id": f"M{i % 10:02d}"}, "seed": i})
        sig = w.open_signals(CHANNELS, 100.0)
        for k in range(SESSION_TRIALS):
            for e in range(EVENTS_PER_TRIAL):
                w.log_event(k * TRIAL_S + e * 0.1, "input", "lick_left", str(e % 2))
            for _ in range(10):
                sig.append(sig.n_samples, block)
            w._trials_f.write(w._rows.line(
                [str(v) if v is not None else "" for v in _rec(k, k * TRIAL_S).__dict__.values()]))
            w.n_trials += 1
        w.close("completed")
    return data


def _as_format_2(src: Path, dst: Path) -> None:
    """The same sessions as format 2 wrote them: no crc column, no checksum files."""
    shutil.copytree(src, dst)
    for folder in dst.glob("*/*"):
        for name in ("trials.csv", "events.csv"):
            lines = (folder / name).read_text().splitlines()
            (folder / name).write_text("\n".join(ln.rsplit(",", 1)[0] for ln in lines) + "\n")
        for name in ("signals.crc", "session.start.json"):
            (folder / name).unlink()
        meta = json.loads((folder / "session.json").read_text())
        meta["format_version"] = 2
        for key in ("crc32", "pid_start"):
            meta.pop(key, None)
        (folder / "session.json").write_text(json.dumps(meta))


_TIMER = """
import sys, time, json, warnings
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from rigctl.data.loader import load_session, load_sessions, find_sessions
root = Path(sys.argv[2])
folders = find_sessions(root)
load_session(folders[0])
t0 = time.perf_counter()
for f in folders:
    s = load_session(f)
one = time.perf_counter() - t0
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    df = load_sessions(root)
    many = time.perf_counter() - t0
print(json.dumps({"one": one, "many": many, "n": len(folders), "rows": len(df)}))
"""


def _time_loader(code: Path, root: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _TIMER, str(code), str(root)],
                         capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _loader_rows(root: Path, n: int, baseline: str | None) -> list[dict]:
    now = _make_sessions(root, n)
    after = _time_loader(ROOT, now)
    before: dict | None = None
    note = ""
    if baseline:
        old_code = root / "baseline"
        old_code.mkdir()
        try:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", baseline, "rigctl"],
                                     capture_output=True, check=True, timeout=60).stdout
            subprocess.run(["tar", "-x", "-C", str(old_code)], input=archive, check=True,
                           timeout=60)
            _as_format_2(now, root / "format2")
            before = _time_loader(old_code, root / "format2")
        except (subprocess.SubprocessError, OSError) as exc:
            note = f"baseline {baseline} unavailable: {type(exc).__name__}"
    rows = []
    for key, what in (("one", "load_session each (trials, events, signals check)"),
                      ("many", "load_sessions (trials of all)")):
        rate = after["n"] / after[key]
        old = before["n"] / before[key] if before else None
        rows.append({
            "name": f"loader, {n} sessions: {what}", "unit": "sessions/s",
            "p50": rate, "p99": old if old is not None else float("nan"), "value": rate,
            "target": (f"before ({baseline}, format 2): {old:.0f}/s; ratio {rate / old:.2f}"
                       if old else note or "no baseline"),
            "ok": None,
        })
    return rows


def run(quick: bool = False, folder: str | None = None,
        baseline: str | None = "main") -> list[dict]:
    """Run all measurements; ``quick`` shortens them (noisier, for CI smoke runs)."""
    n_trials = 20 if quick else 200
    n_calls = 5_000 if quick else 100_000
    with tempfile.TemporaryDirectory(dir=folder, prefix="rigctl-bench-data-") as tmp:
        root = Path(tmp)
        return [
            _sync_row(root, n_trials, signals=True),
            _sync_row(root, n_trials, signals=False),
            _append_row(root, n_calls),
            _rows_ratio_row(root, n_trials * 5),
            _append_ratio_row(root, n_calls),
            *_loader_rows(root, 20 if quick else N_SESSIONS, baseline),
        ]


def _format(rows: list[dict]) -> str:
    lines = [f"{'benchmark':62} {'value':>9} {'p50':>9} {'p99/off':>9} {'unit':10} target"]
    for r in rows:
        ok = {True: " (yes)", False: " (NO)", None: ""}[r["ok"]]
        lines.append(f"{r['name'][:62]:62} {r['value']:9.3f} {r['p50']:9.3f} {r['p99']:9.3f} "
                     f"{r['unit']:10} {r['target']}{ok}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--dir", default=None, help="measure on this folder's filesystem")
    ap.add_argument("--baseline", default="main",
                    help="git ref whose loader is 'before' (empty: skip)")
    args = ap.parse_args(argv)
    print(_format(run(args.quick, args.dir, args.baseline or None)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
