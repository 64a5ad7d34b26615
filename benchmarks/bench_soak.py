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
def _rss_now() -> int:
    """Resident set of this process now (bytes), from /proc."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _max_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def soak_child(data: Path, hours: float, realtime: bool, seed: int, export: bool
               ) -> dict[str, Any]:
    """One closed-loop delayed-alternation session of ``hours`` of session time, in this
    process; every trial end samples RSS, file sizes and the per-trial sync's duration."""
    import numpy as np

    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import Subject, load_rig
    from rigctl.data import load_session
    from rigctl.data.signals import SignalWriter, read_header
    from rigctl.data.writer import SessionWriter
    from rigctl.engine.session import Session, SessionOptions

    counts = {"events": 0, "trials": 0, "samples": 0}
    sync_ms: list[float] = []
    log_event, write_trial, append = (SessionWriter.log_event, SessionWriter.write_trial,
                                      SignalWriter.append)

    def counted_event(self: Any, *a: Any, **k: Any) -> None:
        log_event(self, *a, **k)
        counts["events"] += 1

    def timed_trial(self: Any, *a: Any, **k: Any) -> None:
        t0 = time.perf_counter()
        write_trial(self, *a, **k)  # the row, then flush + fsync of every file
        sync_ms.append((time.perf_counter() - t0) * 1e3)
        counts["trials"] += 1

    def counted_append(self: Any, first: int, block: Any) -> None:
        append(self, first, block)
        counts["samples"] += int(np.asarray(block).shape[0])

    SessionWriter.log_event, SessionWriter.write_trial = counted_event, timed_trial
    SignalWriter.append = counted_append
    cfg = load_rig(str(CONFIG))
    spec = resolve_protocol(None, cfg, str(CONFIG), {"n_trials": 100_000,
                                                     "stim_mode": "closed_loop"})
    session = Session(cfg, SessionOptions(subject=Subject(), protocol=spec, data_root=data,
                                          seed=seed, realtime=realtime, summary_figure=False))
    samples: list[dict[str, float]] = []
    t_wall = time.perf_counter()

    def sample(rec: Any, progress: Any) -> None:
        folder = session.writer.folder
        sizes = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}
        samples.append({"session_h": session.clock.now() / 3600, "wall_s":
                        time.perf_counter() - t_wall, "rss_mib": _rss_now() / 2**20,
                        "sync_ms": sync_ms[-1] if sync_ms else float("nan"), **sizes})

    session.trial_listeners.append(sample)
    session.timers.set_at(session.clock.now() + hours * 3600.0, session.protocol.finish)
    result = session.run()
    out: dict[str, Any] = {"status": result.status, "trials": result.n_trials,
                           "wall_s": time.perf_counter() - t_wall,
                           "peak_rss_session_mib": _max_rss() / 2**20, "generated": counts,
                           "samples": samples, "folder": str(result.folder)}
    # What reached the disk, read back through the checked loader.
    s = load_session(result.folder)
    out["written"] = {"events": len(s.events), "trials": len(s.trials),
                      "samples": read_header(result.folder / "signals.bin").n_samples}
    out["damage"] = [str(d) for d in s.damage]
    del s
    from rigctl.data.figures import save_summary_figure

    save_summary_figure(result.folder)
    out["peak_rss_figure_mib"] = _max_rss() / 2**20
    if export:
        from rigctl.data.nwb import export_nwb

        path = export_nwb(result.folder)
        out["nwb_mib"] = path.stat().st_size / 2**20
        out["peak_rss_export_mib"] = _max_rss() / 2**20
    return out


