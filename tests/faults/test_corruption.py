"""A seeded corruption fuzzer over every file of a session folder.

Byte flips, insertions and deletions (1-3 bytes) at seeded offsets in trials.csv, events.csv,
session.json, session.start.json, signals.bin and signals.crc of a real recorded session. For
each damaged folder:

- ``load_session`` raises nothing (a DataError would be allowed; none is expected here);
- every row the damage did not touch loads, unchanged and in order; nothing else loads;
- a row that was touched and did not load is reported in ``damage``, at a line the damage
  reaches; a touched signals block either reads as it was or as NaN inside a reported range;
- for a share of the cases, ``rigctl recover`` runs and ``load_session`` afterwards reads
  exactly what the recover report says (rows, events and damage list), originals kept.

CI runs ``CASES_PER_FILE`` cases per file (~30 s). ``RIGCTL_FUZZ_CASES=2000`` explores longer
with the same invariants (and ``RIGCTL_FUZZ_SEED`` another seed).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rigctl.data import load_session, load_sessions
from rigctl.data.recover import recover_session
from rigctl.errors import DataError
from tests.conftest import SIM_YAML, run_sim

CASES_PER_FILE = int(os.environ.get("RIGCTL_FUZZ_CASES", "30"))
SEED = int(os.environ.get("RIGCTL_FUZZ_SEED", "20261202"))
RECOVER_EVERY = 5  # recover (on a copy) every 5th case
FILES = ("trials.csv", "events.csv", "session.json", "session.start.json", "signals.bin",
         "signals.crc")
CSV_FILES = ("trials.csv", "events.csv")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    result, _, _ = run_sim(SIM_YAML, tmp_path_factory.mktemp("pristine"), seed=7,
                           params={"n_trials": 8})
    return result.folder


def _keys(df) -> list[str]:
    """One text key per row (NaN-safe), for comparing loaded rows with the originals."""
    return ["|".join(map(str, row)) for row in df.astype(object).itertuples(index=False)]


def _line_spans(data: bytes) -> list[tuple[int, int]]:
    """(first byte, last byte incl. the line end) of each line, by 1-based line number - 1."""
    spans, start = [], 0
    for i, b in enumerate(data):
        if b == 0x0A:
            spans.append((start, i))
            start = i + 1
    if start < len(data):
        spans.append((start, len(data) - 1))
    return spans


def _mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str, set[int], tuple]:
    """Damage ``data``: returns the new bytes, the kind, the original byte positions touched,
    and (first, last) byte of the damaged region in the new file."""
    kind = str(rng.choice(["flip", "insert", "delete"]))
    k = int(rng.integers(1, 4))
    off = int(rng.integers(0, len(data)))
    if kind == "flip":
        k = min(k, len(data) - off)
        masks = rng.integers(1, 256, size=k, dtype=np.uint8)
        changed = bytes(b ^ int(m) for b, m in zip(data[off:off + k], masks, strict=True))
        return data[:off] + changed + data[off + k:], kind, set(range(off, off + k)), \
            (off, off + k - 1)
    if kind == "insert":
        extra = rng.integers(0, 256, size=k, dtype=np.uint8).tobytes()
        if rng.random() < 0.3:  # line ends and commas are the interesting bytes to insert
            extra = bytes(rng.choice([0x0A, 0x2C, 0x22])) * k
        return data[:off] + extra + data[off:], kind, {off}, (off, off + k)
    k = min(k, len(data) - off)
    return data[:off] + data[off + k:], kind, set(range(off, off + k)), (off, off + 1)


def _check_csv(name: str, orig: bytes, new: bytes, touched: set[int], region: tuple,
               s0, s) -> None:
    frame0 = s0.trials if name == "trials.csv" else s0.events
    frame = s.trials if name == "trials.csv" else s.events
    spans = _line_spans(orig)[1:]  # data rows, in the order of frame0's rows
    keys0, keys = _keys(frame0), _keys(frame)
    assert len(keys0) == len(spans)
    # A row is touched when its own bytes are; a damaged line end costs no row (the loader
    # finds both rows in the merged line by their checksums).
    hit = [any(a <= t < b for t in touched) for a, b in spans]
    # What loads is original rows, in order (a subsequence of the originals) ...
    it = iter(keys0)
    assert all(any(k0 == key for k0 in it) for key in keys), f"{name}: a row that is not " \
        "an original one loaded, or rows out of order"
    # ... every row the damage did not touch is among them (counted per distinct row, since
    # two rows can be identical) ...
    loaded, untouched = Counter(keys), Counter(k for k, h in zip(keys0, hit, strict=True)
                                                if not h)
    short = {k: n - loaded[k] for k, n in untouched.items() if loaded[k] < n}
    assert not short, f"{name}: intact rows lost: {short}"
    # ... and a touched row that did not load is reported.
    lost = [i for i, h in enumerate(hit) if h] if len(keys) < len(keys0) else []
    mine = [d for d in s.damage if d.file == name]
    if lost:
        assert mine, f"{name}: rows at lines {[i + 2 for i in lost]} lost without a report"
        new_spans = _line_spans(new)
        first, last = region
        near = {i + 1 for i, (a, b) in enumerate(new_spans) if a <= last + 1 and b >= first - 1}
        near |= {len(new_spans) + 1}
        for d in mine:
            assert d.line is None or d.line in near, f"{d} is not where the damage is ({near})"


def _check_signals(s0, s) -> None:
    a0 = np.stack([s0.signals.data[c] for c in s0.signals.channels], axis=1)
    sig = s.signals
    if sig is None:
        assert any(d.file == "signals.bin" for d in s.damage), "signals lost without a report"
        return
    a = np.stack([sig.data[c] for c in sig.channels], axis=1)
    n = min(len(a0), len(a))
    same = (a[:n] == a0[:n]) | (np.isnan(a[:n]) & np.isnan(a0[:n]))
    bad_rows = np.flatnonzero(~same.all(axis=1))
    if len(bad_rows) or len(a) != len(a0):
        assert any(d.file in ("signals.bin", "signals.crc") for d in s.damage), \
            "changed samples without a report"
    ranges = [tuple(int(x) for x in d.what.split(":")[0].split()[1].split("-"))
              for d in s.damage if d.file == "signals.bin" and d.what.startswith("samples ")]
    header_damage = any("header" in d.what for d in s.damage if d.file == "signals.bin")
    reported = np.zeros(len(a), dtype=bool)
    for lo, hi in ranges:
        reported[lo:hi + 1] = True
    unreported = bad_rows[~(reported[bad_rows] & np.isnan(a[bad_rows]).all(axis=1))]
    assert header_damage or not len(unreported), \
        f"samples {unreported[:5]} changed without being reported and blanked"


def _recover_agrees(folder: Path, s) -> None:
    try:
        report = recover_session(folder)
    except DataError as exc:  # only when there was nothing to repair
        assert "nothing to recover" in str(exc) and not s.damage, exc
        return
    after = load_session(folder)
    assert report.n_trials == len(after.trials) and report.n_events == len(after.events)
    assert [str(d) for d in report.damage] == [str(d) for d in after.damage]
    assert _keys(after.trials) == _keys(s.trials) and _keys(after.events) == _keys(s.events)
    assert after.metadata["recovered"]["damage"] == [d.as_dict() for d in report.damage
                                                     if d.file not in ("signals.bin",
                                                                       "signals.crc")]
    for bak in report.backups:
        assert bak.is_file()


@pytest.mark.parametrize("name", FILES)
def test_damage_anywhere_loses_only_what_it_touched(pristine, tmp_path, name):
    folder = tmp_path / pristine.parent.name / pristine.name
    shutil.copytree(pristine, folder)
    s0 = load_session(folder)
    assert s0.status == "completed" and not s0.damage and len(s0.trials) == 8
    assert s0.signals is not None
    orig = (folder / name).read_bytes()
    rng = np.random.default_rng([SEED, FILES.index(name)])
    kinds: dict[str, int] = {}
    for case in range(CASES_PER_FILE):
        new, kind, touched, region = _mutate(orig, rng)
        kinds[kind] = kinds.get(kind, 0) + 1
        (folder / name).write_bytes(new)
        try:
            s = load_session(folder)
        except DataError as exc:  # allowed by the contract, but no damage here deserves it
            pytest.fail(f"case {case} ({kind} at {sorted(touched)[:1]}): {exc}")
        context = f"case {case}: {kind} at byte {min(touched)} of {name}"
        if s.damage:
            assert s.status == "damaged", context
        if name in CSV_FILES:
            _check_csv(name, orig, new, touched, region, s0, s)
            other = "events.csv" if name == "trials.csv" else "trials.csv"
            assert _keys(s.events if other == "events.csv" else s.trials) == \
                _keys(s0.events if other == "events.csv" else s0.trials), context
        else:
            assert _keys(s.trials) == _keys(s0.trials), context
            assert _keys(s.events) == _keys(s0.events), context
            if name in ("signals.bin", "signals.crc"):
                _check_signals(s0, s)
            if name == "session.json" and s.damage:
                assert s.recorded_status == "completed", context  # inferred from the files
        if case % RECOVER_EVERY == 0:
            work = tmp_path / "recover" / pristine.parent.name / pristine.name
            shutil.rmtree(work.parent.parent, ignore_errors=True)
            shutil.copytree(folder, work)
            _recover_agrees(work, s)
        (folder / name).write_bytes(orig)
    assert len(kinds) == 3  # flips, insertions and deletions were all tried


def test_deleted_session_json_is_rebuilt_by_recover(pristine, tmp_path, capsys):
    from rigctl.cli import main

    folder = tmp_path / pristine.parent.name / pristine.name
    shutil.copytree(pristine, folder)
    s0 = load_session(folder)
    (folder / "session.json").unlink()
    s = load_session(folder)
    assert s.status == "damaged" and s.recorded_status == "completed"
    assert len(s.trials) == 8 and _keys(s.events) == _keys(s0.events)
    with pytest.warns(UserWarning, match="lost or damaged"):
        cohort = load_sessions(tmp_path)
    assert len(cohort) == 8 and set(cohort["status"]) == {"damaged"}
    assert main(["recover", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "rebuilt from session.start.json" in out and "8 complete trials kept" in out
    after = load_session(folder)
    assert after.recorded_status == "completed" and after.metadata["n_trials"] == 8
    assert after.metadata["subject"] == s0.metadata["subject"]
    assert after.metadata["rig"] == s0.metadata["rig"]
    assert [d.file for d in after.damage] == ["session.json"]  # what was lost stays reported
    assert np.array_equal(after.signals.data["calcium"], s0.signals.data["calcium"])
    # Without the start copy either, the folder name still gives subject and start time.
    (folder / "session.json").unlink()
    (folder / "session.start.json").unlink()
    bare = load_session(folder)
    assert bare.subject["id"] == s0.subject["id"] and len(bare.trials) == 8
    assert bare.metadata["start_time"][:16] == s0.metadata["start_time"][:16]
