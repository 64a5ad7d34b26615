"""NWB export: passes nwbinspector, reads back to the same trials, signals and laser data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rigctl.cli import main
from rigctl.data import load_session
from rigctl.data.events import laser_epochs, licks, valve_openings
from tests.conftest import run_sim
from tests.test_data_synth import run_with_recorded_signals

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")

from rigctl.data.nwb import export_nwb, read_nwb_trials  # noqa: E402 - after the skip

BAD = {"CRITICAL", "PYNWB_VALIDATION", "ERROR", "BEST_PRACTICE_VIOLATION"}


def _inspect(path) -> list:
    messages = list(nwbinspector.inspect_nwbfile(nwbfile_path=str(path)))
    return [m for m in messages if m.importance.name in BAD]


@pytest.fixture(scope="module")
def closed_loop(tmp_path_factory):
    """A simulated closed-loop session with its recorded signals, exported once."""
    tmp = tmp_path_factory.mktemp("cl")
    folder = run_with_recorded_signals(
        tmp, 21, {"n_trials": 16, "stim_mode": "closed_loop", "delays_s": [2, 10]},
        subject={"id": "KO7", "genotype": "ip3r2_ko", "treatment": "cno"})
    return folder, export_nwb(folder)


def test_closed_loop_export_passes_nwbinspector(closed_loop):
    _, path = closed_loop
    assert path.name.startswith("KO7_") and path.suffix == ".nwb"
    bad = _inspect(path)
    assert not bad, [f"{m.importance.name} {m.check_function_name}: {m.message}" for m in bad]


def test_export_reads_back_to_the_same_trials_and_metadata(closed_loop):
    folder, path = closed_loop
    s = load_session(folder)
    pd.testing.assert_frame_equal(read_nwb_trials(path), s.trials)
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.subject.subject_id == "KO7"
        assert "IP3R2" in nwb.subject.genotype and "cno" in nwb.subject.description
        assert nwb.subject.species == "Mus musculus"
        proto = json.loads(nwb.protocol)
        assert proto["parameters"] == s.metadata["protocol"]["parameters"]
        collection = json.loads(nwb.data_collection)
        assert collection["rig"] == s.metadata["rig"] and collection["seed"] == 21
        notes = json.loads(nwb.notes)
        assert notes["status"] == "completed" and "provenance" in notes
        assert nwb.session_start_time.isoformat(timespec="seconds") == s.metadata["start_time"]
        assert nwb.experiment_description.startswith("Delayed alternation")
        assert "chosen in real time" in nwb.experiment_description
        assert "closed loop" in nwb.keywords[:]


def test_export_holds_signals_laser_and_events(closed_loop):
    folder, path = closed_loop
    s = load_session(folder)
    sig = s.signals
    assert sig is not None
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        neural = nwb.acquisition["neural_signal"]
        assert neural.neurodata_type == "FiberPhotometryResponseSeries"
        assert neural.rate == sig.rate_hz and neural.starting_time == sig.t0_s
        assert np.array_equal(neural.data[:], sig.data["neural_signal"])
        for name in ("calcium", "gliotransmission"):
            assert np.array_equal(nwb.processing["ogen"][name].data[:], sig.data[name])
        cmd = nwb.stimulus["laser_command"]
        assert cmd.unit == "watts"
        assert np.allclose(cmd.data[:] * cmd.conversion, sig.data["laser_mw"] * 1e-3)
        site = cmd.site
        laser_cfg = s.metadata["rig"]["laser"]
        assert site.excitation_lambda == laser_cfg["wavelength_nm"]
        assert site.location == laser_cfg["fibre_location"]
        assert laser_cfg["opsin"] in site.description
        assert "15" in site.device.description  # the power ceiling
        epochs = nwb.intervals["laser_epochs"].to_dataframe()
        expected = laser_epochs(s.events, s.trials)
        assert len(epochs) == len(expected) > 0
        assert np.allclose(epochs["start_time"], expected["start_s"])
        assert np.allclose(epochs["stop_time"], expected["stop_s"])
        assert list(epochs["trial"]) == [int(t) for t in expected["trial"]]
        lk = nwb.events["licks"].to_dataframe()
        assert len(lk) == len(licks(s.events))
        assert len(nwb.events["valve_openings"].to_dataframe()) == len(
            valve_openings(s.events))
        log = nwb.events["rig_event_log"].to_dataframe()
        assert len(log) == len(s.events) and list(log["event_name"][:3]) == list(
            s.events["name"][:3])


def test_sham_session_without_signals_exports_the_commands(make_config, tmp_path):
    no_signal = make_config({"neural_signal": None})
    result, data, _ = run_sim(no_signal, tmp_path, seed=5,
                              params={"n_trials": 10, "stim_mode": "sham",
                                      "sham_rule": "open_loop"})
    path = export_nwb(result.folder, tmp_path / "out.nwb",
                      extra={"age": "P12W", "sex": "F", "experimenter": "Doe, Jane"})
    assert not _inspect(path)
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.subject.age == "P12W" and nwb.subject.sex == "F"
        assert "neural_signal" not in nwb.acquisition
        cmd = nwb.stimulus["laser_command"]
        assert cmd.timestamps is not None and np.all(cmd.data[:] == 0)  # sham: no light
        epochs = nwb.intervals["laser_epochs"].to_dataframe()
        assert epochs["sham"].all()
        assert len(epochs) == int((data.trials["trial_type"] == "laser").sum())


def _cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_export_refuses_crashed_until_recovered_and_existing_files(capsys, sim_yaml,
                                                                       tmp_path):
    result, _, _ = run_sim(sim_yaml, tmp_path, seed=6, params={"n_trials": 5})
    folder = result.folder
    meta = json.loads((folder / "session.json").read_text())
    meta.update(status="running", pid=2**22 + 99)
    (folder / "session.json").write_text(json.dumps(meta))
    code, _, err = _cli(capsys, "export", str(folder), "--nwb")
    assert code == 2 and err.count("\n") == 1 and "rigctl recover" in err
    assert _cli(capsys, "recover", str(folder))[0] == 0
    code, out, _ = _cli(capsys, "export", str(folder), "--nwb")
    assert code == 0 and "nwb: " in out
    nwb_path = out.split("nwb: ")[1].split("\n")[0]
    assert not _inspect(nwb_path)
    code, _, err = _cli(capsys, "export", str(folder), "--nwb")
    assert code == 2 and "already exists" in err and "Traceback" not in err
    assert _cli(capsys, "export", str(folder), "--nwb", "--force")[0] == 0
    code, _, err = _cli(capsys, "export", str(folder))
    assert code == 2 and "--nwb" in err



def test_imaged_session_puts_trials_laser_and_frames_on_one_clock(tmp_path, capsys):
    """Done-when of issue 16: sync pulses, frames and alignment in the NWB file, laser epochs
    on frame indices, nwbinspector clean."""
    from rigctl.data.align import load_alignment
    from tests.test_align_cli import imaged_session

    folder, files = imaged_session(tmp_path, 23, {"n_trials": 12, "delays_s": [2, 5],
                                                  "stim_mode": "closed_loop"})
    assert _cli(capsys, "align", str(folder), str(files["sync"]), "--frames",
                str(files["frames"]))[0] == 0
    path = export_nwb(folder)
    bad = _inspect(path)
    assert not bad, [f"{m.importance.name} {m.check_function_name}: {m.message}" for m in bad]
    s = load_session(folder)
    al = load_alignment(folder)
    frames = pd.read_csv(folder / "frame_times.csv")
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        pulses = nwb.events["sync_pulses"].to_dataframe()
        sent = s.events[(s.events["kind"] == "sync") & (s.events["value"].astype(str) == "1")]
        assert len(pulses) == len(sent) and np.allclose(pulses["duration"], 0.05)
        imaged = nwb.events["imaging_frames"].to_dataframe()
        assert len(imaged) == len(frames)
        assert np.allclose(imaged["timestamp"], frames["t_s"])
        assert f"{al.drift_ppm:.3f} ppm" in nwb.events["imaging_frames"].description
        assert json.loads(nwb.notes)["alignment"]["n_matched"] == al.n_matched
        epochs = nwb.intervals["laser_epochs"].to_dataframe()
        assert len(epochs) > 0
        idx = al.frame_index(epochs["start_time"], frames["t_other_s"])
        assert list(epochs["start_frame"]) == list(frames["frame"].to_numpy()[idx])


@pytest.mark.parametrize(("config", "task", "start"), [
    ("sim.yaml", "go_nogo.py", "start_s"), ("sim_tmaze.yaml", "t_maze.py", "poke_s")])
def test_a_task_with_its_own_trial_record_exports_its_columns_docs_and_units(tmp_path, config,
                                                                             task, start):
    """The trials table takes its columns, descriptions and units from session.json's
    trial_schema; a record without end_s stops each trial at the next one's start."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result, s, _ = run_sim(root / "hardware_configs" / config, tmp_path, seed=5,
                           protocol=str(root / "examples" / "tasks" / task),
                           params={"n_trials": 6})
    schema = s.metadata["trial_schema"]
    assert "end_s" not in {c["name"] for c in schema} and len(s.trials) == 6
    path = export_nwb(result.folder)
    bad = _inspect(path)
    assert not bad, [f"{m.importance.name} {m.check_function_name}: {m.message}" for m in bad]
    pd.testing.assert_frame_equal(read_nwb_trials(path, schema), s.trials)
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        table = nwb.trials
        described = {c.name: c.description for c in table.columns}
        got = table.to_dataframe()
        # the file says which task ran, and claims no light or delay the task did not have
        name = s.metadata["protocol"]["name"]
        assert name in nwb.experiment_description and task in nwb.experiment_description
        assert "astrocytes" not in nwb.experiment_description
        assert "optogenetics" not in nwb.keywords[:]
        assert nwb.stimulus_notes.startswith("No optogenetic stimulation")
        assert "stimulation" not in nwb.session_description
    for c in schema:
        if c["name"] == "start_s":
            continue  # it is start_time
        text = described[c["name"]]
        assert text.startswith(c["doc"]) and (f"({c['unit']})" in text) == bool(c["unit"])
    starts = s.trials[start].to_numpy(float)
    assert np.array_equal(got["start_time"].to_numpy(), starts)
    assert np.array_equal(got["stop_time"].to_numpy()[:-1], starts[1:])
    assert got["stop_time"].iloc[-1] == pytest.approx(float(s.events["t_s"].max()))
    assert "declares no end_s" in table.description
