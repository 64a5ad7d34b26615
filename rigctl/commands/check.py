"""``rigctl check CONFIG``: validate a rig config and print its devices and interlocks.

Beyond validation it says what a config cannot promise: a protocol power the laser's calibration
cannot give is an error (as ``rigctl run`` would refuse it), and a laser that only the host can
turn off after ``max_on_s`` gets a warning, because a host can stall (swap, a GC pause, a
suspended laptop) with the light on.
"""

from __future__ import annotations

import argparse
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
    p.add_argument("--protocol", help="also validate this protocol name or file")


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
    """One line naming the risk and the fix when nothing but the host limits emission."""
    la = cfg.laser
    if la is None or _timed_by_hardware(cfg, settings, la.channel, gate=False):
        return None
    laser_dev = settings.get(cfg.device_of(la.channel))
    gated = getattr(laser_dev, "modulation", "digital") in ("digital", "mixed")
    if la.gate_channel is not None and gated and _timed_by_hardware(
            cfg, settings, la.gate_channel, gate=True):
        return None
    return (
        f"{source}: laser: only this computer ends emission after laser.max_on_s "
        f"({la.max_on_s:g} s) on {la.channel}: if it stalls (swap, a GC pause, a suspended "
        "laptop) the light stays on; gate the laser (modulation: digital, laser.gate_channel) "
        "from a line that times itself: the reward controller's output or an NI line with "
        "laser_counter"
    )


def _power_problem(cfg: RigConfig, params: Any) -> str | None:
    """The protocol's laser power against the laser's calibration, as ``rigctl run`` checks it."""
    if cfg.laser is None or getattr(params, "stim_mode", "off") == "off":
        return None
    if not getattr(params, "laser_fraction", 0) or not hasattr(params, "laser_power_mw"):
        return None
    problem = laser_calibration_problem(cfg.laser, params.laser_power_mw)
    return None if problem is None else f"laser_power_mw: {problem}"


def run(args: argparse.Namespace) -> int:
    cfg, spec = load(args.config, args.protocol)
    problem = _power_problem(cfg, spec.params)
    if problem is not None:
        raise RigctlError(f"{spec.source}: {problem}")
    warning = laser_time_limit_warning(cfg, device_settings(cfg, args.config), args.config)
    if warning is not None:
        print(f"rigctl: warning: {warning}", file=sys.stderr)
    print(f"{args.config}: OK")
    print(f"  rig      {cfg.name}")
    for name, dev in cfg.devices.items():
        extra = "  ".join(f"{k}={v}" for k, v in dev.settings().items() if not isinstance(v, dict))
        print(f"  device   {name}: {dev.type}  {extra}".rstrip())
    for side in ("left", "right"):
        port = getattr(cfg.reward_ports, side)
        lo, hi = ValveCurve(port.calibration).ul_range
        date = f" on {port.calibration.date}" if port.calibration.date else ""
        print(f"  {side:<8} valve {port.valve.channel}  lick {port.lick_sensor.channel}  "
              f"calibrated {lo:.3g}-{hi:.3g} µL{date}  max open {port.valve.max_open_s:g} s")
    if cfg.laser:
        la = cfg.laser
        print(f"  laser    {la.channel}  {la.wavelength_nm:g} nm {la.opsin}  ceiling "
              f"{la.max_power_mw:g} mW  max on {la.max_on_s:g} s  ramp {la.ramp_down_s:g} s")
        if la.calibration is not None:
            lo, hi = LaserCurve(la.calibration).mw_range
            print(f"           calibrated {lo:.3g}-{hi:.3g} mW at the tip "
                  f"({la.calibration.command_unit} commands)")
    else:
        print("  laser    none")
    for name in CUES:
        cue = getattr(cfg.cues, name)
        print(f"  cue      {name}: {cue.channel if cue else 'not wired'}")
    if cfg.neural_signal:
        print(f"  signal   {cfg.neural_signal.channel} at {cfg.neural_signal.rate_hz:g} Hz")
    if cfg.sync:
        sc = cfg.sync
        print(f"  sync     {sc.channel}  {sc.mode}, {sc.width_s * 1e3:g} ms pulses every "
              f"{sc.mean_s:g} ± {sc.spread_s:g} s"
              + (f"  trial TTL {sc.trial_channel}" if sc.trial_channel else ""))
    print(f"  protocol {spec.name} ({spec.source})")
    return 0


