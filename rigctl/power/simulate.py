"""Simulated cohorts as trial arrays, from the fast simulator or the full simulated rig.

The fast simulator is the simulated subject's business, so it lives with it (``sim_backend/
fast.py``); the core finds it through the ``rigctl.fast_simulators`` entry point keyed by the
rig's device type, imported only when a power analysis asks for it — the same lazy, by-type
indirection as the backend registry, so ``rigctl/`` never names ``sim_backend``. A backend that
registers no fast simulator still works with ``--engine full``.

Both engines return, per arm, arrays of shape (mice × sessions, trials): ``correct`` (1, 0, or -1
when not scored: free sample, no response), ``laser`` (1 on laser trials) and ``delay_s``.
"""

from __future__ import annotations

import importlib.metadata
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rigctl.errors import RigctlError
from rigctl.power.design import CONTRASTS, PowerDesign

ENTRY_POINT_GROUP = "rigctl.fast_simulators"
NOT_SCORED = -1


@dataclass(frozen=True)
class ArmPlan:
    """Everything needed to simulate one group of mice, picklable for workers."""

    genotype: str
    treatment: str
    params: dict[str, Any]  # validated protocol parameters
    protocol: str


def sim_device(cfg, source: str) -> tuple[str, dict[str, Any]]:
    """The simulated device of the rig: its type and its settings."""
    kinds = {"sim", *fast_simulator_types()}
    for dev in cfg.devices.values():
        if dev.type in kinds:
            return dev.type, dev.settings()
    raise RigctlError(f"{source}: rigctl power simulates the rig, but it has no simulated device "
                      "(a device of type: sim); use hardware_configs/sim.yaml or add one")


def fast_simulator_types() -> list[str]:
    return [ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)]


def fast_simulator(kind: str, source: str):
    """The fast simulator module registered for device type ``kind``."""
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == kind:
            return ep.load()
    raise RigctlError(f"{source}: no fast simulator is registered for device type {kind!r} "
                      "(reinstall rigctl with pip install -e .); use --engine full")


def plan_arms(design: PowerDesign, contrast: str, null: bool) -> list[ArmPlan]:
    """The protocol of each arm: the laser contrast uses the rig's stimulation (sham under the
    null); group contrasts run without stimulation, so every scored trial is a control trial."""
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import load_rig

    cfg = load_rig(design.config)
    c = CONTRASTS[contrast]
    over = design.overrides()
    if c.between:
        over = {**over, "stim_mode": "off"}
    spec = resolve_protocol(design.protocol, cfg, design.config, over)
    params = spec.params.model_dump()
    if not c.between:
        mode = params.get("stim_mode", "off")
        if mode in ("off", "sham"):
            raise RigctlError(f"--contrast laser: the protocol's stim_mode is {mode}, so no trial "
                              "gets light; set stim_mode: open_loop in the protocol")
        if not cfg.all_lasers():
            raise RigctlError(f"{design.config}: --contrast laser needs a laser in the rig config "
                              "(laser: or lasers:)")
        if null:
            params = {**params, "stim_mode": "sham", "sham_rule": mode}
    return [ArmPlan(g, t, params, spec.name) for g, t in c.arms(null)]


def check_engine(design: PowerDesign) -> None:
    """Refuse, before any work, a design the chosen engine cannot simulate."""
    from rigctl.config import load_rig

    cfg = load_rig(design.config)
    kind, _ = sim_device(cfg, design.config)
    for contrast in design.contrasts:
        for null in (False, True):
            for arm in plan_arms(design, contrast, null):
                if design.engine == "fast":
                    why = fast_simulator(kind, design.config).unsupported(arm.protocol,
                                                                          arm.params)
                    if why:
                        raise RigctlError(f"--engine fast: {why}; use --engine full "
                                          "(about 1 s per 200-trial session)")


@dataclass(frozen=True)
class Rig:
    """The parts of the rig config a simulation needs, loaded once per unit of work."""

    kind: str
    settings: dict[str, Any]
    lasers: dict[str, float]  # every laser of the rig by name: its ramp-down (s)
    fast: Any  # the fast simulator module, or None when the engine is full
    source: str = "rig config"

    @classmethod
    def load(cls, config: str, engine: str = "fast") -> Rig:
        from rigctl.config import load_rig

        cfg = load_rig(config)
        kind, settings = sim_device(cfg, config)
        return cls(kind, settings, {n: la.ramp_down_s for n, la in cfg.all_lasers().items()},
                   fast_simulator(kind, config) if engine == "fast" else None, config)

    def light(self, params: dict[str, Any]) -> tuple[float, float]:
        """(share, ramp-down s) of the light laser trials give: the share of the rig's lasers
        the protocol lights (``lasers:``, empty for all; the simulated astrocyte feels their
        mean, docs/science.md) and their ramp, which the fast simulation needs to be one."""
        if not self.lasers:
            return 1.0, 0.0
        lit = list(params.get("lasers") or self.lasers)
        ramps = {self.lasers[n] for n in lit if n in self.lasers}
        if len(ramps) > 1:
            raise RigctlError(f"{self.source}: the lasers {', '.join(lit)} ramp down over "
                              f"different times ({', '.join(f'{r:g}' for r in sorted(ramps))} "
                              "s), which the fast simulation does not model; use --engine full")
        return len(lit) / len(self.lasers), ramps.pop() if ramps else 0.0


def simulate_arm(design: PowerDesign, arm: ArmPlan, n_units: int, n_trials: int,
                 seed: np.random.SeedSequence, rig: Rig | None = None
                 ) -> dict[str, np.ndarray]:
    """``n_units`` sessions of ``n_trials`` trials of one group of mice."""
    from rigctl.config import Subject

    subject = Subject(id="power", genotype=arm.genotype, treatment=arm.treatment)
    if design.engine == "fast":
        rig = rig or Rig.load(design.config)
        params = {**arm.params, "n_trials": n_trials}
        share, ramp_s = rig.light(params)
        return rig.fast.simulate(rig.settings, params, ramp_s, subject, n_units, n_trials, seed,
                                 laser_share=share)
    return _simulate_full(design, arm, subject, n_units, n_trials, seed)


def _simulate_full(design: PowerDesign, arm: ArmPlan, subject, n_units: int, n_trials: int,
                   seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """Each unit a real session on the simulated rig, saved, reloaded and turned into arrays."""
    from rigctl.cohort import simulate_mouse
    from rigctl.data import load_session

    seeds = seed.generate_state(n_units)
    out = {"correct": np.full((n_units, n_trials), NOT_SCORED, np.int8),
           "laser": np.zeros((n_units, n_trials), np.int8),
           "delay_s": np.zeros((n_units, n_trials))}
    with tempfile.TemporaryDirectory(prefix="rigctl-power-") as tmp:
        for u in range(n_units):
            folder = simulate_mouse({
                "config": design.config, "out": tmp, "protocol": design.protocol,
                "subject": {"id": f"u{u:04d}", "genotype": subject.genotype,
                            "treatment": subject.treatment},
                "params": {**arm.params, "n_trials": n_trials}, "seed": int(seeds[u]),
            })
            t = load_session(Path(folder), events=False).trials
            n = min(len(t), n_trials)
            t = t.iloc[:n]
            scored = (t["trial_type"] != "sample") & t["correct"].notna()
            out["correct"][u, :n] = np.where(scored, t["correct"].fillna(0), NOT_SCORED)
            out["laser"][u, :n] = (t["trial_type"] == "laser").to_numpy()
            out["delay_s"][u, :n] = t["delay_s"].to_numpy(float)
    return out
