"""``rigctl check CONFIG``: validate a rig config and print its devices and interlocks.

Beyond validation it says what a config cannot promise: a protocol power the laser's calibration
cannot give is an error (as ``rigctl run`` would refuse it), and a laser that only the host can
turn off after ``max_on_s`` gets a warning, because a host can stall (swap, a GC pause, a
suspended laptop) with the light on.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from rigctl.commands.common import load
from rigctl.config.rig import CUES, RigConfig
from rigctl.errors import RigctlError
from rigctl.hardware.calibration import LaserCurve, ValveCurve
from rigctl.hardware.registry import device_settings
from rigctl.hardware.rig import laser_calibration_problem

NAME = "check"
HELP = "validate a rig config and print its devices"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("config")
    p.add_argument("--protocol",
                   help="also check this task: a name, a task file (.py) or a protocol YAML")


def _timed_by_hardware(cfg: RigConfig, settings: dict[str, Any], channel: str, gate: bool) -> bool:
    """Whether the device behind ``channel`` ends the laser line or level after ``max_on_s``
    on its own: an NI analog output (finite waveform) or an NI line with a ``laser_counter``
    (counter pulse); the reward controller's gate (its own timer and watchdog); the simulated
    rig (no light to protect)."""
    name = cfg.device_of(channel)
    kind = cfg.devices[name].type
    if kind == "nidaq":
        counter = getattr(settings[name], "laser_counter", None)
        return "/ao" in channel.lower() or counter is not None
    return kind == "sim" or (gate and kind == "reward_controller")


def laser_time_limit_warning(cfg: RigConfig, settings: dict[str, Any], source: str) -> str | None:
    """One line per laser naming the risk and the fix when nothing but the host limits its
    emission (None when every laser is timed by its hardware)."""
    lines = []
    for name, la in cfg.all_lasers().items():
        if _timed_by_hardware(cfg, settings, la.channel, gate=False):
            continue
        laser_dev = settings.get(cfg.device_of(la.channel))
        gated = getattr(laser_dev, "modulation", "digital") in ("digital", "mixed")
        if la.gate_channel is not None and gated and _timed_by_hardware(
                cfg, settings, la.gate_channel, gate=True):
            continue
        f = cfg.laser_field(name)
        lines.append(
            f"{source}: {f}: only this computer ends emission after {f}.max_on_s "
            f"({la.max_on_s:g} s) on {la.channel}: if it stalls (swap, a GC pause, a suspended "
            f"laptop) the light stays on; gate the laser (modulation: digital, {f}.gate_channel) "
            "from a line that times itself: the reward controller's output or an NI line with "
            "laser_counter"
        )
    return "\n".join(lines) or None


def _power_problem(cfg: RigConfig, params: Any) -> str | None:
    """The protocol's laser power against the laser's calibration, as ``rigctl run`` checks it."""
    lasers = cfg.all_lasers()
    for name in getattr(params, "lasers", None) or ():
        if name not in lasers:
            return (f"lasers: the rig has no laser {name!r} (lasers: "
                    f"{', '.join(lasers) or 'none'}); add lasers.{name} to the rig config or "
                    "name another")
    if not lasers or getattr(params, "stim_mode", "off") == "off":
        return None
    if not getattr(params, "laser_fraction", 0) or not hasattr(params, "laser_power_mw"):
        return None
    names = [n for n in getattr(params, "lasers", None) or lasers if n in lasers]
    for name in names:
        problem = laser_calibration_problem(lasers[name], params.laser_power_mw,
                                            field=cfg.laser_field(name))
        if problem is not None:
            return f"laser_power_mw: {problem}"
    return None


def run(args: argparse.Namespace) -> int:
    from rigctl.config import load_rig

    if args.protocol is None and load_rig(args.config).protocol is None:
        # A rig kept for users' own tasks (sim_pycontrol.yaml) names no protocol: check the
        # rig alone rather than the built-in default task, which such a rig cannot run.
        cfg, spec = load_rig(args.config), None
    else:
        cfg, spec = load(args.config, args.protocol)
        problem = _power_problem(cfg, spec.params)
        if problem is not None:
            raise RigctlError(f"{spec.source}: {problem}")
    warning = laser_time_limit_warning(cfg, device_settings(cfg, args.config), args.config)
    for line in (warning or "").splitlines():
        print(f"rigctl: warning: {line}", file=sys.stderr)
    print(f"{args.config}: OK")
    print(f"  rig      {cfg.name}")
    for name, dev in cfg.devices.items():
        extra = "  ".join(f"{k}={v}" for k, v in dev.settings().items() if not isinstance(v, dict))
        print(f"  device   {name}: {dev.type}  {extra}".rstrip())
    for side, port in cfg.reward_ports.items():
        lo, hi = ValveCurve(port.calibration).ul_range
        date = f" on {port.calibration.date}" if port.calibration.date else ""
        print(f"  {side:<8} valve {port.valve.channel}  lick {port.lick_sensor.channel}  "
              f"calibrated {lo:.3g}-{hi:.3g} µL{date}  max open {port.valve.max_open_s:g} s")
    for name, la in cfg.all_lasers().items():
        label = "laser" if cfg.laser is not None else f"laser    {name}:"
        print(f"  {label:<8} {la.channel}  {la.wavelength_nm:g} nm {la.opsin}  ceiling "
              f"{la.max_power_mw:g} mW  max on {la.max_on_s:g} s  ramp {la.ramp_down_s:g} s")
        if la.calibration is not None:
            lo, hi = LaserCurve(la.calibration).mw_range
            print(f"           calibrated {lo:.3g}-{hi:.3g} mW at the tip "
                  f"({la.calibration.command_unit} commands)")
    if not cfg.all_lasers():
        print("  laser    none")
    for name in CUES:
        cue = getattr(cfg.cues, name)
        print(f"  cue      {name}: {cue.channel if cue else 'not wired'}")
    for name, io in cfg.inputs.items():
        if io.frame_clock is not None:  # not events: every frame into its own file
            print(f"  frames   {name}: {io.channel}  frame clock up to "
                  f"{io.frame_clock.max_rate_hz:g} Hz -> frames_{name}.bin")
        else:
            print(f"  input    {name}: {io.channel}  (events {name}, {name}_off)")
    for name, io in cfg.outputs.items():
        print(f"  output   {name}: {io.channel}")
    for name, io in cfg.analog_inputs.items():
        print(f"  analog   {name}: {io.channel} at {io.rate_hz:g} Hz")
    if cfg.neural_signal:
        print(f"  signal   {cfg.neural_signal.channel} at {cfg.neural_signal.rate_hz:g} Hz")
    if cfg.sync:
        sc = cfg.sync
        print(f"  sync     {sc.channel}  {sc.mode}, {sc.width_s * 1e3:g} ms pulses every "
              f"{sc.mean_s:g} ± {sc.spread_s:g} s"
              + (f"  trial TTL {sc.trial_channel}" if sc.trial_channel else ""))
    if spec is None:
        print("  protocol none: this config names no protocol; check a task on this rig with "
              f"rigctl check {args.config} --protocol TASK.py")
        return 0
    print(f"  protocol {spec.name} ({spec.source})")
    cls = spec.cls
    print(f"  task     states {', '.join(cls.states)}; starts in {cls.initial_state}")
    if getattr(cls, "task", None) is not None and hasattr(cls, "binding"):  # a pyControl file
        print("  trials   none: a pyControl task's data are its events (events.csv, .tsv, .txt)")
    else:
        print(f"  trials   columns {', '.join(f.name for f in dataclasses.fields(cls.Trial))}")
    print("  task check: OK (goto targets, reachable states, events, outputs; requirements "
          "checked when a session opens the rig)")
    return 0


