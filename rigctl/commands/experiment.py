"""``rigctl experiment FILE``: run every subject of an experiment file, each on its own rig.

Every rig's session is its own engine process; the terminal shows them side by side (subject,
trials, % correct, state, warnings) and takes commands on stdin: ``stop M2`` ends M2's session
after the current event (outputs off, the others go on), ``finish M2`` after its trial,
``stop all``; Ctrl-C stops them all the same safe way. Bad input (two subjects on one rig, a
rig config used twice, a subject already running elsewhere) is refused before anything starts.
"""

from __future__ import annotations

import argparse
import queue
import signal
import sys
import threading
import time
from typing import TextIO

NAME = "experiment"
HELP = "run an experiment: many subjects, one rig each, side by side"
HANDLES_STARTUP_INTERRUPT = True
#: table refreshes per second
REFRESH_HZ = 4
COMMANDS_HELP = "commands: stop SUBJECT | finish SUBJECT | stop all | help"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="experiment YAML (see docs/experiments.md)")
    p.add_argument("--realtime", action="store_true",
                   help="pace simulated rigs on the wall clock (real hardware always is)")
    p.add_argument("--check", action="store_true",
                   help="only check the experiment file and the rigs, start nothing")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="end every session after S s of session time (status completed); "
                        "overrides the file's duration_s")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from rigctl.errors import ConfigError
    from rigctl.experiment.plan import load_plan
    from rigctl.experiment.runner import ExperimentRunner

    startup = getattr(args, "startup_interrupt", None)
    if args.duration is not None and not args.duration > 0:
        raise ConfigError("command line", [f"--duration: must be > 0 s (got {args.duration})"])
    plan = load_plan(args.file)
    if args.realtime:
        plan = dataclasses.replace(plan, rigs=[dataclasses.replace(r, realtime=True)
                                               for r in plan.rigs])
    if args.duration is not None:
        plan = dataclasses.replace(plan, rigs=[dataclasses.replace(r, duration_s=args.duration)
                                               for r in plan.rigs])
    if args.check:
        for r in plan.rigs:
            print(f"{r.subject}: {r.spec.name} on {r.rig} ({r.config_path}), data "
                  f"{r.data_root}")
        print(f"experiment {plan.config.name}: {len(plan.rigs)} subjects, ok")
        return 0
    if startup is not None and startup.requested:
        print("rigctl: interrupted before any rig started", file=sys.stderr)
        return 1
    runner = ExperimentRunner(plan)
    runner.take_locks()
    stopping = {"n": 0}

    def on_signal(signum: int, _frame: object) -> None:
        stopping["n"] += 1

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for note in runner.notes:
            print(f"rigctl: note: {note}", file=sys.stderr)
        runner.start_engines()
        if startup is not None and startup.requested:
            stopping["n"] += 1
        _watch(runner, stopping, sys.stdin, sys.stdout)
    finally:
        runner.stop_all("stopped: the experiment command is ending")
        runner.close()
        for s, h in old.items():
            signal.signal(s, h)
    print(_final_table(runner))
    return 0 if all(r.phase == "completed" for r in runner.runs) else 1


def _stdin_lines(stream: TextIO, out: queue.Queue[str]) -> None:
    """Lines typed by the operator (a daemon thread: a blocked read never holds the exit)."""
    try:
        for line in stream:
            out.put(line.strip())
    except (OSError, ValueError):
        pass


