"""SCIENCE.md's accuracy table, reproduced on the simulated rig: the model's calibration check.

SCIENCE.md gives the reference model's accuracy by delay for wild type (control and laser
trials), IP3R2-KO and KO + CNO at two drives, computed on isolated trials (1 s sample from a
resting astrocyte, inhibition for the whole delay). The rig runs whole sessions instead: the
astrocyte carries over from trial to trial, delays come in balanced cycles and laser trials in
blocks, the mouse misses some go cues. :func:`model_table` runs those sessions, one protocol for
every group, and compares each cell with the table, so a change of the mouse model or of the
trial structure that moves a cell by more than the tolerance is seen (``rigctl model-table``,
docs/science.md).

The groups, all on the rig config's protocol with delays 2, 5, 10 and 20 s:

- wild type with open-loop light on half the trials (``laser_fraction: 0.5``): its control
  trials are "WT control", its laser trials "WT laser in delay";
- IP3R2-KO, and IP3R2-KO + CNO with ``cno_drive_per_s`` 0.5 and 1.0: stimulation off (the table
  has no laser column for them), every scored trial a control trial.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rigctl.data.stats import wilson_ci
from rigctl.errors import RigctlError

DELAYS_S = (2.0, 5.0, 10.0, 20.0)
TOLERANCE_PP = 3.0
NOT_SCORED = -1


@dataclass(frozen=True)
class Column:
    """One column of SCIENCE.md's table and the group of simulated mice behind it."""

    key: str
    title: str
    arm: str  # the simulated group it is read from
    laser: int  # 1: laser trials of that group, 0: control trials
    reference: dict[float, float]  # delay (s) -> SCIENCE.md's accuracy (0-1)


COLUMNS = (
    Column("wt_control", "WT control", "wt", 0, {2.0: .97, 5.0: .95, 10.0: .84, 20.0: .65}),
    Column("wt_laser", "WT laser in delay", "wt", 1, {2.0: .97, 5.0: .88, 10.0: .67, 20.0: .51}),
    Column("ko", "IP3R2-KO", "ko", 0, {2.0: .97, 10.0: .65}),
    Column("ko_cno_0.5", "KO + CNO (0.5/s)", "ko_cno_0.5", 0, {2.0: .97, 10.0: .81}),
    Column("ko_cno_1.0", "KO + CNO (1.0/s)", "ko_cno_1.0", 0, {2.0: .97, 10.0: .84}),
)


@dataclass(frozen=True)
class Arm:
    """A simulated group: genotype, treatment, the CNO drive it gets and its stimulation."""

    key: str
    genotype: str
    treatment: str
    cno_drive_per_s: float | None
    stim_mode: str


ARMS = (
    Arm("wt", "wt", "none", None, "open_loop"),
    Arm("ko", "ip3r2_ko", "none", None, "off"),
    Arm("ko_cno_0.5", "ip3r2_ko", "cno", 0.5, "off"),
    Arm("ko_cno_1.0", "ip3r2_ko", "cno", 1.0, "off"),
)


def n_cells() -> int:
    return sum(len(c.reference) for c in COLUMNS)


def arm_params(config: str, arm: Arm, n_trials: int) -> tuple[str, dict[str, Any]]:
    """The protocol (name, validated parameters) an arm runs: the rig's, with the table's
    delays, half the trials lit for the wild type and no stimulation for the others."""
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import load_rig

    cfg = load_rig(config)
    over: dict[str, Any] = {"n_trials": n_trials, "delays_s": list(DELAYS_S),
                            "stim_mode": arm.stim_mode}
    if arm.stim_mode != "off":
        if cfg.laser is None:
            raise RigctlError(f"{config}: the table's laser column needs a laser in the rig "
                              "config")
        over["laser_fraction"] = 0.5
    spec = resolve_protocol(None, cfg, config, over)
    if spec.name != "delayed_alternation":
        raise RigctlError(f"{config}: the table is of delayed alternation; the rig's protocol "
                          f"is {spec.name}")
    return spec.name, spec.params.model_dump()


def _mouse_settings(settings: dict[str, Any], arm: Arm,
                    mouse: dict[str, float] | None) -> dict[str, Any]:
    """The sim device's settings with the arm's CNO drive and any model overrides."""
    m = {**settings.get("mouse", {}), **(mouse or {})}
    if arm.cno_drive_per_s is not None:
        m["cno_drive_per_s"] = arm.cno_drive_per_s
    return {**settings, "mouse": m}


