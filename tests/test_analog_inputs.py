"""Named analog inputs (rig config ``analog_inputs:``): routed by name, recorded, simulated."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rigctl.engine.loop import ControlLoop
from rigctl.hardware.events import QueueEventSource
from rigctl.hardware.interfaces import InputEvent, SignalChunk
from rigctl.predictor.settings import PredictorSettings
from rigctl.runtime.analog import AnalogInputs
from rigctl.runtime.signals import SignalPipeline
from rigctl.timing.clock import VirtualClock
from rigctl.timing.timers import Timers


def _loop(clock: VirtualClock, source: QueueEventSource, logged: list) -> ControlLoop:
    loop = ControlLoop(clock, source, Timers(), None,
                       lambda *a: logged.append(a), watch=False)
    dispatched: list[InputEvent] = []
    loop.signals = SignalPipeline(PredictorSettings(), 1000.0, clock, source,
                                  laser=lambda: (0.0, 0.0), dispatch=dispatched.append,
                                  log=lambda *a: logged.append(a))
    loop.signals.recorders.append(lambda first, block: dispatched.append(first))
    loop.analog = AnalogInputs(log=lambda *a: logged.append(a))
    return loop


def test_an_analog_input_not_named_neural_signal_never_reaches_the_predictor():
    clock = VirtualClock()
    source = QueueEventSource(clock)
    logged: list = []
    loop = _loop(clock, source, logged)
    heard: list[SignalChunk] = []
    loop.analog.listen("wheel", heard.append)
    # A wheel spinning hard: far above anything the predictor expects of a neural signal.
    for k in range(3):
        source.put_signal(SignalChunk(t0=k * 0.005, first=k * 5, samples=np.full(5, 50.0),
                                      rate_hz=1000.0, name="wheel"))
    loop.serve(until=0.0)
    assert loop.signals.next_sample == 0  # the predictor saw no sample
    assert not any("gap" in str(x) for x in logged)
    assert [c.first for c in heard] == [0, 5, 10]


def test_the_neural_signal_still_reaches_the_predictor_and_not_the_analog_listeners():
    clock = VirtualClock()
    source = QueueEventSource(clock)
    logged: list = []
    loop = _loop(clock, source, logged)
    heard: list[SignalChunk] = []
    loop.analog.listen("wheel", heard.append)
    source.put_signal(SignalChunk(t0=0.0, first=0, samples=np.full(5, 0.2), rate_hz=1000.0))
    loop.serve(until=0.0)
    assert loop.signals.next_sample == 5
    assert heard == []


def test_a_gap_in_an_analog_input_is_logged_once_with_its_name():
    clock = VirtualClock()
    source = QueueEventSource(clock)
    logged: list = []
    loop = _loop(clock, source, logged)
    source.put_signal(SignalChunk(t0=0.0, first=0, samples=np.zeros(5), rate_hz=1000.0,
                                  name="wheel"))
    source.put_signal(SignalChunk(t0=0.01, first=10, samples=np.zeros(5), rate_hz=1000.0,
                                  name="wheel"))
    loop.serve(until=0.0)
    gaps = [x for x in logged if x[1] == "warning"]
    assert len(gaps) == 1 and gaps[0][2] == "wheel" and "expected sample 5, got 10" in gaps[0][3]


def _recorded_session(tmp_path, chunks, close=True):
    from rigctl.data.writer import create_session
    from rigctl.engine.analog import AnalogRecorder

    writer = create_session(tmp_path, "m1", "task", "rig", {
        "analog_inputs": {"wheel": {"file": "analog_wheel.bin", "rate_hz": 100.0,
                                    "unit": "cm/s"}}})
    rec = AnalogRecorder(lambda t0: writer.open_analog("wheel", 100.0, t0, "cm/s"),
                         flush_s=0.5)
    for c in chunks:
        rec(c)
    if close:
        writer.close("completed")
    return writer


def test_analog_samples_are_recorded_with_their_times_and_a_gap_reads_as_nan(tmp_path):
    from rigctl.data.loader import load_session

    chunks = [SignalChunk(t0=0.25 + k / 100, first=k, samples=np.arange(k, k + 10, dtype=float),
                          rate_hz=100.0, name="wheel") for k in (0, 10, 30)]
    writer = _recorded_session(tmp_path, chunks)
    data = load_session(writer.folder)
    assert data.status == "completed" and not data.warnings
    assert data.analog_inputs == ["wheel"]
    t, x = data.analog("wheel")
    assert len(x) == 40 and t[0] == 0.25 and np.isclose(t[39], 0.25 + 0.39)
    assert np.array_equal(x[:20], np.arange(20)) and np.isnan(x[20:30]).all()
    assert np.array_equal(x[30:], np.arange(30, 40))
    assert data.analog("wheel").unit == "cm/s"
    assert (writer.folder / "analog_wheel.crc").is_file()


def test_a_damaged_analog_block_is_reported_and_a_torn_record_recovered(tmp_path):
    import json

    from rigctl.data.loader import load_session
    from rigctl.data.metadata import write_metadata
    from rigctl.data.recover import recover_session
    from rigctl.data.signals import read_header

    chunks = [SignalChunk(t0=0.0, first=0, samples=np.ones(3000), rate_hz=100.0,
                          name="wheel")]
    writer = _recorded_session(tmp_path, chunks)
    path = writer.folder / "analog_wheel.bin"
    head = read_header(path)
    raw = bytearray(path.read_bytes())
    raw[head.data_offset + 4 * 1500] ^= 0xFF  # one byte of block 1 (samples 1024-2047)
    path.write_bytes(bytes(raw))
    data = load_session(writer.folder)
    assert data.status == "damaged"
    assert [str(d) for d in data.damage] == [
        "analog_wheel.bin: samples 1024-2047: checksum mismatch (read as NaN)"]
    x = data.analog("wheel").samples
    assert np.isnan(x[1024:2048]).all() and (x[:1024] == 1).all() and (x[2048:] == 1).all()
    # a torn last record (the process died mid-append) is cut by `rigctl recover`
    with open(path, "ab") as f:
        f.write(b"\0\0")
    meta = json.loads((writer.folder / "session.json").read_text())
    meta.update(status="running", pid=2**22 + 4321, end_time=None)
    write_metadata(writer.folder / "session.json", meta)
    report = recover_session(writer.folder)
    assert report.dropped == {"analog_wheel.bin": 2}
    assert read_header(path).torn_bytes == 0
    assert len(load_session(writer.folder).analog("wheel")) == 3000


def test_an_unknown_analog_name_is_one_line_naming_what_was_recorded(tmp_path):
    import pytest

    from rigctl.data.loader import load_session
    from rigctl.errors import DataError

    writer = _recorded_session(tmp_path, [])
    data = load_session(writer.folder)
    assert len(data.analog("wheel")) == 0  # listed, but no sample arrived
    with pytest.raises(DataError,
                       match=r"no analog input .whee1. in this session \(recorded: wheel\)"):
        data.analog("whee1")


WHEEL_RIG = """
name: wheel-rig
devices:
  sim: {type: sim}
