"""A whole `--realtime` session with the reference firmware in simavr as the controller
(hardware_configs/serial_firmware_sim.yaml): the simulated mouse's licks arrive as pin edges,
the firmware stamps and streams them, rigctl logs them; every valve opening in the log is a
pulse on the firmware's valve pin of the logged width."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from serial_helpers import deep_update

from rigctl.catalog.loading import resolve_protocol
from rigctl.config import Subject, load_rig
from rigctl.data import load_session
from rigctl.engine.session import Session, SessionOptions
from sim_backend.avr.build import missing_tools

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "hardware_configs" / "serial_firmware_sim.yaml"
FAST: dict[str, Any] = {
    "devices": {"ctrl": {"emulator": {"mouse": {
        "rt_median_s": 0.15, "licks_per_ul": 0.6, "miss_rate": 0.0}}}},
    "protocol": {"parameters": {
        "n_trials": 4, "iti_s": 0.2, "sample_s": 0.15, "delays_s": [0.3],
        "response_window_s": 1.0, "reward_consumption_s": 0.4, "timeout_s": 0.2,
        "laser_fraction": 0.5, "max_consecutive": 2, "block_size": 2,
    }},
}
SIDE = {0: "left", 1: "right"}

pytestmark = pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))


def test_a_realtime_session_runs_through_the_firmware_in_simavr(tmp_path):
    data = deep_update(yaml.safe_load(CONFIG.read_text()), FAST)
    data["data_root"] = str(tmp_path / "data")
    config = tmp_path / "rig.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = load_rig(str(config))
    spec = resolve_protocol(None, cfg, str(config), None)
    session = Session(cfg, SessionOptions(subject=Subject(), protocol=spec,
                                          data_root=tmp_path / "data", seed=4, realtime=True,
                                          config_source=str(config)))
    board = session.rig.devices["ctrl"].emulator.board
    result = session.run()
    assert result.status == "completed", result.reason
    s = load_session(result.folder)
    ev = s.events

    # Valve openings: each logged command is one pulse on the firmware's pin, of its width.
    logged = ev[(ev.kind == "output") & ev.name.str.startswith("valve_")]
    pulses = [(c.index, c.cycle) for c in board.changes if c.kind == "valve"]
    widths = [(n, (down - up) / board.f_cpu) for (n, up), (_, down) in zip(pulses[::2],
                                                                          pulses[1::2],
                                                                          strict=True)]
    assert len(logged) == len(widths) > 0
    for (_, row), (n, width_s) in zip(logged.iterrows(), widths, strict=True):
        assert row["name"] == f"valve_{SIDE[n]}"
        assert width_s * 1000 == pytest.approx(float(row["value"].removesuffix("ms")), abs=0.02)

    # Licks: the edges driven onto the input pins, stamped by the firmware, in the log in order
    # with the firmware's time (device_t) within 0.1 ms of the edge's simulated cycle.
    licks = ev[(ev.kind == "input") & ev.name.str.startswith("lick_")]
    driven = [c for c in board.changes if c.kind == "in"]
    assert len(licks) > 2 * len(widths)
    edges = iter(driven)
    offset = None
    for row in licks.itertuples():
        c = next(e for e in edges if f"lick_{SIDE[e.index]}" == row.name
                 and e.level == int(row.value))
        lag = row.device_t_s - c.cycle / board.f_cpu
        offset = lag if offset is None else offset  # micros() starts after reset: a constant
        assert lag == pytest.approx(offset, abs=1e-4)
    assert s.trials["outcome"].notna().all()
