"""Running a power analysis: chunks of cohorts, in process, in local workers or on Dask.

Work is cut into chunks of ``CHUNK`` cohorts. Chunk ``i`` simulates cohorts ``i·CHUNK …`` with
seeds derived from (seed, cohort, contrast, effect/null, arm) only, so the numbers do not depend
on where or in what order chunks run (one process, ``--workers``, a Dask cluster, a resumed run).
Each finished chunk is written atomically to ``OUT/power-parts/<design key>/`` as it arrives, so
an interrupted run loses at most the chunks in flight and a rerun computes only what is missing.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from rigctl import stats
from rigctl.errors import RigctlError
from rigctl.power.design import CHUNK, CONTRASTS, PowerDesign
from rigctl.power.simulate import Rig, plan_arms, simulate_arm

CONTRAST_ORDER = tuple(CONTRASTS)  # seeds use the index here: fixed, append new ones at the end
RESULT_COLUMNS = ("cohort", "contrast", "world", "mice", "sessions", "trials", "estimate",
                  "p_value", "ok", "accuracy_reference", "accuracy_test")
POWER_COLUMNS = ("contrast", "mice", "sessions", "trials", "cohorts", "power", "power_ci_low",
                 "power_ci_high", "false_positive_rate", "fpr_ci_low", "fpr_ci_high",
                 "odds_ratio", "accuracy_reference", "accuracy_test", "failed_fits")


def _cell_counts(cum: list[tuple[np.ndarray, np.ndarray, np.ndarray]], between: bool, m: int,
                 s: int, t: int):
    """Counts per mouse × arm × delay for the first m mice, s sessions, t trials of each arm."""
    mouse, arm, delay, n, k = [], [], [], [], []
    for a, (cn, ck, delays) in enumerate(cum):
        # cn, ck: (mice, sessions, trials, categories) cumulative over trials
        n_c = cn[:m, :s, t - 1].sum(axis=1)  # (m, categories)
        k_c = ck[:m, :s, t - 1].sum(axis=1)
        n_delays = delays.size
        for cat in range(n_c.shape[1]):
            laser_flag, d = divmod(cat, n_delays)
            mouse.append(np.arange(m) + a * m)
            arm.append(np.full(m, a if between else laser_flag))
            delay.append(np.full(m, delays[d]))
            n.append(n_c[:, cat])
            k.append(k_c[:, cat])
    return (np.concatenate(mouse), np.concatenate(arm), np.concatenate(delay),
            np.concatenate(n), np.concatenate(k))


def _cumulative(sim: dict[str, np.ndarray], n_mice: int, n_sessions: int, delays: np.ndarray):
    """Cumulative scored/correct counts over trials per (laser, delay) category."""
    correct, laser, delay = sim["correct"], sim["laser"], sim["delay_s"]
    shape = (n_mice, n_sessions, correct.shape[1])
    d_idx = np.searchsorted(delays, delay)
    cat = laser.astype(int) * delays.size + d_idx
    n_cat = 2 * delays.size
    scored = correct >= 0
    onehot = (cat[..., None] == np.arange(n_cat)) & scored[..., None]
    cn = np.cumsum(onehot, axis=1, dtype=np.int32).reshape(*shape, n_cat)
    ck = np.cumsum(onehot & (correct == 1)[..., None], axis=1, dtype=np.int32).reshape(
        *shape, n_cat)
    return cn, ck, delays


def compute_chunk(job: dict, chunk: int) -> list[dict]:
    """Simulate and analyse cohorts chunk·CHUNK … of every contrast, effect and null.

    BLAS runs on one thread here: the fits are small, so BLAS's threads only wait for each
    other (and fight the other worker for the cores); one thread made them 3-6× faster."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _compute_chunk(job, chunk)


