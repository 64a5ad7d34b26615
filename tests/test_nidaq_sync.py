"""NI-DAQ card-timed sync pulses (docs/nidaq.md, "Sync pulses"), at nidaqmx's API boundary.

Uses the recording fake of tests/test_nidaq.py (every call bound against the real nidaqmx
signatures; no driver, no card). Proves: the seeded random train is written once to a counter
output with implicit timing on the sync line's PFI terminal, exactly the schedule the serial
firmware draws for the same seed; the engine logs the edges at the schedule's times; the line is
driven low on stop, on close, and when the card fails. Cannot prove that a card accepts it (that
takes a card).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest
import test_nidaq as nd
import yaml
from nidaqmx.constants import AcquisitionType, Level, TimeUnits
from nidaqmx.task import Timing
from nidaqmx.types import CtrTime

from rigctl.config import load_rig
from rigctl.engine.sync import build_sync
from rigctl.errors import DeviceError
from rigctl.hardware.sync_train import TrainSpec
from rigctl.timing.timers import Timers

fake_ni = nd.fake_ni
open_device = nd.open_device
LINE = "Dev1/port1/line3"
SPEC = TrainSpec(seed=7, mean_ms=5000, spread_ms=3000, width_ms=50)


@pytest.fixture(autouse=True)
def implicit_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake's timing object learns ``cfg_implicit_timing`` (bound to the real signature)."""

    def cfg_implicit_timing(self: nd.FakeTiming, *a: Any, **k: Any) -> None:
        params = nd._bound(Timing.cfg_implicit_timing, *a, **k)
        self.task.check("timing")
        self.task.ops.append(("implicit", params))

    monkeypatch.setattr(nd.FakeTiming, "cfg_implicit_timing", cfg_implicit_timing,
                        raising=False)


def _counter_task(fake_ni: nd.FakeNi) -> nd.FakeTask:
    (task,) = nd.co_pulses(fake_ni, "sync")
    return task


def test_the_train_is_one_counter_buffer_of_the_seeded_schedule(fake_ni, open_device):
    clock = nd.StepClock()
    device, _ = open_device(clock=clock)
    train = device.sync_train(LINE)
    assert fake_ni.last_value(LINE) is False  # low before anything else
    clock.t = 10.0
    train.start(SPEC)
    task = _counter_task(fake_ni)
    kind, counter, params = task.channels[0]
    rises = np.asarray(SPEC.rises_ms(20_000), dtype=float) / 1000
    rises = rises[rises <= 86_400]  # sync_horizon_s: 24 h
    assert (kind, counter) == ("co", "Dev1/ctr1")
    assert params["units"] == TimeUnits.SECONDS and params["idle_state"] == Level.LOW
    assert params["initial_delay"] == pytest.approx(rises[0])  # the first pulse's time
    assert params["high_time"] == pytest.approx(0.05)
    ops = [op for op, _ in task.ops]
    assert ops == ["set", "implicit", "write", "auto_start", "start"]  # written, then started
    assert task.ops[0][1] == ("co_pulse_term", "/Dev1/PFI3")  # P1.3 is PFI 3
    implicit = task.ops[1][1]
    assert implicit == {"sample_mode": AcquisitionType.FINITE, "samps_per_chan": len(rises)}
    samples = task.writes[0]
    assert all(isinstance(s, CtrTime) for s in samples) and len(samples) == len(rises)
    assert [s.high_time for s in samples] == [0.05] * len(rises)
    lows = np.array([s.low_time for s in samples])
    assert lows[:-1] == pytest.approx(np.diff(rises) - 0.05)  # each gap, to the next rise
    assert task.ops[3][1] is False  # auto_start: the buffer is complete before it starts


