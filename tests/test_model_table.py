"""`rigctl model-table`: SCIENCE.md's accuracy table on the simulated rig, cell by cell."""

from __future__ import annotations

import pandas as pd
import yaml

from rigctl.cli import main
from rigctl.power.table import COLUMNS, n_cells
from tests.conftest import SIM_YAML


def run_table(capsys, config, csv) -> tuple[int, str, pd.DataFrame]:
    code = main(["model-table", str(config), "--sessions", "12", "--trials", "120",
                 "--seed", "3", "--csv", str(csv)])
    return code, capsys.readouterr().out, pd.read_csv(csv)


def test_every_cell_of_science_md_is_printed_with_its_interval(capsys, tmp_path):
    code, out, table = run_table(capsys, SIM_YAML, tmp_path / "table.csv")
    assert len(table) == n_cells() == 14
    assert list(table["group"].drop_duplicates()) == [c.title for c in COLUMNS]
    assert (table["ci_low"] <= table["simulated"]).all()
    assert (table["simulated"] <= table["ci_high"]).all()
    assert (table["trials"] > 100).all()
    # A cell is "within" exactly when its difference is at most the tolerance, and the exit
    # status says whether all are.
    assert (table["within"] == (table["difference_pp"].abs() <= 3.0 + 1e-9)).all()
    assert code == (0 if table["within"].all() else 1)
    for col in COLUMNS:
        assert col.title in out
    assert f"of {n_cells()} cells within 3 pp of SCIENCE.md" in out


def test_a_mouse_that_forgets_fast_is_flagged_at_long_delays(capsys, tmp_path):
    raw = yaml.safe_load(SIM_YAML.read_text())
    raw["devices"]["sim"]["mouse"]["lambda0_per_s"] = 0.6  # memory gone in a few seconds
    config = tmp_path / "forgetful.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    code, out, table = run_table(capsys, config, tmp_path / "table.csv")
    assert code == 1
    long = table[(table["group"] == "WT control") & (table["delay_s"] >= 10)]
    assert not long["within"].any() and (long["difference_pp"] < -3).all()
    assert "outside the tolerance: " in out and "WT control at 20 s" in out


def test_bad_input_is_one_line(capsys, tmp_path):
    for argv, expect in ((["--sessions", "0"], "--sessions"),
                         ([str(tmp_path / "nope.yaml")], "no such rig config file"),
                         (["--tolerance", "0"], "--tolerance")):
        assert main(["model-table", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expect in err[0], err
