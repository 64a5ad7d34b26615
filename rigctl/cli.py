"""The ``rigctl`` command.

Each sub-command lives in its own module under :mod:`rigctl.commands` (``NAME``, ``HELP``,
``register(parser)``, ``run(args) -> int``) and is found there, so adding a command touches no
other file. Every user error ends as ``rigctl: error: ...`` lines on stderr with exit code 2 (no
traceback); a traceback means a bug in rigctl.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import rigctl.commands
from rigctl import __version__
from rigctl.errors import RigctlError

EXIT_USAGE = 2


def _commands() -> dict[str, object]:
    found = {}
    for info in pkgutil.iter_modules(rigctl.commands.__path__):
        module = importlib.import_module(f"rigctl.commands.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            found[module.NAME] = module
    return dict(sorted(found.items()))


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


def main(argv: Sequence[str] | None = None) -> int:
    commands = _commands()
    args = _parser(commands).parse_args(argv)
    try:
        return int(commands[args.command].run(args))  # type: ignore[attr-defined]
    except RigctlError as exc:
        for line in str(exc).splitlines():
            print(f"rigctl: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("rigctl: interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
