"""The GUI's protocol picker: a task file of one's own, and tasks installed as packages."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from rigctl.data import load_session

ROOT = Path(__file__).resolve().parents[2]
GO_NOGO = ROOT / "examples" / "tasks" / "go_nogo.py"
TIMEOUT_MS = 120_000


def test_a_task_file_runs_from_the_gui_with_its_own_form_and_trial_table(qtbot, window,
                                                                        config, tmp_path):
    tab = window.add_rig(str(config))
    setup = tab.setup
    setup.choose_task_file(str(GO_NOGO))
    assert setup.protocol.currentText() == str(GO_NOGO)
    assert "go_fraction" in setup.form.editors  # the form comes from the task's Params
    setup.form.editors["n_trials"].widget.setValue(6)
    setup.virtual.setChecked(True)
    tab.confirm = lambda title, text: True
    tab.start()
    qtbot.waitUntil(lambda: tab.phase == "idle" and tab.ended is not None, timeout=TIMEOUT_MS)
    assert tab.ended["status"] == "completed", tab.ended
    s = load_session(tab.ended["folder"])
    assert list(s.trials.columns)[:3] == ["trial", "start_s", "trial_type"]
    assert set(s.trials["outcome"]) <= {"hit", "miss", "false_alarm", "correct_rejection"}
    assert s.metadata["protocol"]["task_file"]["path"] == str(GO_NOGO)


def test_a_bad_task_file_is_refused_in_the_setup_with_its_line(qtbot, window, config, tmp_path):
    tab = window.add_rig(str(config))
    bad = tmp_path / "bad.py"
    bad.write_text("class T(:\n")
    tab.setup.choose_task_file(str(bad))
    assert tab.setup.protocol.currentText() != str(bad)
    assert any("bad.py:1" in line and "syntax error" in line
               for line in tab.setup.problem_lines())


def test_an_installed_task_is_in_the_picker(qtbot, window, config, tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "labtask_gui").mkdir(parents=True)
    (site / "labtask_gui" / "__init__.py").write_text(textwrap.dedent(GO_NOGO.read_text()))
    dist = site / "labtask_gui-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: labtask-gui\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[rigctl.protocols]\nlab_go_nogo = labtask_gui:GoNoGo\n")
    monkeypatch.syspath_prepend(str(site))
    tab = window.add_rig(str(config))
    items = [tab.setup.protocol.itemText(i) for i in range(tab.setup.protocol.count())]
    assert "lab_go_nogo" in items
    tab.setup.protocol.setCurrentText("lab_go_nogo")
    assert "go_fraction" in tab.setup.form.editors
    sys.modules.pop("labtask_gui", None)
