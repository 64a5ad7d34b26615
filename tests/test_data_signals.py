"""signals.bin: round trips, refused gaps, torn records, foreign and newer files."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigctl.data import SessionWriter, SignalWriter, load_session, read_signals
from rigctl.data.signals import SIGNALS_FILE, read_header
from rigctl.errors import DataError
from rigctl.protocols.trial import TrialRecord

CH = ("neural_signal", "calcium", "gliotransmission", "laser_mw")


def _data(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, len(CH))).astype(np.float32)


def test_round_trip_with_time_base_and_units(tmp_path):
    data = _data(2500)
    with SignalWriter(tmp_path / "s.bin", CH, 1000.0, t0_s=0.25) as w:
        w.append(0, data[:1000])
        w.append(1000, data[1000:])
        w.append(2500, data[:0])  # empty blocks are fine
    s = read_signals(tmp_path / "s.bin")
    assert s.channels == CH and s.rate_hz == 1000.0 and s.n_samples == 2500 and not s.warnings
    assert s.t[0] == 0.25 and s.t[-1] == pytest.approx(0.25 + 2.499)
    for i, c in enumerate(CH):
        assert np.array_equal(s.data[c], data[:, i])
    assert s.units["laser_mw"] == "mW" and s.units["calcium"] == "a.u."
    m = read_signals(tmp_path / "s.bin", mmap=True)
    assert np.array_equal(m.data["calcium"], data[:, 1])
    assert s.window(0.25 + 1.0, 0.25 + 1.5) == slice(1000, 1500)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 70), min_size=1, max_size=12), st.integers(1, 5))
def test_any_split_into_blocks_gives_the_same_file(tmp_path_factory, sizes, width):
    tmp = tmp_path_factory.mktemp("split")
    channels = [f"c{i}" for i in range(width)]
    data = np.arange(sum(sizes) * width, dtype=np.float32).reshape(-1, width)
    with SignalWriter(tmp / "a.bin", channels, 500.0) as w:
        k = 0
        for n in sizes:
            w.append(k, data[k:k + n])
            k += n
    with SignalWriter(tmp / "b.bin", channels, 500.0) as w:
        w.append(0, data)
    assert (tmp / "a.bin").read_bytes() == (tmp / "b.bin").read_bytes()
    s = read_signals(tmp / "a.bin")
    assert np.array_equal(np.column_stack([s.data[c] for c in channels]).reshape(-1, width), data)


def test_gap_overlap_and_bad_shapes_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "s.bin"
    w = SignalWriter(path, CH, 1000.0)
    w.append(0, _data(10))
    with pytest.raises(DataError, match=rf"{path}.*sample 12 but 10 samples"):
        w.append(12, _data(5))
    with pytest.raises(DataError, match="gap or overlap"):
        w.append(5, _data(5))
    with pytest.raises(DataError, match=r"shape \(5, 3\)"):
        w.append(10, _data(5)[:, :3])
    with pytest.raises(DataError, match="shape"):
        w.append(10, np.zeros(4))
    w.pad_to(15)
    w.append(15, _data(1))
    with pytest.raises(DataError, match="cannot pad back"):
        w.pad_to(3)
    w.close()
    w.close()
    with pytest.raises(DataError, match="append after close"):
        w.append(16, _data(1))
    s = read_signals(path)
    assert s.n_samples == 16 and np.isnan(s.data["calcium"][10:15]).all()
    with pytest.raises(DataError, match="already exists"):
        SignalWriter(path, CH, 1000.0)
    with pytest.raises(DataError, match="distinct"):
        SignalWriter(tmp_path / "x.bin", ["a", "a"], 1000.0)
    with pytest.raises(DataError, match="rate"):
        SignalWriter(tmp_path / "y.bin", ["a"], 0.0)


def test_torn_last_record_is_dropped_with_a_warning(tmp_path):
    path = tmp_path / "s.bin"
    data = _data(100)
    with SignalWriter(path, CH, 1000.0) as w:
        w.append(0, data)
    with open(path, "ab") as f:
        f.write(b"\x01\x02\x03\x04\x05\x06\x07")  # a record cut by a crash
    s = read_signals(path)
    assert s.n_samples == 100 and np.array_equal(s.data["laser_mw"], data[:, 3])
    assert s.warnings == ["s.bin: dropped a torn last record (7 bytes; 100 whole samples kept)"]


def test_foreign_corrupt_and_newer_files_are_one_line_errors(tmp_path):
    path = tmp_path / "s.bin"
    path.write_bytes(b"hello, not signals at all")
    with pytest.raises(DataError, match="not a rigctl signals file"):
        read_signals(path)
    with SignalWriter(tmp_path / "ok.bin", CH, 1000.0):
        pass
    raw = bytearray((tmp_path / "ok.bin").read_bytes())
    newer = bytes(raw[:8]) + struct.pack("<I", 99) + bytes(raw[12:])
    path.write_bytes(newer)
    with pytest.raises(DataError, match="newer than this rigctl"):
        read_signals(path)
    path.write_bytes(bytes(raw[:40]))  # header cut short
    with pytest.raises(DataError, match="corrupt header"):
        read_signals(path)
    broken = bytes(raw[:16]) + b"x" + bytes(raw[17:])
    path.write_bytes(broken)
    with pytest.raises(DataError, match="corrupt header"):
        read_header(path)


def test_session_writer_owns_the_signals_and_syncs_them_with_each_trial(tmp_path):
    folder = tmp_path / "session"
    w = SessionWriter(folder, {"subject": {"id": "M1"}, "seed": 1})
    sig = w.open_signals(CH, 1000.0)
    with pytest.raises(DataError, match="already open"):
        w.open_signals(CH, 1000.0)
    sig.append(0, _data(300))
    w.log_event(0.1, "input", "lick_left", "1", device_t=12.5)
    w.write_trial(TrialRecord(trial=1, start_s=0.0, end_s=0.3, trial_type="sample"))
    # After the trial, the samples are on disk (flushed) while the session is still open.
    assert read_header(folder / SIGNALS_FILE).n_samples == 300
    w.close("completed")
    assert sig.closed
    s = load_session(folder)
    assert s.signals is not None and s.signals.n_samples == 300
    assert s.events["device_t_s"].tolist() == [12.5]
    assert s.signals_header is not None and s.signals_header.channels == CH


def test_a_damaged_signals_file_costs_no_trials_but_blocks_export(capsys, sim_yaml, tmp_path):
    from rigctl.cli import main
    from tests.conftest import run_sim

    result, _, _ = run_sim(sim_yaml, tmp_path, seed=2, params={"n_trials": 3})
    (result.folder / SIGNALS_FILE).write_bytes(b"garbage")
    s = load_session(result.folder)
    assert len(s.trials) == 3 and s.signals is None
    assert any("signals.bin ignored" in w and "bad magic" in w for w in s.warnings)
    pytest.importorskip("pynwb")
    assert main(["export", str(result.folder), "--nwb"]) == 2
    assert "not a rigctl signals file" in capsys.readouterr().err


# --- bounded memory: the memory-mapped and chunked reads give what the in-memory read gives ----
def _damaged_file(tmp_path, n: int = 5000):
    from rigctl.data.signals import CRC_BLOCK

    path = tmp_path / SIGNALS_FILE
    data = _data(n, seed=4)
    with SignalWriter(path, CH, 1000.0, t0_s=0.5) as w:
        w.append(0, data)
    raw = bytearray(path.read_bytes())
    offset = len(raw) - data.nbytes
    raw[offset + (CRC_BLOCK + 7) * 16 + 4] ^= 0x01  # a bit in block 1
    path.write_bytes(bytes(raw))
    return path, data


def test_memory_mapped_and_chunked_reads_equal_the_in_memory_read(tmp_path):
    from rigctl.data.signals import CRC_BLOCK, check_signals

    path, data = _damaged_file(tmp_path)
    on_disk = path.read_bytes()
    full = read_signals(path)  # the whole file in memory, as the loader read it before
    mapped = read_signals(path, mmap=True)
    assert full.damaged == mapped.damaged == [(CRC_BLOCK, 2 * CRC_BLOCK)]
    assert full.warnings == mapped.warnings and any("checksum mismatch" in w
                                                    for w in mapped.warnings)
    for c in CH:
        assert np.array_equal(mapped.data[c], full.data[c], equal_nan=True)
        assert np.isnan(mapped.data[c][CRC_BLOCK:2 * CRC_BLOCK]).all()
        for size in (1, 999, CRC_BLOCK, 10_000):
            pieces = list(mapped.chunks(c, size))
            assert all(p.size <= size for p in pieces)
            assert np.array_equal(np.concatenate(pieces), full.data[c], equal_nan=True)
        assert np.array_equal(mapped.read(c, 1000, 1100), full.data[c][1000:1100],
                              equal_nan=True)
    with pytest.raises(ValueError):
        mapped.data["calcium"][0] = 1.0  # the copy-on-write map is read-only to callers
    del mapped.data, full.data
    assert path.read_bytes() == on_disk  # the NaN over the damaged block never reached the file
    mapped = read_signals(path, mmap=True)
    # Sample times: computed on demand, equal to the explicit formula.
    expect_t = 0.5 + np.arange(len(data)) / 1000.0
    assert np.array_equal(np.asarray(mapped.t), expect_t)
    assert mapped.t[-1] == expect_t[-1] and mapped.t[3] == expect_t[3]
    assert np.array_equal(mapped.t[mapped.window(1.0, 1.25)], expect_t[500:750])
    assert len(mapped.t) == mapped.n_samples == len(data)
    # The checksums give the same verdict read block by block as from the whole file.
    header = read_header(path)
    assert check_signals(header) == check_signals(header, path.read_bytes())


def test_session_signals_are_memory_mapped(tmp_path):
    folder = tmp_path / "session"
    w = SessionWriter(folder, {"subject": {"id": "M1"}, "seed": 1})
    w.open_signals(CH, 1000.0).append(0, _data(3000))
    w.write_trial(TrialRecord(trial=1, start_s=0.0, end_s=3.0, trial_type="sample"))
    w.close("completed")
    sig = load_session(folder).signals
    assert isinstance(sig.data["calcium"], np.memmap)
    assert np.array_equal(sig.data["calcium"], read_signals(folder / SIGNALS_FILE)
                          .data["calcium"])
