"""Whole sessions on serial_sim.yaml: real pyserial I/O to emulated devices on pseudo-terminals.

Issue #4's "done when": every valve opening and lick in a --realtime session's events.csv
matches what the emulated devices recorded on their side (count, order, timestamps within
5 ms). And the faults: a port missing at start, a device vanishing mid-delay with the laser on.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from serial_helpers import deep_update, wait_until

from rigctl.catalog.loading import resolve_protocol
from rigctl.cli import main
from rigctl.config import Subject, load_rig
from rigctl.data import load_session
from rigctl.engine.session import Session, SessionOptions
from rigctl.errors import DeviceError

ROOT = Path(__file__).resolve().parents[1]
SERIAL_SIM = ROOT / "hardware_configs" / "serial_sim.yaml"
FAST: dict[str, Any] = {
    "devices": {"ctrl": {"emulator": {"mouse": {
        "rt_median_s": 0.15, "licks_per_ul": 0.6, "miss_rate": 0.0}}}},
    "protocol": {"parameters": {
        "n_trials": 8, "iti_s": 0.2, "sample_s": 0.15, "delays_s": [0.3],
        "response_window_s": 1.0, "reward_consumption_s": 0.4, "timeout_s": 0.2,
        "laser_fraction": 0.5, "max_consecutive": 2, "block_size": 4,
    }},
}
SIDE = {0: "left", 1: "right"}  # the wiring of serial_sim.yaml: valveN / inN -> side
TOL_S = 0.005


@pytest.fixture
def serial_config(tmp_path):
    def make(changes: dict[str, Any] | None = None) -> Path:
        data = deep_update(yaml.safe_load(SERIAL_SIM.read_text()), FAST)
        data = deep_update(data, changes or {})
        data["data_root"] = str(tmp_path / "data")
        path = tmp_path / "serial_rig.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return make


def make_session(config: Path, data: Path) -> Session:
    cfg = load_rig(str(config))
    spec = resolve_protocol(None, cfg, str(config), None)
    return Session(cfg, SessionOptions(subject=Subject(), protocol=spec, data_root=data, seed=4,
                                       realtime=True, config_source=str(config)))


def session_origin(session: Session) -> float:
    """time.perf_counter() at session time 0 (the wall clock reads perf_counter)."""
    return time.perf_counter() - session.clock.now()


def test_shipped_serial_sim_config_checks(capsys):
    assert main(["check", str(SERIAL_SIM)]) == 0
    out = capsys.readouterr().out
    assert "ctrl: reward_controller  port=emulated" in out and "obis/laser" in out


def test_realtime_session_log_matches_what_the_devices_recorded(serial_config, tmp_path):
    session = make_session(serial_config(), tmp_path / "data")
    ctrl = session.rig.devices["ctrl"].emulator
    laser = session.rig.devices["obis"].emulator
    origin = session_origin(session)
    result = session.run()
    assert result.status == "completed", result.reason
    s = load_session(result.folder)
    ev = s.events

    def on_session_clock(t: float) -> float:
        return ctrl.boot_perf + t - origin

    # Valve openings: every command in the log, as the controller received and timed it.
    logged = ev[(ev.kind == "output") & ev.name.str.startswith("valve_")]
    opened = ctrl.record.valve_openings
    assert len(logged) == len(opened) > 0
    for (_, row), (t, n, duration_s) in zip(logged.iterrows(), opened, strict=True):
        assert row["name"] == f"valve_{SIDE[n]}"
        assert on_session_clock(t) == pytest.approx(row["t_s"], abs=TOL_S)
        assert duration_s * 1000 == pytest.approx(float(row["value"].removesuffix("ms")),
                                                  abs=1e-3)
    assert all(why == "timer" for _, _, why in ctrl.record.valve_closings[:len(opened)])

    # Licks: every edge in the log is one the controller sent, in order, with its time; and
    # every edge it sent before the session's last state change reached the log.
    licks = ev[(ev.kind == "input") & ev.name.str.startswith("lick_")]
    logged_edges = [(row.t_s, row.name, int(row.value)) for row in licks.itertuples()]
    sent = [(on_session_clock(t), f"lick_{SIDE[n]}", level)
            for t, n, level, was_sent in ctrl.record.inputs if was_sent]
    assert len(logged_edges) > 2 * len(opened)  # the go-cue choices plus the reward bouts
    assert len(sent) >= len(logged_edges)
    for (t_log, name, level), (t_dev, name_dev, level_dev) in zip(logged_edges, sent, strict=False):
        assert (name, level) == (name_dev, level_dev)
        assert t_log == pytest.approx(t_dev, abs=TOL_S)
    t_last_state = ev[ev.kind == "state"].t_s.iloc[-1]
    assert len(logged_edges) >= sum(t < t_last_state - TOL_S for t, _, _ in sent)
    # ... and the controller's edges are the simulated mouse's licks.
    world = ctrl.world.world.record
    rising = [(t, SIDE[n]) for t, n, level, was_sent in ctrl.record.inputs if level and was_sent]
    assert rising == [lick for lick in world.licks if lick in rising]

    # The laser: every "on" in the log lit the (gated) emulated OBIS at that power.
    lasers = ev[(ev.kind == "output") & (ev.name == "laser")]
    ons = lasers[lasers.value.str.endswith("mW")]
    assert len(ons) == s.trials.laser_onset_s.notna().sum() > 0
    assert sum(mw == 5.0 for _, mw in laser.record.emission) == len(ons)
    assert laser.emitted_mw == 0.0 and not laser.enabled  # off at the end
    assert ctrl.valves == [False, False] and ctrl.outputs == [0, 0, 0, 0]
    # The controller itself limits the gate: max_on_s 30 + ramp_down_s 0.1 + the margin; the
    # host ended every light first, so the controller never had to cut.
    assert "GATE 2 30150" in [c for _, c in ctrl.record.commands]
    assert ctrl.record.gate_cuts == []


def test_missing_port_is_one_line_through_rigctl_run(serial_config, tmp_path, capsys):
    cfg = serial_config({"devices": {"ctrl": {"port": "/dev/ttyACM_RIGCTL_NOPE",
                                              "emulator": None}}})
    text = yaml.safe_load(cfg.read_text())
    del text["devices"]["ctrl"]["emulator"]
    cfg.write_text(yaml.safe_dump(text))
    code = main(["run", str(cfg), "--realtime", "--data", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err  # a device failure's own exit code
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"rigctl: error: {cfg}: device 'ctrl': serial port "
                               "'/dev/ttyACM_RIGCTL_NOPE' not found")
    assert "rigctl devices" in lines[0]
    assert not (tmp_path / "out").exists()  # refused before any session folder


def run_until_laser_then(session: Session, action, trials_before: int = 1):
    """Run the session; once ``trials_before`` trials are done and the laser is emitting (the
    delay of a laser trial), call ``action``. Returns (exception raised by run, folder)."""
    laser = session.rig.devices["obis"].emulator
    folder = session.open()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            rows = (folder / "trials.csv").read_text().count("\n") - 1
            if rows >= trials_before and laser.emitted_mw > 0:
                action()
                return
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with pytest.raises(DeviceError) as exc:
            session.run()
    finally:
        done.set()
        watcher.join(timeout=5)
    return exc.value, folder


def test_controller_vanishing_mid_delay_turns_the_laser_off_and_aborts(serial_config,
                                                                       tmp_path):
    session = make_session(serial_config({"protocol": {"parameters": {"n_trials": 40}}}),
                           tmp_path / "data")
    ctrl = session.rig.devices["ctrl"].emulator
    laser = session.rig.devices["obis"].emulator
    error, folder = run_until_laser_then(session, ctrl.vanish)
    assert "device 'ctrl'" in str(error) and "vanished" in str(error)
    # The host commanded the light off over the OBIS link (the gate fell with the controller).
    assert laser.emitted_mw == 0.0 and not laser.enabled
    assert [c for _, c in laser.record.commands][-1] == "SOUR:AM:STAT OFF"
    s = load_session(folder)
    assert s.status == "aborted" and "device 'ctrl'" in s.metadata["reason"]
    assert len(s.trials) >= 1 and s.trials["outcome"].notna().all()
    assert s.events.iloc[-1]["name"] == "all_off"


def test_laser_vanishing_mid_delay_closes_the_gate_and_aborts(serial_config, tmp_path):
    session = make_session(serial_config({"protocol": {"parameters": {"n_trials": 40}}}),
                           tmp_path / "data")
    ctrl = session.rig.devices["ctrl"].emulator
    laser = session.rig.devices["obis"].emulator
    error, folder = run_until_laser_then(session, laser.vanish)
    assert "device 'obis'" in str(error) and "vanished" in str(error)
    # The other device turned everything off on the error path: gate, cues, valves.
    wait_until(lambda: "OFF" in [c for _, c in ctrl.record.commands], what="OFF")
    assert ctrl.outputs == [0, 0, 0, 0] and ctrl.valves == [False, False]
    gate_levels = [level for _, n, level in ctrl.record.outputs if n == 2]
    assert gate_levels[-1] == 0
    s = load_session(folder)
    assert s.status == "aborted" and "device 'obis'" in s.metadata["reason"]
    assert len(s.trials) >= 1
