"""Several simulated rigs from one ``rigctl experiment``, on the wall clock: do they slow each
other down? (issue #19, "done when": four rigs for an hour, every rig's p99 input→output
within 1.5× of a lone rig).

    python benchmarks/bench_experiment.py --n 1 4 --seconds 900 3600

(``--seconds`` gives each N its own session time, or one for all.)

For each N, an experiment file of N copies of ``hardware_configs/sim.yaml`` (one box each,
the default delayed alternation with its closed-loop laser and 1 kHz neural signal) runs as
the operator would run it, ``rigctl experiment FILE --realtime --duration S``, in a child
process. Every session measures its own loop (``rigctl.timing.lateness``: input edge →
handler returned, timer deadline → callback) and writes it to its session.json; this script
only reads those files, so what it reports is what any experiment records. Beside them: the
load average, the experiment's CPU time (all its engines) and the peak RSS of its largest
process, and the ratio of the worst rig's p99 to the lone rig's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _experiment(tmp: Path, n: int, seed: int) -> Path:
    base = yaml.safe_load((ROOT / "hardware_configs" / "sim.yaml").read_text())
    subjects = []
    for i in range(1, n + 1):
        rig = {**base, "name": f"bench-box-{i}"}
        path = tmp / f"box{i}.yaml"
        path.write_text(yaml.safe_dump(rig, sort_keys=False))
        subjects.append({"id": f"B{i}", "rig": str(path), "seed": seed + i,
                         "parameters": {"n_trials": 100000}})
    exp = tmp / "experiment.yaml"
    exp.write_text(yaml.safe_dump({"name": f"bench-{n}", "data_root": str(tmp / "data"),
                                   "summary_figure": False, "subjects": subjects},
                                  sort_keys=False))
    return exp


def run_n(n: int, seconds: float, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        exp = _experiment(tmp, n, seed)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load0 = os.getloadavg()[0]
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "rigctl", "experiment", str(exp),
                               "--realtime", "--duration", str(seconds)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              cwd=ROOT, timeout=seconds + 600)
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"rigctl experiment failed ({proc.returncode}):\n{proc.stdout}"
                             f"\n{proc.stderr}")
        rigs = []
        for meta_path in sorted((tmp / "data").glob("*/*/session.json")):
            meta = json.loads(meta_path.read_text())
            rigs.append({"subject": meta["subject"]["id"], "status": meta["status"],
                         "trials": meta["n_trials"], **meta["timing"]})
        return {"n": n, "seconds": seconds, "wall_s": wall, "rigs": rigs,
                "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
                "max_rss_mib": after.ru_maxrss / 1024, "load_before": load0,
                "load_after": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--seconds", type=float, nargs="+", default=[60.0],
                    help="session time of every rig, one for all or one per --n")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if len(args.seconds) not in (1, len(args.n)):
        ap.error("--seconds: give one value, or one per --n")
    seconds = args.seconds * len(args.n) if len(args.seconds) == 1 else args.seconds
    print(f"{os.cpu_count()} CPUs; sessions of {', '.join(f'{x:g}' for x in seconds)} s; "
          f"load average before {os.getloadavg()[0]:.2f}")
    results = []
    ref = None
    print(f"{'N':>2} {'rig':>4} {'trials':>6} {'inputs':>7}  {'in->out p50':>11} {'p99':>6} "
          f"{'max':>6} {'x lone':>6}  {'timer p50':>9} {'p99':>6} {'max':>6}")
    for n, secs in zip(args.n, seconds, strict=True):
        res = run_n(n, secs, args.seed)
        results.append(res)
        worst = max(r["input_to_output"]["p99_ms"] for r in res["rigs"])
        ref = ref if ref is not None else worst
        for r in res["rigs"]:
            io, tl = r["input_to_output"], r["timer_late"]
            print(f"{n:>2} {r['subject']:>4} {r['trials']:>6} {io['n']:>7}  "
                  f"{io['p50_ms']:11.3f} {io['p99_ms']:6.3f} {io['max_ms']:6.2f} "
                  f"{io['p99_ms'] / ref:6.2f}  {tl['p50_ms']:9.3f} {tl['p99_ms']:6.3f} "
                  f"{tl['max_ms']:6.2f}")
        print(f"   N={n}, {secs:g} s: worst p99 {worst:.3f} ms = {worst / ref:.2f}x the first "
              f"run's; "
              f"CPU {res['cpu_s']:.0f} s in {res['wall_s']:.0f} s "
              f"({100 * res['cpu_s'] / res['wall_s']:.0f}% of one core); peak RSS of one "
              f"process {res['max_rss_mib']:.0f} MiB; load {res['load_before']:.2f} → "
              f"{res['load_after']:.2f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
