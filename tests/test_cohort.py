"""A seeded simulated cohort reproduces the four qualitative results of SCIENCE.md."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rigctl.cohort import SUMMARY_COLUMNS, CohortDesign, per_mouse_table, run_cohort, summarise
from tests.conftest import SIM_YAML


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("cohort")
    folders = []
    for genotypes, treatments, modes in [
        (["wt"], ["none"], ["closed_loop", "sham"]),     # results 1 and 4
        (["ip3r2_ko"], ["none", "cno"], ["off"]),        # results 2 and 3
    ]:
        design = CohortDesign(config=str(SIM_YAML), out=out, mice=8, genotypes=genotypes,
                              treatments=treatments, stim_modes=modes, delays_s=(2.0, 10.0),
                              trials=300, seed=2026)
        folders += run_cohort(design, workers=2)
    return summarise(per_mouse_table(folders))


def row(summary, **key) -> pd.Series:
    sel = summary
    for k, v in key.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, key
    return sel.iloc[0]


def overlap(a: pd.Series, b: pd.Series) -> bool:
    return not (a["ci_high"] < b["ci_low"] or b["ci_high"] < a["ci_low"])


def test_laser_in_delay_impairs_at_10_s_not_at_2_s(cohort):
    wt = dict(genotype="wt", treatment="none", stim_mode="closed_loop")
    ctl10, las10 = (row(cohort, **wt, delay_s=10.0, trial_type=t) for t in ("control", "laser"))
    assert las10["ci_high"] < ctl10["ci_low"]  # non-overlapping 95% CIs across mice
    ctl2, las2 = (row(cohort, **wt, delay_s=2.0, trial_type=t) for t in ("control", "laser"))
    assert overlap(ctl2, las2) and abs(ctl2["accuracy"] - las2["accuracy"]) < 0.03


def test_ip3r2_ko_is_worse_than_wild_type_at_10_s(cohort):
    wt = row(cohort, genotype="wt", treatment="none", stim_mode="closed_loop", delay_s=10.0,
             trial_type="control")
    ko = row(cohort, genotype="ip3r2_ko", treatment="none", stim_mode="off", delay_s=10.0,
             trial_type="control")
    assert ko["ci_high"] < wt["ci_low"]


def test_cno_rescues_ip3r2_ko_toward_wild_type(cohort):
    ko = row(cohort, genotype="ip3r2_ko", treatment="none", delay_s=10.0, trial_type="control")
    cno = row(cohort, genotype="ip3r2_ko", treatment="cno", delay_s=10.0, trial_type="control")
    wt = row(cohort, genotype="wt", stim_mode="closed_loop", delay_s=10.0, trial_type="control")
    assert cno["ci_low"] > ko["ci_high"]
    assert abs(cno["accuracy"] - wt["accuracy"]) < abs(ko["accuracy"] - wt["accuracy"])


def test_sham_changes_nothing(cohort):
    for delay in (2.0, 10.0):
        ctl, sham = (row(cohort, genotype="wt", stim_mode="sham", delay_s=delay, trial_type=t)
                     for t in ("control", "laser"))
        assert overlap(ctl, sham) and abs(ctl["accuracy"] - sham["accuracy"]) < 0.05


def test_cli_writes_summary_and_per_mouse_tables(capsys, tmp_path):
    from rigctl.cli import main

    out = tmp_path / "c"
    code = main(["simulate-cohort", str(SIM_YAML), "--mice", "2", "--trials", "30",
                 "--stim-modes", "open_loop", "--delays", "2", "--out", str(out)])
    assert code == 0
    summary = pd.read_csv(out / "cohort_summary.csv")
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    assert set(summary["trial_type"]) == {"control", "laser"}
    assert (summary["n_mice"] == 2).all()
    mice = pd.read_csv(out / "cohort_mice.csv")
    assert mice["subject"].nunique() == 2
    assert len(list(out.glob("*/*/trials.csv"))) == 2  # every session saved like a real one
    assert "accuracy" in capsys.readouterr().out


def test_bad_cohort_arguments_are_one_line_errors(capsys, tmp_path):
    from rigctl.cli import main

    assert main(["simulate-cohort", str(SIM_YAML), "--mice", "0", "--out", str(tmp_path)]) == 2
    assert "--mice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["simulate-cohort", "--genotypes", "wt,mutant"])
    assert "'mutant' is not one of" in capsys.readouterr().err


def test_same_design_on_a_local_dask_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    design = CohortDesign(config=str(SIM_YAML), out=tmp_path / "d", mice=2, trials=20,
                          stim_modes=("open_loop",), delays_s=(2.0,), seed=5)
    local = CohortDesign(config=str(SIM_YAML), out=tmp_path / "l", mice=2, trials=20,
                         stim_modes=("open_loop",), delays_s=(2.0,), seed=5)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        on_dask = run_cohort(design, dask_address=cluster.scheduler_address)
    in_process = run_cohort(local)
    a = summarise(per_mouse_table(on_dask))
    b = summarise(per_mouse_table(in_process))
    pd.testing.assert_frame_equal(a, b)  # same seeds, same mice, wherever they ran


def _per_mouse(accuracies: list[float], n: int = 40) -> pd.DataFrame:
    return pd.DataFrame([{"subject": f"m{i}", "genotype": "wt", "treatment": "none",
                          "stim_mode": "off", "delay_s": 10.0, "trial_type": "control",
                          "n_trials": n, "n_correct": round(a * n), "accuracy": round(a * n) / n,
                          "session": ""} for i, a in enumerate(accuracies)])


@pytest.mark.parametrize("accuracies", [
    [1.0, 0.2, 1.0],            # a t interval on the raw accuracies reaches past 100%
    [0.05, 0.9, 0.0, 0.1],      # ... and below 0%
    [1.0, 1.0, 1.0, 1.0],       # every mouse perfect: no zero-width [100, 100]
    [0.5, 0.55, 0.6, 0.45, 0.52, 0.58, 0.49, 0.51],
])
def test_group_intervals_stay_within_0_and_100_and_never_collapse(accuracies):
    s = summarise(_per_mouse(accuracies)).iloc[0]
    assert 0.0 <= s["ci_low"] < s["ci_high"] <= 1.0
    assert s["ci_low"] <= s["accuracy"] <= s["ci_high"]
    assert s["ci_high"] - s["ci_low"] > 0.01  # 40 trials a mouse cannot pin a group to 1%


def test_two_mice_get_no_interval_and_the_cli_says_why(capsys, tmp_path):
    assert summarise(_per_mouse([0.8, 0.9]))[["ci_low", "ci_high"]].isna().all(axis=None)
    from rigctl.cli import main

    code = main(["simulate-cohort", str(SIM_YAML), "--mice", "2", "--trials", "20",
                 "--stim-modes", "off", "--delays", "2", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "n/a" in out and "need at least 3 mice" in out
    assert "[-" not in out  # no negative bounds


def test_more_mice_give_narrower_intervals_with_library_quantiles():
    """t quantiles from scipy for any number of mice (the old table stopped at 30 df and
    guessed beyond); the interval shrinks as mice are added."""
    rng = np.random.default_rng(4)
    widths = []
    for n in (3, 8, 40, 80):
        s = summarise(_per_mouse(list(rng.uniform(0.6, 0.9, n)), n=200)).iloc[0]
        widths.append(s["ci_high"] - s["ci_low"])
    assert widths == sorted(widths, reverse=True)


GO_NOGO = SIM_YAML.parents[1] / "examples" / "tasks" / "go_nogo.py"


def test_a_go_nogo_cohort_is_summarised_by_its_own_condition_and_outcomes(tmp_path):
    """A task's own record: groups by its condition (go/nogo) and delay, scored by its
    ``correct`` column, with the share of each declared outcome; no stim_mode is sent to a
    task that has none."""
    design = CohortDesign(config=str(SIM_YAML), out=tmp_path, mice=3, trials=30,
                          delays_s=(1.0,), seed=9, protocol=str(GO_NOGO))
    folders = run_cohort(design)
    mice = per_mouse_table(folders)
    summary = summarise(mice)
    assert list(summary.columns) == [
        "genotype", "treatment", "stim_mode", "delay_s", "trial_type", "n_mice", "n_trials",
        "accuracy", "ci_low", "ci_high", "hit_rate", "miss_rate", "false_alarm_rate",
        "correct_rejection_rate"]
    assert set(summary["trial_type"]) == {"go", "nogo"}
    assert set(summary["stim_mode"]) == {"off"} and (summary["n_mice"] == 3).all()
    from rigctl.data import load_session

    trials = pd.concat([load_session(f).trials for f in folders])
    assert summary["n_trials"].sum() == len(trials) == 90
    go = summary[summary["trial_type"] == "go"].iloc[0]
    assert go["hit_rate"] + go["miss_rate"] == pytest.approx(1.0)
    assert go["false_alarm_rate"] == 0 and go["correct_rejection_rate"] == 0
    hits = mice[mice["trial_type"] == "go"]
    assert hits["n_hit"].sum() == int((trials["outcome"] == "hit").sum())
    assert go["accuracy"] == pytest.approx(hits["accuracy"].mean(), abs=1e-4)


def test_stim_modes_for_a_task_without_stim_mode_are_one_line_errors(tmp_path):
    from rigctl.errors import RigctlError

    design = CohortDesign(config=str(SIM_YAML), out=tmp_path, mice=1, trials=5,
                          stim_modes=("closed_loop", "sham"), protocol=str(GO_NOGO))
    with pytest.raises(RigctlError, match="the task has no stim_mode parameter"):
        design.jobs()
