"""Bad input through the data commands: one line and exit code 2, never a traceback."""

from __future__ import annotations

import json
import sys

import pytest

from rigctl.cli import main
from tests.conftest import run_sim


@pytest.fixture
def folder(sim_yaml, tmp_path):
    result, _, _ = run_sim(sim_yaml, tmp_path / "data", seed=1, params={"n_trials": 4})
    return result.folder


def _cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rigctl: error: ") and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("command", [["summary", "--no-figure"], ["export", "--nwb"],
                                     ["recover"]])
def test_not_a_session_newer_format_and_missing_folder(capsys, folder, tmp_path, command):
    name, *opts = command
    code, _, err = _cli(capsys, name, str(tmp_path), *opts)
    assert code == 2 and "not a session folder" in _one_line(err)
    code, _, err = _cli(capsys, name, str(tmp_path / "nope"), *opts)
    assert code == 2 and "no such folder" in _one_line(err)
    meta = json.loads((folder / "session.json").read_text())
    meta["format_version"] = 7
    (folder / "session.json").write_text(json.dumps(meta))
    (folder / "session.start.json").write_text(json.dumps(meta))  # a newer rigctl: both
    code, _, err = _cli(capsys, name, str(folder), *opts)
    assert code == 2 and "newer rigctl (format 7" in _one_line(err)
    # (An unreadable session.json is no longer an error: see the rebuild test below.)


def test_truncated_last_line_is_reported_with_the_readable_part(capsys, folder):
    with open(folder / "trials.csv", "a") as f:
        f.write("5,99.0,1")
    code, out, err = _cli(capsys, "summary", str(folder), "--no-figure")
    assert code == 0 and not err
    # In a completed session no crash explains a torn line: it is reported as damage.
    assert "warning: damaged: trials.csv: line 6: incomplete last line (8 bytes)" in out
    assert "4 trials" in out


def test_unreadable_session_json_is_reported_and_rebuilt(capsys, folder):
    (folder / "session.json").write_text("{")
    code, out, err = _cli(capsys, "summary", str(folder), "--no-figure")
    assert code == 0 and not err
    assert "warning: damaged: session.json: unreadable" in out and "4 trials" in out
    code, out, err = _cli(capsys, "recover", str(folder))
    assert code == 0 and "session.json: rebuilt from session.start.json" in out
    code, out, err = _cli(capsys, "summary", str(folder), "--no-figure")
    assert code == 0 and "4 trials" in out


def test_without_pynwb_export_says_how_to_install_in_one_line(capsys, folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynwb", None)  # import pynwb now raises ImportError
    code, _, err = _cli(capsys, "export", str(folder), "--nwb")
    assert code == 2
    assert err == "rigctl: error: NWB export needs the nwb extra: pip install 'rigctl[nwb]'\n"
