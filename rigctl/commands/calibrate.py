"""``rigctl calibrate valve|laser CONFIG``: measure a calibration and store it in the rig config.

valve: N openings at each of several open times; after each, enter the weighed water (mg, or
µL; water is 1 mg/µL). laser: each command is emitted for a few seconds while you read the power
meter at the fibre tip; then enter the mW. The points are fitted with a monotone quadratic, shown
with residuals, and written with the measurement date (``--date``, default today) into the config
(comments and layout kept). Values can also come from ``--measured`` or ``--measurements FILE``;
they are then checked before the rig is touched. See docs/calibration.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

from rigctl.errors import RigctlError

NAME = "calibrate"
HELP = "calibrate a valve (µL per opening) or the laser (mW at the fibre tip)"

DEFAULT_TIMES_MS = "20,40,60,80"
DEFAULT_COMMANDS = "0.5,1,2,3,4,5"


def register(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    v = sub.add_parser("valve", help="valve open time → µL per opening",
                       description="Calibrate one reward port's valve.")
    v.add_argument("config", help="rig config YAML (updated in place)")
    v.add_argument("--port", required=True, help="reward port, by its name in reward_ports")
    v.add_argument("--times", default=DEFAULT_TIMES_MS,
                   help=f"open times in ms, comma-separated (default {DEFAULT_TIMES_MS})")
    v.add_argument("--openings", type=int, default=100,
                   help="openings per open time, weighed together (default 100)")
    v.add_argument("--interval", type=float, default=0.3,
                   help="closed time between openings, s (default 0.3)")
    v.add_argument("--unit", choices=["mg", "ul"], default="mg",
                   help="unit of entered totals without a suffix (default mg; 1 mg = 1 µL)")
    _add_measurement_options(v, "weighed totals, one per open time (e.g. 210,430,655,890)")
    sub_l = sub.add_parser("laser", help="laser command → mW at the fibre tip",
                           description="Calibrate the laser with a power meter at the fibre tip.")
    sub_l.add_argument("config", help="rig config YAML (updated in place)")
    sub_l.add_argument("--commands", default=DEFAULT_COMMANDS,
                       help="commands to measure, comma-separated, in the laser's command unit "
                            f"(V, or mW set-point) (default {DEFAULT_COMMANDS})")
    sub_l.add_argument("--laser", default=None, metavar="NAME",
                       help="which laser of `lasers:` (needed when the rig has several)")
    sub_l.add_argument("--on-s", type=float, default=3.0,
                       help="seconds of light per command, to read the meter (default 3)")
    _add_measurement_options(sub_l, "mW readings, one per command")


def _add_measurement_options(p: argparse.ArgumentParser, what: str) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--measured", metavar="A,B,...", help=f"{what}; no prompts")
    src.add_argument("--measurements", metavar="FILE",
                     help="file with one value per line (or 'command value'); # comments")
    p.add_argument("--dry-run", action="store_true", help="fit and show; do not write the config")
    p.add_argument("--date", type=_iso_date, default=None, metavar="YYYY-MM-DD",
                   help="date the measurement was made, stored with it (default: today)")
    p.add_argument("--virtual-time", action="store_true",
                   help="simulated rig only: run the steps in virtual time (at once)")


def _iso_date(text: str) -> dt.date:
    """An ISO date for ``--date`` (argparse turns the ValueError into a usage error)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-27") from None


def measurement_date(given: dt.date | None) -> dt.date:
    """The date stored with a calibration: the one given, else today's (local) date.

    The date is an input of the command, not read deep inside it, so a calibration re-entered
    from a lab notebook keeps the day it was measured, and tests do not depend on the calendar.
    """
    return given if given is not None else dt.date.today()


def _open(args: argparse.Namespace, **kwargs: object):  # type: ignore[no-untyped-def]
    from rigctl.engine.manual import ManualRig
    from rigctl.timing.clock import VirtualClock

    clock = VirtualClock() if args.virtual_time else None
    return ManualRig.open(args.config, clock=clock, **kwargs)


def run(args: argparse.Namespace) -> int:
    from rigctl.config import load_rig

    cfg = load_rig(args.config)
    if args.what == "valve":
        return _valve(args, cfg)
    return _laser(args, cfg)


# --- valve ------------------------------------------------------------------------------------


