"""Long sessions: peak memory against session length, and a soak (issue #19, §1 and §4).

    python benchmarks/bench_soak.py rss [--trials 200,1000,4000] [--tree DIR] [--no-figure]
    python benchmarks/bench_soak.py soak [--virtual-hours 10] [--hours H]

``rss``: runs ``rigctl run hardware_configs/sim.yaml --trials N`` (virtual time, summary figure
included) in a fresh process for each N and reports its peak resident memory (``ru_maxrss`` of
the child from ``os.wait4``, so the figure, which is drawn in the same process, is included),
wall time and the size of ``signals.bin``. ``--tree DIR`` runs another checkout's rigctl (e.g.
``git archive main | tar -x -C /tmp/before``) with this interpreter, for a before/after table.

``soak``: a closed-loop delayed-alternation session in virtual time of ``--virtual-hours``
(default 10) of session time, and, with ``--hours H``, the same on the wall clock for H hours
(default: none; ``--hours 1`` is the real soak, ``--hours 0.02`` a one-minute smoke run). Each
session runs in a child process that samples its own RSS, the files' sizes and the per-trial
fsync latency at every trial end, and at the end compares the events the engine generated
(counted by a recorder on the event log) with the rows in ``events.csv``, the trials written with
those in ``trials.csv`` and the signal samples produced with those in ``signals.bin``. Lost
events must be zero. Not a unit test; not in CI.

``run(quick)`` returns rows for ``benchmarks/run.py`` (a short ``rss`` table only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "hardware_configs" / "sim.yaml"


def peak_rss(cmd: list[str], env: dict[str, str] | None = None,
             cwd: Path | None = None) -> tuple[int, float, int]:
    """(peak RSS in bytes, wall seconds, exit code) of ``cmd`` run as a child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode:
        print(err, file=sys.stderr)
    return usage.ru_maxrss * 1024, time.perf_counter() - t0, proc.returncode


def rss_rows(trials: list[int], tree: Path | None = None, figure: bool = True,
             label: str = "") -> list[dict[str, Any]]:
    rows = []
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    with tempfile.TemporaryDirectory(prefix="rigctl-soak-") as tmp:
        for n in trials:
            data = Path(tmp) / f"n{n}"
            cmd = [sys.executable, "-m", "rigctl", "run", str(CONFIG), "--trials", str(n),
                   "--seed", "1", "--quiet", "--data", str(data)]
            if not figure:
                cmd.append("--no-figure")
            rss, wall, rc = peak_rss(cmd, env=env, cwd=tree or ROOT)
            sig = list(data.rglob("signals.bin"))
            size = sig[0].stat().st_size if sig else 0
            fig = bool(list(data.rglob("summary.png")))
            row = {"name": f"peak RSS, rigctl run --trials {n}{label}"
                           f"{'' if figure else ' --no-figure'}",
                   "value": rss / 2**20, "unit": "MiB", "trials": n, "wall_s": round(wall, 1),
                   "signals_mib": round(size / 2**20, 1), "figure": fig, "exit": rc}
            rows.append(row)
            print(f"{row['name']:58} {row['value']:8.1f} MiB  wall {wall:6.1f} s  "
                  f"signals.bin {row['signals_mib']:8.1f} MiB  figure {fig}  exit {rc}",
                  flush=True)
    return rows


# --- soak ------------------------------------------------------------------------------------
SOAK_CHILD = r'''
import json, os, resource, sys, time
from pathlib import Path
from rigctl.config import load_rig
from rigctl.engine.session import Session, SessionOptions
from rigctl.protocols import resolve_protocol

args = json.loads(sys.argv[1])
rig = load_rig(args["config"])
'''


def _rss_now() -> int:
    """Current resident set of this process (bytes), from /proc."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def soak_session(data: Path, hours: float, realtime: bool, seed: int = 1) -> dict[str, Any]:
    """One closed-loop session of ``hours`` session time, sampled at every trial end."""
    from rigctl.engine import session as session_mod

    rig_path, protocol = CONFIG, ROOT / "benchmarks" / "soak_protocol.yaml"
    samples: list[dict[str, float]] = []
    fsync_ms: list[float] = []
    generated = {"events": 0, "trials": 0, "samples": 0}
    t_start = time.perf_counter()
    opts = session_mod.SessionOptions  # noqa: F841 - imported for its side effects only
    sess = session_mod.open_session(rig_path, protocol, data, seed=seed, realtime=realtime,
                                    duration_s=hours * 3600.0)
    writer = sess.writer
    log_event, write_trial = writer.log_event, writer.write_trial

    def counted_event(*a: Any, **k: Any) -> Any:
        generated["events"] += 1
        return log_event(*a, **k)

    def timed_trial(*a: Any, **k: Any) -> Any:
        generated["trials"] += 1
        t0 = time.perf_counter()
        out = write_trial(*a, **k)
        fsync_ms.append((time.perf_counter() - t0) * 1e3)
        files = {p.name: p.stat().st_size for p in writer.folder.iterdir() if p.is_file()}
        samples.append({"wall_s": time.perf_counter() - t_start, "session_s": sess.now(),
                        "rss_mib": _rss_now() / 2**20, **{f"{k}_bytes": v
                                                          for k, v in files.items()}})
        return out

    writer.log_event, writer.write_trial = counted_event, timed_trial
    result = sess.run()
    return {"samples": samples, "fsync_ms": fsync_ms, "generated": generated,
            "result": str(result), "folder": str(writer.folder)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rss", help="peak RSS of rigctl run against session length")
    r.add_argument("--trials", default="200,1000,4000", help="comma-separated trial counts")
    r.add_argument("--tree", type=Path, help="another checkout to measure (e.g. main)")
    r.add_argument("--no-figure", action="store_true")
    r.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    if args.cmd == "rss":
        rows = rss_rows([int(x) for x in args.trials.split(",")], args.tree,
                        not args.no_figure, f" ({args.tree})" if args.tree else "")
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1) + "\n")
        return 0 if all(r["exit"] == 0 for r in rows) else 1
    return 2


def run(quick: bool) -> list[dict[str, Any]]:
    return rss_rows([200, 1000] if quick else [200, 1000, 4000])


if __name__ == "__main__":
    raise SystemExit(main())
