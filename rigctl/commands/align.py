"""``rigctl align SESSION_DIR OTHER.csv``: put another system's clock on the session's.

OTHER.csv holds the sync-pulse onsets the other system (microscope, photometry, ephys) recorded,
in its own seconds, one a line, with an optional header. The session's own pulses are the
``sync`` events of its events.csv. Prints the offset, the drift and the residuals and writes
``alignment.json`` into the session folder; with ``--frames FRAMES.csv`` (the other system's
frame times, same format) also ``frame_times.csv``: every frame on both clocks. Method and
tolerances: docs/sync.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "align"
HELP = "align another system's clock to a session from the sync pulses both recorded"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", metavar="SESSION_DIR", help="session folder")
    p.add_argument("other", metavar="OTHER.csv",
                   help="the other system's sync-pulse times (s), one a line")
    p.add_argument("--frames", metavar="FRAMES.csv",
                   help="the other system's frame times (s), one a line: writes frame_times.csv")
    p.add_argument("--jitter-ms", type=float, default=2.0,
                   help="timing noise of one pulse on either clock, e.g. the other system's "
                        "sampling period (default 2)")
    p.add_argument("--match-tol-ms", type=float, default=10.0,
                   help="largest distance of a matched pulse pair after mapping (default 10)")
    p.add_argument("--max-rms-ms", type=float, default=5.0,
                   help="refuse an alignment whose RMS residual is larger (default 5)")
    p.add_argument("--max-drift-ppm", type=float, default=1000.0,
                   help="largest clock-rate difference to search (default 1000)")
    p.add_argument("--force", action="store_true", help="replace an existing alignment.json")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from rigctl.data import load_session
    from rigctl.data.align import (
        ALIGNMENT_FILE,
        FRAMES_FILE,
        AlignOptions,
        align,
        read_times,
        save_alignment,
        session_pulses,
    )
    from rigctl.errors import DataError, RigctlError

    for flag in ("jitter_ms", "match_tol_ms", "max_rms_ms"):
        if not getattr(args, flag) > 0:
            raise RigctlError(f"--{flag.replace('_', '-')}: must be > 0 (got "
                              f"{getattr(args, flag):g})")
    try:
        opts = AlignOptions(jitter_s=args.jitter_ms / 1e3, match_tol_s=args.match_tol_ms / 1e3,
                            max_rms_s=args.max_rms_ms / 1e3, max_drift_ppm=args.max_drift_ppm)
    except ValueError as exc:
        raise RigctlError(f"--max-drift-ppm: {exc}") from None
    s = load_session(args.session)
    out = s.path / ALIGNMENT_FILE
    if out.exists() and not args.force:
        raise DataError(f"{out}: already exists (pass --force to replace it)")
    mine = session_pulses(s.events)
    if not mine.size:
        raise DataError(f"{s.path}: events.csv has no sync pulses (the rig config needs a "
                        "`sync:` section in mode random; docs/sync.md)")
    other_path = Path(args.other)
    other = read_times(other_path, "sync-pulse times")
    al = align(mine, other, opts, session_name=f"{s.path.name} sync pulses",
               other_name=str(other_path))
    extra = {}
    frames = None
    if args.frames:
        frames = read_times(args.frames, "frame times")
        if np.any(np.diff(frames) <= 0):
            k = int(np.flatnonzero(np.diff(frames) <= 0)[0]) + 1
            raise DataError(f"{args.frames}: frame times must increase (frame {k})")
        extra = {"frames_file": str(args.frames), "n_frames": int(frames.size)}
    for line in al.report():
        print(line)
    path = save_alignment(s.path, al, other_path, opts, extra)
    if frames is not None:
        t_s = al.to_session(frames)
        lines = (f"{k},{o:.6f},{t:.6f}" for k, (o, t) in enumerate(zip(frames, t_s,
                                                                       strict=True)))
        (s.path / FRAMES_FILE).write_text("frame,t_other_s,t_s\n" + "\n".join(lines) + "\n",
                                          encoding="utf-8")
        print(f"frames: {frames.size:,} (session time {t_s[0]:.3f} to {t_s[-1]:.3f} s) -> "
              f"{s.path / FRAMES_FILE}")
    print(f"alignment: {path}")
    return 0