reward_ports:
  left:
    valve: {channel: sim/valve_left, max_open_s: 0.5}
    lick_sensor: {channel: sim/lick_left}
    calibration: {points: [[10, 1.0], [100, 12.0]], date: "2026-11-27"}
analog_inputs:
  wheel: {channel: sim/wheel, rate_hz: RATE, unit: cm/s}
"""


def _wheel_session(tmp_path, rate=100, seed=3, realtime=False, **sim):
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import Subject, load_rig
    from rigctl.engine.session import Session, SessionOptions

    path = tmp_path / "wheel.yaml"
    path.write_text(WHEEL_RIG.replace("RATE", str(rate)))
    cfg = load_rig(str(path))
    if sim:
        cfg = cfg.model_copy(update={"devices": {"sim": cfg.devices["sim"].model_copy(
            update=sim)}})
    spec = resolve_protocol(str(TASKS / "wheel_threshold.py"), cfg, str(path), None)
    return Session(cfg, SessionOptions(subject=Subject(id="m1"), protocol=spec,
                                       data_root=tmp_path / "data", seed=seed,
                                       summary_figure=False, agent="none",
                                       realtime=realtime))


def test_the_simulated_wheel_is_recorded_seeded_and_the_same_however_time_is_cut():
    from sim_backend.wheel import SimWheel, WheelSettings

    seed = np.random.SeedSequence(5)
    whole = SimWheel(WheelSettings(), 100.0, seed).samples(0, 6000)
    cut = SimWheel(WheelSettings(), 100.0, seed)
    pieces = np.concatenate([cut.samples(a, b - a) for a, b in
                             [(0, 1), (1, 700), (700, 701), (701, 6000)]])
    assert np.array_equal(whole, pieces)
    assert whole.min() >= 0 and whole.max() > 10  # it rests and it runs in a minute
    assert (whole < 2).mean() > 0.2
    other = SimWheel(WheelSettings(), 100.0, np.random.SeedSequence(6)).samples(0, 6000)
    assert not np.array_equal(whole, other)


TASKS = Path(__file__).parent / "compat" / "tasks"
ROOT = Path(__file__).resolve().parents[1]


def test_a_pycontrol_rotary_encoder_fires_at_the_crossings_of_the_recorded_samples(tmp_path):
    import pandas as pd

    from rigctl.data.loader import load_session

    session = _wheel_session(tmp_path)
    session.timers.set_at(120.0, session.protocol.finish)
    result = session.run()
    assert result.status == "completed"
    data = load_session(result.folder)
    t, x = data.analog("wheel")
    assert len(x) == 12000 and data.analog("wheel").unit == "cm/s"
    above = x > 10
    ups = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    downs = np.flatnonzero(~above[1:] & above[:-1]) + 1
    assert len(ups) >= 2  # the simulated subject ran in two minutes
    (tsv_path,) = result.folder.glob("*.tsv")
    tsv = pd.read_csv(tsv_path, sep="\t", keep_default_na=False)
    ev = tsv[tsv["type"] == "event"]
    assert list(ev[ev["content"] == "running"]["time"]) == [round(t[k], 3) for k in ups]
    assert list(ev[ev["content"] == "stopped"]["time"]) == [round(t[k], 3) for k in downs]
    # pyControl's analog data files: the same samples, times since the run start
    (npy,) = result.folder.glob("*_wheel.data.npy")
    times = np.load(str(npy).replace(".data.npy", ".time.npy"))
    assert np.array_equal(np.load(npy), x) and np.allclose(times, np.asarray(t))
    assert not list(result.folder.glob("*.tmp"))
    assert data.metadata["analog_inputs"]["wheel"]["file"] == "analog_wheel.bin"


def test_the_simulated_rig_refuses_a_rate_off_its_grid_naming_the_field(tmp_path):
    import pytest

    from rigctl.errors import DeviceError

    with pytest.raises(DeviceError) as exc:
        _wheel_session(tmp_path, rate=300)
    msg = str(exc.value)
    assert msg.startswith("analog_inputs.wheel: device 'sim': rate_hz 300") and "\n" not in msg


def test_an_analog_input_on_a_device_that_cannot_sample_is_one_line_naming_the_field(
        tmp_path, capsys):
    import yaml

    from rigctl.cli import main

    cfg = yaml.safe_load((ROOT / "hardware_configs" / "serial_sim.yaml").read_text())
    cfg["analog_inputs"] = {"wheel": {"channel": "ctrl/ai0", "rate_hz": 100}}
    cfg["data_root"] = str(tmp_path / "data")
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code = main(["run", str(path), "--seed", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 3, err  # a device refused: rigctl's exit code for device errors
    assert err.count("\n") == 0 and "analog_inputs.wheel" in err and "no analog input" in err
    assert not (tmp_path / "data").exists()


def test_an_analog_input_cannot_be_named_neural_signal(tmp_path):
    import pytest

    from rigctl.config import load_rig
    from rigctl.errors import ConfigError

    path = tmp_path / "rig.yaml"
    path.write_text(WHEEL_RIG.replace("RATE", "100").replace("  wheel:", "  neural_signal:"))
    with pytest.raises(ConfigError, match="analog_inputs.*neural_signal"):
        load_rig(str(path))


def test_an_unbound_analog_input_is_one_line_before_the_run(tmp_path):
    import pytest

    from rigctl.compat.pycontrol import PyControlBinding, load_task
    from rigctl.config import load_rig
    from rigctl.config.subject import Subject
    from rigctl.engine.session import Session, SessionOptions
    from rigctl.errors import RigctlError

    sim = ROOT / "hardware_configs" / "sim.yaml"
    spec = load_task(TASKS / "wheel_threshold.py", PyControlBinding(pins={}, unbound="error"))
    with pytest.raises(RigctlError) as exc:
        Session(load_rig(str(sim)), SessionOptions(subject=Subject(id="m1"), protocol=spec,
                                                   data_root=tmp_path, agent="none"))
    msg = str(exc.value)
    assert "\n" not in msg and "Analog_input/Rotary_encoder 'wheel' is bound to no rig input" in msg
    assert "analog_inputs: {wheel:" in msg


def test_on_the_wall_clock_the_simulated_wheel_arrives_in_chunks_without_gaps(tmp_path):
    from rigctl.data.loader import load_session

    session = _wheel_session(tmp_path, realtime=True)
    session.timers.set_at(0.4, session.protocol.finish)
    result = session.run()
    data = load_session(result.folder)
    t, x = data.analog("wheel")
    assert result.status == "completed" and len(x) >= 40  # however late a loaded host ends it
    assert t[0] == 0.0 and not np.isnan(x).any()
    assert not data.events["value"].str.contains("signal gap").any()


def test_an_analog_input_is_exported_to_nwb_and_passes_nwbinspector(tmp_path):
    import pytest

    pynwb = pytest.importorskip("pynwb")
    nwbinspector = pytest.importorskip("nwbinspector")
    from rigctl.data.loader import load_session
    from rigctl.data.nwb import export_nwb

    session = _wheel_session(tmp_path)
    session.timers.set_at(60.0, session.protocol.finish)
    folder = session.run().folder
    path = export_nwb(folder)
    bad = [m for m in nwbinspector.inspect_nwbfile(nwbfile_path=str(path))
           if m.importance.name in {"CRITICAL", "PYNWB_VALIDATION", "ERROR",
                                    "BEST_PRACTICE_VIOLATION"}]
    assert not bad, [m.message for m in bad]
    t, x = load_session(folder).analog("wheel")
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        ts = io.read().acquisition["wheel"]
        assert np.array_equal(ts.data[:], x) and ts.unit == "cm/s" and ts.rate == 100.0
        assert ts.starting_time == t[0]


def _sim_with_wheel(tmp_path, stepped: bool):
    import yaml

    from rigctl.compat.pycontrol import default_binding, load_task
    from rigctl.config import load_rig
    from rigctl.config.subject import Subject
    from rigctl.engine.session import Session, SessionOptions

    cfg = yaml.safe_load((ROOT / "hardware_configs" / "sim.yaml").read_text())
    cfg["analog_inputs"] = {"wheel": {"channel": "sim/wheel", "rate_hz": 200, "unit": "cm/s"}}
    if stepped:
        cfg["devices"]["sim"]["max_chunk_samples"] = 1
    path = tmp_path / ("stepped.yaml" if stepped else "jumping.yaml")
    path.write_text(yaml.safe_dump(cfg))
    spec = load_task(TASKS / "wheel_threshold.py", default_binding())
    session = Session(load_rig(str(path)), SessionOptions(
        subject=Subject(id="m1"), protocol=spec, data_root=tmp_path / path.stem, seed=4,
        summary_figure=False, agent="none"))
    session.timers.set_at(40.0, session.protocol.finish)
    return session.run().folder


def test_with_a_neural_signal_too_virtual_time_equals_millisecond_stepping(tmp_path):
    from rigctl.data.loader import load_session

    a = load_session(_sim_with_wheel(tmp_path, stepped=False))
    b = load_session(_sim_with_wheel(tmp_path, stepped=True))
    assert (a.events["name"] == "wheel").sum() >= 2  # the wheel crossed its threshold
    assert a.events.equals(b.events)
    assert np.array_equal(a.analog("wheel").samples, b.analog("wheel").samples)
    assert np.array_equal(a.signals.data["neural_signal"], b.signals.data["neural_signal"])
    assert a.signals.n_samples == 40000 and len(a.analog("wheel")) == 8000
    t, x = a.analog("wheel")
    above = x > 10
    ups = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    rows = a.events[(a.events["name"] == "wheel") & a.events["value"].str.startswith("1")]
    assert np.allclose(rows["t_s"].to_numpy(float), [t[k] for k in ups])
