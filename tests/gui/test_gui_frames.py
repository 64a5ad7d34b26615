"""The live frame count: a real engine child on the imaging rig, its reports in a real LiveView."""

from __future__ import annotations

import json

from gui.live import LiveView
from rigctl.engine import messages as m
from rigctl.engine.remote import EngineProcess, StartRequest
from tests.test_frames import imaging_config, scope_file


def test_the_live_view_counts_the_frames_the_microscope_sent(qtbot, tmp_path):
    cfg = imaging_config(tmp_path)
    req = StartRequest(str(cfg), "delayed_alternation", params={"n_trials": 4},
                       data_root=str(tmp_path / "data"), seed=9, realtime=False,
                       summary_figure=False)
    proc = EngineProcess(req)
    proc.start()
    try:
        got = proc.wait_for((m.Ended, m.Crashed, m.Failed), timeout=120)
        got += proc.wait_for((m.Summary,), timeout=60)
    finally:
        proc.join(30)
        proc.kill()
    ready = next(g for g in got if isinstance(g, m.Ready))
    assert ready.frame_clocks == ("frame_clock",)
    counts = [g.count for g in got if isinstance(g, m.Frames)]
    truth = json.loads(scope_file(tmp_path, "truth").read_text())
    assert len(counts) > 10 and counts == sorted(counts) and counts[-1] == truth["n_frames"]
    assert not any(isinstance(g, m.Event) and g.name == "frame_clock" for g in got)

    view = LiveView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    view.reset({"n_trials": 4, "realtime": False, "frame_clocks": ready.frame_clocks})
    assert view.frames.isVisible() and "frame_clock <b>0</b>" in view.frames.text()
    for msg in got:
        view.on_message(msg)
    view.refresh(False)
    assert f"frame_clock <b>{truth['n_frames']:,}</b> (" in view.frames.text()
    rate = float(view.frames.text().rsplit("(", 1)[1].split("/s")[0])
    assert 28 < rate < 32  # the microscope's 30 Hz, counted over the last report's window
    view.grab().save(str(tmp_path / "live_frames.png"))


def test_no_frame_line_on_a_rig_without_a_frame_clock(qtbot):
    view = LiveView()
    qtbot.addWidget(view)
    view.show()
    view.reset({"n_trials": 4})
    assert not view.frames.isVisible()