def test_edges_are_logged_at_the_schedule_as_time_passes_and_none_after_stop(
        fake_ni, open_device):
    clock = nd.StepClock()
    device, _ = open_device(clock=clock)
    train = device.sync_train(LINE)
    clock.t = 10.0
    train.start(SPEC)
    rises = np.asarray(SPEC.rises_ms(5), dtype=float) / 1000
    assert train.edges() == []
    clock.t = 10.0 + rises[1] + 0.01  # inside the second pulse
    got = train.edges()
    assert [e.level for e in got] == [True, False, True]
    assert [e.t for e in got] == pytest.approx([10 + rises[0], 10.05 + rises[0], 10 + rises[1]])
    assert [e.device_t for e in got] == pytest.approx([rises[0], rises[0] + 0.05, rises[1]])
    assert train.stop() is None
    task = _counter_task(fake_ni)
    assert task.closed and fake_ni.last_value(LINE) is False
    clock.t += 100
    assert train.edges() == []  # nothing after the stop


def test_the_line_goes_low_when_the_card_fails_and_on_close(fake_ni, open_device):
    device, _ = open_device()
    train = device.sync_train(LINE)
    train.start(SPEC)
    _counter_task(fake_ni).broken = nd.daq_error(-200019, "Counter output failed.")
    assert train.stop() is None  # a broken counter task cannot keep the line up
    assert fake_ni.last_value(LINE) is False
    train.start(SPEC)
    fake_ni.remove_device()
    problem = train.stop()  # the card is gone: reported, never raised
    assert problem is not None and "NI error -200045" in problem
    device.close()
    assert all(t.closed for t in fake_ni.tasks)
    assert nd.is_off_task(fake_ni.tasks[-1])  # tried a fresh task to drive it low


def test_close_stops_a_running_train(fake_ni, open_device):
    device, _ = open_device()
    device.sync_train(LINE).start(SPEC)
    device.close()
    assert _counter_task(fake_ni).closed and fake_ni.last_value(LINE) is False


def test_a_sync_line_needs_a_pfi_line_and_a_counter_of_its_own(fake_ni, open_device):
    device, _ = open_device()
    with pytest.raises(DeviceError, match=r"sync on Dev1/port0/line4 has no PFI terminal.*"
                                          r"sync_counter: null"):
        device.sync_train("Dev1/port0/line4")
    device, _ = open_device(sync_counter="ctr0")
    device.laser_gate("Dev1/port1/line2", nd.laser_cfg())  # laser_counter ctr0
    with pytest.raises(DeviceError, match="Dev1/ctr0' is used twice"):
        device.sync_train(LINE)
    device, _ = open_device(sync_counter=None)
    assert device.sync_train(LINE) is None  # the engine times it on an on-demand line


@pytest.mark.parametrize("counter", ["ctr1", None])
def test_the_engine_hands_the_train_to_the_card_or_times_it_itself(
        fake_ni, open_device, tmp_path, counter):
    data = yaml.safe_load(nd.NIDAQ_YAML.read_text())
    data["devices"]["Dev1"]["sync_counter"] = counter
    data["sync"] = {"channel": LINE}
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(data))
    cfg = load_rig(str(path))
    clock = nd.StepClock()
    device, _ = open_device(clock=clock, sync_counter=counter)
    rows: list[tuple] = []
    timers = Timers()
    pulses = build_sync(cfg, {"Dev1": device}, clock, timers, lambda *r: rows.append(r), seed=3)
    assert pulses is not None
    pulses.start()
    clock.t = 30.0
    while (due := timers.pop_due(clock.t)) is not None:
        due()
    if counter is None:
        assert not nd.co_pulses(fake_ni, "sync")  # an on-demand line, toggled by the engine
        assert pulses.stop() == []
        return
    onsets = [r[0] for r in rows if r[1:4] == ("sync", "sync", "1")]
    task = _counter_task(fake_ni)
    first = task.channels[0][2]["initial_delay"]
    lows = [s.low_time for s in task.writes[0]]
    expected = np.cumsum([first] + [lo + 0.05 for lo in lows])
    assert onsets == pytest.approx(expected[expected <= 30.0].tolist())  # the card's schedule
    assert all(len(r) == 5 and r[4] is not None for r in rows)  # with the card's time
    assert pulses.stop() == []
    assert task.closed and fake_ni.last_value(LINE) is False
    assert rows[-1][1:4] == ("sync", "sync", "0")  # the log ends with the line low


def test_signatures_used_exist_in_nidaqmx():
    """What the fake adds is bound to nidaqmx's own signatures."""
    assert "samps_per_chan" in inspect.signature(Timing.cfg_implicit_timing).parameters
