"""Start-up of `rigctl run`: wall time of a 1-trial session on the simulated rig, in a fresh
process, for one or more source trees measured side by side (interleaved, so load on a shared
machine affects each alike).

    python benchmarks/bench_startup.py [--runs 9] [TREE ...]   # default: this tree

Each TREE is a checkout of rigctl (e.g. `git archive OLD | tar -x -C /tmp/old`), run by the
current interpreter with `-S` and PYTHONPATH = TREE + this environment's site-packages, so the
tree's rigctl is imported (an editable install's import hook would otherwise win) with the same
installed dependencies. Prints the median and
the spread of each, and the median ratio to the first tree. Not a test: numbers for
docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def once(tree: Path, data: Path) -> float:
    paths = [str(tree), *sysconfig.get_paths()["purelib"].split(os.pathsep)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    cmd = [sys.executable, "-S", "-m", "rigctl", "run", str(tree / "hardware_configs" / "sim.yaml"),
           "--trials", "1", "--seed", "1", "--quiet", "--no-figure", "--data", str(data)]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=tree)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("trees", nargs="*", type=Path, default=[ROOT])
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    times: dict[Path, list[float]] = {t: [] for t in args.trees}
    with tempfile.TemporaryDirectory() as tmp:
        for tree in args.trees:  # warm-up: numba's cache, the OS file cache
            once(tree, Path(tmp))
        for _ in range(args.runs):
            for tree in args.trees:
                times[tree].append(once(tree, Path(tmp)))
    first = statistics.median(times[args.trees[0]])
    for tree, ts in times.items():
        med = statistics.median(ts)
        print(f"{tree}: median {med:.2f} s (min {min(ts):.2f}, max {max(ts):.2f}, "
              f"n={len(ts)}), ratio to first {med / first:.2f}")


if __name__ == "__main__":
    main()