def _valve(args: argparse.Namespace, cfg) -> int:  # type: ignore[no-untyped-def]
    from rigctl.config.calibration import write_calibration
    from rigctl.engine.manual import calibrate_valve, check_valve_plan
    from rigctl.hardware.calibration import ValveCurve, parse_amount, valve_record

    side = args.port
    times = check_valve_plan(cfg, side, _numbers(args.times, "--times"), args.openings,
                             args.interval)
    given = _given(args, times, "open time", lambda s: parse_amount(s, args.unit))
    if given is not None:  # every check before the valve opens
        valve_record(times, given, args.openings)

    interactive = given is None
    tty = sys.stdin.isatty()
    name = f"reward_ports.{side}"
    port_cfg = cfg.reward_ports[side]
    total_s = sum(args.openings * (t / 1000 + args.interval) for t in times)
    print(f"{name}: {len(times)} open times x {args.openings} openings "
          f"({port_cfg.valve.channel}), about {total_s / 60:.1f} min of pulses")
    if interactive:
        print(f"Put a weighed tube or weigh boat under the {side} port; after each step enter "
              f"the water delivered by its {args.openings} openings (mg, or µL; e.g. '213.5', "
              "'0.2135 g').")

    def before(step) -> None:  # type: ignore[no-untyped-def]
        head = f"[{step.index + 1}/{step.count}] {step.command:g} ms"
        if interactive and tty:
            _ask(f"{head}: empty and re-weigh the tube, then press Enter to start ")
        else:
            print(f"{head}: {step.openings} openings")

    def measure(step) -> float:  # type: ignore[no-untyped-def]
        if given is not None:
            return given[step.index]
        return _prompt(f"  water from {step.openings} openings of {step.command:g} ms "
                       f"({args.unit}): ", lambda s: parse_amount(s, args.unit), tty)

    with _open(args) as rig:
        record = calibrate_valve(rig, side, times, measure, openings=args.openings,
                                 interval_s=args.interval, before_step=before,
                                 progress=_progress_bar("openings"),
                                 date=measurement_date(args.date))
    curve = ValveCurve(record, name=f"{name}.calibration")
    _show_fit(record.points, curve.fit, curve.residuals(), "ms", "µL", "open ms",
              "µL/opening")
    lo, hi = curve.ul_range
    print(f"rewards from {lo:.3g} to {hi:.3g} µL ({curve.ms_range[0]:g}-"
          f"{curve.ms_range[1]:g} ms); outside this range rewards are refused")
    if args.dry_run:
        print("dry run: config not changed")
        return 0
    write_calibration(args.config, record, side=side)
    print(f"wrote {name}.calibration ({record.date}) to {args.config}")
    return 0


# --- laser ------------------------------------------------------------------------------------


def _laser(args: argparse.Namespace, cfg) -> int:  # type: ignore[no-untyped-def]
    from rigctl.config.calibration import write_calibration
    from rigctl.engine.manual import calibrate_laser, check_laser_plan
    from rigctl.hardware.calibration import LaserCurve, laser_record, parse_number

    lasers = cfg.all_lasers()
    if not lasers:
        raise RigctlError(f"{args.config}: laser: the rig config has no laser")
    name = args.laser
    if name is None and len(lasers) > 1:
        raise RigctlError(f"{args.config}: lasers: the rig has {len(lasers)} lasers "
                          f"({', '.join(lasers)}); name the one on the power meter with "
                          "--laser NAME")
    if name is not None and name not in lasers:
        raise RigctlError(f"--laser: the rig has no laser {name!r} (lasers: "
                          f"{', '.join(lasers)})")
    name = name if name is not None else next(iter(lasers))
    las, field = lasers[name], cfg.laser_field(name)
    commands = _numbers(args.commands, "--commands")
    with _open(args, calibrated_laser=False) as rig:
        unit = rig.laser_unit(name)
        commands = check_laser_plan(cfg, commands, args.on_s, unit, name)
        given = _given(args, commands, "command", parse_number)
        if given is not None:
            laser_record(commands, given, unit)
        interactive = given is None
        tty = sys.stdin.isatty()
        how = ("analog command (V)" if unit == "V" else
               "power set-point in mW, sent uncalibrated")
        print(f"{field} ({las.channel}): {len(commands)} commands, {how}; "
              f"{args.on_s:g} s of light each")
        if _is_simulated(cfg, las.channel):
            print("simulated rig: the simulated laser has no analog input, so the command is "
                  "the set-point in mW and it emits exactly that; there is no power meter, "
                  "so the readings are yours to enter")
        if interactive:
            print("Put the fibre tip on the power meter. Read the meter while the light is on; "
                  "enter the reading in mW when it is off.")

        def before(step) -> None:  # type: ignore[no-untyped-def]
            head = f"[{step.index + 1}/{step.count}] {step.command:g} {unit}"
            if interactive and tty:
                _ask(f"{head}: press Enter to emit for {step.on_s:g} s ")
            else:
                print(f"{head}: {step.on_s:g} s of light")

        def measure(step) -> float:  # type: ignore[no-untyped-def]
            if given is not None:
                return given[step.index]
            return _prompt(f"  mW at the fibre tip for {step.command:g} {unit}: ",
                           parse_number, tty)

        record = calibrate_laser(rig, commands, measure, on_s=args.on_s, before_step=before,
                                 progress=_progress_bar("s"),
                                 date=measurement_date(args.date), laser_name=name)
    curve = LaserCurve(record)
    _show_fit(record.points, curve.fit, curve.residuals(), unit, "mW", f"command {unit}",
              "mW")
    lo, hi = curve.mw_range
    print(f"powers from {lo:.3g} to {hi:.3g} mW ({curve.command_range[0]:g}-"
          f"{curve.command_range[1]:g} {unit}); outside this range powers are refused")
    if hi < las.max_power_mw:
        print(f"note: {field}.max_power_mw is {las.max_power_mw:g} mW but the calibration "
              f"reaches {hi:.3g} mW; higher powers will be refused")
    if args.dry_run:
        print("dry run: config not changed")
        return 0
    write_calibration(args.config, record, laser_name=name)
    print(f"wrote {field}.calibration ({record.date}) to {args.config}")
    return 0


