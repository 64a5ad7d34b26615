"""``rigctl power``: how many mice and trials detect the effect, and how often a null is "found".

Simulates many cohorts of the protocol on the simulated rig for each design (mice per group ×
sessions per mouse × trials per session), analyses each with the model of :mod:`rigctl.stats`
(trial-level logistic GEE, mouse clusters), and reports power and the false-positive rate with
Monte-Carlo intervals, the minimal design for the target power, ``power.csv`` and ``power.png``.

Example (laser during a 10 s delay; the config defaults to hardware_configs/sim.yaml):
  rigctl power --mice 4,6,8,12 --trials 100,200 --contrast laser --delays 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rigctl.commands.simulate_cohort import _csv
from rigctl.errors import RigctlError

NAME = "power"
HELP = "simulation-based power analysis of a protocol before surgery"


def register(p: argparse.ArgumentParser) -> None:
    from rigctl.power.design import CONTRASTS, ENGINES

    p.add_argument("config", nargs="?", default="hardware_configs/sim.yaml",
                   help="a simulated rig config (default: hardware_configs/sim.yaml)")
    p.add_argument("--protocol", help="protocol name or file (default: the rig's)")
    p.add_argument("--contrast", type=_csv(str, tuple(CONTRASTS)), default=["laser"],
                   help=f"effects to detect, comma-separated: {', '.join(CONTRASTS)}")
    p.add_argument("--mice", type=_csv(int), default=[4, 6, 8, 12], help="mice per group")
    p.add_argument("--trials", type=_csv(int), default=[100, 200], help="trials per session")
    p.add_argument("--sessions", type=_csv(int), default=[1], help="sessions per mouse")
    p.add_argument("--delays", type=_csv(float), help="the session's delays in s "
                   "(default: the protocol's)")
    p.add_argument("--laser-fraction", type=float, help="fraction of laser trials "
                   "(default: the protocol's)")
    p.add_argument("--genotypes", type=_csv(str, ("wt", "ip3r2_ko")), default=["wt", "ip3r2_ko"],
                   help="genotypes the study will have")
    p.add_argument("--treatments", type=_csv(str, ("none", "saline", "cno")),
                   default=["none", "cno"], help="treatments the study will have")
    p.add_argument("--cohorts", type=int, default=500, help="simulated cohorts per design")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level")
    p.add_argument("--power", type=float, default=0.8, dest="target_power",
                   help="power the minimal design must reach")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engine", choices=ENGINES, default="fast",
                   help="fast: trial-level simulation of the same mouse model; full: the whole "
                   "simulated rig (about 1 s per 200-trial session)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    p.add_argument("--dask", metavar="ADDRESS", help="run on an existing Dask scheduler")
    p.add_argument("--out", default="data/power", help="folder for power.csv, power.png and "
                   "the finished chunks a rerun resumes from")
    p.add_argument("--budget-min", type=float, default=10.0,
                   help="ask for --yes when the estimated time exceeds this (minutes)")
    p.add_argument("--yes", action="store_true", help="run even above --budget-min")


def _fmt_time(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rigctl import stats
    from rigctl.power import PowerDesign, check_grid, minimal_designs, run_power, summarise
    from rigctl.power.figure import power_figure
    from rigctl.power.run import PartStore, dask_client, estimate_seconds
    from rigctl.power.simulate import check_engine

    if args.workers < 1:
        raise RigctlError("--workers: must be at least 1")
    if not Path(args.config).is_file():
        raise RigctlError(f"{args.config}: no such rig config file")
    design = PowerDesign(
        config=args.config, contrasts=tuple(dict.fromkeys(args.contrast)),
        mice=tuple(sorted(set(args.mice))), trials=tuple(sorted(set(args.trials))),
        sessions=tuple(sorted(set(args.sessions))),
        delays_s=tuple(args.delays) if args.delays else None,
        laser_fraction=args.laser_fraction, protocol=args.protocol, cohorts=args.cohorts,
        seed=args.seed, engine=args.engine, alpha=args.alpha, target_power=args.target_power,
        genotypes=tuple(args.genotypes), treatments=tuple(args.treatments),
    )
    check_grid(design)
    check_engine(design)
    if args.dask:  # fail before any estimate or simulation
        with dask_client(args.dask, timeout_s=5.0):
            pass
    out = Path(args.out)
    n_delays = len(design.delays_s) if design.delays_s else 2
    print(f"model: {stats.formula(n_delays)}; GEE, binomial logit, mouse clusters, "
          f"independence working correlation, robust covariance × G/(G-1), t test on G-1 df "
          f"(G-2 between groups); α = {design.alpha:g}")
    store = PartStore(out, design)
    have = len(store.done(design.n_chunks, design.cohorts))
    share = 1 - have / design.n_chunks
    est = estimate_seconds(design) * share / (1 if args.dask else args.workers) if share else 0.0
    cells = len(design.cells())
    where = f"Dask at {args.dask} (time for one core)" if args.dask else \
        f"{args.workers} worker{'s' if args.workers > 1 else ''}"
    print(f"design: {cells} cells × {len(design.contrasts)} contrast(s) × {design.cohorts} "
          f"cohorts (effect and no effect), {design.engine} engine, {where}")
    if have:
        print(f"resuming: {have} of {design.n_chunks} chunks already in {store.dir}")
    print(f"estimated time: ~{_fmt_time(est)}", flush=True)
    if est > 60 * args.budget_min and not args.yes:
        raise RigctlError(f"the design needs ~{_fmt_time(est)}, more than --budget-min "
                          f"{args.budget_min:g} min: add --yes to run it, or use fewer "
                          "--cohorts, cells or more --workers")
    bar = tqdm(total=design.cohorts, unit="cohort", file=sys.stderr, smoothing=0.1,
               desc="simulated", mininterval=0.5 if sys.stderr.isatty() else 10.0)

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    try:
        results = run_power(design, out, workers=args.workers, dask_address=args.dask,
                            progress=progress)
    finally:
        bar.close()
    table = summarise(results, design)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "power.csv", index=False)
    fig = power_figure(table, out / "power.png", design.alpha, design.target_power)
    shown = table.assign(
        power=[f"{_pct(p)} [{_pct(lo)}, {_pct(hi)}]" for p, lo, hi in
               zip(table["power"], table["power_ci_low"], table["power_ci_high"], strict=True)],
        false_pos=[f"{_pct(p)} [{_pct(lo)}, {_pct(hi)}]" for p, lo, hi in
                   zip(table["false_positive_rate"], table["fpr_ci_low"], table["fpr_ci_high"],
                       strict=True)],
        acc_ref=(100 * table["accuracy_reference"]).round(1),
        acc_test=(100 * table["accuracy_test"]).round(1),
        odds_ratio=table["odds_ratio"].round(3),
    )[["contrast", "mice", "sessions", "trials", "power", "false_pos", "odds_ratio", "acc_ref",
       "acc_test"]]
    print(shown.to_string(index=False))
    for contrast, best in minimal_designs(table, design.target_power).items():
        if best is None:
            top = table[table["contrast"] == contrast].sort_values("power").iloc[-1]
            print(f"minimal design for {100 * design.target_power:.0f}% power ({contrast}): "
                  f"none in this grid; the best cell ({top['mice']} mice × {top['sessions']} × "
                  f"{top['trials']} trials) reaches {_pct(top['power'])}%: add mice or trials")
        else:
            print(f"minimal design for {100 * design.target_power:.0f}% power ({contrast}): "
                  f"{best['mice']} mice per group × {best['sessions']} session(s) × "
                  f"{best['trials']} trials (power {_pct(best['power'])}% "
                  f"[{_pct(best['power_ci_low'])}, {_pct(best['power_ci_high'])}])")
        g = table[table["contrast"] == contrast]
        inside = int(((g["fpr_ci_low"] <= design.alpha) & (design.alpha <= g["fpr_ci_high"]))
                     .sum())
        print(f"false-positive rate with no true effect ({contrast}): "
              f"{_pct(g['false_positive_rate'].min())}-{_pct(g['false_positive_rate'].max())}% "
              f"across cells; α = {100 * design.alpha:g}% is inside the 95% Monte-Carlo "
              f"interval of {inside} of {len(g)} cells")
    print(f"table: {out / 'power.csv'}; figure: {fig}")
    return 0
