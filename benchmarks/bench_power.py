"""Power-analysis throughput: cohorts per second, full vs fast simulation, 1 vs 2 workers, Dask.

    python benchmarks/bench_power.py [--quick]

A "cohort" here is one simulated cohort of the laser contrast at 8 mice × 200 trials (10 s
delay), with and without the effect, analysed at every cell of the grid 4,8 mice × 100,200
trials (the work of one cohort in `rigctl power`). The issue's target: a 4 × 3 grid with 500
cohorts per cell in under 2 minutes on this 2-core machine with the fast path; the last row
extrapolates it from the measured 2-worker rate at that grid (12 mice × 300 trials).
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
SIM = str(ROOT / "hardware_configs" / "sim.yaml")


def _rate(design, workers: int = 1, dask: str | None = None) -> float:
    from rigctl.power import run_power

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_power(design, Path(tmp), workers=workers, dask_address=dask)
        return design.cohorts / (time.perf_counter() - t0)


def run(quick: bool = False) -> list[dict]:
    from rigctl.power import PowerDesign
    from rigctl.power.run import compute_chunk

    grid = dict(config=SIM, mice=(4, 8), trials=(100, 200), delays_s=(10.0,), seed=1)
    fast = PowerDesign(**grid, cohorts=20 if quick else 60)
    compute_chunk(fast.as_job(), 0)  # numba compiled / loaded from cache, imports done
    rows = []
    one = _rate(fast, 1)
    two = _rate(fast, 2)
    full = _rate(PowerDesign(**{**grid, "mice": (4,), "trials": (100,)}, cohorts=1,
                             engine="full"), 1)
    rows += [
        {"name": "power, fast engine, 1 process", "unit": "cohorts/s", "value": one},
        {"name": "power, fast engine, --workers 2", "unit": "cohorts/s", "value": two},
        {"name": "  2 workers / 1 process", "unit": "x", "value": two / one},
        {"name": "power, full engine (4 mice x 100 trials), 1 process", "unit": "cohorts/s",
         "value": full},
    ]
    try:
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            _rate(PowerDesign(**grid, cohorts=10), dask=cluster.scheduler_address)  # warm
            on_dask = _rate(fast, dask=cluster.scheduler_address)
        rows.append({"name": "power, fast engine, Dask LocalCluster 2 workers",
                     "unit": "cohorts/s", "value": on_dask})
    except ImportError:
        rows.append({"name": "power, Dask: distributed not installed", "ok": None})
    target = PowerDesign(config=SIM, mice=(4, 6, 8, 12), trials=(100, 200, 300),
                         delays_s=(10.0,), seed=1, cohorts=10)
    per_cohort = 1 / _rate(target, 1)
    estimate = 500 * per_cohort / max(two / one, 1.0)
    rows.append({"name": "4x3 grid, 500 cohorts, fast, 2 workers (extrapolated)", "unit": "s",
                 "value": estimate, "target": "< 120 s", "ok": estimate < 120})
    for r in rows:
        r.setdefault("target", "")
        r.setdefault("ok", None)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    for r in run(ap.parse_args(argv).quick):
        print(f"{r['name']:58} {r.get('value', float('nan')):9.3f} {r.get('unit', '')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