# --- input ------------------------------------------------------------------------------------


def _numbers(text: str, option: str) -> list[float]:
    from rigctl.hardware.calibration import CalibrationError, parse_number

    items = [s for s in text.replace(";", ",").split(",") if s.strip()]
    try:
        return [parse_number(s) for s in items]
    except CalibrationError as exc:
        raise RigctlError(f"{option}: {exc}") from None


def _given(
    args: argparse.Namespace, commands: list[float], what: str, parse: Callable[[str], float],
) -> list[float] | None:
    """Measurements from --measured or --measurements, one per command, or None (prompt)."""
    from rigctl.hardware.calibration import CalibrationError

    if args.measured is not None:
        source = "--measured"
        rows = [(None, s) for s in args.measured.replace(";", ",").split(",") if s.strip()]
    elif args.measurements is not None:
        source = args.measurements
        rows = _read_measurements(Path(args.measurements))
    else:
        return None
    if len(rows) != len(commands):
        raise RigctlError(f"{source}: {len(rows)} values for {len(commands)} {what}s "
                          f"({', '.join(f'{c:g}' for c in commands)})")
    values = []
    for (cmd, text), expected in zip(rows, commands, strict=True):
        try:
            if cmd is not None and abs(float(cmd) - expected) > 1e-9 * max(1.0, expected):
                raise RigctlError(f"{source}: {what} {cmd} does not match {expected:g} "
                                  "(values are matched to the sorted list)")
            values.append(parse(text))
        except (CalibrationError, ValueError) as exc:
            raise RigctlError(f"{source}: {exc}") from None
    return values


def _read_measurements(path: Path) -> list[tuple[str | None, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RigctlError(f"{path}: cannot be read ({exc})") from None
    rows: list[tuple[str | None, str]] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").replace("\t", " ").split()
        if len(parts) == 1:
            rows.append((None, parts[0]))
        elif len(parts) == 2:
            rows.append((parts[0], parts[1]))
        else:
            rows.append((parts[0], "".join(parts[1:])))  # "20 213.5 mg"
    return rows


def _ask(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError:
        raise RigctlError("input ended before the calibration was complete") from None


def _prompt(prompt: str, parse: Callable[[str], float], tty: bool) -> float:
    """Ask until a valid value on a terminal; from a pipe a bad value is an error."""
    from rigctl.hardware.calibration import CalibrationError

    while True:
        text = _ask(prompt)
        if not tty:
            print(text.strip())
        try:
            return parse(text)
        except CalibrationError as exc:
            if not tty:
                raise RigctlError(f"measurement: {exc}") from None
            print(f"  {exc}; try again", file=sys.stderr)


def _progress_bar(unit: str) -> Callable[..., None]:
    tty = sys.stderr.isatty()

    def show(step, done: float, total: float) -> None:  # type: ignore[no-untyped-def]
        if tty:
            sys.stderr.write(f"\r  {done:g}/{total:g} {unit}   ")
            if done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    return show


def _show_fit(points, fit, residuals, xu: str, yu: str, xhead: str, yhead: str) -> None:  # type: ignore[no-untyped-def]
    c0, c1, c2 = fit.coefficients
    print(f"fit: {yu} = {c0:.4g} + {c1:.4g}·{xu} + {c2:.4g}·{xu}²")
    print(f"  {xhead:>10}  {yhead:>11}  {'fit':>9}  {'residual':>9}  {'%':>6}")
    worst = 0.0
    for (x, y), r in zip(points, residuals, strict=True):
        pct = 100 * r / y if y else float("nan")
        worst = max(worst, abs(pct)) if y else worst
        print(f"  {x:>10g}  {y:>11.4g}  {y - r:>9.4g}  {r:>+9.3f}  {pct:>+6.1f}")
    if worst > 5:
        print(f"warning: the fit misses a point by {worst:.0f}%; check that point or measure "
              "more commands (the fit is a monotone quadratic)")


def _is_simulated(cfg, channel: str) -> bool:  # type: ignore[no-untyped-def]
    return cfg.devices[cfg.device_of(channel)].type == "sim"
