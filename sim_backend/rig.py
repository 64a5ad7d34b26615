"""Backend entry point for ``backend: sim``: validate the ``simulation:`` section, build drivers."""

from __future__ import annotations

from rigctl.config.loading import validate
from rigctl.config.rig import RigConfig
from rigctl.hardware.calibration import ValveCurve
from rigctl.hardware.interfaces import BackendRig
from rigctl.hardware.registry import BuildContext
from sim_backend.devices import SimCue, SimLaser, SimValve
from sim_backend.mouse import SimMouse
from sim_backend.settings import SimSettings
from sim_backend.world import SimWorld


def validate_settings(cfg: RigConfig, source: str) -> SimSettings:
    return validate(SimSettings, cfg.simulation, source, prefix="simulation")


def build(cfg: RigConfig, ctx: BuildContext) -> BackendRig:
    settings = validate_settings(cfg, ctx.source)
    mouse = SimMouse(ctx.subject, settings.mouse, ctx.seed)
    world = SimWorld(ctx.clock, settings, mouse)
    valves = {
        side: SimValve(world, side, ValveCurve(getattr(cfg.reward_ports, side).calibration.points))
        for side in ("left", "right")
    }
    cues = {name: SimCue(world, name) for name in ("trial_start", "go")}
    laser = SimLaser(world) if cfg.laser is not None else None
    return BackendRig(
        events=world, valves=valves, cues=cues, laser=laser,
        describe={"world": "simulated mouse "
                  f"({ctx.subject.genotype}, {ctx.subject.treatment})"},
    )
