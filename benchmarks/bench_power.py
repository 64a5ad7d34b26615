"""Power-analysis throughput: cohorts per second, full vs fast simulation, 1 vs 2 workers, Dask.

    python benchmarks/bench_power.py [--quick]

A "cohort" here is one simulated cohort of the laser contrast at 8 mice × 200 trials (10 s
delay), with and without the effect, analysed at every cell of the grid 4,8 mice × 100,200
trials (the work of one cohort in `rigctl power`). The issue's target: a 4 × 3 grid with 500
cohorts per cell in under 2 minutes on this 2-core machine with the fast path; the last rows
measure it at that grid (12 mice × 300 trials): CPU seconds per cohort in one process, and the
500-cohort time they give on two idle cores (CPU / 2), beside the wall time two workers took.

The machine is shared, so wall-clock rates depend on the load; CPU seconds (this process and
its reaped worker processes, ``resource.getrusage``) much less. Both are printed, with the load
average.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
SIM = str(ROOT / "hardware_configs" / "sim.yaml")


def _cpu() -> float:
    """CPU seconds of this process and of its finished child processes."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                  resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _rate(design, workers: int = 1, dask: str | None = None) -> tuple[float, float]:
    """(cohorts per wall second, CPU seconds per cohort; nan on Dask, whose workers are not
    this process's children)."""
    from rigctl.power import run_power

    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), _cpu()
        run_power(design, Path(tmp), workers=workers, dask_address=dask)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
    return design.cohorts / wall, (float("nan") if dask else cpu / design.cohorts)


def run(quick: bool = False) -> list[dict]:
    from rigctl.power import PowerDesign
    from rigctl.power.run import compute_chunk

    load = os.getloadavg()[0]
    grid = dict(config=SIM, mice=(4, 8), trials=(100, 200), delays_s=(10.0,), seed=1)
    fast = PowerDesign(**grid, cohorts=20 if quick else 60)
    compute_chunk(fast.as_job(), 0)  # numba compiled / loaded from cache, imports done
    rows = [{"name": "load average (1 min) at start", "unit": "", "value": load}]
    one, one_cpu = _rate(fast, 1)
    two, two_cpu = _rate(fast, 2)
    full, full_cpu = _rate(PowerDesign(**{**grid, "mice": (4,), "trials": (100,)}, cohorts=1,
                                       engine="full"), 1)
    rows += [
        {"name": "power, fast engine, 1 process", "unit": "cohorts/s", "value": one},
        {"name": "  CPU per cohort", "unit": "s", "value": one_cpu},
        {"name": "power, fast engine, --workers 2", "unit": "cohorts/s", "value": two},
        {"name": "  CPU per cohort (both workers)", "unit": "s", "value": two_cpu},
        {"name": "  2 workers / 1 process", "unit": "x", "value": two / one},
        {"name": "power, full engine (4 mice x 100 trials), 1 process", "unit": "cohorts/s",
         "value": full},
        {"name": "  CPU per cohort", "unit": "s", "value": full_cpu},
    ]
    try:
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            _rate(PowerDesign(**grid, cohorts=10), dask=cluster.scheduler_address)  # warm
            on_dask, _ = _rate(fast, dask=cluster.scheduler_address)
        rows.append({"name": "power, fast engine, Dask LocalCluster 2 workers",
                     "unit": "cohorts/s", "value": on_dask})
    except ImportError:
        rows.append({"name": "power, Dask: distributed not installed", "ok": None})
    target = dict(config=SIM, mice=(4, 6, 8, 12), trials=(100, 200, 300), delays_s=(10.0,),
                  seed=1)
    _, per_cohort = _rate(PowerDesign(**target, cohorts=10 if quick else 20), 1)
    rate2, _ = _rate(PowerDesign(**target, cohorts=20 if quick else 40), 2)
    cpu_estimate = 500 * per_cohort / 2
    rows += [
        {"name": "4x3 grid: CPU per cohort, 1 process", "unit": "s", "value": per_cohort},
        {"name": "4x3 grid, 500 cohorts, 2 idle cores (CPU / 2)", "unit": "s",
         "value": cpu_estimate, "target": "< 120 s", "ok": cpu_estimate < 120},
        {"name": "4x3 grid, 500 cohorts, --workers 2 at this load (wall)", "unit": "s",
         "value": 500 / rate2, "target": "< 120 s", "ok": 500 / rate2 < 120},
    ]
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