def _hourly(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Per session hour: RSS at its end, bytes each file grew, sync p50/p99/max."""
    import numpy as np

    rows, prev = [], {}
    samples = res["samples"]
    last_h = int(np.ceil(samples[-1]["session_h"])) if samples else 0
    for h in range(last_h):
        inside = [x for x in samples if h <= x["session_h"] < h + 1]
        if not inside:
            continue
        sync = np.array([x["sync_ms"] for x in inside])
        end = inside[-1]
        files = ("trials.csv", "events.csv", "signals.bin", "signals.crc")
        grew = {f: (end.get(f, 0) - prev.get(f, 0)) / 2**20 for f in files}
        prev = end
        rows.append({"hour": h + 1, "trials": len(inside), "rss_mib": end["rss_mib"],
                     "sync_p50_ms": float(np.median(sync)),
                     "sync_p99_ms": float(np.percentile(sync, 99)),
                     "sync_max_ms": float(sync.max()), **{f"{f}_mib": v for f, v in grew.items()}})
    return rows


def soak(hours: float, realtime: bool, export: bool = True, seed: int = 1) -> dict[str, Any]:
    """Run :func:`soak_child` in a fresh process (so its peak RSS is its own) and print it."""
    with tempfile.TemporaryDirectory(prefix="rigctl-soak-") as tmp:
        args = json.dumps({"data": tmp, "hours": hours, "realtime": realtime, "seed": seed,
                           "export": export})
        code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
                "import bench_soak as b; a = json.loads(sys.argv[1]); "
                "r = b.soak_child(__import__('pathlib').Path(a['data']), a['hours'], "
                "a['realtime'], a['seed'], a['export']); print('RESULT ' + json.dumps(r))")
        proc = subprocess.run([sys.executable, "-c", code, args], capture_output=True,
                              text=True, cwd=ROOT, check=False)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not line:
            raise RuntimeError(f"soak child failed ({proc.returncode}): "
                               f"{proc.stderr.strip().splitlines()[-1:]}")
        res = json.loads(line[0][7:])
    res["hourly"] = _hourly(res)
    lost = {k: res["generated"][k] - res["written"][k] for k in res["generated"]}
    res["lost"] = lost
    clock = "wall clock" if realtime else "virtual time"
    print(f"\nsoak: {hours:g} h of session time ({clock}), status {res['status']}, "
          f"{res['trials']} trials, {res['wall_s']:.0f} s wall")
    print(f"{'hour':>4} {'trials':>6} {'RSS MiB':>8} {'sync p50':>9} {'p99':>7} {'max':>7} "
          f"{'trials.csv':>10} {'events.csv':>10} {'signals.bin':>11} {'signals.crc':>11}  (MiB/h)")
    for r in res["hourly"]:
        print(f"{r['hour']:4d} {r['trials']:6d} {r['rss_mib']:8.1f} {r['sync_p50_ms']:9.2f} "
              f"{r['sync_p99_ms']:7.2f} {r['sync_max_ms']:7.2f} {r['trials.csv_mib']:10.3f} "
              f"{r['events.csv_mib']:10.3f} {r['signals.bin_mib']:11.2f} "
              f"{r['signals.crc_mib']:11.4f}")
    print(f"peak RSS: session {res['peak_rss_session_mib']:.1f} MiB, + summary figure "
          f"{res['peak_rss_figure_mib']:.1f} MiB"
          + (f", + NWB export {res['peak_rss_export_mib']:.1f} MiB ({res['nwb_mib']:.0f} MiB "
             "file)" if export else ""))
    print(f"generated {res['generated']}, on disk {res['written']}, lost {lost}, damage "
          f"{res['damage'] or 'none'}")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rss", help="peak RSS of rigctl run against session length")
    r.add_argument("--trials", default="200,1000,4000", help="comma-separated trial counts")
    r.add_argument("--tree", type=Path, help="another checkout to measure (e.g. main)")
    r.add_argument("--no-figure", action="store_true")
    r.add_argument("--json", type=Path, help="also write the rows here")
    k = sub.add_parser("soak", help="long closed-loop sessions: RSS, file sizes, sync, losses")
    k.add_argument("--virtual-hours", type=float, default=10.0,
                   help="session time of the virtual-time session (h; 0: skip it)")
    k.add_argument("--hours", type=float, default=0.0,
                   help="session time of the wall-clock session (h; 1 for the real soak)")
    k.add_argument("--no-export", action="store_true", help="skip the NWB export at the end")
    k.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if args.cmd == "rss":
        rows = rss_rows([int(x) for x in args.trials.split(",")], args.tree,
                        not args.no_figure, f" ({args.tree})" if args.tree else "")
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1) + "\n")
        return 0 if all(r["exit"] == 0 for r in rows) else 1
    out = {}
    if args.virtual_hours > 0:
        out["virtual"] = soak(args.virtual_hours, False, not args.no_export)
    if args.hours > 0:
        out["wall_clock"] = soak(args.hours, True, not args.no_export)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=float) + "\n")
    lost = any(v for r in out.values() for v in r["lost"].values())
    return 1 if lost or any(r["damage"] for r in out.values()) else 0


def run(quick: bool) -> list[dict[str, Any]]:
    return rss_rows([200, 1000] if quick else [200, 1000, 4000])


if __name__ == "__main__":
    raise SystemExit(main())
