"""The ``rigctl`` command: run sessions headless, check configs.

Every user error ends as ``rigctl: error: ...`` lines on stderr with exit code 2 (no traceback);
a traceback means a bug in rigctl.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from rigctl import __version__
from rigctl.errors import RigctlError

EXIT_OK, EXIT_ABORTED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="rigctl",
        description="Closed-loop behavioural rig control for working-memory experiments.",
    )
    ap.add_argument("--version", action="version", version=f"rigctl {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a session (virtual time on a simulated rig)")
    run.add_argument("config", help="rig config YAML, e.g. hardware_configs/sim.yaml")
    run.add_argument("--protocol", help="protocol name or protocol YAML file")
    run.add_argument("--subject", default=None, help="subject ID (default: sim-mouse-1)")
    run.add_argument("--genotype", choices=["wt", "ip3r2_ko"], default="wt")
    run.add_argument("--treatment", choices=["none", "saline", "cno"], default="none")
    run.add_argument("--trials", type=int, default=None, help="number of trials")
    run.add_argument("--seed", type=int, default=None, help="random seed (recorded)")
    run.add_argument("--data", default=None, help="data root folder (default: the config's)")
    run.add_argument("--realtime", action="store_true",
                     help="pace on the wall clock (a real rig always does)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")

    check = sub.add_parser("check", help="validate a rig config and print its devices")
    check.add_argument("config")
    check.add_argument("--protocol", help="also validate this protocol name or file")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        return _check(args)
    except RigctlError as exc:
        for line in str(exc).splitlines():
            print(f"rigctl: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("rigctl: interrupted", file=sys.stderr)
        return EXIT_ABORTED


def _load(config: str, protocol: str | None, overrides: dict | None = None):
    from rigctl.config import load_rig
    from rigctl.protocols.loading import resolve_protocol

    cfg = load_rig(config)
    spec = resolve_protocol(protocol, cfg, config, overrides)
    return cfg, spec


def _check(args: argparse.Namespace) -> int:
    from rigctl.hardware.registry import backend_module

    cfg, spec = _load(args.config, args.protocol)
    backend_module(cfg.backend, args.config).validate_settings(cfg, args.config)
    print(f"{args.config}: OK")
    print(f"  rig      {cfg.name}  (backend: {cfg.backend})")
    for side in ("left", "right"):
        port = getattr(cfg.reward_ports, side)
        lo, hi = port.calibration.points[0][1], port.calibration.points[-1][1]
        print(f"  {side:<8} valve {port.valve.channel}  lick {port.lick_sensor.channel}  "
              f"calibrated {lo:g}-{hi:g} µL  max open {port.valve.max_open_s:g} s")
    if cfg.laser:
        la = cfg.laser
        print(f"  laser    {la.channel}  {la.wavelength_nm:g} nm {la.opsin}  ceiling "
              f"{la.max_power_mw:g} mW  max on {la.max_on_s:g} s  ramp {la.ramp_down_s:g} s")
    else:
        print("  laser    none")
    for name in ("trial_start", "go"):
        cue = getattr(cfg.cues, name)
        print(f"  cue      {name}: {cue.channel if cue else 'not wired'}")
    if cfg.neural_signal:
        print(f"  signal   {cfg.neural_signal.channel} at {cfg.neural_signal.rate_hz:g} Hz")
    print(f"  protocol {spec.name} ({spec.source})")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from rigctl.config.subject import Subject
    from rigctl.engine.session import Session, SessionOptions
    from rigctl.errors import ConfigError

    overrides = {"n_trials": args.trials} if args.trials is not None else None
    cfg, spec = _load(args.config, args.protocol, overrides)
    try:
        subject = Subject(id=args.subject or "sim-mouse-1", genotype=args.genotype,
                          treatment=args.treatment)
    except Exception as exc:  # pydantic ValidationError
        from rigctl.config.loading import format_validation_error

        raise ConfigError("--subject", format_validation_error(exc)) from None
    data_root = Path(args.data if args.data is not None else cfg.data_root)
    session = Session(cfg, SessionOptions(
        subject=subject, protocol=spec, data_root=data_root, seed=args.seed,
        realtime=args.realtime, config_source=args.config,
    ))
    folder = session.open()
    progress = _Progress(spec.params.n_trials, quiet=args.quiet)  # type: ignore[attr-defined]
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
    _print_summary(folder)
    print(f"status: {result.status}{' (' + result.reason + ')' if result.reason else ''}")
    print(f"data:   {folder}")
    return EXIT_OK if result.status == "completed" else EXIT_ABORTED


class _Progress:
    """A one-line progress bar on a terminal; a line every 10% otherwise."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.quiet = total, quiet
        self.tty = sys.stderr.isatty()
        self.step = max(1, total // 10)
        self.shown = False

    def update(self, rec, progress: dict[str, float]) -> None:
        if self.quiet:
            return
        n, acc = int(progress.get("trial", 0)), progress.get("accuracy", float("nan"))
        acc_txt = "  --  " if acc != acc else f"{100 * acc:5.1f}%"
        if self.tty:
            width = 30
            fill = int(width * n / self.total)
            sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] trial {n}/{self.total}"
                             f"  correct {acc_txt}")
            sys.stderr.flush()
            self.shown = True
        elif n % self.step == 0 or n == self.total:
            print(f"trial {n}/{self.total}  correct {acc_txt}", file=sys.stderr)

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def _print_summary(folder: Path) -> None:
    from rigctl.data.summary import summary_table

    print(summary_table(folder))


if __name__ == "__main__":
    raise SystemExit(main())
