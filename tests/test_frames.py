"""Frame clocks in: a simulated microscope's frame-out recorded frame by frame, end to end."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from rigctl.cli import main
from rigctl.data import load_session
from rigctl.data.align import align, read_times, session_pulses
from rigctl.data.events import laser_epochs
from rigctl.data.frames import FramesWriter, read_frames
from rigctl.data.recover import recover_session
from rigctl.data.signals import CRC_BLOCK
from rigctl.errors import DataError
from tests.conftest import ROOT, run_sim

IMAGING = ROOT / "hardware_configs" / "sim_imaging.yaml"
SCOPE = {"offset_s": 41.5, "drift_ppm": 95.0, "sample_rate_hz": 10_000.0,
         "frame_rate_hz": 30.0, "drop_pulse_fraction": 0.05, "drop_frame_fraction": 0.003}


def imaging_config(tmp: Path, **scope: object) -> Path:
    """sim_imaging.yaml with its microscope writing into ``tmp``."""
    cfg = yaml.safe_load(IMAGING.read_text())
    cfg["devices"]["sim"]["microscope"].update(folder=str(tmp / "scope"), **SCOPE, **scope)
    path = tmp / "rig.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def scope_file(tmp: Path, kind: str) -> Path:
    ext = "json" if kind == "truth" else "csv"
    return next((tmp / "scope").glob(f"*_{kind}.{ext}"))


@pytest.fixture(scope="module")
def imaged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("frames")
    result, s, _ = run_sim(imaging_config(tmp), tmp / "data", seed=23,
                           params={"n_trials": 30, "delays_s": [2, 5, 10]})
    assert result.status == "completed"
    return result, s, json.loads(scope_file(tmp, "truth").read_text()), tmp


# --- the file ---------------------------------------------------------------------------------
def test_frames_file_round_trips_and_a_damaged_block_keeps_frame_numbers(tmp_path):
    w = FramesWriter(tmp_path, "scope", "sim/scope")
    n = 3 * CRC_BLOCK + 17
    t = np.arange(n) / 1000.0
    for k in range(n):
        w.append(float(t[k]), float(k) if k % 2 else None)
    w.close()
    d = read_frames(tmp_path / "frames_scope.bin")
    assert d.n == n and np.array_equal(d.t, t) and not d.damaged and not d.unverified
    assert d.device_t[1] == 1.0 and np.isnan(d.device_t[0])
    raw = bytearray((tmp_path / "frames_scope.bin").read_bytes())
    raw[-16 * (CRC_BLOCK + 17) + 3] ^= 0x40  # a flipped bit in the third block
    (tmp_path / "frames_scope.bin").write_bytes(bytes(raw))
    d = read_frames(tmp_path / "frames_scope.bin")
    assert d.damaged == [(2 * CRC_BLOCK, 3 * CRC_BLOCK)] and d.n == n
    assert np.isnan(d.t[2 * CRC_BLOCK:3 * CRC_BLOCK]).all()
    assert np.array_equal(d.t[3 * CRC_BLOCK:], t[3 * CRC_BLOCK:])  # later frames keep k


def test_a_frames_file_that_is_not_one_is_a_one_line_error(tmp_path):
    (tmp_path / "frames_x.bin").write_bytes(b"not frames at all")
    with pytest.raises(DataError, match=r"frames_x.bin: not a rigctl frames file"):
        read_frames(tmp_path / "frames_x.bin")


# --- the session ------------------------------------------------------------------------------
def test_every_frame_the_microscope_emitted_is_counted(imaged):
    result, s, truth, _ = imaged
    n = truth["n_frames"]
    assert n > 30 * 100 and result.frames == {"frame_clock": n}
    assert s.metadata["frames"] == {"frame_clock": n}
    t = s.frames("frame_clock")
    period = 1 / SCOPE["frame_rate_hz"] / (1 + SCOPE["drift_ppm"] * 1e-6)
    assert np.allclose(t, truth["start_s"] + np.arange(n) * period, rtol=0, atol=1e-9)
    assert t[-1] <= truth["session_end_s"] < t[-1] + period
    assert not (s.events["name"] == "frame_clock").any()  # no events.csv row per frame


def test_laser_epochs_map_onto_frame_indices_exactly(imaged):
    _, s, truth, tmp = imaged
    frames = s.frames()
    onsets = laser_epochs(s.events, s.trials)["start_s"].to_numpy(float)
    assert len(onsets) >= 5
    # The rig's own frame record: the frame each onset fell in.
    on_rig = np.searchsorted(frames, onsets, side="right") - 1
    scope = SCOPE["offset_s"] + (1 + SCOPE["drift_ppm"] * 1e-6) * onsets
    expected = np.floor((scope - truth["first_frame_s"]) * SCOPE["frame_rate_hz"]).astype(int)
    assert np.array_equal(on_rig, expected)
    # The microscope's saved frames, aligned through the sync pulses, are the rig's frames
    # less the ones it failed to save: each saved frame finds its own index.
    al = align(session_pulses(s.events), read_times(scope_file(tmp, "sync")))
    saved = al.to_session(read_times(scope_file(tmp, "frames")))
    k = np.searchsorted(frames, saved - 0.5 / SCOPE["frame_rate_hz"])
    assert np.max(np.abs(frames[k] - saved)) < 1e-3
    kept = np.setdiff1d(np.arange(truth["n_frames"]), truth["dropped_frames"])
    assert np.array_equal(k, kept) and len(truth["dropped_frames"]) >= 1


def test_the_cli_prints_the_frame_count(tmp_path, capsys):
    cfg = imaging_config(tmp_path)
    code = main(["run", str(cfg), "--trials", "3", "--seed", "5", "--data",
                 str(tmp_path / "data"), "--no-figure", "--quiet"])
    out = capsys.readouterr().out
    truth = json.loads(scope_file(tmp_path, "truth").read_text())
    assert code == 0 and f"frames: {truth['n_frames']:,}\n" in out


def test_a_frame_clock_faster_than_the_device_is_one_line(tmp_path, capsys):
    cfg = yaml.safe_load(imaging_config(tmp_path).read_text())
    cfg["inputs"]["frame_clock"]["frame_clock"]["max_rate_hz"] = 5000
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code = main(["run", str(path), "--trials", "2", "--data", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert ("fast.yaml: inputs.frame_clock.frame_clock.max_rate_hz: 5000 Hz is faster than "
            "device 'sim' records on sim/frame_clock (2000 Hz") in err
    assert not (tmp_path / "data" / "sim-mouse-1").exists()  # refused before any folder


def test_a_sim_frame_clock_without_a_microscope_driving_it_is_one_line(tmp_path, capsys):
    cfg = yaml.safe_load(imaging_config(tmp_path).read_text())
    del cfg["devices"]["sim"]["microscope"]["frame_out"]
    path = tmp_path / "undriven.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code = main(["run", str(path), "--trials", "2", "--data", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "inputs.frame_clock.frame_clock: device 'sim' records no frame clock" in err
    assert "set devices.sim.microscope.frame_out: frame_clock" in err


def test_recover_keeps_the_frames_of_an_interrupted_session(imaged, tmp_path):
    import shutil

    from rigctl.data.metadata import write_metadata

    result, _, truth, _ = imaged
    folder = tmp_path / result.folder.name
    shutil.copytree(result.folder, folder)
    meta = json.loads((folder / "session.json").read_text())
    meta.update(status="running", pid=2**22 + 4321, end_time=None)
    del meta["frames"]  # as a killed writer leaves it: no final count
    write_metadata(folder / "session.json", meta)
    with open(folder / "frames_frame_clock.bin", "ab") as f:
        f.write(b"\x00" * 9)  # the process died mid-record
    report = recover_session(folder)
    n = truth["n_frames"]
    assert report.frames == {"frame_clock": n}
    assert report.dropped == {"frames_frame_clock.bin": 9}
    assert f"  frames_frame_clock.bin: {n:,} frames kept" in report.lines()
    s = load_session(folder)
    assert s.metadata["frames"] == {"frame_clock": n} and len(s.frames()) == n
    assert (folder / "frames_frame_clock.bin.bak").stat().st_size == \
        os.path.getsize(folder / "frames_frame_clock.bin") + 9


def test_asking_for_frames_of_an_input_without_them_names_what_there_is(imaged):
    _, s, _, _ = imaged
    with pytest.raises(DataError, match=r"no frames of input 'camera' \(frame-clock inputs "
                                        r"recorded: frame_clock\)"):
        s.frames("camera")


# --- NWB ------------------------------------------------------------------------------------
def test_nwb_puts_trials_laser_epochs_and_every_frame_on_one_clock(imaged, capsys):
    pynwb = pytest.importorskip("pynwb")
    nwbinspector = pytest.importorskip("nwbinspector")
    from ndx_optogenetics import OptogeneticEpochsTable, OptogeneticExperimentMetadata

    from rigctl.data.align import load_alignment
    from rigctl.data.nwb import export_nwb

    _, s, truth, tmp = imaged
    assert main(["align", str(s.path), str(scope_file(tmp, "sync")), "--force"]) == 0
    capsys.readouterr()
    path = export_nwb(s.path, tmp / "imaged.nwb", overwrite=True)
    bad = [msg for msg in nwbinspector.inspect_nwbfile(nwbfile_path=str(path))
           if msg.importance.name in ("CRITICAL", "BEST_PRACTICE_VIOLATION", "ERROR")]
    assert not bad, [f"{b.check_function_name}: {b.message}" for b in bad]
    al = load_alignment(s.path)
    frames = s.frames()
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        table = nwb.events["frames_frame_clock"].to_dataframe()
        assert len(table) == truth["n_frames"]
        assert np.array_equal(table["timestamp"], frames)
        assert np.array_equal(table["frame"], np.arange(len(frames)))
        assert np.allclose(table["t_other_s"], al.to_other(frames))
        epochs_table = nwb.intervals["laser_epochs"]
        assert isinstance(epochs_table, OptogeneticEpochsTable)
        epochs = epochs_table.to_dataframe()
        trials = nwb.trials.to_dataframe()
        on = epochs[epochs["stimulation_on"]]
        assert len(on) >= 5 and (on["power_in_mW"] == 5).all()
        assert (on["wavelength_in_nm"] == 593).all()
        # One clock: every laser epoch lies inside a trial and on the frame it fell in.
        k = np.searchsorted(trials["start_time"], on["start_time"], side="right") - 1
        assert (on["start_time"].to_numpy() < trials["stop_time"].to_numpy()[k]).all()
        start = on["start_time"].to_numpy()
        assert np.array_equal(on["start_frame"], np.searchsorted(frames, start, "right") - 1)
        assert (frames[on["start_frame"]] <= start).all()
        assert (start < frames[on["start_frame"] + 1]).all()
        meta = nwb.lab_meta_data["optogenetic_experiment_metadata"]
        assert isinstance(meta, OptogeneticExperimentMetadata)
        sites = meta.optogenetic_sites_table
        assert sites["effector"][0].label == "ArchT"
        cmd = nwb.stimulus["laser_command"]
        sig = s.signals
        assert cmd.data.shape[0] == sig.n_samples  # streamed whole from signals.bin
        assert np.allclose(cmd.data[:1000], sig.data["laser_mw"][:1000])


def test_check_lists_the_frame_clock_as_frames_not_events(capsys):
    assert main(["check", str(IMAGING)]) == 0
    out = capsys.readouterr().out
    assert ("  frames   frame_clock: sim/frame_clock  frame clock up to 1000 Hz -> "
            "frames_frame_clock.bin") in out
    assert "events frame_clock" not in out
