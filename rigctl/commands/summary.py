"""``rigctl summary SESSION_DIR``: print a session's accuracy table and write its summary PNG.

The figure (``summary.png`` in the session folder) shows accuracy over the session and by delay
with 95% CIs, reaction times, a lick raster around the choice and example laser trials against
the predictor's traces. Warnings (a torn last line, damaged rows with their line numbers) are
printed first; a damaged session is summarised from its intact rows.
"""

from __future__ import annotations

import argparse

NAME = "summary"
HELP = "summarise a session: accuracy table and summary figure (PNG)"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", metavar="SESSION_DIR", help="session folder")
    p.add_argument("--out", help="PNG path (default: <SESSION_DIR>/summary.png)")
    p.add_argument("--no-figure", action="store_true", help="print the table only")


def run(args: argparse.Namespace) -> int:
    from rigctl.data.loader import load_session
    from rigctl.data.summary import summary_table

    s = load_session(args.session)  # with events, so damage anywhere is reported
    for w in s.warnings:
        print(f"warning: {w}")
    print(summary_table(args.session))
    if not args.no_figure:
        from rigctl.data.figures import save_summary_figure

        print(f"figure: {save_summary_figure(args.session, args.out)}")
    return 0
