"""rigctl power: validity of the power analysis, where it runs, resuming, the command and its
bad-input lines. All on the fast path with small grids, seeded."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rigctl.power import PowerDesign, run_power, summarise
from rigctl.power.run import POWER_COLUMNS
from tests.conftest import SIM_YAML


def design(**kw) -> PowerDesign:
    base = dict(config=str(SIM_YAML), mice=(3,), trials=(20,), delays_s=(10.0,), cohorts=20,
                seed=11)
    return PowerDesign(**{**base, **kw})


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> pd.DataFrame:
    # 80 trials: with the mouse fitted to SCIENCE.md's table (84% → 67% at 10 s, odds ratio
    # ~0.4) 6 mice × 60 trials had 77.5% power [70, 84]; the grid must straddle the 80% target.
    d = design(mice=(3, 6), trials=(20, 80), cohorts=160)
    return summarise(run_power(d, tmp_path_factory.mktemp("grid"), workers=2), d)


def cell(table: pd.DataFrame, mice: int, trials: int) -> pd.Series:
    return table[(table["mice"] == mice) & (table["trials"] == trials)].iloc[0]


def test_power_rises_with_mice_and_with_trials(grid):
    assert cell(grid, 3, 20)["power"] < cell(grid, 6, 20)["power"] < cell(grid, 6, 80)["power"]
    assert cell(grid, 3, 20)["power"] < cell(grid, 3, 80)["power"] < cell(grid, 6, 80)["power"]
    assert cell(grid, 3, 20)["power"] < 0.8 <= cell(grid, 6, 80)["power"]


def test_false_positive_rate_under_sham_is_nominal_within_monte_carlo_error(grid):
    for _, row in grid.iterrows():
        assert row["fpr_ci_low"] <= 0.05 <= row["fpr_ci_high"], row.to_dict()
    # Fits that fail (an arm with every trial correct in tiny cells) count as "not detected".
    assert (grid["failed_fits"] <= 0.02 * 2 * grid["cohorts"]).all()


def test_effect_estimate_matches_the_simulated_mouse(grid):
    """Laser in a 10 s delay: ~83% control vs ~66% laser (SCIENCE.md's table), odds ratio ~0.4."""
    big = cell(grid, 6, 80)
    assert 0.80 < big["accuracy_reference"] < 0.93 and 0.58 < big["accuracy_test"] < 0.75
    assert 0.2 < big["odds_ratio"] < 0.45


def test_same_numbers_on_a_dask_local_cluster_and_in_process(tmp_path):
    distributed = pytest.importorskip("distributed")
    d = design()
    local = run_power(d, tmp_path / "local")
    # One worker process with two threads: chunks run concurrently and leave the process (and
    # their pickled results cross to the client) as on any cluster, with one start-up to pay.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=None) as cluster:
        on_dask = run_power(d, tmp_path / "dask", dask_address=cluster.scheduler_address)
    pd.testing.assert_frame_equal(local, on_dask)
    pd.testing.assert_frame_equal(summarise(local, d), summarise(on_dask, d))


def test_an_interrupted_run_resumes_from_disk_with_the_same_numbers(tmp_path):
    d = design(cohorts=30)
    whole = run_power(d, tmp_path / "whole")

    calls = []

    def interrupt(done: int, total: int) -> None:
        calls.append(done)
        if done >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_power(d, tmp_path / "resumed", progress=interrupt)
    computed = []
    resumed = run_power(d, tmp_path / "resumed", progress=lambda done, _: computed.append(done))
    assert computed[0] == 10  # the first chunk came from disk
    pd.testing.assert_frame_equal(whole, resumed)


def test_more_cohorts_extend_an_earlier_run(tmp_path):
    small = run_power(design(cohorts=10), tmp_path)
    bigger = run_power(design(cohorts=20), tmp_path)
    pd.testing.assert_frame_equal(small, bigger[bigger["cohort"] < 10].reset_index(drop=True))


def test_command_writes_table_figure_and_minimal_design(capsys, tmp_path):
    from rigctl.cli import main

    code = main(["power", str(SIM_YAML), "--mice", "3,6", "--trials", "20,60", "--contrast",
                 "laser", "--delays", "10", "--cohorts", "20", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "model: correct ~ arm; GEE" in out and "estimated time: ~" in out
    assert "minimal design for 80% power (laser):" in out
    table = pd.read_csv(tmp_path / "power.csv")
    assert tuple(table.columns) == POWER_COLUMNS
    assert len(table) == 4 and set(table["contrast"]) == {"laser"}
    assert (tmp_path / "power.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_group_contrasts_ko_and_cno(tmp_path):
    d = design(contrasts=("ko_vs_wt", "cno_vs_ko"), mice=(6,), trials=(60,), cohorts=10)
    t = summarise(run_power(d, tmp_path), d).set_index("contrast")
    assert t.loc["ko_vs_wt", "accuracy_test"] < t.loc["ko_vs_wt", "accuracy_reference"] - 0.1
    assert t.loc["cno_vs_ko", "accuracy_test"] > t.loc["cno_vs_ko", "accuracy_reference"] + 0.1
    assert (t["power"] > 0.5).all()


def _one_line_error(capsys, argv: list[str], expect: str) -> None:
    from rigctl.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rigctl: error: ") and expect in err[0], err


def test_bad_input_is_one_line_each(capsys, tmp_path):
    base = ["power", str(SIM_YAML), "--out", str(tmp_path), "--cohorts", "10"]
    _one_line_error(capsys, [*base, "--mice", "2"], "--mice: at least 3 mice")
    _one_line_error(capsys, [*base, "--contrast", "ko_vs_wt", "--genotypes", "wt"],
                    "--contrast ko_vs_wt: needs a ip3r2_ko group")
    off = tmp_path / "off.yaml"
    off.write_text("name: delayed_alternation\nparameters: {stim_mode: 'off'}\n")
    _one_line_error(capsys, [*base, "--protocol", str(off)],
                    "--contrast laser: the protocol's stim_mode is off")
    closed = tmp_path / "closed.yaml"
    closed.write_text("name: delayed_alternation\nparameters: {stim_mode: closed_loop}\n")
    _one_line_error(capsys, [*base, "--protocol", str(closed)], "use --engine full")
    _one_line_error(capsys, [*base, "--cohorts", "100000", "--budget-min", "0.01"],
                    "add --yes to run it")
    _one_line_error(capsys, [*base, "--dask", "tcp://127.0.0.1:9"],
                    "cannot reach a Dask scheduler at tcp://127.0.0.1:9")
    _one_line_error(capsys, ["power", str(tmp_path / "missing.yaml")], "no such rig config")
    with pytest.raises(SystemExit):  # argparse: an empty grid
        from rigctl.cli import main

        main(["power", str(SIM_YAML), "--trials", ","])
    assert "give at least one value" in capsys.readouterr().err


def test_the_design_key_ignores_what_is_applied_afterwards():
    assert design(alpha=0.01, cohorts=99).key() == design().key()
    assert design(seed=12).key() != design().key()
    assert Path(SIM_YAML).is_file()
