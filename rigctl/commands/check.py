"""``rigctl check CONFIG``: validate a rig config and print its devices and interlocks."""

from __future__ import annotations

import argparse

from rigctl.commands.common import load
from rigctl.config.rig import CUES
from rigctl.hardware.calibration import ValveCurve

NAME = "check"
HELP = "validate a rig config and print its devices"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("config")
    p.add_argument("--protocol", help="also validate this protocol name or file")


def run(args: argparse.Namespace) -> int:
    cfg, spec = load(args.config, args.protocol)
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


