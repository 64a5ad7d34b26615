"""Simulated cohorts: many mice, groups by genotype × treatment × stimulation mode, one table.

This is how a scientist asks, before any surgery, whether a protocol can detect the effect: every
simulated session is run and saved exactly like a real one (so the same loaders and figures
apply), then accuracy is summarised per mouse and per group with 95% confidence intervals across
mice (the mouse, not the trial, is the replicate): :func:`rigctl.stats.across_mice_interval`, a
scipy t interval on the logit scale that stays within [0, 1] and is left empty (with a note) when
a group has too few mice to say how much mice differ. Whether a cohort of a given size can detect
an effect at all is ``rigctl power``'s question (:mod:`rigctl.power`).
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
from rigctl.stats import MIN_MICE_FOR_INTERVAL, across_mice_interval

SUMMARY_COLUMNS = ("genotype", "treatment", "stim_mode", "delay_s", "trial_type", "n_mice",
                   "n_trials", "accuracy", "ci_low", "ci_high")
TOO_FEW_MICE = (f"intervals need at least {MIN_MICE_FOR_INTERVAL} mice per group; groups with "
                "fewer show n/a")


@dataclass(frozen=True)
class CohortDesign:
    config: str
    out: Path
    mice: int = 8
    genotypes: Sequence[str] = ("wt",)
    treatments: Sequence[str] = ("none",)
    stim_modes: Sequence[str] = ("closed_loop",)
    delays_s: Sequence[float] = (2.0, 10.0)
    trials: int = 200
    seed: int = 0
    protocol: str | None = None
    extra_params: dict[str, Any] = field(default_factory=dict)

    def jobs(self) -> list[dict[str, Any]]:
        """One job per simulated mouse, each with its own seed derived from the cohort seed."""
        groups = list(itertools.product(self.genotypes, self.treatments, self.stim_modes))
        seeds = np.random.SeedSequence(self.seed).generate_state(len(groups) * self.mice)
        jobs = []
        for g, (geno, treat, mode) in enumerate(groups):
            for m in range(self.mice):
                jobs.append({
                    "config": self.config, "out": str(self.out), "protocol": self.protocol,
                    "subject": {"id": f"{geno}-{treat}-{mode}-m{m + 1:02d}", "genotype": geno,
                                "treatment": treat},
                    "params": {**self.extra_params, "n_trials": self.trials,
                               "delays_s": list(self.delays_s), "stim_mode": mode},
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


def per_mouse_table(folders: Sequence[str | Path]) -> pd.DataFrame:
    """Accuracy per mouse, delay and trial type (sample, correction, no-response excluded)."""
    from rigctl.data import load_session

    rows = []
    for folder in folders:
        s = load_session(folder)
        t = s.trials
        t = t[(t["trial_type"] != "sample") & (t["correction"] == 0) & t["correct"].notna()]
        subj = s.metadata["subject"]
        mode = s.metadata["protocol"]["parameters"].get("stim_mode", "off")
        for (delay, ttype), g in t.groupby(["delay_s", "trial_type"]):
            rows.append({
                "subject": subj["id"], "genotype": subj["genotype"],
                "treatment": subj["treatment"], "stim_mode": mode, "delay_s": float(delay),
                "trial_type": ttype, "n_trials": len(g),
                "n_correct": int(g["correct"].astype(int).sum()),
                "accuracy": float(g["correct"].astype(float).mean()), "session": str(folder),
            })
    return pd.DataFrame(rows)


def summarise(per_mouse: pd.DataFrame) -> pd.DataFrame:
    """Group means of the per-mouse accuracies with 95% intervals across mice (NaN, i.e. no
    interval, for groups of fewer than MIN_MICE_FOR_INTERVAL mice)."""
    keys = ["genotype", "treatment", "stim_mode", "delay_s", "trial_type"]
    out = []
    for key, g in per_mouse.groupby(keys, sort=True):
        n_trials = g["n_trials"].to_numpy(int)
        k = (g["n_correct"].to_numpy(int) if "n_correct" in g
             else np.rint(g["accuracy"].to_numpy(float) * n_trials))
        lo, hi = across_mice_interval(k, n_trials)
        out.append({**dict(zip(keys, key, strict=True)), "n_mice": len(g),
                    "n_trials": int(n_trials.sum()),
                    "accuracy": round(float(g["accuracy"].mean()), 4),
                    "ci_low": round(lo, 4), "ci_high": round(hi, 4)})
    return pd.DataFrame(out, columns=list(SUMMARY_COLUMNS))