def _watch(runner, stopping: dict[str, int], stdin: TextIO, stdout: TextIO) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.live import Live

    console = Console(file=stdout)
    lines: queue.Queue[str] = queue.Queue()
    if stdin is not None and not stdin.closed:
        threading.Thread(target=_stdin_lines, args=(stdin, lines), daemon=True,
                         name="rigctl-experiment-stdin").start()
    seen_stops = 0
    printed: dict[str, str] = {}

    def say(text: str) -> None:
        console.print(text, highlight=False, markup=False)

    live = Live(table(runner), console=console, refresh_per_second=REFRESH_HZ,
                auto_refresh=False) if console.is_terminal else None
    if live is not None:
        live.start()
    else:
        say(f"experiment {runner.plan.config.name}: {len(runner.runs)} rigs starting; "
            f"{COMMANDS_HELP}")
    try:
        while not runner.done:
            runner.poll()
            if stopping["n"] > seen_stops:
                if seen_stops == 0:
                    say("stopping every rig (Ctrl-C): each ends after its current event, "
                        "outputs off")
                    runner.stop_all("stopped by Ctrl-C")
                else:
                    say("still stopping: waiting for every rig to turn its outputs off")
                seen_stops = stopping["n"]
            while not lines.empty():
                say(command(runner, lines.get()))
            if live is not None:
                live.update(table(runner), refresh=True)
            else:
                for r in runner.runs:  # a log: one line per change of phase
                    line = f"{r.subject}: {r.phase}" + (f" ({r.reason})" if r.reason else "")
                    if printed.get(r.subject) != line:
                        printed[r.subject] = line
                        say(line)
            time.sleep(1 / REFRESH_HZ if live is not None else 0.1)
    finally:
        if live is not None:
            live.update(table(runner), refresh=True)
            live.stop()


def command(runner, line: str) -> str:  # type: ignore[no-untyped-def]
    """Do one typed command; returns the line to show."""
    words = line.split()
    if not words:
        return ""
    verb, rest = words[0].lower(), words[1:]
    if verb == "help" or verb not in ("stop", "finish") or len(rest) != 1:
        return COMMANDS_HELP if verb == "help" else f"not understood: {line!r}; {COMMANDS_HELP}"
    who = rest[0]
    if verb == "stop" and who.lower() == "all":
        runner.stop_all("stopped by the operator")
        return "stopping every rig (each after its current event, outputs off)"
    if runner.find(who) is None:
        return f"no subject {who!r} (subjects: {', '.join(r.subject for r in runner.runs)})"
    done = runner.stop(who) if verb == "stop" else runner.finish(who)
    if not done:
        return f"{who}: already ended"
    return (f"{who}: stopping after the current event (outputs off); the others go on"
            if verb == "stop" else f"{who}: finishing after the trial in progress")


def table(runner):  # type: ignore[no-untyped-def]
    """The side-by-side view: one column per rig, the subject's name large."""
    from rich.columns import Columns
    from rich.panel import Panel
    from rich.text import Text

    panels = []
    for r in runner.runs:
        colour = {"running": "green", "starting": "cyan", "stopping": "yellow",
                  "completed": "blue", "aborted": "red", "failed": "red",
                  "crashed": "red"}.get(r.phase, "white")
        body = Text()
        body.append(f"{r.subject}\n", style="bold white on dark_blue")
        body.append(f"{r.plan.rig} · {r.plan.spec.name}\n", style="dim")
        of = f"/{r.n_total}" if r.n_total else ""
        body.append(f"trials   {r.n_trials}{of}\n")
        acc = "--" if r.accuracy != r.accuracy else f"{100 * r.accuracy:.0f}%"
        body.append(f"correct  {acc}\n")
        body.append(f"state    {r.state or '-'}\n")
        body.append(f"{r.phase}", style=f"bold {colour}")
        if r.reason:
            body.append(f" ({r.reason})", style=colour)
        if r.warnings:
            body.append(f"\n⚠ {len(r.warnings)}: {r.warnings[-1]}", style="yellow")
        panels.append(Panel(body, width=34, border_style=colour))
    title = Text(f"experiment {runner.plan.config.name}   —   {COMMANDS_HELP}", style="bold")
    from rich.console import Group

    return Group(title, Columns(panels))


def _final_table(runner) -> str:  # type: ignore[no-untyped-def]
    from rigctl.timing.lateness import describe

    out = []
    for r in runner.runs:
        acc = "--" if r.accuracy != r.accuracy else f"{100 * r.accuracy:.1f}%"
        why = f" ({r.reason})" if r.reason else ""
        out.append(f"{r.subject:<10} {r.plan.rig:<14} {r.phase:<10} {r.n_trials:>5} trials "
                   f"{acc:>6} correct{why}")
        out.append(f"{'':<10} data: {r.folder or 'none written'}")
        if r.timing:
            out.append(f"{'':<10} timing: {describe(r.timing)}")
    return "\n".join(out)
