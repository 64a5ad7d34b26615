"""The analysis of a cohort, for real mice and for simulated ones: one code path for both.

**The model.** Trial-level logistic regression with the mouse as the cluster, fitted by GEE
(statsmodels) with an independence working correlation and the cluster-robust (sandwich)
covariance::

    correct ~ arm + C(delay_s)             groups = mouse, family = Binomial(logit)

``arm`` is the contrast's test condition (laser trial, IP3R2-KO mouse, CNO-treated KO mouse) against
its reference (control trial, wild type, untreated KO); ``C(delay_s)`` is dropped when a single
delay is analysed. The coefficient of ``arm`` is the log odds ratio of a correct choice. With
independence working correlation the GEE estimate and its sandwich covariance depend on the trials
only through the counts per mouse × arm × delay, so :func:`contrast_test` fits the same model as a
binomial GLM on those counts with cluster-robust covariance: the same numbers (``tests/test_power
_stats.py`` checks them against ``statsmodels.GEE`` on the trial table) thousands of times faster,
which a power analysis of thousands of cohorts needs.

**Small samples.** Mice are few (4-12), and the sandwich covariance is biased low with few
clusters; so the covariance is scaled by G/(G-1) (G mice) and the Wald statistic is referred to a
t distribution with G-1 degrees of freedom (within-mouse contrasts) or G-2 (between-group
contrasts), the usual small-sample practice. ``rigctl power`` checks that this keeps the
false-positive rate at the nominal α in the designs it is asked about.

Why not a mixed model: statsmodels' mixed logistic regression is Bayesian (variational or
Laplace), slow, and gives no frequentist p-value to calibrate; GEE answers the same population
question with a robust, fast, well-understood test.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from rigctl.data.stats import scored_trials, wilson_ci

MIN_MICE_FOR_INTERVAL = 3
#: Tables per joint fit. statsmodels' IRLS solves each step by a dense SVD whose cost grows
#: with the cube of the tables fitted together, while a separate fit costs about 4 ms of
#: overhead: 8 at a time measured fastest (2.0 ms a table against 4.5 alone, 4.5 at 48; one
#: BLAS thread, docs/power.md).
JOINT_FITS = 8
FORMULA = "correct ~ arm + C(delay_s)"
FORMULA_ONE_DELAY = "correct ~ arm"


def formula(n_delays: int) -> str:
    return FORMULA if n_delays > 1 else FORMULA_ONE_DELAY


@dataclass(frozen=True)
class ContrastResult:
    """One fitted contrast: the log odds ratio of ``arm`` and its small-sample test."""

    estimate: float  # log odds ratio, test arm vs reference
    se: float
    df: int
    p_value: float
    accuracy_reference: float
    accuracy_test: float
    n_mice: int
    n_trials: int
    formula: str
    ok: bool = True  # False when the fit failed (separation, no trials in an arm)

    @property
    def odds_ratio(self) -> float:
        return math.exp(self.estimate)

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        q = sps.t.ppf(0.5 + level / 2, self.df) if self.df > 0 else math.nan
        return (self.estimate - q * self.se, self.estimate + q * self.se)

    def as_dict(self) -> dict:
        return asdict(self)


def _failed(n_mice: int, n_trials: int, n_delays: int, acc_r: float, acc_t: float,
            df: int) -> ContrastResult:
    return ContrastResult(math.nan, math.nan, df, math.nan, acc_r, acc_t, n_mice, n_trials,
                          formula(n_delays), ok=False)


@dataclass(frozen=True)
class _Prepared:
    """One contrast's counts as a design matrix, or the reason it cannot be fitted."""

    g: int
    df: int
    acc: tuple[float, float]
    n_trials: int
    n_delays: int
    mouse: np.ndarray
    exog: np.ndarray | None  # None: not fittable (too few mice, an arm without trials)
    endog: np.ndarray | None
    start: np.ndarray | None

    def failed(self) -> ContrastResult:
        return _failed(self.g, self.n_trials, self.n_delays, self.acc[0], self.acc[1], self.df)

    def result(self, b: float, var: float) -> ContrastResult:
        if not (math.isfinite(b) and math.isfinite(var)) or var <= 0.0:
            return self.failed()
        se = math.sqrt(var * self.g / (self.g - 1))
        if not math.isfinite(se):
            return self.failed()
        p = float(2.0 * sps.t.sf(abs(b / se), self.df))
        return ContrastResult(b, se, self.df, p, self.acc[0], self.acc[1], self.g,
                              self.n_trials, formula(self.n_delays))


