"""Integrity of a session folder: liveness after pid reuse, names that cannot escape or collide,
row checksums, signals block checksums, and old sessions that still load."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from rigctl.cli import main
from rigctl.config import Subject
from rigctl.data import load_session
from rigctl.data.integrity import RowFormatter, read_rows, salvage
from rigctl.data.liveness import process_start, writer_alive
from rigctl.data.metadata import write_metadata
from rigctl.data.recover import recover_session
from rigctl.data.signals import CRC_BLOCK, SignalWriter, read_signals
from rigctl.data.writer import create_session
from tests.conftest import run_sim


@pytest.fixture
def session(sim_yaml, tmp_path):
    result, _, _ = run_sim(sim_yaml, tmp_path, seed=5, params={"n_trials": 4})
    return result.folder


def _set(folder: Path, **changes) -> None:
    meta = json.loads((folder / "session.json").read_text())
    meta.update(changes)
    write_metadata(folder / "session.json", meta)  # as a writer would have left it


# --- liveness ------------------------------------------------------------------------------
def test_a_live_unrelated_process_with_the_recorded_pid_reads_as_crashed(session):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = process_start(os.getpid())
        assert mine is not None and process_start(other.pid) not in (None, mine)
        # The writer was this process; after a reboot its pid belongs to another, live one.
        _set(session, status="running", pid=other.pid, pid_start=mine)
        s = load_session(session)
        assert s.recorded_status == "crashed" and s.status == "crashed"
        report = recover_session(session)  # not refused as "still running"
        assert report.n_trials == 4
        assert load_session(session).metadata["status"] == "crashed"
    finally:
        other.kill()
        other.wait()


def test_a_live_writer_is_never_taken_for_a_dead_one(session):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 30
        while process_start(other.pid) is None:  # hang guard, not a speed check
            if time.monotonic() > deadline:
                pytest.fail("child did not start")
            time.sleep(0.01)
        _set(session, status="running", pid=other.pid, pid_start=process_start(other.pid))
        assert load_session(session).status == "running"
        with pytest.raises(Exception, match="still running"):
            recover_session(session)
    finally:
        other.kill()
        other.wait()
    assert load_session(session).status == "crashed"  # and once it is gone, it is crashed


def test_another_boot_is_another_process(session):
    start = process_start(os.getpid())
    assert start is not None
    boot, ticks = start.split(":")
    meta = {"host": os.uname().nodename, "pid": os.getpid(), "pid_start": f"x{boot[1:]}:{ticks}"}
    assert not writer_alive(meta)
    assert writer_alive({**meta, "pid_start": start})
    assert writer_alive({**meta, "pid_start": None})  # old sessions: the pid is all there is


# --- names -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["..", ".", "a/b", "..\\x", "a\x00b", "a\nb", "", "x" * 65,
                                 "/etc"])
def test_subject_ids_that_could_escape_the_data_folder_are_refused(bad):
    with pytest.raises(ValidationError):
        Subject(id=bad)


def test_subject_dotdot_is_a_one_line_error_and_writes_nothing(capsys, sim_yaml, tmp_path):
    data = tmp_path / "data"
    code = main(["run", str(sim_yaml), "--subject", "..", "--trials", "1", "--data", str(data)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--subject" in err and "'..'" in err
    assert not tmp_path.joinpath("data").exists() or not any(tmp_path.rglob("session.json"))


def test_session_folders_are_unique_across_rigs_and_within_a_second(tmp_path):
    started = dt.datetime(2026, 12, 2, 3, 4, 5)
    meta = {"subject": {"id": "M1"}}
    a = create_session(tmp_path, "M1", "da", "rig A", meta, started)
    b = create_session(tmp_path, "M1", "da", "rig-B", meta, started)
    c = create_session(tmp_path, "M1", "da", "rig A", meta, started)
    assert a.folder.name == "20261202-030405_rig-A_da"
    assert b.folder.name == "20261202-030405_rig-B_da"
    assert c.folder.name == "20261202-030405-2_rig-A_da"
    for w in (a, b, c):
        w.close("completed")
    # Many writers racing for one name in the same second each get a folder of their own.
    folders: list[Path] = []
    lock = threading.Lock()

    def start() -> None:
        w = create_session(tmp_path, "M2", "da", "rig", meta, started)
        with lock:
            folders.append(w.folder)
        w.close("completed")

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(set(folders)) == 8


# --- rows ------------------------------------------------------------------------------------
def test_rows_stay_plain_csv_for_pandas_and_spreadsheets(session):
    import pandas as pd

    raw = pd.read_csv(session / "trials.csv")  # no rigctl needed
    assert list(raw.columns)[-1] == "crc" and len(raw) == 4
    s = load_session(session)
    from rigctl.protocols.trial import COLUMNS

    assert list(s.trials.columns) == list(COLUMNS)  # the loader drops the column
    assert "crc" not in s.events.columns


def test_text_with_line_breaks_and_commas_stays_one_row(tmp_path):
    f = RowFormatter()
    line = f.line(["1.5", "error", "KeyError", 'bad "x",\nsecond line', ""])
    assert line.count("\n") == 1
    path = tmp_path / "events.csv"
    path.write_text("t_s,kind,name,value,device_t_s,crc\n" + line + line)
    rows = read_rows(path, [("t_s", "kind", "name", "value", "device_t_s", "crc")], [])
    assert not rows.damage and rows.rows[0][3] == 'bad "x", second line'


def test_a_lost_line_end_costs_no_row():
    f = RowFormatter()
    one, two = f.line(["1", "a"]).rstrip("\n"), f.line(["2", "b"]).rstrip("\n")
    merged = (one + two).encode()
    assert salvage(merged) == [one.encode(), two.encode()]
    assert salvage((one + "Z" + two).encode()) == [one.encode(), two.encode()]
    assert salvage(b"no,checksum,here") == []


def test_damaged_rows_are_listed_with_their_lines_and_recover_cuts_only_them(session, capsys):
    path = session / "trials.csv"
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b",", b";", 1)  # trial 2
    path.write_bytes(b"\n".join(lines))
    s = load_session(session)
    assert s.status == "damaged" and s.recorded_status == "completed"
    assert list(s.trials["trial"]) == [1, 3, 4]
    assert [(d.file, d.line, d.what) for d in s.damage] == [("trials.csv", 3,
                                                             "checksum mismatch")]
    assert any("trials.csv: line 3: checksum mismatch" in w for w in s.warnings)
    assert main(["recover", str(session)]) == 0
    out = capsys.readouterr().out
    assert "repaired (status completed); 3 complete trials kept" in out
    assert "trials.csv: line 3: checksum mismatch" in out
    assert (session / "trials.csv.bak").read_bytes() == b"\n".join(lines)
    after = load_session(session)
    assert list(after.trials["trial"]) == [1, 3, 4] and after.status == "damaged"
    assert [str(d) for d in after.damage] == [str(d) for d in s.damage]
    assert main(["recover", str(session)]) == 2  # nothing left to repair
    assert "nothing to recover" in capsys.readouterr().err


def test_summary_command_reports_damage_instead_of_failing(session, capsys):
    path = session / "trials.csv"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    assert main(["summary", str(session), "--no-figure"]) == 0
    out = capsys.readouterr().out
    assert "damaged: trials.csv: line" in out and "3 trials" in out


# --- signals ---------------------------------------------------------------------------------
def test_a_damaged_signals_block_reads_as_nan_and_is_reported(tmp_path):
    path = tmp_path / "signals.bin"
    rng = np.random.default_rng(3)
    data = rng.random((3 * CRC_BLOCK + 100, 2)).astype(np.float32)
    with SignalWriter(path, ("neural_signal", "calcium"), 1000.0) as w:
        w.append(0, data)
    clean = read_signals(path)
    assert not clean.warnings and np.array_equal(clean.data["calcium"], data[:, 1])
    raw = bytearray(path.read_bytes())
    offset = len(raw) - data.nbytes
    raw[offset + (CRC_BLOCK + 5) * 8] ^= 0x01  # a bit in block 1
    path.write_bytes(bytes(raw))
    s = read_signals(path)
    assert np.isnan(s.data["calcium"][CRC_BLOCK:2 * CRC_BLOCK]).all()
    keep = np.r_[0:CRC_BLOCK, 2 * CRC_BLOCK:len(data)]
    assert np.array_equal(s.data["calcium"][keep], data[keep, 1])  # every other sample kept
    assert any(f"samples {CRC_BLOCK}-{2 * CRC_BLOCK - 1}: checksum mismatch" in w
               for w in s.warnings)


def test_sessions_written_before_checksums_still_load(session):
    """A format-2 folder: no crc column, no signals.crc, no start copy, no pid_start."""
    for name in ("trials.csv", "events.csv"):
        lines = (session / name).read_text().splitlines()
        (session / name).write_text("\n".join(ln.rsplit(",", 1)[0] for ln in lines) + "\n")
    (session / "signals.crc").unlink()
    (session / "session.start.json").unlink()
    meta = json.loads((session / "session.json").read_text())
    for key in ("crc32", "pid_start"):
        del meta[key]
    meta["format_version"] = 2
    (session / "session.json").write_text(json.dumps(meta))
    s = load_session(session)
    assert s.status == "completed" and not s.damage and not s.warnings
    assert len(s.trials) == 4 and s.signals is not None
    # Old files get row-level tolerance too: a row that does not parse costs only itself.
    path = session / "trials.csv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(lines[2].split(",")[1], "4x.161", 1)
    path.write_text("\n".join(lines) + "\n")
    s = load_session(session)
    assert list(s.trials["trial"]) == [1, 3, 4]
    assert [(d.line, d.what) for d in s.damage] == [(3, "start_s: not a number")]
