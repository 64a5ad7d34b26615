"""Simulated cohorts: many mice, groups by genotype × treatment × stimulation mode, one table.

This is how a scientist asks, before any surgery, whether a protocol can detect the effect: every
simulated session is run and saved exactly like a real one (so the same loaders and figures
apply), then accuracy is summarised per mouse and per group with 95% confidence intervals across
mice (the mouse, not the trial, is the replicate): :func:`rigctl.stats.across_mice_interval`, a
scipy t interval on the logit scale that stays within [0, 1] and is left empty (with a note) when
a group has too few mice to say how much mice differ. Whether a cohort of a given size can detect
an effect at all is ``rigctl power``'s question (:mod:`rigctl.power`).

The tables follow the task's declared trial record (session.json's ``trial_schema``): trials are
grouped by its condition column (``role="condition"``, e.g. control/laser or go/nogo) and by
``delay_s`` when it has one, scored by its ``correct`` column (a ``correction`` trial is left
out), and a task's own record also gets the share of each declared outcome level per group
(``hit``, ``false_alarm``, …). The built-in tasks' tables are as they always were.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rigctl.errors import RigctlError
from rigctl.protocols.trial import COLUMNS, TrialSchema
from rigctl.stats import MIN_MICE_FOR_INTERVAL, across_mice_interval

SUMMARY_COLUMNS = ("genotype", "treatment", "stim_mode", "delay_s", "trial_type", "n_mice",
                   "n_trials", "accuracy", "ci_low", "ci_high")
SUBJECT_KEYS = ("genotype", "treatment", "stim_mode")
#: the default stimulation modes of a cohort, for tasks that have a ``stim_mode`` parameter
DEFAULT_STIM_MODES = ("closed_loop",)
TOO_FEW_MICE = (f"intervals need at least {MIN_MICE_FOR_INTERVAL} mice per group; groups with "
                "fewer show n/a")


@dataclass(frozen=True)
class CohortDesign:
    config: str
    out: Path
    mice: int = 8
    genotypes: Sequence[str] = ("wt",)
    treatments: Sequence[str] = ("none",)
    #: None: closed_loop for a task with a ``stim_mode`` parameter, none for one without
    stim_modes: Sequence[str] | None = None
    delays_s: Sequence[float] = (2.0, 10.0)
    trials: int = 200
    seed: int = 0
    protocol: str | None = None
    extra_params: dict[str, Any] = field(default_factory=dict)

    def task_parameters(self) -> frozenset[str]:
        """The parameter names of the cohort's task (the rig's protocol when none is given)."""
        from rigctl.catalog.loading import resolve_protocol
        from rigctl.config import load_rig

        cfg = load_rig(self.config)
        spec = resolve_protocol(self.protocol, cfg, self.config)
        return frozenset(type(spec.params).model_fields)

    def jobs(self, accepted: frozenset[str] | None = None) -> list[dict[str, Any]]:
        """One job per simulated mouse, each with its own seed derived from the cohort seed.

        Only parameters the task has are set (``accepted``, its parameter names): a go/no-go
        task has no ``stim_mode``, so its mice form one group of stimulation ``off``."""
        if accepted is None:
            accepted = self.task_parameters()
        modes: Sequence[str | None]
        if "stim_mode" in accepted:
            modes = tuple(self.stim_modes or DEFAULT_STIM_MODES)
        elif self.stim_modes and tuple(self.stim_modes) != ("off",):
            raise RigctlError(f"--stim-modes {','.join(self.stim_modes)}: the task has no "
                              "stim_mode parameter; leave --stim-modes out")
        else:
            modes = (None,)
        groups = list(itertools.product(self.genotypes, self.treatments, modes))
        seeds = np.random.SeedSequence(self.seed).generate_state(len(groups) * self.mice)
        jobs = []
        for g, (geno, treat, mode) in enumerate(groups):
            params: dict[str, Any] = {**self.extra_params, "n_trials": self.trials,
                                      "delays_s": list(self.delays_s), "stim_mode": mode}
            params = {k: v for k, v in params.items() if k in accepted or k in self.extra_params}
            group = "-".join(str(x) for x in (geno, treat, mode) if x is not None)
            for m in range(self.mice):
                jobs.append({
                    "config": self.config, "out": str(self.out), "protocol": self.protocol,
                    "subject": {"id": f"{group}-m{m + 1:02d}", "genotype": geno,
                                "treatment": treat},
                    "params": params,
                    "seed": int(seeds[g * self.mice + m]),
                })
        return jobs


def simulate_mouse(job: dict[str, Any]) -> str:
    """Run one simulated session in virtual time; returns its folder. Picklable for workers."""
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import Subject, load_rig
    from rigctl.engine.session import Session, SessionOptions

    cfg = load_rig(job["config"])
    spec = resolve_protocol(job["protocol"], cfg, job["config"], job["params"])
    session = Session(cfg, SessionOptions(
        subject=Subject(**job["subject"]), protocol=spec, data_root=Path(job["out"]),
        seed=job["seed"], realtime=False, config_source=job["config"], summary_figure=False,
    ))
    result = session.run()
    if result.status != "completed":
        raise RigctlError(f"{job['subject']['id']}: session {result.status} ({result.reason})")
    return str(result.folder)


def run_cohort(
    design: CohortDesign, workers: int = 1, dask_address: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Simulate every mouse (in-process, in local worker processes, or on a Dask cluster)."""
    jobs = design.jobs()
    # Validate once up front so a bad parameter is one error, not one per worker.
    simulate_check(jobs[0])
    done: list[str] = []
    if dask_address:
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise RigctlError(
                "--dask needs the dask extra: pip install -e \".[dask]\""
            ) from None
        with Client(dask_address) as client:
            futures = client.map(simulate_mouse, jobs, pure=False)
            for fut in as_completed(futures):
                done.append(fut.result())
                if progress:
                    progress(len(done), len(jobs))
    elif workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for folder in pool.map(simulate_mouse, jobs):
                done.append(folder)
                if progress:
                    progress(len(done), len(jobs))
    else:
        for job in jobs:
            done.append(simulate_mouse(job))
            if progress:
                progress(len(done), len(jobs))
    return sorted(done)


