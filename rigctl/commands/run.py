"""``rigctl run CONFIG``: run a session headless, with a progress bar and a summary table."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from rigctl.commands.common import load

NAME = "run"
HELP = "run a session (virtual time on a simulated rig)"


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
    from rigctl.data.summary import summary_table
    from rigctl.engine.session import Session, SessionOptions
    from rigctl.errors import ConfigError

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
    data_root = Path(args.data if args.data is not None else cfg.data_root)
    session = Session(cfg, SessionOptions(
        subject=subject, protocol=spec, data_root=data_root, seed=args.seed,
        realtime=args.realtime or not simulated_only(cfg), config_source=args.config,
        summary_figure=not args.no_figure, agent=args.agent,
    ))
    if args.duration is not None:  # the protocol's own finish: pyControl's run_end runs
        session.timers.set_at(session.clock.now() + args.duration, session.protocol.finish)
    folder = session.open()
    progress = Progress(getattr(spec.params, "n_trials", None), quiet=args.quiet)
    session.trial_listeners.append(progress.update)

    def on_signal(signum: int, _frame: object) -> None:
        session.request_stop(f"stopped by {signal.Signals(signum).name}")

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = session.run()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        progress.done()
    print(summary_table(folder))
    if hasattr(session.protocol, "coverage_line"):
        print(session.protocol.coverage_line())
    if args.coverage:
        from rigctl.engine.coverage import format_report

        print(format_report(session.coverage.report()))
    print(f"status: {result.status}{' (' + result.reason + ')' if result.reason else ''}")
    print(f"data:   {folder}")
    if result.figure is not None:
        print(f"figure: {result.figure}")
    elif result.figure_error:
        print(f"figure: not written ({result.figure_error})", file=sys.stderr)
    return 0 if result.status == "completed" else 1




def simulated_only(cfg) -> bool:
    """Virtual time is only possible when every device is simulated; real hardware always runs
    on the wall clock, whatever the command line says."""
    return all(dev.type == "sim" for dev in cfg.devices.values())


class Progress:
    """A one-line progress bar on a terminal; a line every 10% otherwise."""

    def __init__(self, total: int | None, quiet: bool) -> None:
        self.total, self.quiet = total or 0, quiet  # 0: the task sets no trial count
        self.tty = sys.stderr.isatty()
        self.step = max(1, self.total // 10)
        self.shown = False

    def update(self, rec, progress: dict[str, float]) -> None:
        if self.quiet:
            return
        n, acc = int(progress.get("trial", 0)), progress.get("accuracy", float("nan"))
        acc_txt = "  --  " if acc != acc else f"{100 * acc:5.1f}%"
        if self.tty:
            width = 30
            fill = int(width * n / self.total) if self.total else 0
            sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] trial {n}/{self.total}"
                             f"  correct {acc_txt}")
            sys.stderr.flush()
            self.shown = True
        elif n % self.step == 0 or n == self.total:
            print(f"trial {n}/{self.total}  correct {acc_txt}", file=sys.stderr)

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


