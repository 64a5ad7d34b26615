"""``rigctl gui [CONFIG ...]``: the rig GUI — set up, run and watch sessions on several rigs.

Each CONFIG opens in its own tab (the last session's tabs when none is given). With
``--autostart`` every tab starts its session at once; with ``--exit-after-trials N`` and/or
``--screenshot FILE`` the run is unattended: once each session has N trials (or has ended) the
window is saved as a PNG, the sessions finish their trial, and the GUI exits (0 when every session
ended cleanly). Registered as a plugin command (entry point group ``rigctl.commands``), so the
core never imports Qt.
"""

from __future__ import annotations

import argparse

NAME = "gui"
HELP = "the rig GUI: set up, run and watch sessions on one or several rigs"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="*", help="rig config YAML(s), one tab each")
    p.add_argument("--autostart", action="store_true", help="start every tab's session at once")
    p.add_argument("--exit-after-trials", type=int, default=None, metavar="N",
                   help="unattended: finish and exit once each session has N trials")
    p.add_argument("--screenshot", default=None, metavar="FILE",
                   help="save a PNG of the main window before exiting (unattended runs)")
    p.add_argument("--virtual", action="store_true",
                   help="simulated rigs run in virtual time (seconds instead of hours)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="data root folder for every tab (default: remembered, or the config's)")
    p.add_argument("--settings", default=None, metavar="FILE",
                   help="keep the remembered choices in this ini file "
                        "(default: $RIGCTL_GUI_SETTINGS or the user's settings)")


def run(args: argparse.Namespace) -> int:
    from rigctl.errors import RigctlError

    if args.exit_after_trials is not None and args.exit_after_trials < 1:
        raise RigctlError(f"--exit-after-trials: must be at least 1 (got {args.exit_after_trials})")
    from gui.qt_platform import platform_problem

    problem = platform_problem()  # before QApplication, which aborts the process instead
    if problem:
        raise RigctlError(problem)
    try:
        from gui.app import run_app
    except ImportError as exc:  # Qt missing or its platform libraries absent
        raise RigctlError(f"the GUI needs PyQt5 and pyqtgraph: {exc}") from None
    return run_app(list(args.config), autostart=args.autostart,
                   exit_after=args.exit_after_trials, screenshot=args.screenshot,
                   virtual=args.virtual, settings_path=args.settings, data=args.data)


def main(argv: list[str] | None = None) -> int:
    """``python -m gui``: the same command without the ``rigctl`` front end."""
    import sys

    from rigctl.errors import RigctlError

    parser = argparse.ArgumentParser(prog="rigctl gui", description=__doc__)
    register(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except RigctlError as exc:
        for line in str(exc).splitlines():
            print(f"rigctl: error: {line}", file=sys.stderr)
        return 2
