"""Cohort throughput: simulated 200-trial closed-loop sessions per minute with 2 workers.

    python benchmarks/bench_cohort.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run(quick: bool = False) -> list[dict]:
    from rigctl.cohort import CohortDesign, run_cohort

    mice = 4 if quick else 12
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            design = CohortDesign(config=str(ROOT / "hardware_configs" / "sim.yaml"),
                                  out=Path(tmp) / f"w{workers}", mice=mice, trials=200,
                                  stim_modes=("closed_loop",), delays_s=(2.0, 5.0, 10.0))
            t0 = time.perf_counter()
            run_cohort(design, workers=workers)
            per_min = mice / (time.perf_counter() - t0) * 60.0
            rows.append({"name": f"cohort throughput, --workers {workers}",
                         "unit": "sessions/min", "value": per_min, "target": "", "ok": None})
    rows.append({"name": "  2 workers / 1 worker", "unit": "x",
                 "value": rows[1]["value"] / rows[0]["value"], "target": "", "ok": None})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    for r in run(ap.parse_args(argv).quick):
        print(f"{r['name']:45} {r['value']:9.1f} {r['unit']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
