"""The .tsv and .txt rigctl writes are the rows a pyControl board and GUI write for the same
run, checked against pyControl's "pyControl data" documentation: the header, the info rows,
row types and subtypes, time in seconds with 3 decimals (.tsv) or integer ms (.txt),
variable rows as JSON, and the .txt's I/S/E/D/P lines."""

from __future__ import annotations

import datetime as dt
import json
import re

import pandas as pd

from tests.compat.conftest import press, run_task

INFO = ["experiment_name", "task_name", "task_file_hash", "setup_id", "framework_version",
        "micropython_version", "subject_id", "start_time"]


def _run(tmp_path):
    return run_task(tmp_path, "board_rows.py", inputs=press(0.5, "lick_left"), duration=1.0)


def test_tsv_rows_are_those_of_a_board(tmp_path):
    run = _run(tmp_path)
    (path,) = run.result.folder.glob("*.tsv")
    text = path.read_text(encoding="utf-8").splitlines()
    assert text[0] == "time\ttype\tsubtype\tcontent"
    assert all(re.match(r"^\d+\.\d{3}\t", line) for line in text[1:])  # seconds, 3 decimals
    tsv = pd.read_csv(path, sep="\t", keep_default_na=False, dtype={"content": str})
    head = tsv.iloc[:len(INFO)]
    assert head["type"].eq("info").all() and head["time"].eq(0).all()
    assert head["subtype"].tolist() == INFO
    info = dict(zip(head["subtype"], head["content"], strict=True))
    assert info["task_name"] == "board_rows" and info["subject_id"] == "m1"
    dt.datetime.fromisoformat(info["start_time"])  # what pyControl's importer parses
    rows = [(t, k, s, c) for t, k, s, c in tsv.iloc[len(INFO):].itertuples(index=False)]
    run_start = json.loads(rows[0][3])
    assert rows[0][:3] == (0.0, "variable", "run_start") and run_start == {"n": 0}
    assert rows[1][1] == "warning" and "LED_4" in rows[1][3]  # not bound on this rig
    body = [r for r in rows[2:] if r[1] != "info"][:-1]
    assert body == [
        (0.0, "state", "", "idle"),
        (0.1, "event", "timer", "tick"),        # set_timer logs its event by default
        (0.5, "event", "input", "left_poke"),
        (0.5, "state", "", "active"),
        (0.5, "variable", "print", '{"n": 1}'),  # the object variable is left out
        (0.5, "warning", "", "entered active"),
        (0.55, "event", "input", "left_poke_out"),
        (0.7, "state", "", "idle"),
    ]
    assert rows[-2][:3] == (1.0, "variable", "run_end") and json.loads(rows[-2][3]) == {"n": 1}
    assert rows[-1][:3] == (1.0, "info", "end_time")
    assert set(tsv["type"]) <= {"info", "state", "event", "print", "variable", "warning",
                                "error"}


def test_txt_lines_are_those_of_a_board(tmp_path):
    run = _run(tmp_path)
    (path,) = run.result.folder.glob("*.txt")
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    info = dict(ln[2:].split(" : ") for ln in lines if ln.startswith("I "))
    assert {"Experiment name", "Task name", "Subject ID", "Start date"} <= set(info)
    dt.datetime.strptime(info["Start date"], "%Y/%m/%d %H:%M:%S")
    states = json.loads(next(ln for ln in lines if ln.startswith("S "))[2:])
    events = json.loads(next(ln for ln in lines if ln.startswith("E "))[2:])
    assert states == {"idle": 1, "active": 2}
    assert set(events) == {"left_poke", "left_poke_out", "tick"}
    names = {**{i: s for s, i in states.items()}, **{i: e for e, i in events.items()}}
    data = [(int(t), names[int(i)]) for _, t, i in (ln.split() for ln in lines
                                                     if ln.startswith("D "))]
    assert data == [(0, "idle"), (100, "tick"), (500, "left_poke"), (500, "active"),
                    (550, "left_poke_out"), (700, "idle")]
    assert "P 500 {\"n\": 1}" in lines  # print_variables: a P line holding the JSON
