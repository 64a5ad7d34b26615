"""Faults inside the host: a full disk mid-session, a bug in protocol code."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rigctl.data import load_session

ROOT = Path(__file__).resolve().parents[2]


def _limit_file_size(limit: int):
    def apply() -> None:
        # A file-size limit makes writes fail with EFBIG; ignore SIGXFSZ so they fail, not kill.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_disk_full_mid_session_stops_safely_and_keeps_what_was_written(sim_yaml, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "rigctl", "run", str(sim_yaml), "--trials", "400", "--seed", "1",
         "--data", str(tmp_path), "--quiet"],
        capture_output=True, text=True, env=env, timeout=300,
        preexec_fn=_limit_file_size(1024 * 1024),
    )
    assert proc.returncode == 1, proc.stderr  # ran, then stopped: not 2 ("nothing ran")
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "session stopped" in err[0] and "Traceback" not in proc.stderr
    (folder,) = tmp_path.glob("*/*")
    s = load_session(folder)
    assert s.status == "aborted"
    assert "File too large" in s.metadata["reason"] or "disk" in s.metadata["reason"]
    assert 0 < len(s.trials) < 400
    assert list(s.trials["trial"]) == list(range(1, len(s.trials) + 1))  # nothing corrupted
    assert "file-size limit reached" in err[0] and not s.damage


@pytest.fixture
def tiny_disk(tmp_path):
    """A 600 kB tmpfs: a real full disk (ENOSPC), not a simulated one. Needs root."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_ends_aborted_with_a_reason_and_one_line_naming_path_and_space(sim_yaml,
                                                                                tiny_disk):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "rigctl", "run", str(sim_yaml), "--trials", "400", "--seed", "1",
         "--data", str(tiny_disk), "--quiet", "--no-figure"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 1, proc.stderr  # ran, then stopped: not 2 ("nothing ran")
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in proc.stderr, proc.stderr
    (folder,) = tiny_disk.glob("*/*")
    assert err[0].startswith("rigctl: error: disk full: cannot write ")
    assert str(folder) in err[0] and f"on {tiny_disk} " in err[0]
    assert "free at least " in err[0] and " MB" in err[0]
    s = load_session(folder)
    assert s.status == "aborted" and s.metadata["status"] == "aborted"
    assert s.metadata["reason"].startswith("DataError: disk full")
    assert 0 < len(s.trials) < 400 and not s.damage
    assert list(s.trials["trial"]) == list(range(1, len(s.trials) + 1))
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]  # no stray files
    assert s.signals is not None and not s.signals.warnings  # rolled back to whole blocks
    assert (s.events["name"] == "all_off").any()


def test_final_status_is_written_in_place_when_not_one_block_is_left(tiny_disk):
    from rigctl.data.writer import SessionWriter

    w = SessionWriter(tiny_disk / "s", {"subject": {"id": "M1"}})
    filler = tiny_disk / "filler"
    with open(filler, "wb", buffering=0) as f:  # take every last block
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    assert os.statvfs(tiny_disk).f_bavail == 0
    size = (tiny_disk / "s" / "session.json").stat().st_size
    w.close("aborted", "DataError: disk full: ...")
    s = load_session(tiny_disk / "s")
    assert s.status == "aborted" and s.metadata["reason"].startswith("DataError: disk full")
    assert not (tiny_disk / "s" / "session.json.tmp").exists()
    assert (tiny_disk / "s" / "session.json").stat().st_size == size  # the reserve took it


def test_protocol_bug_names_the_line_and_turns_outputs_off(sim_yaml, tmp_path, monkeypatch):
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import Subject, load_rig
    from rigctl.engine.session import Session, SessionOptions
    from rigctl.protocols.delayed_alternation import DelayedAlternation

    original = DelayedAlternation.response

    def response(self, event):
        if event == "entry" and self.trial.trial == 6:
            self.rig.laser.on(5.0)
            raise KeyError("missing_side")  # a protocol bug, with the laser on
        original(self, event)

    monkeypatch.setattr(DelayedAlternation, "response", response)
    cfg = load_rig(str(sim_yaml))
    spec = resolve_protocol(None, cfg, str(sim_yaml))
    session = Session(cfg, SessionOptions(Subject(), spec, tmp_path, seed=1))
    with contextlib.suppress(KeyError):
        session.run()
    world = session.rig.devices["sim"].world
    assert world.laser_power_mw == 0.0 and world.record.light[-1][1] == 0.0
    s = load_session(session.writer.folder)
    assert s.status == "aborted"
    err = s.events[s.events["kind"] == "error"].iloc[0]
    assert "test_disk_and_bugs.py" in err["value"] and "in response" in err["value"]
    assert len(s.trials) == 5
