"""A `--realtime` session whose sync line is a controller output: the train is timed by the
controller (``SYNC``), not by the host, and the events.csv ``sync`` rows are the edges the
controller reported, at its own times, so ``rigctl align`` reads them as it reads engine-timed
pulses. Runs on the Python emulator and on the reference firmware in simavr; the two logs must
follow the same seeded schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from serial_helpers import deep_update

from rigctl.catalog.loading import resolve_protocol
from rigctl.config import Subject, load_rig
from rigctl.data import load_session
from rigctl.data.align import session_pulses
from rigctl.engine.session import Session, SessionOptions
from rigctl.engine.sync import SEED_STREAM
from rigctl.errors import DeviceError
from rigctl.hardware.sync_train import TrainSpec
from sim_backend.avr.build import missing_tools

ROOT = Path(__file__).resolve().parents[2]
SEED = 4
SYNC = {"channel": "ctrl/out3", "mean_s": 0.3, "spread_s": 0.2, "width_s": 0.02}
FAST: dict[str, Any] = {
    "sync": SYNC,
    "devices": {"ctrl": {"emulator": {"mouse": {
        "rt_median_s": 0.15, "licks_per_ul": 0.6, "miss_rate": 0.0}}}},
    "protocol": {"parameters": {
        "n_trials": 3, "iti_s": 0.2, "sample_s": 0.15, "delays_s": [0.3],
        "response_window_s": 1.0, "reward_consumption_s": 0.4, "timeout_s": 0.2,
        "laser_fraction": 0.5, "max_consecutive": 2, "block_size": 2,
    }},
}


def _session(tmp_path: Path, config: str, seed: int = SEED) -> Session:
    data = deep_update(yaml.safe_load((ROOT / "hardware_configs" / config).read_text()), FAST)
    data["data_root"] = str(tmp_path / "data")
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = load_rig(str(path))
    spec = resolve_protocol(None, cfg, str(path), None)
    return Session(cfg, SessionOptions(subject=Subject(), protocol=spec,
                                       data_root=tmp_path / "data", seed=seed, realtime=True,
                                       config_source=str(path)))


def _expected_gaps_s(seed: int, n: int) -> np.ndarray:
    """The intervals the device must follow: its seed is the session's first sync draw."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SEED_STREAM,)))
    spec = TrainSpec.from_seconds(int(rng.integers(1, 2**32)), SYNC["mean_s"], SYNC["spread_s"],
                                  SYNC["width_s"], "sync")
    return np.diff(np.asarray(spec.rises_ms(n), dtype=float)) / 1000


@pytest.mark.parametrize("config", ["serial_sim.yaml", "serial_firmware_sim.yaml"])
def test_a_sync_line_on_the_controller_is_timed_by_the_controller(tmp_path, config):
    if config == "serial_firmware_sim.yaml" and missing_tools() is not None:
        pytest.skip(str(missing_tools()))
    session = _session(tmp_path, config)
    device = session.rig.devices["ctrl"]
    result = session.run()
    assert result.status == "completed", result.reason
    ev = load_session(result.folder).events
    rows = ev[(ev.kind == "sync") & (ev.name == "sync")]
    assert len(rows) >= 8
    values = rows["value"].astype(str).tolist()
    assert values == ["1", "0"] * (len(values) // 2)  # every edge, and the line ends low
    assert rows["device_t_s"].notna().all()  # each row is an edge the controller stamped
    onsets = session_pulses(ev)
    assert len(onsets) == len(values) // 2 and np.all(np.diff(onsets) > 0)
    # On the controller's own clock the pulses follow the seeded schedule to within one
    # firmware loop pass; widths too.
    dev_t = rows["device_t_s"].to_numpy(float)
    rises, falls = dev_t[0::2], dev_t[1::2]
    assert np.diff(rises) == pytest.approx(_expected_gaps_s(SEED, len(rises)), abs=3e-4)
    # (the last pulse may be cut short by the end of the session: the line goes low at once)
    assert falls[:-1] - rises[:-1] == pytest.approx(SYNC["width_s"], abs=3e-4)
    assert 0 < falls[-1] - rises[-1] <= SYNC["width_s"] + 3e-4
    if config == "serial_sim.yaml":
        # the emulator's clock is the wall clock, so the session times are the schedule too
        # (simavr on a loaded machine can run behind the wall clock: its session times are
        # mapped through the heartbeat's clock fit and only checked in order above)
        assert np.diff(onsets) == pytest.approx(np.diff(rises), abs=2e-3)
    # the host sent no OUT for the sync line: the pulses were the controller's
    emu = device.emulator
    if config == "serial_sim.yaml":
        assert not any(line.startswith("OUT 3 1") for _, line in emu.record.commands)
        assert emu.outputs[3] == 0
    else:
        changes = [c for c in emu.board.changes if c.kind == "out" and c.index == 3]
        assert len(changes) == len(rows) and changes[-1].level == 0


def test_an_error_mid_session_still_ends_the_train_and_the_line_low(tmp_path):
    session = _session(tmp_path, "serial_sim.yaml")
    emu = session.rig.devices["ctrl"].emulator
    # the controller refuses a valve opening: the session ends aborted on that error
    emu.inject_error("VALVE", "9 valve driver fault")
    with pytest.raises(DeviceError, match="VALVE"):
        session.run()
    assert emu.outputs[3] == 0
    assert emu.record.commands[-1][1] == "OFF"  # the train ended, then everything off
    assert any(line == "SYNC 3 0" for _, line in emu.record.commands)
    assert session.writer is not None
    ev = load_session(session.writer.folder).events
    rows = ev[(ev.kind == "sync") & (ev.name == "sync")]
    assert len(rows) and str(rows["value"].iloc[-1]) == "0"


def test_a_firmware_without_sync_is_refused_with_the_fix(tmp_path):
    session = _session(tmp_path, "serial_sim.yaml")
    session.rig.devices["ctrl"].emulator.inject_error("SYNC", "1 unknown command")
    with pytest.raises(DeviceError, match=r"cannot time sync pulses .*flash docs/firmware/"
                                          r"reward_controller.*1\.2\.0 or later"):
        session.run()
