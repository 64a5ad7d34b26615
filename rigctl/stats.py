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
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from rigctl.data.stats import scored_trials, wilson_ci

MIN_MICE_FOR_INTERVAL = 3
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


def contrast_test(
    mouse: np.ndarray, arm: np.ndarray, delay: np.ndarray, n: np.ndarray, k: np.ndarray,
    between: bool,
) -> ContrastResult:
    """Fit the module's model to counts: ``n`` scored and ``k`` correct trials per row, one row
    per mouse × arm (0 reference, 1 test) × delay. ``between`` says the arm varies between mice
    (genotype, treatment) rather than within them (laser vs control trials)."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    keep = n > 0
    mouse, arm, delay, n, k = mouse[keep], arm[keep], delay[keep], n[keep], k[keep]
    g = int(np.unique(mouse).size)
    delays = np.unique(delay)
    df = g - (2 if between else 1)
    acc = [float(k[arm == a].sum() / n[arm == a].sum()) if n[arm == a].sum() else math.nan
           for a in (0, 1)]
    n_trials = int(n.sum())
    if df < 1 or math.isnan(acc[0]) or math.isnan(acc[1]):
        return _failed(g, n_trials, delays.size, acc[0], acc[1], df)
    cols = [np.ones(arm.size), arm.astype(float)]
    cols += [(delay == d).astype(float) for d in delays[1:]]
    exog = np.column_stack(cols)
    endog = np.column_stack([k, n - k]).astype(float)
    # Start IRLS from the weighted least-squares fit of the empirical logits: the same optimum,
    # reached in about half the iterations (the fit is the inner loop of a power analysis).
    pe = (k + 0.5) / (n + 1.0)
    sw = np.sqrt(n * pe * (1 - pe))
    start = np.linalg.lstsq(exog * sw[:, None], np.log(pe / (1 - pe)) * sw, rcond=None)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            res = sm.GLM(endog, exog, family=sm.families.Binomial()).fit(
                start_params=start, cov_type="cluster",
                cov_kwds={"groups": mouse, "use_correction": False})
        except (PerfectSeparationWarning, np.linalg.LinAlgError, ValueError):
            return _failed(g, n_trials, delays.size, acc[0], acc[1], df)
    b = float(res.params[1])
    var = float(res.cov_params()[1, 1])
    if not (math.isfinite(b) and math.isfinite(var)) or var <= 0.0:
        return _failed(g, n_trials, delays.size, acc[0], acc[1], df)
    se = math.sqrt(var * g / (g - 1))
    if not math.isfinite(se):
        return _failed(g, n_trials, delays.size, acc[0], acc[1], df)
    p = float(2.0 * sps.t.sf(abs(b / se), df))
    return ContrastResult(b, se, df, p, acc[0], acc[1], g, n_trials, formula(delays.size))


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