def _compute_chunk(job: dict, chunk: int) -> list[dict]:
    design = PowerDesign(**{**job, "contrasts": tuple(job["contrasts"]),
                            "mice": tuple(job["mice"]), "trials": tuple(job["trials"]),
                            "sessions": tuple(job["sessions"])})
    m_max, s_max, t_max = max(design.mice), max(design.sessions), max(design.trials)
    cells = design.cells()
    rows: list[dict] = []
    first, last = chunk * CHUNK, min(design.cohorts, (chunk + 1) * CHUNK)
    plans = {(c, w): plan_arms(design, c, w == "no_effect") for c in design.contrasts
             for w in ("effect", "no_effect")}
    rig = Rig.load(design.config, design.engine)
    for cohort in range(first, last):
        keys, tables, betweens = [], [], []
        for contrast in design.contrasts:
            ci = CONTRAST_ORDER.index(contrast)
            between = CONTRASTS[contrast].between
            for w, world in enumerate(("effect", "no_effect")):
                cum = []
                for a, arm in enumerate(plans[(contrast, world)]):
                    ss = np.random.SeedSequence(design.seed, spawn_key=(cohort, ci, w, a))
                    sim = simulate_arm(design, arm, m_max * s_max, t_max, ss, rig)
                    delays = np.unique(np.asarray(arm.params["delays_s"], float))
                    cum.append(_cumulative(sim, m_max, s_max, delays))
                for m, s, t in cells:
                    keys.append((contrast, world, m, s, t))
                    tables.append(_cell_counts(cum, between, m, s, t))
                    betweens.append(between)
        # Every cell of the cohort in one statsmodels fit (rigctl.stats.contrast_tests).
        for (contrast, world, m, s, t), r in zip(keys, stats.contrast_tests(tables, betweens),
                                                 strict=True):
            rows.append({"cohort": cohort, "contrast": contrast, "world": world,
                         "mice": m, "sessions": s, "trials": t, "estimate": r.estimate,
                         "p_value": r.p_value, "ok": r.ok,
                         "accuracy_reference": r.accuracy_reference,
                         "accuracy_test": r.accuracy_test})
    return rows


class PartStore:
    """Finished chunks on disk, one CSV each, written atomically (temp file + rename)."""

    def __init__(self, out: Path, design: PowerDesign) -> None:
        self.dir = out / "power-parts" / design.key()
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "design.json"
        if not meta.exists():
            meta.write_text(json.dumps(asdict(design), indent=1, default=list) + "\n")

    def path(self, chunk: int) -> Path:
        return self.dir / f"chunk-{chunk:05d}.csv"

    def done(self, n_chunks: int, cohorts: int) -> set[int]:
        """Chunks on disk holding all their cohorts (a chunk of a smaller earlier run with a
        partial last chunk is redone)."""
        out = set()
        for i in range(n_chunks):
            p = self.path(i)
            if p.exists():
                want = min(cohorts, (i + 1) * CHUNK) - i * CHUNK
                if pd.read_csv(p, usecols=["cohort"])["cohort"].nunique() >= want:
                    out.add(i)
        return out

    def save(self, chunk: int, rows: list[dict]) -> None:
        tmp = self.path(chunk).with_suffix(".tmp")
        pd.DataFrame(rows, columns=list(RESULT_COLUMNS)).to_csv(tmp, index=False)
        os.replace(tmp, self.path(chunk))

    def load(self, n_chunks: int, cohorts: int) -> pd.DataFrame:
        frames = [pd.read_csv(self.path(i)) for i in range(n_chunks)]
        df = pd.concat(frames, ignore_index=True)
        return df[df["cohort"] < cohorts]


def estimate_seconds(design: PowerDesign) -> float:
    """Time for the whole design in one process, from one simulated and analysed cohort
    (after a tiny warm-up that loads the libraries and the compiled simulator)."""
    if design.engine == "fast":
        warm = replace(design, mice=(min(design.mice),), trials=(min(design.trials),),
                       sessions=(1,), cohorts=1)
        compute_chunk(warm.as_job(), 0)
    t0 = time.perf_counter()
    compute_chunk(replace(design, cohorts=1).as_job(), 0)
    return design.cohorts * (time.perf_counter() - t0)


