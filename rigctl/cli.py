"""The ``rigctl`` command.

Each sub-command lives in its own module under :mod:`rigctl.commands` (``NAME``, ``HELP``,
``register(parser)``, ``run(args) -> int``) and is found there, so adding a command touches no
other file. Every user error ends as ``rigctl: error: ...`` lines on stderr (no traceback) with
the exit code of its kind (:mod:`rigctl.errors`: 2 for a config or usage error, 3 for a device);
a traceback means a bug in rigctl.

Ctrl-C while rigctl starts (imports, loading, opening devices: the first second or more) must not
print a KeyboardInterrupt traceback from wherever the interpreter happened to be. So from the
first line of the process entry (:mod:`rigctl.entry`), SIGINT only sets a flag
(:class:`~rigctl.interrupt.StartupInterrupt`); a command that
declares ``HANDLES_STARTUP_INTERRUPT`` checks the flag at its own safe points and installs its own
handler (``rigctl run`` does); for every other command Python's usual Ctrl-C is restored just
before it runs, so prompts and long exports stay interruptible.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

import rigctl.commands
from rigctl import __version__
from rigctl.errors import EXIT_ABORTED, EXIT_USAGE, RigctlError
from rigctl.interrupt import StartupInterrupt


def _commands() -> dict[str, object]:
    """Built-in commands, plus commands that other packages register under the entry-point
    group ``rigctl.commands`` (the GUI does: the core never imports it by name)."""
    found = {}
    for info in pkgutil.iter_modules(rigctl.commands.__path__):
        module = importlib.import_module(f"rigctl.commands.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            found[module.NAME] = module
    for ep in importlib.metadata.entry_points(group="rigctl.commands"):
        try:
            module = ep.load()
        except ImportError as exc:  # e.g. the GUI's Qt libraries are missing
            module = _Unavailable(ep.name, str(exc))
        found.setdefault(ep.name, module)
    return dict(sorted(found.items()))


class _Unavailable:
    """Stands in for a plugin command that cannot be imported, and says why when run."""

    def __init__(self, name: str, why: str) -> None:
        self.NAME, self.HELP, self.why = name, f"(unavailable: {why})", why
        self.__doc__ = self.HELP

    def register(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER)

    def run(self, args: argparse.Namespace) -> int:
        raise RigctlError(f"`rigctl {self.NAME}` is unavailable: {self.why}")


def _parser(commands: dict[str, object]) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="rigctl",
        description="Closed-loop behavioural rig control for working-memory experiments.",
    )
    ap.add_argument("--version", action="version", version=f"rigctl {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in commands.items():
        module.register(sub.add_parser(name, help=module.HELP,  # type: ignore[attr-defined]
                                       description=module.__doc__))
    return ap


def main(argv: Sequence[str] | None = None, interrupt: StartupInterrupt | None = None) -> int:
    """Run the command line ``argv``; ``interrupt`` is the guard the process entry installed
    (:mod:`rigctl.entry`), else one is installed here."""
    if interrupt is None:
        interrupt = StartupInterrupt()
        interrupt.install()
    try:
        return _main(argv, interrupt)
    except KeyboardInterrupt:
        print("rigctl: interrupted", file=sys.stderr)
        return EXIT_ABORTED
    finally:
        interrupt.restore()


def _main(argv: Sequence[str] | None, interrupt: StartupInterrupt) -> int:
    commands = _commands()
    args = _parser(commands).parse_args(argv)
    if interrupt.requested:
        raise KeyboardInterrupt
    module = commands[args.command]
    if getattr(module, "HANDLES_STARTUP_INTERRUPT", False):
        args.startup_interrupt = interrupt
    else:
        interrupt.restore()
    if not logging.getLogger().handlers:  # device warnings (garbage lines...) as one-liners
        logging.basicConfig(format="rigctl: warning: %(message)s", level=logging.WARNING)
    try:
        return int(module.run(args))  # type: ignore[attr-defined]
    except BrokenPipeError:  # `rigctl check ... | head`
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the exit-time flush
        return 0
    except RigctlError as exc:
        for line in str(exc).split("\n"):
            print(f"rigctl: error: {line}", file=sys.stderr)
        return int(getattr(exc, "exit_code", EXIT_USAGE))


if __name__ == "__main__":
    raise SystemExit(main())