def simulate_check(job: dict[str, Any]) -> None:
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import Subject, load_rig

    cfg = load_rig(job["config"])
    resolve_protocol(job["protocol"], cfg, job["config"], job["params"])
    Subject(**job["subject"])


@dataclass(frozen=True)
class CohortColumns:
    """What a cohort's tables are made of, from the task's trial record."""

    groups: tuple[str, ...]  # trial columns trials are grouped by (delay_s, the condition)
    score: str
    correction: str | None
    outcome: str | None
    outcome_levels: tuple[str, ...]  # levels whose share is tabled (a task's own record)

    @classmethod
    def of(cls, schema: TrialSchema, where: str) -> CohortColumns:
        if schema.score is None:
            raise RigctlError(f"{where}: the task's trial record has no `correct` column (1 "
                              "correct, 0 error); the cohort summary scores trials by it")
        cond = schema.condition
        groups = tuple(c for c in ("delay_s", None if cond is None else cond.name)
                       if c is not None and schema.column(c) is not None)
        own = schema.names != COLUMNS
        outcome = schema.outcome
        return cls(groups=groups, score=schema.score.name,
                   correction="correction" if schema.column("correction") else None,
                   outcome=None if outcome is None else outcome.name,
                   outcome_levels=outcome.levels if own and outcome is not None else ())

    def rate_columns(self) -> tuple[str, ...]:
        return tuple(f"{level}_rate" for level in self.outcome_levels)


def per_mouse_table(folders: Sequence[str | Path]) -> pd.DataFrame:
    """Accuracy per mouse and group of the task's record (delay and condition for the built-in
    tasks; sample, correction and unscored trials excluded), and each declared outcome's
    share for a task's own record. ``attrs["cohort_columns"]`` says which columns those are."""
    from rigctl.data import load_session

    rows = []
    cols: CohortColumns | None = None
    for folder in folders:
        s = load_session(folder)
        these = CohortColumns.of(TrialSchema.from_json(s.metadata.get("trial_schema")),
                                 str(folder))
        if cols is not None and these != cols:
            raise RigctlError(f"{folder}: its task records other columns than the cohort's "
                              "first session; summarise one task at a time")
        cols = these
        t = s.trials
        keep = t[cols.score].notna()
        if cols.correction:
            keep &= t[cols.correction].fillna(0) == 0
        t = t[keep]
        subj = s.metadata["subject"]
        mode = s.metadata["protocol"]["parameters"].get("stim_mode", "off")
        grouped = t.groupby(list(cols.groups)) if cols.groups else [((), t)]
        for key, g in grouped:
            key = key if isinstance(key, tuple) else (key,)
            row: dict[str, Any] = {"subject": subj["id"], "genotype": subj["genotype"],
                                   "treatment": subj["treatment"], "stim_mode": mode}
            for name, value in zip(cols.groups, key, strict=True):
                row[name] = float(value) if name == "delay_s" else value
            row.update({
                "n_trials": len(g), "n_correct": int(g[cols.score].astype(int).sum()),
                "accuracy": float(g[cols.score].astype(float).mean()),
            })
            for level, rate in zip(cols.outcome_levels, cols.rate_columns(), strict=True):
                row[f"n_{level}"] = int((g[cols.outcome] == level).sum())
                row[rate] = row[f"n_{level}"] / len(g) if len(g) else float("nan")
            row["session"] = str(folder)
            rows.append(row)
    out = pd.DataFrame(rows)
    if cols is not None:
        out.attrs["cohort_columns"] = cols
    return out


def summarise(per_mouse: pd.DataFrame) -> pd.DataFrame:
    """Group means of the per-mouse accuracies with 95% intervals across mice (NaN, i.e. no
    interval, for groups of fewer than MIN_MICE_FOR_INTERVAL mice), and the mean share of each
    declared outcome for a task's own record."""
    cols = per_mouse.attrs.get("cohort_columns")
    groups = cols.groups if cols is not None else ("delay_s", "trial_type")
    rates = cols.rate_columns() if cols is not None else ()
    keys = [*SUBJECT_KEYS, *groups]
    columns = [*keys, "n_mice", "n_trials", "accuracy", "ci_low", "ci_high", *rates]
    out = []
    for key, g in per_mouse.groupby(keys, sort=True):
        n_trials = g["n_trials"].to_numpy(int)
        k = (g["n_correct"].to_numpy(int) if "n_correct" in g
             else np.rint(g["accuracy"].to_numpy(float) * n_trials))
        lo, hi = across_mice_interval(k, n_trials)
        out.append({**dict(zip(keys, key, strict=True)), "n_mice": len(g),
                    "n_trials": int(n_trials.sum()),
                    "accuracy": round(float(g["accuracy"].mean()), 4),
                    "ci_low": round(lo, 4), "ci_high": round(hi, 4),
                    **{r: round(float(g[r].mean()), 4) for r in rates}})
    return pd.DataFrame(out, columns=columns)
