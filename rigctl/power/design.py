"""What a power analysis asks: the contrasts, the design grid, and the checks that it can be asked.

A *cell* is one design: ``mice`` per group, ``sessions`` per mouse, ``trials`` per session. Cells
are nested: every simulated cohort is drawn once at the largest design (most mice, sessions and
trials) and each smaller cell analyses its first mice, sessions and trials. A session's first
T trials are exactly a T-trial session (the simulation is causal), so each cell is simulated
correctly, and common random numbers across cells make the power curve smooth in N and T.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rigctl.errors import RigctlError

ENGINES = ("fast", "full")
CHUNK = 10  # cohorts per unit of work (and per file on disk)


@dataclass(frozen=True)
class Contrast:
    """An effect to detect. ``between`` contrasts compare two groups of mice; the laser
    contrast compares laser with interleaved control trials within each mouse."""

    name: str
    between: bool
    reference: tuple[str, str]  # (genotype, treatment)
    test: tuple[str, str]
    description: str

    def arms(self, null: bool) -> list[tuple[str, str]]:
        """Groups of mice to simulate; under the null the test group is the reference again."""
        if not self.between:
            return [self.reference]
        return [self.reference, self.reference if null else self.test]


CONTRASTS = {
    c.name: c for c in (
        Contrast("laser", False, ("wt", "none"), ("wt", "none"),
                 "laser vs control trials within wild-type mice (null: sham, light held off)"),
        Contrast("ko_vs_wt", True, ("wt", "none"), ("ip3r2_ko", "none"),
                 "IP3R2-KO vs wild-type mice, control trials (null: two wild-type groups)"),
        Contrast("cno_vs_ko", True, ("ip3r2_ko", "none"), ("ip3r2_ko", "cno"),
                 "IP3R2-KO + CNO vs IP3R2-KO mice (null: two untreated KO groups)"),
    )
}


@dataclass(frozen=True)
class PowerDesign:
    config: str
    contrasts: tuple[str, ...] = ("laser",)
    mice: tuple[int, ...] = (4, 6, 8, 12)
    trials: tuple[int, ...] = (100, 200)
    sessions: tuple[int, ...] = (1,)
    delays_s: tuple[float, ...] | None = None  # None: the protocol's
    laser_fraction: float | None = None
    protocol: str | None = None
    cohorts: int = 500
    seed: int = 0
    engine: str = "fast"
    alpha: float = 0.05
    target_power: float = 0.8
    genotypes: tuple[str, ...] = ("wt", "ip3r2_ko")
    treatments: tuple[str, ...] = ("none", "cno")
    extra: dict[str, Any] = field(default_factory=dict)

    def cells(self) -> list[tuple[int, int, int]]:
        return list(itertools.product(sorted(self.mice), sorted(self.sessions),
                                      sorted(self.trials)))

    @property
    def n_chunks(self) -> int:
        return -(-self.cohorts // CHUNK)

    def overrides(self) -> dict[str, Any]:
        """Protocol parameters the design sets (the largest session; the rest is the rig's)."""
        out: dict[str, Any] = {**self.extra, "n_trials": max(self.trials)}
        if self.delays_s is not None:
            out["delays_s"] = list(self.delays_s)
        if self.laser_fraction is not None:
            out["laser_fraction"] = self.laser_fraction
        return out

    def key(self) -> str:
        """What the simulated numbers depend on (not the cohort count: more cohorts extend a
        run, and not α or the target, applied afterwards): names the folder of saved chunks."""
        text = Path(self.config).read_bytes() if Path(self.config).is_file() else b""
        d = asdict(self)
        for k in ("cohorts", "alpha", "target_power", "genotypes", "treatments"):
            d.pop(k)
        d["config"] = hashlib.sha256(text).hexdigest()
        if self.protocol and Path(self.protocol).is_file():
            d["protocol"] = hashlib.sha256(Path(self.protocol).read_bytes()).hexdigest()
        d["chunk"] = CHUNK
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def as_job(self) -> dict[str, Any]:
        return asdict(self)


def check_grid(design: PowerDesign) -> None:
    """Bad grids as one line each: the command reports them before any simulation."""
    for name, values in (("--mice", design.mice), ("--trials", design.trials),
                         ("--sessions", design.sessions)):
        if not values:
            raise RigctlError(f"{name}: the design grid has no cells; give at least one value")
        if min(values) < 1:
            raise RigctlError(f"{name}: values must be at least 1 (got {min(values)})")
    if min(design.mice) < 3:
        raise RigctlError(f"--mice: at least 3 mice per group are needed for a test across mice "
                          f"(got {min(design.mice)})")
    if min(design.trials) < 10:
        raise RigctlError(f"--trials: at least 10 trials per session (got {min(design.trials)})")
    if not design.contrasts:
        raise RigctlError("--contrast: name at least one contrast")
    for c in design.contrasts:
        if c not in CONTRASTS:
            raise RigctlError(f"--contrast: unknown contrast {c!r} (known: {', '.join(CONTRASTS)})")
        groups = {CONTRASTS[c].reference, CONTRASTS[c].test}
        for geno, treat in groups:
            if geno not in design.genotypes:
                raise RigctlError(f"--contrast {c}: needs a {geno} group but --genotypes is "
                                  f"{','.join(design.genotypes)}")
            if treat not in design.treatments:
                raise RigctlError(f"--contrast {c}: needs a {treat!r} treatment group but "
                                  f"--treatments is {','.join(design.treatments)}")
    if design.cohorts < 1:
        raise RigctlError(f"--cohorts: must be at least 1 (got {design.cohorts})")
    if design.engine not in ENGINES:
        raise RigctlError(f"--engine: one of {', '.join(ENGINES)} (got {design.engine!r})")
    if not 0 < design.alpha < 1:
        raise RigctlError(f"--alpha: must be within (0, 1) (got {design.alpha:g})")
    if not 0 < design.target_power < 1:
        raise RigctlError(f"--power: must be within (0, 1) (got {design.target_power:g})")
