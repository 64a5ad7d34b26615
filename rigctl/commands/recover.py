"""``rigctl recover SESSION_DIR``: close a session whose process died.

Marks it ``crashed`` in session.json (atomically), keeps every complete trial, drops a torn last
line of trials.csv/events.csv or a torn last record of signals.bin (keeping the torn original as
``<file>.bak``), so that it loads without warnings and exports. Refuses a session that is still
running or already finished.
"""

from __future__ import annotations

import argparse

NAME = "recover"
HELP = "mark a crashed session as such and make it exportable"


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
