"""Virtual-time speed of a whole closed-loop session, against stepping every millisecond.

    python benchmarks/bench_session.py [--quick]

A 200-trial delayed-alternation session with closed-loop stimulation runs on the simulated rig in
virtual time; its simulated duration divided by the wall time it took is the speed-up over real
time (DESIGN.md target: >= 1000x). Beside it, the same session with the simulated neural signal
delivered one sample at a time (``max_chunk_samples: 1``, i.e. stepped every 1 ms); both give
byte-identical trials (tests/test_closed_loop.py), so the ratio is the event-driven design's gain.
Each variant runs ``repeats`` times; the table shows the median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_X = 1000.0


def _session(config: Path, data: Path, n_trials: int, seed: int) -> tuple[float, float]:
    """(simulated seconds, wall seconds) of one session."""
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import Subject, load_rig
    from rigctl.engine.session import Session, SessionOptions

    cfg = load_rig(str(config))
    spec = resolve_protocol(None, cfg, str(config),
                            {"n_trials": n_trials, "stim_mode": "closed_loop"})
    session = Session(cfg, SessionOptions(Subject(), spec, data, seed=seed))
    t0 = time.perf_counter()
    session.run()
    wall = time.perf_counter() - t0
    return session.clock.now(), wall


def run(quick: bool = False) -> list[dict]:
    n_trials = 200
    repeats = 1 if quick else 3
    base = yaml.safe_load((ROOT / "hardware_configs" / "sim.yaml").read_text())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        speeds: dict[str, list[float]] = {}
        for name, chunk in (("event-driven", None), ("stepped every 1 ms", 1)):
            cfg = dict(base)
            cfg["devices"] = {"sim": {"type": "sim", "max_chunk_samples": chunk}}
            path = tmpdir / f"{chunk}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            _session(path, tmpdir / "warm", 5, 0)  # JIT and imports
            reps = repeats if chunk is None else 1  # stepping is slow; once is enough
            # --quick steps a shorter session: speed is per simulated second either way.
            trials = n_trials if chunk is None or not quick else 60
            speeds[name] = []
            for r in range(reps):
                sim_s, wall_s = _session(path, tmpdir / f"{name}{r}", trials, seed=r + 1)
                speeds[name].append(sim_s / wall_s)
        fast = statistics.median(speeds["event-driven"])
        slow = statistics.median(speeds["stepped every 1 ms"])
        rows.append({"name": f"virtual time, {n_trials}-trial closed-loop session",
                     "unit": "x real time", "value": fast, "target": f">= {TARGET_X:g}x",
                     "ok": fast >= TARGET_X})
        rows.append({"name": "  same session stepped every 1 ms", "unit": "x real time",
                     "value": slow, "target": "", "ok": None})
        rows.append({"name": "  event-driven gain (ratio)", "unit": "x", "value": fast / slow,
                     "target": "", "ok": None})
    return rows


def format_rows(rows: list[dict]) -> str:
    lines = [f"{'benchmark':52} {'value':>10} {'unit':14} {'target':12} ok"]
    for r in rows:
        ok = {True: "yes", False: "NO", None: ""}[r["ok"]]
        lines.append(f"{r['name']:52} {r['value']:10.1f} {r['unit']:14} {r['target']:12} {ok}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    print(format_rows(run(ap.parse_args(argv).quick)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
