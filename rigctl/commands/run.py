"""``rigctl run CONFIG``: run a session headless, with a progress bar and a summary table."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from rigctl.commands.common import load

NAME = "run"
HELP = "run a session (virtual time on a simulated rig)"
#: Ctrl-C while loading and opening devices is checked here, never a traceback (rigctl.cli)
HANDLES_STARTUP_INTERRUPT = True


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="rig config YAML, e.g. hardware_configs/sim.yaml")
    p.add_argument("--protocol",
                   help="task name, task file (my_task.py) or protocol YAML (name/task + "
                   "parameters)")
    p.add_argument("--agent", default="auto",
                   help="simulated subject: auto (the task's working-memory mapping, else "
                   "generic), working_memory, generic, or an agent .py file")
    p.add_argument("--coverage", action="store_true",
                   help="print which states and transitions the session never reached")
    p.add_argument("--subject", default=None, help="subject ID (default: sim-mouse-1)")
    p.add_argument("--genotype", choices=["wt", "ip3r2_ko"], default="wt")
    p.add_argument("--treatment", choices=["none", "saline", "cno"], default="none")
    p.add_argument("--trials", type=int, default=None, help="number of trials")
    p.add_argument("--seed", type=int, default=None, help="random seed (recorded)")
    p.add_argument("--data", default=None, help="data root folder (default: the config's)")
    p.add_argument("--realtime", action="store_true",
                   help="pace the simulated rig on the wall clock (real hardware always is)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-figure", action="store_true",
                   help="do not write summary.png at the end")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="end the session after S s of session time (status completed)")


def run(args: argparse.Namespace) -> int:
    from rigctl.config.subject import Subject
    from rigctl.engine.session import Session, SessionOptions
    from rigctl.errors import EXIT_ABORTED, EXIT_USAGE, ConfigError, RigctlError

    startup = getattr(args, "startup_interrupt", None)

    def interrupted() -> bool:
        return bool(startup is not None and startup.requested)

    overrides = {"n_trials": args.trials} if args.trials is not None else None
    if args.duration is not None and not args.duration > 0:
        raise ConfigError("command line", [f"--duration: must be > 0 s (got {args.duration})"])
    cfg, spec = load(args.config, args.protocol, overrides)
    try:
        subject = Subject(id=args.subject or "sim-mouse-1", genotype=args.genotype,
                          treatment=args.treatment)
    except Exception as exc:  # pydantic ValidationError
        from rigctl.config.loading import format_validation_error

        raise ConfigError("--subject", format_validation_error(exc)) from None
    if interrupted():
        return _interrupted_before_start()
    data_root = Path(args.data if args.data is not None else cfg.data_root)
    folder: Path | None = None
    try:
        session = Session(cfg, SessionOptions(
            subject=subject, protocol=spec, data_root=data_root, seed=args.seed,
            realtime=args.realtime or not simulated_only(cfg), config_source=args.config,
            summary_figure=not args.no_figure, agent=args.agent, duration_s=args.duration,
            lock=True,
        ))
        if interrupted():
            session.rig.close()
            return _interrupted_before_start()
        folder = session.open()
        for note in session.notes:
            print(f"note: {note}")
        code = _run_open_session(session, folder, getattr(spec.params, "n_trials", None),
                                 args.quiet, startup, args.coverage)
    except RigctlError as exc:
        _print_where_the_data_is(folder, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        if folder is not None and exc.exit_code == EXIT_USAGE:
            # A session ran and ended early (a task's own error mid-session): exit 2 would
            # tell a script that nothing ran, while trials were kept in the folder.
            exc.exit_code = EXIT_ABORTED
        raise
    return code


def _interrupted_before_start() -> int:
    from rigctl.errors import EXIT_ABORTED

    print("status: not started (interrupted while starting)")
    print("data:   none written")
    print("rigctl: interrupted", file=sys.stderr)
    return EXIT_ABORTED


def _run_open_session(session, folder: Path, n_trials: int | None,  # type: ignore[no-untyped-def]
                      quiet: bool, startup, coverage: bool = False) -> int:
    from rigctl.data.summary import summary_table

    progress = Progress(n_trials, quiet=quiet)
    session.trial_listeners.append(progress.update)

    def on_signal(signum: int, _frame: object) -> None:
        session.request_stop(f"stopped by {signal.Signals(signum).name}")

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    if startup is not None and startup.requested:  # Ctrl-C between the last check and here
        on_signal(signal.SIGINT, None)
    try:
        result = session.run()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        progress.done()
    print(summary_table(folder))
    if hasattr(session.protocol, "coverage_line"):
        print(session.protocol.coverage_line())
    if coverage:
        from rigctl.engine.coverage import format_report

        print(format_report(session.coverage.report()))
    print(f"status: {result.status}{' (' + result.reason + ')' if result.reason else ''}")
    print(f"data:   {folder}")
    for name, n in result.frames.items():
        print(f"frames: {n:,}" + (f" ({name})" if len(result.frames) > 1 else ""))
    if result.timing:
        from rigctl.timing.lateness import describe

        print(f"timing: {describe(result.timing)}")
    if result.figure is not None:
        print(f"figure: {result.figure}")
    elif result.figure_error:
        print(f"figure: not written ({result.figure_error})", file=sys.stderr)
    return 0 if result.status == "completed" else 1


def _print_where_the_data_is(folder: Path | None, why: str) -> None:
    """The ``status:``/``data:`` lines after a failure: the operator's first question is where
    the completed trials are, whatever went wrong."""
    if folder is None:
        print(f"status: not started ({why})")
        print("data:   none written")
        return
    n = 0
    with contextlib.suppress(OSError), open(folder / "trials.csv", encoding="utf-8",
                                            errors="replace") as f:
        n = max(0, sum(1 for line in f if line.endswith("\n")) - 1)
    print(f"status: aborted ({why})")
    print(f"data:   {folder} ({n} completed trial{'s' if n != 1 else ''} kept)")


def simulated_only(cfg) -> bool:
    """Virtual time is only possible when every device is simulated; real hardware always runs
    on the wall clock, whatever the command line says."""
    return all(dev.type == "sim" for dev in cfg.devices.values())


class Progress:
    """Progress of a session on stderr.

    On a terminal: a tqdm bar (trials done, % correct, elapsed and ETA), redrawn in place. Not
    on a terminal (a log file, a pipe, a GUI's process output): one line per trial, so a
    `--realtime` log shows every trial as it ends instead of nothing for minutes.
    """

    def __init__(self, total: int | None, quiet: bool, stream: TextIO | None = None) -> None:
        self.total, self.quiet = total or 0, quiet  # 0: the task sets no trial count
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream)
        self.bar: Any = None
        if self.tty and not quiet:
            from tqdm import tqdm

            # A fresh pty or serial console may report a 0x0 size, which makes tqdm draw
            # nothing at all (it hides bars below the last row): assume 80x24 there.
            sized = min(_size(self.stream)) > 0
            self.bar = tqdm(total=total, unit="trial", file=self.stream, dynamic_ncols=sized,
                            ncols=None if sized else 80, nrows=None if sized else 24,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} trials "
                                       "[{elapsed}<{remaining}]{postfix}")

    def update(self, rec: object, progress: dict[str, float]) -> None:
        if self.quiet:
            return
        n, acc = int(progress.get("trial", 0)), progress.get("accuracy", float("nan"))
        acc_txt = "  --  " if acc != acc else f"{100 * acc:5.1f}%"
        if self.bar is not None:
            self.bar.set_postfix_str(f"correct {acc_txt.strip()}", refresh=False)
            self.bar.update(max(0, n - self.bar.n))
        else:
            outcome = getattr(rec, "outcome", "") or ""
            of = f"/{self.total}" if self.total else ""
            print(f"trial {n}{of}  {outcome:<11}  correct so far {acc_txt}",
                  file=self.stream, flush=True)

    def done(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _size(stream: TextIO) -> tuple[int, int]:
    """(columns, rows) of the terminal behind ``stream``; 0s when it cannot say."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return 0, 0
    return size.columns, size.lines


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
