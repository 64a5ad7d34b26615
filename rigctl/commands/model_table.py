"""``rigctl model-table``: SCIENCE.md's accuracy table, reproduced on the simulated rig.

Runs whole delayed-alternation sessions for wild type (open-loop light on half the trials),
IP3R2-KO and KO + CNO at 0.5 and 1.0/s, and prints per cell SCIENCE.md's value, the simulated
accuracy with its 95% interval, the difference and whether it is within ``--tolerance``. Exit
status 0 when every cell is, 1 when one is not (so a script or CI job can check the model).

Example (the calibration check of docs/science.md):
  rigctl model-table hardware_configs/sim.yaml --sessions 500 --trials 200 --seed 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rigctl.errors import RigctlError

NAME = "model-table"
HELP = "reproduce SCIENCE.md's accuracy table on the simulated rig and compare cell by cell"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", default="hardware_configs/sim.yaml",
                   help="a simulated rig config (default: hardware_configs/sim.yaml)")
    p.add_argument("--sessions", type=int, default=500,
                   help="sessions per group (default 500: about 8 s on the fast engine, and "
                   "Monte-Carlo error well inside the tolerance)")
    p.add_argument("--trials", type=int, default=200, help="trials per session")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--engine", choices=("fast", "full"), default="fast",
                   help="fast: trial-level simulation of the same mouse (validated against the "
                   "full rig, docs/power.md); full: the whole simulated rig (~1 s a session)")
    p.add_argument("--tolerance", type=float, default=3.0,
                   help="largest accepted difference per cell, percentage points")
    p.add_argument("--csv", help="also write the table to this CSV file")


def run(args: argparse.Namespace) -> int:
    from rigctl.power.table import model_table, n_cells

    if not Path(args.config).is_file():
        raise RigctlError(f"{args.config}: no such rig config file")
    if args.sessions < 1:
        raise RigctlError(f"--sessions: must be at least 1 (got {args.sessions})")
    if args.trials < 10:
        raise RigctlError(f"--trials: at least 10 trials per session (got {args.trials})")
    if not args.tolerance > 0:
        raise RigctlError(f"--tolerance: must be above 0 (got {args.tolerance:g})")
    print(f"simulating {args.sessions} sessions × {args.trials} trials per group, "
          f"{args.engine} engine, seed {args.seed}", flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    table = model_table(args.config, args.sessions, args.trials, args.seed, args.engine,
                        args.tolerance)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    shown = table.assign(
        delay=table["delay_s"].map(lambda d: f"{d:g} s"),
        science=(100 * table["reference"]).map(lambda x: f"{x:.0f}%"),
        simulated=[f"{100 * a:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]" for a, lo, hi in
                   zip(table["simulated"], table["ci_low"], table["ci_high"], strict=True)],
        diff=table["difference_pp"].map(lambda x: f"{x:+.1f} pp"),
        ok=table["within"].map({True: "yes", False: "NO"}),
    )[["group", "delay", "science", "simulated", "diff", "trials", "ok"]]
    print(shown.to_string(index=False))
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"table: {args.csv}")
    inside = int(table["within"].sum())
    print(f"{inside} of {n_cells()} cells within {args.tolerance:g} pp of SCIENCE.md "
          f"({wall:.1f} s wall, {cpu:.1f} s CPU)")
    if inside < n_cells():
        bad = table[~table["within"]]
        cells = ", ".join(f"{g} at {d:g} s ({x:+.1f} pp)" for g, d, x in
                          zip(bad["group"], bad["delay_s"], bad["difference_pp"], strict=True))
        print(f"outside the tolerance: {cells}")
        return 1
    return 0
