"""File ▸ Run experiment…: one rig tab per subject, each its own engine, started together."""

from __future__ import annotations

from pathlib import Path

import yaml

from gui.rig_tab import IDLE
from rigctl.data import load_session

ROOT = Path(__file__).resolve().parents[2]


def _experiment(tmp_path: Path, rigs: list[Path], **top) -> Path:
    path = tmp_path / "exp.yaml"
    subjects = [{"id": f"M{i + 1}", "rig": str(r), "seed": i + 1,
                 "parameters": {"n_trials": 50 + i},
                 "genotype": "ip3r2_ko" if i % 2 else "wt"} for i, r in enumerate(rigs)]
    path.write_text(yaml.safe_dump({"name": "gui-test", "data_root": str(tmp_path / "data"),
                                    "realtime": True, "summary_figure": False, **top,
                                    "subjects": subjects}, sort_keys=False))
    return path


def test_run_experiment_opens_a_started_tab_per_subject(qtbot, window, make_rig, tmp_path):
    rigs = [make_rig(f"box{i}.yaml", rig=f"sim-box-{i}") for i in (1, 2)]
    assert window.experiment_action.text() == "Run &experiment…"
    tabs = window.run_experiment(str(_experiment(tmp_path, rigs)))
    assert len(tabs) == 2 and window.tabs.count() == 2
    qtbot.waitUntil(lambda: all(t.n_trials >= 2 for t in tabs), timeout=180_000)
    texts = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert texts[0].startswith("M1 · sim-box-1") and texts[1].startswith("M2 · sim-box-2")
    assert [t.title.text() for t in tabs] == ["M1  ·  sim-box-1", "M2  ·  sim-box-2"]
    assert (tmp_path / "data" / ".rigctl-locks" / "subject-M1.lock").exists()
    # the experiment's parameters run, and the form the operator would edit shows them
    assert [t.ready["n_trials"] for t in tabs] == [50, 51]
    assert [t.setup.form.values()["n_trials"] for t in tabs] == [50, 51]
    for t in tabs:
        t.pump()
        t.live.refresh(True)
    window.tabs.setCurrentIndex(1)
    window.resize(1400, 900)
    shot = tmp_path / "experiment.png"  # docs/img/experiment.png was taken this way
    assert window.grab().save(str(shot)) and shot.stat().st_size > 0
    for t in tabs:
        t.finish("test over")
    qtbot.waitUntil(lambda: all(t.phase == IDLE for t in tabs), timeout=120_000)
    for t, subject, genotype in zip(tabs, ("M1", "M2"), ("wt", "ip3r2_ko"), strict=True):
        s = load_session(Path(t.ready["folder"]))
        assert s.metadata["subject"]["id"] == subject
        assert s.metadata["subject"]["genotype"] == genotype
        assert s.events[s.events["kind"] == "output"]["name"].iloc[-1] == "all_off"
    assert not (tmp_path / "data" / ".rigctl-locks").exists()  # released at the end, folder gone


def test_a_refused_experiment_starts_nothing_and_says_why_in_one_line(window, make_rig,
                                                                       tmp_path):
    told: list[str] = []
    window.inform = lambda title, text: told.append(text)
    rig = make_rig("box1.yaml", rig="sim-box-1")
    assert window.run_experiment(str(_experiment(tmp_path, [rig, rig]))) == []
    (line,) = told[0].splitlines()
    assert "subjects.1.rig" in line and "already used by subject M1" in line
    assert window.tabs.count() == 0


def test_the_overview_shows_every_subject_and_stops_one_without_the_others(
        qtbot, window, make_rig, tmp_path):
    rigs = [make_rig(f"box{i}.yaml", rig=f"sim-box-{i}") for i in (1, 2)]
    tabs = window.run_experiment(str(_experiment(tmp_path, rigs)))
    dock = window.experiment_dock
    assert dock is not None and dock.windowTitle() == "Experiment gui-test"
    overview = dock.widget()
    cards = overview.cards
    assert [c.subject.text() for c in cards] == ["M1", "M2"]
    assert [c.where.text() for c in cards] == ["sim-box-1 · delayed_alternation",
                                               "sim-box-2 · delayed_alternation"]
    qtbot.waitUntil(lambda: all(t.n_trials >= 2 for t in tabs), timeout=180_000)
    for t in tabs:
        t.pump()
    overview.refresh()
    for c, t, total in zip(cards, tabs, (50, 51), strict=True):
        assert c.trials.text() == f"{t.n_trials} / {total} trials"
        assert c.accuracy.text().endswith("% correct")
        assert c.phase.text() == "running" and c.state.text().startswith("state: ")
        assert c.stop_button.isEnabled()
    window.resize(1400, 900)
    shot = tmp_path / "experiment_overview.png"
    assert window.grab().save(str(shot)) and shot.stat().st_size > 0
    tabs[0].confirm = lambda title, text: True  # the operator answers "yes, stop M1"
    cards[0].stop_button.click()
    qtbot.waitUntil(lambda: tabs[0].phase == IDLE, timeout=120_000)
    overview.refresh()
    assert cards[0].phase.text() == "aborted (stopped by the operator)"
    # the tab's end of session says how late its loop answered, as session.json records it
    assert "timing: input→output p50 " in tabs[0].summary_view.head.text()
    assert not cards[0].stop_button.isEnabled()
    assert tabs[1].running and cards[1].phase.text() == "running"  # M2 goes on
    n = tabs[1].n_trials
    qtbot.waitUntil(lambda: tabs[1].n_trials > n, timeout=120_000)
    tabs[1].finish("test over")
    qtbot.waitUntil(lambda: tabs[1].phase == IDLE, timeout=120_000)
    for t in tabs:
        s = load_session(Path(t.ready["folder"]))
        assert s.events[s.events["kind"] == "output"]["name"].iloc[-1] == "all_off"
