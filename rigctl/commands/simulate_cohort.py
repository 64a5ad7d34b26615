"""``rigctl simulate-cohort``: simulate groups of mice and summarise accuracy with 95% CIs.

Intervals are across mice, within [0, 100]; groups of fewer than 3 mice get none (``n/a``) and a
note says why.

Example (the four results of SCIENCE.md in one run):
  rigctl simulate-cohort --genotypes wt,ip3r2_ko --treatments none,cno \\
      --stim-modes closed_loop,sham --delays 2,10 --mice 8 --trials 300 --workers 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rigctl.errors import RigctlError

NAME = "simulate-cohort"
HELP = "simulate a cohort of mice on the simulated rig and summarise accuracy"


def _csv(kind: type, allowed: tuple[str, ...] | None = None):
    def parse(text: str) -> list:
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list") from None
        if not values:
            raise argparse.ArgumentTypeError("give at least one value")
        bad = [v for v in values if allowed is not None and v not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"{bad[0]!r} is not one of {', '.join(allowed)}")
        return values
    return parse


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", default="hardware_configs/sim.yaml",
                   help="a simulated rig config (default: hardware_configs/sim.yaml)")
    p.add_argument("--mice", type=int, default=8, help="mice per group")
    p.add_argument("--genotypes", type=_csv(str, ("wt", "ip3r2_ko")), default=["wt"])
    p.add_argument("--treatments", type=_csv(str, ("none", "saline", "cno")), default=["none"])
    p.add_argument("--stim-modes", type=_csv(str, ("off", "open_loop", "closed_loop", "sham")),
                   default=None, help="default: closed_loop (for a task with a stim_mode "
                                      "parameter)")
    p.add_argument("--delays", type=_csv(float), default=[2.0, 10.0], help="delays in s")
    p.add_argument("--trials", type=int, default=200, help="trials per session")
    p.add_argument("--protocol", help="protocol name or file (default: the rig's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    p.add_argument("--dask", metavar="ADDRESS", help="run on an existing Dask scheduler")
    p.add_argument("--out", default="data/cohort", help="folder for sessions and tables")


def run(args: argparse.Namespace) -> int:
    from rigctl.cohort import TOO_FEW_MICE, CohortDesign, per_mouse_table, run_cohort, summarise

    if args.mice < 1:
        raise RigctlError("--mice: need at least 1 mouse per group")
    if args.workers < 1:
        raise RigctlError("--workers: must be at least 1")
    out = Path(args.out)
    design = CohortDesign(
        config=args.config, out=out, mice=args.mice, genotypes=args.genotypes,
        treatments=args.treatments, stim_modes=args.stim_modes, delays_s=args.delays,
        trials=args.trials, seed=args.seed, protocol=args.protocol,
    )

    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if tty:
            print(f"\rsimulated {done}/{total} mice", end="", file=sys.stderr, flush=True)
        elif done == total or done % max(1, total // 10) == 0:
            print(f"simulated {done}/{total} mice", file=sys.stderr)

    folders = run_cohort(design, workers=args.workers, dask_address=args.dask, progress=progress)
    if tty:
        print(file=sys.stderr)
    mice = per_mouse_table(folders)
    summary = summarise(mice)
    out.mkdir(parents=True, exist_ok=True)
    mice.to_csv(out / "cohort_mice.csv", index=False)
    summary.to_csv(out / "cohort_summary.csv", index=False)
    rates = {c: (100 * summary[c]).round(1) for c in summary.columns if c.endswith("_rate")}
    with_ci = summary.assign(
        accuracy=(100 * summary["accuracy"]).round(1), **rates,
        ci=["n/a" if lo != lo else f"[{100 * lo:.1f}, {100 * hi:.1f}]" for lo, hi in
            zip(summary["ci_low"], summary["ci_high"], strict=True)],
    ).drop(columns=["ci_low", "ci_high"])
    print(with_ci.to_string(index=False))
    if summary["ci_low"].isna().any():
        print(f"note: {TOO_FEW_MICE}")
    print(f"tables: {out / 'cohort_summary.csv'}, {out / 'cohort_mice.csv'}")
    return 0