def _prepare(mouse: np.ndarray, arm: np.ndarray, delay: np.ndarray, n: np.ndarray,
             k: np.ndarray, between: bool) -> _Prepared:
    keep = n > 0
    mouse, arm, delay, n, k = mouse[keep], arm[keep], delay[keep], n[keep], k[keep]
    codes = np.unique(mouse, return_inverse=True)[1].reshape(-1)
    g = int(codes.max() + 1) if codes.size else 0
    delays = np.unique(delay)
    df = g - (2 if between else 1)
    acc = tuple(float(k[arm == a].sum() / n[arm == a].sum()) if n[arm == a].sum() else math.nan
                for a in (0, 1))
    n_trials = int(n.sum())
    if df < 1 or math.isnan(acc[0]) or math.isnan(acc[1]):
        return _Prepared(g, df, acc, n_trials, delays.size, codes, None, None, None)
    cols = [np.ones(arm.size), arm.astype(float)]
    cols += [(delay == d).astype(float) for d in delays[1:]]
    exog = np.column_stack(cols)
    endog = np.column_stack([k, n - k]).astype(float)
    # Start IRLS from the weighted least-squares fit of the empirical logits: the same optimum,
    # reached in about half the iterations (the fit is the inner loop of a power analysis).
    pe = (k + 0.5) / (n + 1.0)
    sw = np.sqrt(n * pe * (1 - pe))
    start = np.linalg.lstsq(exog * sw[:, None], np.log(pe / (1 - pe)) * sw, rcond=None)[0]
    return _Prepared(g, df, acc, n_trials, delays.size, codes, exog, endog, start)