def simulate_arms(config: str, sessions: int, trials: int, seed: int, engine: str = "fast",
                  mouse: dict[str, float] | None = None, rig=None
                  ) -> dict[str, dict[str, np.ndarray]]:
    """Trial arrays (``correct``, ``laser``, ``delay_s``; sessions × trials) of every arm.

    ``mouse`` overrides fields of the config's ``mouse:`` settings (the calibration fit uses
    it); ``rig`` is a loaded :class:`rigctl.power.simulate.Rig`, reused across calls."""
    from rigctl.config import Subject
    from rigctl.power.simulate import Rig

    out = {}
    for a, arm in enumerate(ARMS):
        _, params = arm_params(config, arm, trials)
        ss = np.random.SeedSequence(seed, spawn_key=(a,))
        subject = Subject(id="table", genotype=arm.genotype, treatment=arm.treatment)
        if engine == "fast":
            rig = rig or Rig.load(config)
            settings = _mouse_settings(rig.settings, arm, mouse)
            share, ramp_s = rig.light(params)
            out[arm.key] = rig.fast.simulate(settings, params, ramp_s, subject, sessions,
                                             trials, ss, laser_share=share)
        elif engine == "full":
            out[arm.key] = _simulate_full(config, arm, params, subject, sessions, trials, ss,
                                          mouse)
        else:
            raise RigctlError(f"--engine: one of fast, full (got {engine!r})")
    return out


def _simulate_full(config: str, arm: Arm, params: dict[str, Any], subject, sessions: int,
                   trials: int, ss: np.random.SeedSequence, mouse: dict[str, float] | None
                   ) -> dict[str, np.ndarray]:
    """Whole sessions on the simulated rig, from a copy of the config with the arm's mouse."""
    import yaml

    from rigctl.config import load_rig
    from rigctl.power.design import PowerDesign
    from rigctl.power.simulate import ArmPlan, sim_device
    from rigctl.power.simulate import _simulate_full as run_full

    cfg = load_rig(config)
    raw = yaml.safe_load(Path(config).read_text())
    name = next(k for k, d in cfg.devices.items() if d.type == sim_device(cfg, config)[0])
    raw["devices"][name] = _mouse_settings(raw["devices"][name], arm, mouse)
    with tempfile.TemporaryDirectory(prefix="rigctl-table-") as tmp:
        path = Path(tmp) / Path(config).name
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        plan = ArmPlan(arm.genotype, arm.treatment, params, "delayed_alternation")
        return run_full(PowerDesign(config=str(path), engine="full"), plan, subject,
                        sessions, trials, ss)


def table_from(sims: dict[str, dict[str, np.ndarray]], tolerance_pp: float = TOLERANCE_PP
               ) -> pd.DataFrame:
    """One row per cell of SCIENCE.md's table: its value, the simulated accuracy with its 95%
    Wilson interval over scored trials, the difference and whether it is within tolerance."""
    rows = []
    for col in COLUMNS:
        sim = sims[col.arm]
        for delay, ref in col.reference.items():
            sel = (sim["correct"] >= 0) & (sim["laser"] == col.laser) & \
                np.isclose(sim["delay_s"], delay)
            n, k = int(sel.sum()), int((sim["correct"][sel] == 1).sum())
            acc = k / n if n else math.nan
            lo, hi = wilson_ci(k, n)
            diff = 100 * (acc - ref)
            rows.append({"column": col.key, "group": col.title, "delay_s": delay,
                         "reference": ref, "simulated": acc, "ci_low": lo, "ci_high": hi,
                         "difference_pp": diff, "trials": n,
                         "within": bool(n and abs(diff) <= tolerance_pp + 1e-9)})
    return pd.DataFrame(rows)


def model_table(config: str, sessions: int, trials: int, seed: int, engine: str = "fast",
                tolerance_pp: float = TOLERANCE_PP, mouse: dict[str, float] | None = None
                ) -> pd.DataFrame:
    return table_from(simulate_arms(config, sessions, trials, seed, engine, mouse),
                      tolerance_pp)