def run_power(design: PowerDesign, out: Path, workers: int = 1, dask_address: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Compute every missing chunk, then return all per-cohort results of the design."""
    store = PartStore(out, design)
    n = design.n_chunks
    todo = [i for i in range(n) if i not in store.done(n, design.cohorts)]
    job = asdict(design)
    done_cohorts = design.cohorts - sum(min(design.cohorts, (i + 1) * CHUNK) - i * CHUNK
                                        for i in todo)

    def finished(i: int, rows: list[dict]) -> None:
        nonlocal done_cohorts
        store.save(i, rows)
        done_cohorts += min(design.cohorts, (i + 1) * CHUNK) - i * CHUNK
        if progress:
            progress(done_cohorts, design.cohorts)

    if progress:
        progress(done_cohorts, design.cohorts)
    if dask_address and todo:
        _run_dask(dask_address, job, todo, finished)
    elif workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending = {pool.submit(compute_chunk, job, i): i for i in todo}
            while pending:
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in ready:
                    finished(pending.pop(fut), fut.result())
    else:
        for i in todo:
            finished(i, compute_chunk(job, i))
    return store.load(n, design.cohorts)


def dask_client(address: str, timeout_s: float = 10.0):
    """A connected ``distributed.Client``, or one line naming the address."""
    try:
        from distributed import Client
    except ImportError:
        raise RigctlError("--dask needs the dask extra: pip install -e \".[dask]\"") from None
    try:
        return Client(address, timeout=f"{timeout_s:g}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise RigctlError(f"--dask: cannot reach a Dask scheduler at {address} "
                          f"({type(exc).__name__}); start one or check the address") from None


def _run_dask(address: str, job: dict, todo: list[int], finished) -> None:
    from distributed import as_completed

    with dask_client(address) as client:
        futures = {client.submit(compute_chunk, job, i, pure=False): i for i in todo}
        for fut in as_completed(list(futures)):
            finished(futures[fut], fut.result())


def summarise(results: pd.DataFrame, design: PowerDesign) -> pd.DataFrame:
    """One row per contrast and cell: power and false-positive rate with Clopper-Pearson 95%
    intervals over the simulated cohorts, the mean odds ratio and accuracies under the effect."""
    out = []
    for (contrast, m, s, t), g in results.groupby(["contrast", "mice", "sessions", "trials"],
                                                  sort=True):
        eff, null = g[g["world"] == "effect"], g[g["world"] == "no_effect"]
        hits = int((eff["p_value"] < design.alpha).sum())
        false = int((null["p_value"] < design.alpha).sum())
        plo, phi = stats.proportion_interval(hits, len(eff))
        flo, fhi = stats.proportion_interval(false, len(null))
        est = eff.loc[eff["ok"].astype(bool), "estimate"]
        out.append({
            "contrast": contrast, "mice": int(m), "sessions": int(s), "trials": int(t),
            "cohorts": len(eff), "power": hits / len(eff) if len(eff) else math.nan,
            "power_ci_low": plo, "power_ci_high": phi,
            "false_positive_rate": false / len(null) if len(null) else math.nan,
            "fpr_ci_low": flo, "fpr_ci_high": fhi,
            "odds_ratio": float(np.exp(est.mean())) if len(est) else math.nan,
            "accuracy_reference": float(eff["accuracy_reference"].mean()),
            "accuracy_test": float(eff["accuracy_test"].mean()),
            "failed_fits": int((~g["ok"].astype(bool)).sum()),
        })
    return pd.DataFrame(out, columns=list(POWER_COLUMNS))


def minimal_designs(table: pd.DataFrame, target: float) -> dict[str, pd.Series | None]:
    """Per contrast, the cell reaching ``target`` power with the fewest mice, then the fewest
    trials per mouse (mice are the scarce resource: each one is a surgery)."""
    out: dict[str, pd.Series | None] = {}
    for contrast, g in table.groupby("contrast", sort=False):
        ok = g[g["power"] >= target].assign(per_mouse=lambda d: d["sessions"] * d["trials"])
        out[contrast] = (ok.sort_values(["mice", "per_mouse", "sessions"]).iloc[0]
                         if len(ok) else None)
    return out
