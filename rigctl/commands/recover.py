"""``rigctl recover SESSION_DIR``: close a session whose process died, repair a damaged one.

Marks a crashed session ``crashed`` in session.json (atomically), keeps every complete trial,
drops a torn last line of trials.csv/events.csv or a torn last record of signals.bin; rewrites a
CSV file with damaged rows with exactly the rows the loader keeps; rebuilds a lost or damaged
session.json. Every original is kept as ``<file>.bak``, and the damaged parts it prints are the
ones ``load_session`` reports afterwards. Refuses a session that is still running or has nothing
to repair.
"""

from __future__ import annotations

import argparse

NAME = "recover"
HELP = "close a crashed session, repair a damaged one (originals kept as .bak)"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", metavar="SESSION_DIR", help="session folder")
    p.add_argument("--force", action="store_true",
                   help="recover a session written on another host (you know it has stopped)")


def run(args: argparse.Namespace) -> int:
    from rigctl.data.recover import recover_session

    report = recover_session(args.session, force=args.force)
    for line in report.lines():
        print(line)
    return 0
