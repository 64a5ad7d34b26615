"""Sync pulses out: timing, logging, modes, config errors and the line off on every exit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rigctl.config import load_rig
from rigctl.config.sync import SyncConfig
from rigctl.engine.sync import STALL_S, SyncPulses, barcode_edges
from rigctl.errors import ConfigError, RigctlError
from rigctl.hardware.interfaces import DigitalOutputDriver
from rigctl.timing.clock import VirtualClock
from rigctl.timing.timers import Timers
from tests.conftest import run_sim

SYNC = {"sync": {"channel": "sim/sync"}}
FAST = {"n_trials": 12, "delays_s": [2, 5]}


def sync_edges(events: pd.DataFrame, name: str = "sync") -> tuple[np.ndarray, np.ndarray]:
    ev = events[(events["kind"] == "sync") & (events["name"] == name)]
    t = ev["t_s"].to_numpy(float)
    v = ev["value"].astype(str).to_numpy()
    return t[v == "1"], t[v == "0"]


def test_random_pulses_are_logged_with_their_intervals_and_width(make_config, tmp_path):
    result, data, session = run_sim(make_config(SYNC), tmp_path, seed=3, params=FAST)
    assert result.status == "completed"
    on, off = sync_edges(data.events)
    duration = data.events["t_s"].astype(float).max()
    assert len(on) == session.sync.n_pulses and len(on) >= duration / 5 * 0.7
    intervals = np.diff(on)
    assert intervals.min() >= 2.0 - 1e-6 and intervals.max() <= 8.0 + 1e-6  # 5 ± 3 s
    assert np.allclose(off - on[: len(off)], 0.05, atol=1e-6)
    assert intervals.std() > 1.0  # random, not periodic: what makes alignment unambiguous
    assert data.events.iloc[-1]["name"] == "all_off"


def test_pulses_are_seeded_and_leave_the_behaviour_unchanged(make_config, tmp_path):
    _, plain, _ = run_sim(make_config(), tmp_path / "a", seed=9, params=FAST)
    _, a, _ = run_sim(make_config(SYNC), tmp_path / "b", seed=9, params=FAST)
    _, b, _ = run_sim(make_config(SYNC), tmp_path / "c", seed=9, params=FAST)
    assert np.array_equal(sync_edges(a.events)[0], sync_edges(b.events)[0])
    pd.testing.assert_frame_equal(a.trials, plain.trials)  # same trials, with or without sync


def test_trial_ttl_and_barcodes_encode_every_trial(make_config, tmp_path):
    cfg = make_config({"sync": {"channel": "sim/sync", "mode": "barcode",
                                "trial_channel": "sim/trial_ttl"}})
    _, data, _ = run_sim(cfg, tmp_path, seed=4, params=FAST)
    starts = data.trials["start_s"].to_numpy(float)
    ttl_on, ttl_off = sync_edges(data.events, "sync_trial")
    assert np.allclose(ttl_on, starts) and np.allclose(ttl_off - ttl_on, 0.01)
    # Decode the barcodes from the logged edges of the sync line alone.
    on, off = sync_edges(data.events)
    sc = SyncConfig(channel="x", mode="barcode")
    decoded = []
    for t0 in on[np.isin(np.round(on, 6), np.round(starts, 6))]:
        level = np.zeros(sc.barcode_bits + 4, dtype=bool)
        for t1 in on[(on >= t0) & (on < t0 + sc.barcode_s())]:
            t2 = off[off > t1][0]
            i1, i2 = round((t1 - t0) / sc.bit_s), round((t2 - t0) / sc.bit_s)
            level[i1:i2] = True
        decoded.append(sum(1 << i for i, b in enumerate(level[3:3 + sc.barcode_bits]) if b))
    assert decoded == data.trials["trial"].astype(int).tolist()


def test_barcode_edges_of_a_known_number():
    sc = SyncConfig(channel="x", mode="barcode", barcode_bits=4, bit_s=0.01)
    # 5 = 0b0101, LSB first: 1 0 1 0 after start bit (2) and gap (1).
    assert barcode_edges(5, sc) == [(0.0, True), (0.02, False), (0.03, True), (0.04, False),
                                    (0.05, True), (0.06, False)]


class _Line(DigitalOutputDriver):
    def __init__(self) -> None:
        self.level = False

    def set(self, level: bool) -> None:
        self.level = level


def test_sync_line_goes_low_when_the_session_fails_mid_pulse(make_config, tmp_path):
    """An error while the pulse is high: the line is driven low, logged, then all_off."""
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import Subject
    from rigctl.engine.session import Session, SessionOptions

    path = make_config({"sync": {"channel": "sim/sync", "width_s": 1.0}})
    cfg = load_rig(str(path))
    spec = resolve_protocol(None, cfg, str(path), FAST)
    session = Session(cfg, SessionOptions(Subject(), spec, tmp_path, seed=2,
                                          summary_figure=False))

    def boom() -> None:
        raise RuntimeError("bug while the sync pulse is high")

    def on_event(t, kind, name, value):
        if kind == "sync" and value == "1":
            session.timers.set_at(t + 0.5, boom)

    session.event_listeners.append(on_event)
    with pytest.raises(RuntimeError):
        session.run()
    assert session.sync.line.level is False
    from rigctl.data import load_session

    ev = load_session(session.writer.folder).events
    tail = ev.tail(4)
    assert list(tail["name"])[-1] == "all_off"
    assert ((tail["kind"] == "sync") & (tail["value"].astype(str) == "0")).any()
    assert load_session(session.writer.folder).status == "aborted"


def test_stop_drives_both_lines_low_even_if_one_fails():
    class Broken(_Line):
        def set(self, level: bool) -> None:
            raise OSError("line gone")

    clock, timers = VirtualClock(), Timers()
    good = _Line()
    sync = SyncPulses(SyncConfig(channel="d/x", trial_channel="d/y"), Broken(), good, clock,
                      timers, lambda *a: None, np.random.default_rng(0))
    sync.start()
    good.level = True
    failures = sync.stop()
    assert failures == ["sync: line gone"] and good.level is False
    assert timers.next_deadline() == np.inf  # nothing left scheduled


def test_nothing_but_sync_pulses_in_virtual_time_is_a_stall():
    clock, timers = VirtualClock(), Timers()
    sync = SyncPulses(SyncConfig(channel="d/x"), _Line(), None, clock, timers,
                      lambda *a: None, np.random.default_rng(0))
    sync.start()
    with pytest.raises(RigctlError, match="simulation stalled"):
        while True:
            clock.wait_until(timers.next_deadline())
            cb = timers.pop_due(clock.now())
            while cb is not None:
                cb()
                cb = timers.pop_due(clock.now())
    assert clock.now() > STALL_S


@pytest.mark.parametrize(("sync", "expect"), [
    ({"channel": "sim/door"}, "sync.channel: 'sim/door' is also cues.go.channel"),
    ({"channel": "sim/sync", "trial_channel": "sim/valve_left"},
     "sync.trial_channel: 'sim/valve_left' is also reward_ports.left.valve.channel"),
    ({"channel": "nodev/sync"}, "sync.channel: device 'nodev' is not listed"),
    ({"channel": "sim/sync", "mean_s": 1, "spread_s": 0.95},
     "sync: shortest interval mean_s - spread_s = 0.05 s"),
    ({"channel": "sim/sync", "widht_s": 1}, "sync.widht_s: unknown field"),
])
def test_bad_sync_config_is_one_line_naming_the_field(make_config, sync, expect):
    with pytest.raises(ConfigError) as exc:
        load_rig(str(make_config({"sync": sync})))
    lines = str(exc.value).splitlines()
    assert len(lines) == 1 and expect in lines[0] and "rig.yaml" in lines[0]


def test_shipped_imaging_config_checks(capsys):
    from rigctl.cli import main
    from tests.conftest import ROOT

    assert main(["check", str(ROOT / "hardware_configs" / "sim_imaging.yaml")]) == 0
    assert "sync     sim/sync  random, 50 ms pulses every 5 ± 3 s" in capsys.readouterr().out