def _glm_fit(endog: np.ndarray, exog: np.ndarray, groups: np.ndarray, start: np.ndarray):
    """statsmodels' binomial GLM with cluster-robust covariance; None when the fit fails
    (perfect separation, a singular design)."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return sm.GLM(endog, exog, family=sm.families.Binomial()).fit(
                start_params=start, cov_type="cluster",
                cov_kwds={"groups": groups, "use_correction": False})
        except (PerfectSeparationWarning, np.linalg.LinAlgError, ValueError):
            return None


def contrast_test(
    mouse: np.ndarray, arm: np.ndarray, delay: np.ndarray, n: np.ndarray, k: np.ndarray,
    between: bool,
) -> ContrastResult:
    """Fit the module's model to counts: ``n`` scored and ``k`` correct trials per row, one row
    per mouse × arm (0 reference, 1 test) × delay. ``between`` says the arm varies between mice
    (genotype, treatment) rather than within them (laser vs control trials)."""
    prep = _prepare(mouse, arm, delay, n, k, between)
    if prep.exog is None:
        return prep.failed()
    res = _glm_fit(prep.endog, prep.exog, prep.mouse, prep.start)
    if res is None:
        return prep.failed()
    return prep.result(float(res.params[1]), float(res.cov_params()[1, 1]))


def contrast_tests(tables: Sequence[tuple[np.ndarray, ...]], between: Sequence[bool]
                   ) -> list[ContrastResult]:
    """:func:`contrast_test` of many independent count tables, in one statsmodels fit.

    The tables' designs are stacked block-diagonally (each table its own parameters) and each
    mouse of each table is its own cluster. The log-likelihood is the sum of the tables', so
    its optimum is every table's own optimum; the bread (the inverse Hessian) and the meat
    (clusters never span tables) of the sandwich are block-diagonal, so each table's block of
    the robust covariance is its own fit's. One fit of a few hundred rows replaces dozens of
    small ones, whose cost is statsmodels' per-fit overhead (a power analysis fits every cell
    of every cohort). Should the joint fit fail (one table perfectly separated), every table is
    fitted on its own, so one bad table costs only its own result."""
    preps = [_prepare(*t, between=b) for t, b in zip(tables, between, strict=True)]
    fit = [i for i, p in enumerate(preps) if p.exog is not None]
    out = [p.failed() for p in preps]
    for first in range(0, len(fit), JOINT_FITS):
        _fit_jointly([preps[i] for i in fit[first:first + JOINT_FITS]],
                     fit[first:first + JOINT_FITS], out)
    return out


def _fit_jointly(preps: list[_Prepared], where: list[int], out: list[ContrastResult]) -> None:
    from scipy.linalg import block_diag

    if len(preps) > 1:
        offsets = np.cumsum([0] + [p.g for p in preps])
        res = _glm_fit(np.vstack([p.endog for p in preps]), block_diag(*(p.exog for p in preps)),
                       np.concatenate([p.mouse + offsets[j] for j, p in enumerate(preps)]),
                       np.concatenate([p.start for p in preps]))
        if res is not None:
            params, cov = res.params, res.cov_params()
            col = 0
            for i, p in zip(where, preps, strict=True):
                out[i] = p.result(float(params[col + 1]), float(cov[col + 1, col + 1]))
                col += p.exog.shape[1]
            return
    for i, p in zip(where, preps, strict=True):
        res = _glm_fit(p.endog, p.exog, p.mouse, p.start)
        out[i] = p.failed() if res is None else p.result(float(res.params[1]),
                                                          float(res.cov_params()[1, 1]))


def counts_table(trials: pd.DataFrame, arm: str, test: object, mouse: str = "subject"
                 ) -> pd.DataFrame:
    """Scored trials → counts per mouse × arm × delay (``arm`` 1 where column ``arm`` equals
    ``test``). The shape :func:`contrast_test` fits."""
    t = scored_trials(trials)
    t = t.assign(_arm=(t[arm] == test).astype(int), _ok=t["correct"].astype(int))
    out = t.groupby([mouse, "_arm", "delay_s"], sort=True)["_ok"].agg(["size", "sum"])
    out = out.reset_index().rename(columns={mouse: "mouse", "_arm": "arm", "size": "n",
                                            "sum": "k"})
    return out


def analyse_trials(trials: pd.DataFrame, arm: str, test: object, mouse: str = "subject",
                   between: bool | None = None) -> ContrastResult:
    """The power analysis's test on a real cohort's trial table.

    ``trials`` is one row per trial (e.g. :func:`rigctl.data.load_sessions`) with ``correct``,
    ``trial_type``, ``delay_s`` and a mouse column; ``arm``/``test`` name the contrast, e.g.
    ``arm="trial_type", test="laser"`` or ``arm="genotype", test="ip3r2_ko"``. ``between``
    defaults to whether the arm is constant within every mouse."""
    c = counts_table(trials, arm, test, mouse)
    if between is None:
        between = bool((c.groupby("mouse")["arm"].nunique() == 1).all())
    codes = pd.factorize(c["mouse"])[0]
    return contrast_test(codes, c["arm"].to_numpy(), c["delay_s"].to_numpy(float),
                         c["n"].to_numpy(), c["k"].to_numpy(), between)


def gee_trial_level(trials: pd.DataFrame, arm: str, test: object, mouse: str = "subject"):
    """The same model written out on the trial table with ``statsmodels.GEE`` (formula API).

    Slower than :func:`analyse_trials`; here so the equivalence is checkable and for analysts
    who want the full statsmodels result object (robust covariance, no small-sample scaling)."""
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    t = scored_trials(trials)
    t = t.assign(arm=(t[arm] == test).astype(int), correct=t["correct"].astype(int))
    f = formula(t["delay_s"].nunique())
    model = smf.gee(f, groups=mouse, data=t, family=sm.families.Binomial(),
                    cov_struct=sm.cov_struct.Independence())
    return model.fit(cov_type="robust")


def across_mice_interval(k: np.ndarray, n: np.ndarray, level: float = 0.95
                         ) -> tuple[float, float]:
    """Interval of a group's accuracy with the mouse as the replicate; always within [0, 1].

    A t interval (scipy.stats.t, G-1 df) of the per-mouse empirical logits
    ``log((k + ½)/(n − k + ½))``, mapped back to a proportion, so it cannot leave [0, 1] and does
    not collapse when every mouse is at 100%; widened where needed to the Wilson interval of the
    pooled trials, so it never claims more precision than the trial count allows. (nan, nan) with
    fewer than MIN_MICE_FOR_INTERVAL mice: two mice cannot tell how much mice differ."""
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    if k.size < MIN_MICE_FOR_INTERVAL or (n <= 0).any():
        return (math.nan, math.nan)
    logit = np.log((k + 0.5) / (n - k + 0.5))
    q = float(sps.t.ppf(0.5 + level / 2, k.size - 1))
    half = q * float(logit.std(ddof=1)) / math.sqrt(k.size)
    centre = float(logit.mean())
    lo_t, hi_t = (1 / (1 + math.exp(-(centre + s * half))) for s in (-1, 1))
    lo_w, hi_w = wilson_ci(float(k.sum()), float(n.sum()), z=float(sps.norm.ppf(0.5 + level / 2)))
    return (min(lo_t, lo_w), max(hi_t, hi_w))


def proportion_interval(successes: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval (statsmodels) of a Monte-Carlo proportion such as power."""
    from statsmodels.stats.proportion import proportion_confint

    if total <= 0:
        return (math.nan, math.nan)
    lo, hi = proportion_confint(successes, total, alpha=1 - level, method="beta")
    return (float(lo), float(hi))
