"""The live view shows a task's own outcomes: its declared levels counted, a raster strip per
condition, its own log line, in bounded memory; real widgets on Qt's offscreen platform."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import yaml

from gui.live import KEEP_ROWS, LiveView
from gui.trial_columns import OUTCOME_PALETTE
from gui.trial_history import HISTORY_TRIALS
from rigctl.data import load_session
from rigctl.engine import messages as m
from rigctl.engine.remote import SIGNAL_COLUMNS
from rigctl.protocols.trial import TrialRecord, TrialSchema

ROOT = Path(__file__).resolve().parents[2]
GO_NOGO = ROOT / "examples" / "tasks" / "go_nogo.py"
GO_NOGO_LEVELS = ("hit", "miss", "false_alarm", "correct_rejection")
TIMEOUT_MS = 120_000


def _count(live: LiveView, level: str) -> int:
    text = live.status.counters[f"count_{level}"].text()
    return int(re.search(r"<b>(\d+)</b>", text).group(1))


def _run_go_nogo(qtbot, window, config, n: int, seed: int):
    tab = window.add_rig(str(config))
    tab.setup.choose_task_file(str(GO_NOGO))
    tab.setup.form.editors["n_trials"].widget.setValue(n)
    tab.setup.seed.setValue(seed)
    tab.setup.virtual.setChecked(True)
    tab.confirm = lambda title, text: True
    tab.start()
    qtbot.waitUntil(lambda: tab.phase == "idle" and tab.ended is not None, timeout=TIMEOUT_MS)
    assert tab.ended["status"] == "completed", tab.ended
    tab.live.refresh(False)
    return tab


def test_a_go_nogo_sessions_counters_and_strips_match_its_trials_csv(qtbot, window, config,
                                                                     tmp_path):
    tab = _run_go_nogo(qtbot, window, config, n=40, seed=11)
    trials = load_session(tab.ended["folder"]).trials
    live = tab.live
    # one counter per declared outcome, each equal to trials.csv's count; nothing built-in
    assert sorted(live.status.counters) == sorted(
        [f"count_{o}" for o in GO_NOGO_LEVELS] + ["acc_go", "acc_nogo"])
    for level in GO_NOGO_LEVELS:
        assert _count(live, level) == int((trials["outcome"] == level).sum()), level
    assert sum(_count(live, lv) for lv in GO_NOGO_LEVELS) == len(trials) == 40
    assert live.status.values["trial"].text() == "40/40"
    # % correct per condition: hits among go trials, correct rejections among no-go trials
    for cond in ("go", "nogo"):
        rows = trials[trials["trial_type"] == cond]
        want = f"{100 * rows['correct'].astype(float).mean():.0f}%"
        assert f"<b>{want}</b>" in live.status.counters[f"acc_{cond}"].text()
    # the raster: a strip per condition (go on top), a square per trial in its outcome's colour
    axis_ticks = live.outcomes.raster.getAxis("left")._tickLevels[0]
    assert [label for _, label in sorted(axis_ticks, reverse=True)] == ["go", "nogo"]
    strips = live.outcomes.strips
    for i, level in enumerate(GO_NOGO_LEVELS):
        xs, ys = strips.scatter[i].getData()
        rows = trials[trials["outcome"] == level]
        assert sorted(xs.astype(int)) == sorted(rows["trial"].astype(int))
        want_strip = [1.0 if t == "go" else 0.0 for t in rows.sort_values("trial")["trial_type"]]
        assert [y for _, y in sorted(zip(xs, ys, strict=True))] == want_strip
        assert strips.scatter[i].opts["brush"].color().name() == OUTCOME_PALETTE[i]
    # licks of hits are in the lick raster, aligned to the go cue
    assert sum(len(sp.getData()[0]) for sp in live.licks.scatter) >= _count(live, "hit")
    # the log line is the task's own: condition, outcome and the columns it marks in_log
    first = trials.iloc[0]
    assert f"trial 1 {first['trial_type']}: {first['outcome']}, delay_s=" in tab.log_text()
    assert "control" not in tab.log_text() and "laser 5" not in tab.log_text()
    shot = tmp_path / "go_nogo.png"
    window.grab().save(str(shot))
    assert shot.stat().st_size > 10_000


def test_a_rig_config_naming_a_task_file_picks_it_with_the_configs_parameters(
        qtbot, window, tmp_path):
    data = yaml.safe_load((ROOT / "hardware_configs" / "sim.yaml").read_text())
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "gng.py").write_text(GO_NOGO.read_text())
    data["protocol"] = {"task": "tasks/gng.py", "parameters": {"n_trials": 7, "go_fraction": 0.7}}
    data["data_root"] = str(tmp_path / "data")
    cfg = tmp_path / "rig.yaml"
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    tab = window.add_rig(str(cfg))
    setup = tab.setup
    assert setup.problems() == []
    assert setup.protocol.currentText() == str((tmp_path / "tasks" / "gng.py").resolve())
    assert setup.form.editors["n_trials"].widget.value() == 7
    assert setup.form.editors["go_fraction"].widget.value() == 0.7
    # another protocol and back: the config's parameters again, not the task's defaults
    setup.protocol.setCurrentText("delayed_alternation")
    assert "stim_mode" in setup.form.editors
    setup.protocol.setCurrentText(str((tmp_path / "tasks" / "gng.py").resolve()))
    assert setup.form.editors["n_trials"].widget.value() == 7


def _ready(schema: TrialSchema) -> dict:
    return {"n_trials": 0, "realtime": False, "threshold": 0.5, "tracked": "calcium",
            "has_signal": True, "ports": ("left", "right"), "trial_schema": schema}


def test_the_builtin_record_gets_its_own_counters_and_an_undeclared_level_its_own(qtbot):
    live = LiveView()
    qtbot.addWidget(live)
    live.reset(_ready(TrialSchema.of(TrialRecord)), TrialSchema.of(TrialRecord))
    recs = [{"trial": 1, "trial_type": "sample", "outcome": "sample", "correct": None,
             "correction": 0},
            {"trial": 2, "trial_type": "control", "outcome": "correct", "correct": 1,
             "correction": 0},
            {"trial": 3, "trial_type": "laser", "outcome": "error", "correct": 0,
             "correction": 0},
            {"trial": 4, "trial_type": "laser", "outcome": "timed_out", "correct": None,
             "correction": 0}]
    for r in recs:
        live.on_message(m.Trial(r, {}))
    live.refresh(False)
    c = live.status.counters
    assert {"count_correct", "count_error", "count_no_response", "count_sample",
            "count_timed_out", "acc_control", "acc_laser"} <= set(c)
    assert _count(live, "timed_out") == 1 and _count(live, "correct") == 1
    assert "<b>100%</b>" in c["acc_control"].text() and "<b>0%</b>" in c["acc_laser"].text()
    assert live.status.values["all"].text() == "50%"


def test_the_live_views_memory_is_bounded_over_many_trials(qtbot):
    """Ten thousand trials and ten minutes of signal: the kept histories stop growing at
    their capacity while the counters stay exact."""
    schema = TrialSchema.of(TrialRecord)
    live = LiveView()
    qtbot.addWidget(live)
    live.reset(_ready(schema), schema)
    rng = np.random.default_rng(3)
    n = 10_000
    correct = rng.random(n) < 0.7
    for i in range(n):
        live.on_message(m.Event(float(i), "state", "response", ""))
        live.on_message(m.Event(float(i) + 0.2, "input", "lick_left", "1"))
        live.on_message(m.Trial({"trial": i + 1, "trial_type": "control",
                                 "outcome": "correct" if correct[i] else "error",
                                 "correct": int(correct[i]), "correction": 0}, {}))
        if i % 50 == 0:
            live.on_message(m.Signal(np.zeros((100, len(SIGNAL_COLUMNS)))))
            live.refresh(True)
    live.refresh(False)
    s = live.state
    assert len(s.trials) == n and len(s.trials.view()) == HISTORY_TRIALS
    assert len(live.signal.data) <= KEEP_ROWS
    assert len(s.go_time) <= 256 and len(s.licks) <= s.licks.capacity
    assert _count(live, "correct") == int(correct.sum())
    xs, _ = live.outcomes.strips.scatter[0].getData()
    assert xs.min() > n - HISTORY_TRIALS  # the raster shows the newest trials
