"""docs/data-format.md agrees with the code and with a freshly recorded session.

The doc's tables are parsed and compared with the declarations (TrialRecord metadata,
rigctl.data.schema) and with the files of a new session, and the source is scanned for every
event kind it can write, so neither a new column nor a new kind can go undocumented.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from rigctl.data import load_session
from rigctl.data.schema import (
    CRC_DOC,
    EVENT_COLUMN_DOCS,
    EVENT_KINDS,
    SESSION_KEYS,
    SIGNAL_CHANNELS,
    STATUSES,
)
from rigctl.data.signals import PREFIX, SIGNALS_MAGIC, SIGNALS_VERSION, read_header
from rigctl.protocols.trial import column_docs
from tests.conftest import ROOT, run_sim
from tests.test_data_synth import write_synthetic_signals

DOC = ROOT / "docs" / "data-format.md"
FIX = "; declare it in rigctl/data/schema.py, then: python -m rigctl.data --write-doc " \
      "docs/data-format.md"


def doc_tables(text: str) -> dict[str, list[list[str]]]:
    """Heading -> rows (without header and rule) of the first table under it."""
    tables: dict[str, list[list[str]]] = {}
    heading = None
    rows: list[list[str]] | None = None
    for line in text.splitlines():
        if line.startswith("#"):
            heading, rows = line.lstrip("#").strip().strip("`"), None
            continue
        if line.startswith("|") and heading is not None and heading not in tables:
            if rows is None:
                rows = []
            cells = [c.strip().replace("\\|", "|") for c in
                     re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            rows.append(cells)
        elif rows is not None and heading is not None:
            tables[heading] = rows[2:]  # drop header row and --- rule
            rows = None
    if rows is not None and heading is not None and heading not in tables:
        tables[heading] = rows[2:]
    return tables


def _name(cell: str) -> str:
    return cell.strip("`")


@pytest.fixture(scope="module")
def tables() -> dict[str, list[list[str]]]:
    return doc_tables(DOC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("fresh")
    result, _, _ = run_sim(ROOT / "hardware_configs" / "sim.yaml", tmp, seed=2,
                           params={"n_trials": 8})
    write_synthetic_signals(result.folder)
    return result.folder


def test_trials_table_matches_trial_record_and_a_fresh_file(tables, fresh):
    rows = tables["trials.csv columns"]
    assert [(_name(n), u, d) for n, u, d in rows] == [*column_docs(), tuple(CRC_DOC)]
    with open(fresh / "trials.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == [_name(r[0]) for r in rows]


def test_events_tables_match_schema_and_a_fresh_file(tables, fresh):
    rows = tables["events.csv columns"]
    assert [(_name(n), u, d) for n, u, d in rows] == [tuple(d) for d in
                                                      (*EVENT_COLUMN_DOCS, CRC_DOC)]
    with open(fresh / "events.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == [_name(r[0]) for r in rows]
    kinds = {_name(k): v for k, v in tables["Event kinds"]}
    assert kinds == EVENT_KINDS, "doc and schema differ" + FIX
    assert set(load_session(fresh).events["kind"]) <= set(kinds)


def test_every_event_kind_the_code_writes_is_documented(tables):
    kinds = {_name(k) for k, _ in tables["Event kinds"]}
    call = re.compile(r"(?:\b|_)log\w*\(\s*(?:[^,()\"]+(?:\([^()]*\))?\s*,\s*)?\"([a-z_]+)\"\s*,")
    found: dict[str, str] = {}
    for folder in ("rigctl", "sim_backend"):
        for path in (ROOT / folder).rglob("*.py"):
            if "data" in path.relative_to(ROOT).parts[:2]:
                continue
            for kind in call.findall(path.read_text(encoding="utf-8")):
                found.setdefault(kind, str(path.relative_to(ROOT)))
    assert {"state", "input", "output", "trial"} <= set(found)  # the scan works
    missing = {k: p for k, p in found.items() if k not in kinds}
    assert not missing, f"event kinds written but not documented: {missing}{FIX}"


def test_status_table_matches_schema(tables):
    assert {_name(k): v for k, v in tables["Session status"]} == STATUSES


def test_session_json_keys_are_documented(tables, fresh):
    rows = {_name(k): v for k, v in tables["session.json keys"]}
    assert rows == SESSION_KEYS
    keys = set(json.loads((fresh / "session.json").read_text()))
    required = {k for k, v in rows.items() if not v.startswith("(optional)")}
    assert keys <= set(rows), keys - set(rows)
    assert required <= keys, required - keys


def test_signals_layout_header_and_channels_match_a_written_file(tables, fresh):
    channels = {_name(n): (u, d) for n, u, d in tables["Signal channels"]}
    assert channels == {k: (v.unit, v.doc) for k, v in SIGNAL_CHANNELS.items()}
    layout = tables["signals.bin layout"]
    assert [r[0] for r in layout[:4]] == ["0", "8", "12", "16"]
    assert "RIGCTLSG" in layout[0][3] and SIGNALS_MAGIC == b"RIGCTLSG"
    assert PREFIX.size == 16 and PREFIX.format == "<8sII"
    raw = (fresh / "signals.bin").read_bytes()
    magic, version, offset = PREFIX.unpack_from(raw)
    assert (magic, version) == (SIGNALS_MAGIC, SIGNALS_VERSION) and offset % 16 == 0
    head = json.loads(raw[16:offset])
    assert {_name(k) for k, _ in tables["signals.bin header JSON"]} == set(head)
    h = read_header(fresh / "signals.bin")
    assert h.torn_bytes == 0 and set(h.channels) <= set(channels)


def test_files_table_names_every_file_of_a_session(tables, fresh, tmp_path):
    pytest.importorskip("matplotlib")
    from rigctl.data.figures import save_summary_figure

    save_summary_figure(fresh)
    patterns = [_name(r[0]) for r in tables["Files"]]
    regexes = [re.compile("^" + re.escape(p).replace("<file>", ".+").replace(
        "<subject>", ".+").replace("<session>", ".+") + "$") for p in patterns]
    for path in fresh.iterdir():
        assert any(r.match(path.name) for r in regexes), path.name
