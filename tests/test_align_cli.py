"""``rigctl align`` end to end: a simulated session imaged by a simulated microscope."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rigctl.cli import main
from rigctl.data import load_session
from rigctl.data.align import load_alignment
from rigctl.data.events import laser_epochs
from tests.conftest import run_sim

SCOPE = {"offset_s": -37.25, "drift_ppm": -90.0, "sample_rate_hz": 10_000.0,
         "frame_rate_hz": 30.0, "drop_pulse_fraction": 0.05, "drop_frame_fraction": 0.002}


def scope_files(folder: Path) -> dict[str, Path]:
    return {k: next(folder.glob(f"*_{k}.{ext}"))
            for k, ext in (("sync", "csv"), ("frames", "csv"), ("truth", "json"))}


def imaged_session(tmp: Path, seed: int, params: dict) -> tuple[Path, dict[str, Path]]:
    """A simulated session with sync pulses and a simulated microscope on them."""
    import yaml

    from tests.conftest import SIM_YAML

    cfg = yaml.safe_load(SIM_YAML.read_text())
    cfg["devices"]["sim"]["microscope"] = {"folder": str(tmp / "scope"), **SCOPE}
    cfg["sync"] = {"channel": "sim/sync"}
    path = tmp / "rig.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result, _, _ = run_sim(path, tmp / "data", seed=seed, params=params)
    assert result.status == "completed"
    return result.folder, scope_files(tmp / "scope")


@pytest.fixture(scope="module")
def imaged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("imaged")
    folder, files = imaged_session(tmp, 17, {"n_trials": 30, "delays_s": [2, 5, 10],
                                             "stim_mode": "open_loop"})
    return folder, files, tmp


def _cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_align_recovers_the_microscope_clock_and_counts_every_frame(imaged, capsys):
    folder, files, _ = imaged
    truth = json.loads(files["truth"].read_text())
    code, out, err = _cli(capsys, "align", folder, files["sync"], "--frames", files["frames"])
    assert code == 0, err
    printed = dict(line.split(": ", 1) for line in out.splitlines())
    assert float(printed["offset"].split()[0]) == pytest.approx(-37.25, abs=1e-4)
    assert float(printed["drift"].split()[0]) == pytest.approx(-90.0, abs=0.1)
    saved = json.loads((folder / "alignment.json").read_text())
    assert {"offset_s", "drift_ppm", "n_matched", "residual_rms_s"} <= saved.keys()
    sent = truth["n_pulses_sent"]
    assert saved["n_matched"] == sent - len(truth["dropped_pulses"]) and sent >= 40
    al = load_alignment(folder)
    session_end = truth["session_end_s"]
    # Within one sample of the microscope's sync input over the whole session.
    t = np.linspace(0, session_end, 1000)
    true = SCOPE["offset_s"] + (1 + SCOPE["drift_ppm"] * 1e-6) * t
    assert np.max(np.abs(al.to_other(t) - true)) < 1 / SCOPE["sample_rate_hz"]
    frames = pd.read_csv(folder / "frame_times.csv")
    assert len(frames) == truth["n_frames"] - len(truth["dropped_frames"])
    assert f"frames: {len(frames):,}" in out
    assert np.allclose(frames["t_s"], al.to_session(frames["t_other_s"]))


def test_laser_epochs_land_on_the_right_frames(imaged, capsys):
    folder, files, _ = imaged
    if not (folder / "alignment.json").exists():
        assert _cli(capsys, "align", folder, files["sync"])[0] == 0
    truth = json.loads(files["truth"].read_text())
    al = load_alignment(folder)
    s = load_session(folder)
    epochs = laser_epochs(s.events, s.trials)
    assert len(epochs) >= 5
    onsets = epochs["start_s"].to_numpy(float)
    period = 1 / SCOPE["frame_rate_hz"]
    acquired = truth["first_frame_s"] + np.arange(truth["n_frames"]) * period
    true_scope = SCOPE["offset_s"] + (1 + SCOPE["drift_ppm"] * 1e-6) * onsets
    expected = np.floor((true_scope - truth["first_frame_s"]) / period).astype(int)
    assert np.array_equal(al.frame_index(onsets, acquired), expected)


def test_align_bad_input_is_one_line(imaged, capsys, tmp_path, make_config):
    folder, files, _ = imaged
    bad = tmp_path / "bad.csv"
    bad.write_text("t\n1.0\n2.5\nabc\n")
    code, _, err = _cli(capsys, "align", folder, bad, "--force")
    assert code == 2 and err.count("\n") == 1 and f"{bad}:4: 'abc' is not a time" in err
    rng = np.random.default_rng(0)
    unrelated = tmp_path / "other.csv"
    np.savetxt(unrelated, np.cumsum(rng.uniform(2, 8, 80)), fmt="%.4f")
    code, _, err = _cli(capsys, "align", folder, unrelated, "--force")
    assert code == 2 and err.count("\n") == 1 and "do not match" in err
    assert "Traceback" not in err
    code, _, err = _cli(capsys, "align", folder, tmp_path / "missing.csv", "--force")
    assert code == 2 and "missing.csv: cannot read" in err
    code, _, err = _cli(capsys, "align", folder, files["sync"], "--force", "--jitter-ms", "-1")
    assert code == 2 and err.count("\n") == 1 and "jitter" in err
    # A second alignment does not silently replace the first.
    if not (folder / "alignment.json").exists():
        assert _cli(capsys, "align", folder, files["sync"])[0] == 0
    code, _, err = _cli(capsys, "align", folder, files["sync"])
    assert code == 2 and "already exists" in err
    # A session without sync pulses says what it needs.
    result, _, _ = run_sim(make_config(), tmp_path / "d", seed=2, params={"n_trials": 3})
    code, _, err = _cli(capsys, "align", result.folder, files["sync"])
    assert code == 2 and "no sync pulses" in err and "sync:" in err
