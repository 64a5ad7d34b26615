"""Every performance measurement of rigctl in one run, side by side.

    python benchmarks/run.py [--quick] [--only NAME[,NAME]]

Runs each ``benchmarks/bench_*.py`` module's ``run(quick)`` in turn, prints one table (value,
p50/p99/max where measured, the DESIGN.md target and whether it holds) and writes
``benchmarks/results.json`` with the machine, the date and every row. These machines are shared
and noisy: absolute times drift between runs, ratios measured in the same run hold. No benchmark
is a unit test; none runs in CI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

ORDER = ("latency", "serial", "firmware", "predictor", "session", "gui", "cohort", "power",
         "data", "sync")


def modules(only: set[str] | None) -> list[str]:
    found = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    ordered = [m for m in ORDER if m in found] + [m for m in found if m not in ORDER]
    return [m for m in ordered if only is None or m in only]


def fmt_row(r: dict) -> str:
    def num(key: str) -> str:
        v = r.get(key)
        return f"{v:10.3f}" if isinstance(v, (int, float)) else " " * 10

    ok = {True: "yes", False: "NO", None: ""}.get(r.get("ok"), "")
    return (f"{r['name'][:62]:62} {num('value')} {r.get('unit', ''):12} {num('p99')} "
            f"{num('max')}  {r.get('target', '')[:34]:34} {ok}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs (under two minutes)")
    ap.add_argument("--only", help="comma-separated subset, e.g. latency,predictor")
    args = ap.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    print(f"{'benchmark':62} {'value':>10} {'unit':12} {'p99':>10} {'max':>10}  "
          f"{'target':34} ok")
    results, t_all = [], time.perf_counter()
    for name in modules(only):
        t0 = time.perf_counter()
        try:
            rows = importlib.import_module(f"bench_{name}").run(args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the rest
            rows = [{"name": f"{name}: FAILED ({type(exc).__name__}: {exc})", "ok": False}]
            traceback.print_exc()
        for r in rows:
            r["group"] = name
            print(fmt_row(r), flush=True)
        results += rows
        print(f"{'':62} ({name}: {time.perf_counter() - t0:.0f} s)", flush=True)
    out = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": args.quick, "python": platform.python_version(),
        "machine": platform.machine(), "cpus": os.cpu_count(),
        "seconds": round(time.perf_counter() - t_all, 1), "rows": results,
    }
    (HERE / "results.json").write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"wrote {HERE / 'results.json'} ({out['seconds']} s)")
    return 0 if all(r.get("ok") is not False for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
