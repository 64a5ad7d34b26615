"""NI-DAQ backend: contract tests at nidaqmx's API boundary. No NI driver, no card.

nidaqmx's own unit tests replace the driver layer under ``nidaqmx.Task`` with a mock and assert
the calls it receives. These tests do the same one level up: ``nidaqmx.Task``,
``nidaqmx.system.System.local`` and ``nidaqmx.system.PhysicalChannel`` are replaced by a recording
fake, and the tests assert exactly what the backend asks of the NI-DAQmx API: which physical
channels, how lines are grouped into channels, the sample-clock and change-detection settings,
and the sample arrays written (valve pulses, laser pulse trains and ramp-downs, volts from mW).
Every call made on the fake is bound against the real nidaqmx method's signature, so a misspelt
keyword or a wrong argument count fails here even though no driver runs.

What they prove: the backend uses the nidaqmx API as intended and drives every output to its
off value on close and on every error path. What they cannot prove: that a given card accepts
that configuration and behaves as NI documents it (that takes a card; see docs/nidaq.md).
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nidaqmx
import nidaqmx.system
import numpy as np
import pytest
import yaml
from nidaqmx.constants import AcquisitionType, LineGrouping, TerminalConfiguration
from nidaqmx.errors import DaqError, DaqNotFoundError
from nidaqmx.task import Task as RealTask
from nidaqmx.task import Timing
from nidaqmx.task.collections import (
    AIChannelCollection,
    AOChannelCollection,
    COChannelCollection,
    DIChannelCollection,
    DOChannelCollection,
)

from rigctl.cli import main
from rigctl.config.rig import LaserConfig
from rigctl.config.subject import Subject
from rigctl.errors import DeviceError, RigctlError
from rigctl.hardware import nidaq
from rigctl.hardware.interfaces import InputEvent, PulseTrain, SignalChunk
from rigctl.hardware.nidaq import waveforms
from rigctl.hardware.registry import BuildContext
from rigctl.timing.clock import VirtualClock, WallClock

ROOT = Path(__file__).resolve().parents[1]
NIDAQ_YAML = ROOT / "hardware_configs" / "nidaq_rig.yaml"
MIXED_YAML = ROOT / "hardware_configs" / "mixed_rig.yaml"

DEVICE_REMOVED = -200045
BUFFER_OVERFLOW = -200279
NO_SUCH_CHANNEL = -200170
READ_TIMEOUT = -200284


def daq_error(code: int, text: str = "DAQmx error") -> DaqError:
    return DaqError(f"{text}\nStatus Code: {code}", code)


# --- the recording fake ---------------------------------------------------------------------


def _bound(real: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Bind a call to the real nidaqmx signature (TypeError if nidaqmx would refuse it) and
    return every argument by name, defaults included, so tests assert on complete calls."""
    bound = inspect.signature(real).bind(None, *args, **kwargs)
    bound.apply_defaults()
    params = dict(bound.arguments)
    params.pop("self")
    return params


class FakeChannels:
    """``task.do_channels`` and friends: record each channel with its complete arguments."""

    def __init__(self, task: FakeTask, kind: str) -> None:
        self.task, self.kind = task, kind

    def _add(self, real: Callable[..., Any], args: Any, kwargs: Any) -> None:
        params = _bound(real, *args, **kwargs)
        self.task.check("add_chan")
        physical = params.get("lines", params.get("physical_channel", params.get("counter")))
        if physical in self.task.ni.missing_channels:
            raise daq_error(NO_SUCH_CHANNEL, "Physical channel specified does not exist.")
        self.task.channels.append((self.kind, physical, params))

    def add_do_chan(self, *a: Any, **k: Any) -> None:
        self._add(DOChannelCollection.add_do_chan, a, k)

    def add_di_chan(self, *a: Any, **k: Any) -> None:
        self._add(DIChannelCollection.add_di_chan, a, k)

    def add_ao_voltage_chan(self, *a: Any, **k: Any) -> None:
        self._add(AOChannelCollection.add_ao_voltage_chan, a, k)

    def add_ai_voltage_chan(self, *a: Any, **k: Any) -> None:
        self._add(AIChannelCollection.add_ai_voltage_chan, a, k)

    def add_co_pulse_chan_time(self, *a: Any, **k: Any) -> FakeCOChannel:
        self._add(COChannelCollection.add_co_pulse_chan_time, a, k)
        return FakeCOChannel(self.task)


class FakeCOChannel:
    """The channel object ``add_co_pulse_chan_time`` returns: records its output terminal."""

    def __init__(self, task: FakeTask) -> None:
        object.__setattr__(self, "task", task)

    def __setattr__(self, name: str, value: Any) -> None:
        from nidaqmx.task.channels import COChannel

        if not isinstance(getattr(COChannel, name, None), property):
            raise AttributeError(f"COChannel has no property {name!r}")
        self.task.check("set " + name)
        self.task.ops.append(("set", (name, value)))


class FakeTiming:
    def __init__(self, task: FakeTask) -> None:
        self.task = task

    def cfg_samp_clk_timing(self, *a: Any, **k: Any) -> None:
        params = _bound(Timing.cfg_samp_clk_timing, *a, **k)
        self.task.check("timing")
        self.task.ops.append(("samp_clk", params))
        self.task.samp_clk = params

    def cfg_change_detection_timing(self, *a: Any, **k: Any) -> None:
        params = _bound(Timing.cfg_change_detection_timing, *a, **k)
        self.task.check("timing")
        self.task.ops.append(("change_detection", params))
        self.task.change_detection = params


class Ops(list):
    """A task's operations, also journaled on the fake driver so order across tasks shows."""

    def __init__(self, task: FakeTask) -> None:
        super().__init__()
        self.task = task

    def append(self, item: tuple[str, Any]) -> None:
        super().append(item)
        self.task.ni.journal.append((self.task.name.removeprefix("rigctl Dev1 "), item[0]))


class FakeTask:
    """A recording ``nidaqmx.Task``: channels, timing, writes, starts and stops, in order.

    Reads: an on-demand task reads the fake's current line levels; a change-detection or
    sample-clocked input task blocks on its queue (fed by the test) like a real buffered read,
    raising the DAQmx read timeout when nothing comes.
    """

    def __init__(self, ni: FakeNi, *args: Any, **kwargs: Any) -> None:
        params = _bound(RealTask.__init__, *args, **kwargs)
        self.ni = ni
        self.name: str = params["new_task_name"]
        self.channels: list[tuple[str, str, dict[str, Any]]] = []
        self.ops: list[tuple[str, Any]] = Ops(self)
        self.samp_clk: dict[str, Any] | None = None
        self.change_detection: dict[str, Any] | None = None
        self.running = False
        self.closed = False
        self.broken: DaqError | None = None
        self.samples: queue.Queue[Any] = queue.Queue()
        self.do_channels = FakeChannels(self, "do")
        self.di_channels = FakeChannels(self, "di")
        self.ao_channels = FakeChannels(self, "ao")
        self.ai_channels = FakeChannels(self, "ai")
        self.co_channels = FakeChannels(self, "co")
        self.timing = FakeTiming(self)

    # --- helpers for tests
    @property
    def lines(self) -> list[str]:
        return [physical for _, physical, _ in self.channels]

    @property
    def writes(self) -> list[Any]:
        return [data for op, data in self.ops if op == "write"]

    @property
    def last_write(self) -> Any:
        return self.writes[-1]

    def check(self, op: str) -> None:
        if self.closed:
            self.ni.misuse.append(f"{self.name}: {op} after close")
            raise daq_error(-200088, "Task specified is invalid or does not exist.")
        if self.ni.removed:
            raise daq_error(DEVICE_REMOVED, "Device has been removed.")
        if self.broken is not None:
            raise self.broken

    # --- the nidaqmx.Task API used by the backend
    def write(self, *a: Any, **k: Any) -> int:
        params = _bound(RealTask.write, *a, **k)
        self.check("write")
        data = params["data"]
        data = data.copy() if isinstance(data, np.ndarray) else data
        self.ops.append(("write", data))
        self.ops.append(("auto_start", params["auto_start"]))
        return 1

    def read(self, *a: Any, **k: Any) -> Any:
        params = _bound(RealTask.read, *a, **k)
        self.check("read")
        buffered = self.change_detection is not None or self.samp_clk is not None
        if not buffered:
            levels = [self.ni.levels[line] for line in self.lines]
            self.ops.append(("read", levels))
            return levels[0] if len(levels) == 1 else levels
        try:
            item = self.samples.get(timeout=params["timeout"])
        except queue.Empty:
            raise daq_error(READ_TIMEOUT, "Some or all of the samples requested have not yet "
                                          "been acquired.") from None
        if isinstance(item, BaseException):
            raise item
        return item

    def start(self) -> None:
        _bound(RealTask.start)
        self.check("start")
        self.ops.append(("start", None))
        self.running = True

    def stop(self) -> None:
        _bound(RealTask.stop)
        self.check("stop")
        self.ops.append(("stop", None))
        self.running = False

    def wait_until_done(self, *a: Any, **k: Any) -> None:
        _bound(RealTask.wait_until_done, *a, **k)
        self.check("wait_until_done")
        self.ops.append(("wait_until_done", None))

    def close(self) -> None:
        self.ops.append(("close", None))
        self.closed = True
        self.samples.put(daq_error(-200088, "Task specified is invalid or does not exist."))


class FakeDevice:
    def __init__(self, name: str, product_type: str, serial_num: int = 0x1A2B3C) -> None:
        self.name, self.product_type, self.serial_num = name, product_type, serial_num


class FakeNi:
    """The NI-DAQmx driver as the tests see it: devices, channel capabilities, line levels."""

    def __init__(self) -> None:
        self.tasks: list[FakeTask] = []
        self.devices = [FakeDevice("Dev1", "PCIe-6321")]
        self.caps: dict[str, dict[str, bool]] = {}  # channel -> capability: False
        self.missing_channels: set[str] = set()
        self.levels: dict[str, bool] = defaultdict(bool)
        self.removed = False
        self.driver_installed = True
        self.misuse: list[str] = []  # calls on closed tasks: a backend bug
        self.journal: list[tuple[str, str]] = []  # (task, op) across all tasks, in order

    # replacements of nidaqmx entry points
    def new_task(self, *args: Any, **kwargs: Any) -> FakeTask:
        if not self.driver_installed:
            raise DaqNotFoundError("Could not find an installation of NI-DAQmx.")
        task = FakeTask(self, *args, **kwargs)
        self.tasks.append(task)
        return task

    def local_system(self) -> Any:
        if not self.driver_installed:
            raise DaqNotFoundError("Could not find an installation of NI-DAQmx.")
        system = type("FakeSystem", (), {})()
        system.devices = list(self.devices)
        return system

    def physical_channel(self, name: str, *, grpc_options: Any = None) -> Any:
        caps = self.caps.get(name, {})

        class FakePhysicalChannel:
            def __getattr__(self, attr: str) -> bool:
                return caps.get(attr, True)

        return FakePhysicalChannel()

    # test controls
    def named(self, suffix: str) -> FakeTask:
        """The latest task named ``rigctl Dev1 <suffix>``."""
        found = [t for t in self.tasks if t.name.endswith(" " + suffix)]
        assert found, f"no task {suffix!r} among {[t.name for t in self.tasks]}"
        return found[-1]

    def on(self, channel: str) -> list[FakeTask]:
        """Every task that drove ``channel``, oldest first."""
        return [t for t in self.tasks if channel in t.lines]

    def last_value(self, channel: str) -> Any:
        """What ``channel`` was last driven to by any task (the line's or AO's final level)."""
        value = None
        for task in self.tasks:
            if channel not in task.lines:
                continue
            for op, data in task.ops:
                if op != "write":
                    continue
                arr = np.asarray(data)
                per_line = arr.ndim == 2 or (
                    arr.ndim == 1 and len(task.lines) > 1 and task.samp_clk is None
                )
                if per_line:
                    arr = arr[task.lines.index(channel)]
                value = arr.reshape(-1)[-1].item() if arr.size else None
        return value

    def set_level(self, line: str, level: bool) -> None:
        """The sensor on ``line`` changes: change-detection tasks get a sample of all lines."""
        self.levels[line] = level
        for task in self.tasks:
            if task.change_detection is not None and task.running and line in task.lines:
                levels = [self.levels[ln] for ln in task.lines]
                task.samples.put(levels[0] if len(levels) == 1 else levels)

    def remove_device(self) -> None:
        """The card vanishes (USB cable pulled): every call fails, blocked reads wake."""
        self.removed = True
        for task in self.tasks:
            task.samples.put(daq_error(DEVICE_REMOVED, "Device has been removed."))


@pytest.fixture
def fake_ni(monkeypatch: pytest.MonkeyPatch):
    fake = FakeNi()
    monkeypatch.setattr(nidaqmx, "Task", fake.new_task)
    monkeypatch.setattr(nidaqmx.system.System, "local", staticmethod(fake.local_system))
    monkeypatch.setattr(nidaqmx.system, "PhysicalChannel", fake.physical_channel)
    yield fake
    assert not fake.misuse, fake.misuse


class RecordingSink:
    """The engine's event queue as a device sees it: thread-safe, records everything."""

    def __init__(self) -> None:
        self.events: list[InputEvent] = []
        self.chunks: list[SignalChunk] = []
        self.failures: list[DeviceError] = []
        self._lock = threading.Lock()

    def put(self, event: InputEvent) -> None:
        with self._lock:
            self.events.append(event)

    def put_signal(self, chunk: SignalChunk) -> None:
        with self._lock:
            self.chunks.append(chunk)

    def fail(self, error: DeviceError) -> None:
        with self._lock:
            self.failures.append(error)


def is_off_task(task: FakeTask) -> bool:
    """A fresh task made by an off path to reach a line whose own task failed."""
    return task.name.split()[-1].startswith("off#")


def wait_for(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= end:  # hang guard, not a speed check
            pytest.fail("condition not reached in time")
        time.sleep(0.002)


SETTINGS: dict[str, Any] = {"laser_volts_per_mw": 0.25}


@pytest.fixture
def open_device(fake_ni: FakeNi):
    """Open ``Dev1`` with settings; every device opened is closed at teardown."""
    opened: list[Any] = []

    def make(clock: Any = None, **settings: Any) -> tuple[Any, RecordingSink]:
        sink = RecordingSink()
        ctx = BuildContext(clock or WallClock(), Subject(id="M1"), np.random.SeedSequence(1),
                           sink, source="rig.yaml")
        device = nidaq.open("Dev1", nidaq.Settings(**{**SETTINGS, **settings}), ctx)
        opened.append(device)
        return device, sink

    yield make
    for device in opened:
        device.close()


class StepClock:
    """A wall clock the test moves by hand (``t``), so window arithmetic is exact."""

    realtime = True

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


def laser_cfg(**kw: Any) -> LaserConfig:
    return LaserConfig(**{"channel": "Dev1/ao0", **kw})


def no_ul(ms: float) -> float:
    return ms / 10


# --- without the driver: one line, exit 2 ---------------------------------------------------


def _run_without_driver(capsys, tmp_path) -> None:
    code = main(["run", str(NIDAQ_YAML), "--realtime", "--data", str(tmp_path)])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"rigctl: error: {NIDAQ_YAML}: device 'Dev1' (type nidaq)")
    assert "NI-DAQmx driver" in lines[0] and "hardware_configs/sim.yaml" in lines[0]
    assert not any(tmp_path.iterdir())  # refused before any session folder exists


def test_run_without_driver_is_one_line_naming_config_and_sim(fake_ni, capsys, tmp_path):
    fake_ni.driver_installed = False  # what nidaqmx raises when the C library is absent
    _run_without_driver(capsys, tmp_path)


def test_run_without_driver_through_the_real_nidaqmx(capsys, tmp_path):
    try:
        nidaqmx.system.System.local().devices  # noqa: B018 - probing for the driver
    except DaqNotFoundError:
        _run_without_driver(capsys, tmp_path)
    else:
        pytest.skip("the NI-DAQmx driver is installed on this computer")


def test_check_validates_without_driver_or_card(capsys, monkeypatch):
    def no_task(*a: Any, **k: Any) -> None:
        raise AssertionError("rigctl check must not create NI tasks")

    monkeypatch.setattr(nidaqmx, "Task", no_task)
    code = main(["check", str(NIDAQ_YAML)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Dev1: nidaq" in out and "Dev1/port0/line0" in out and "Dev1/ai0" in out


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"di_mode": "interrupt"}, "devices.Dev1.di_mode: Input should be 'auto'"),
        ({"do_rate": 1000}, "devices.Dev1.do_rate: unknown field"),
        ({"ao_min_v": 5, "ao_max_v": 1}, "ao_min_v (5 V) must be below ao_max_v (1 V)"),
        ({"laser_volts_per_mw": -1}, "devices.Dev1.laser_volts_per_mw: Input should be greater"),
        ({"ai_terminal": "diff"}, "devices.Dev1.ai_terminal: Input should be"),
    ],
)
def test_bad_device_settings_are_one_line_naming_the_field(capsys, tmp_path, changes, expected):
    data = yaml.safe_load(NIDAQ_YAML.read_text())
    data["devices"]["Dev1"].update(changes)
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(data))
    code = main(["check", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and expected in err, err


# --- opening: driver, card, clock -----------------------------------------------------------


def test_missing_card_names_it_the_cards_present_and_rigctl_devices(fake_ni, open_device):
    fake_ni.devices = [FakeDevice("Dev2", "USB-6001")]
    with pytest.raises(DeviceError) as exc:
        open_device()
    msg = str(exc.value)
    assert "rig.yaml: NI device 'Dev1' not found (present: Dev2)" in msg
    assert "rigctl devices" in msg and "\n" not in msg


def test_virtual_clock_is_refused(open_device):
    with pytest.raises(DeviceError, match="runs on the wall clock; run with --realtime"):
        open_device(clock=VirtualClock())


def test_missing_driver_at_open_is_a_rigctl_error_not_a_device_failure(fake_ni, open_device):
    fake_ni.driver_installed = False
    with pytest.raises(RigctlError, match="needs the NI-DAQmx driver") as exc:
        open_device()
    assert not isinstance(exc.value, DeviceError)


# --- channels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda d: d.valve("Dev1/ao0", "valve_left", no_ul),
         "valve_left channel 'Dev1/ao0' must be an NI line (Dev1/port0/line0)"),
        (lambda d: d.digital_input("Dev1/ai3", "lick_left"),
         "lick_left channel 'Dev1/ai3' must be an NI line"),
        (lambda d: d.signal_input("Dev1/port0/line5", "neural_signal", 1000),
         "must be an NI ai (Dev1/ai0)"),
        (lambda d: d.laser("Dev1/ai0", laser_cfg()),
         "must be an NI ao (Dev1/ao0) or line (Dev1/port0/line0)"),
    ],
)
def test_wrong_kind_of_channel_is_refused(open_device, build, expected):
    device, _ = open_device()
    with pytest.raises(DeviceError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        build(device)


def test_a_line_cannot_serve_two_roles(open_device):
    device, _ = open_device()
    device.digital_input("Dev1/port0/line2", "lick_left")
    with pytest.raises(DeviceError, match="used twice \\(lick_left and cue_go\\)"):
        device.digital_output("Dev1/Port0/Line2", "cue_go")


def test_a_channel_the_card_lacks_is_one_line_with_the_ni_error(fake_ni, open_device):
    fake_ni.missing_channels.add("Dev1/port1/line9")
    device, _ = open_device()
    with pytest.raises(DeviceError) as exc:
        device.digital_output("Dev1/port1/line9", "cue_go")
    assert str(exc.value) == (
        "device 'Dev1': cue_go on Dev1/port1/line9: Physical channel specified does not "
        f"exist. (NI error {NO_SUCH_CHANNEL})"
    )
    assert fake_ni.named("cue_go").closed


# --- valves -----------------------------------------------------------------------------------


def test_valves_share_one_hardware_timed_do_task_one_channel_per_line(fake_ni, open_device):
    device, _ = open_device()
    device.valve("Dev1/port0/line0", "valve_left", no_ul)
    device.valve("Dev1/port0/line1", "valve_right", no_ul)
    device.start()
    task = fake_ni.named("valves")
    assert [(k, p, a["line_grouping"]) for k, p, a in task.channels] == [
        ("do", "Dev1/port0/line0", LineGrouping.CHAN_PER_LINE),
        ("do", "Dev1/port0/line1", LineGrouping.CHAN_PER_LINE),
    ]
    # start drives both valves closed with a minimal finite generation
    assert task.samp_clk == {"rate": 10000.0, "source": "", "active_edge": task.samp_clk[
        "active_edge"], "sample_mode": AcquisitionType.FINITE, "samps_per_chan": 2}
    np.testing.assert_array_equal(task.last_write, np.zeros((2, 2), dtype=bool))


def test_valve_opening_is_one_pulse_of_exact_samples_then_low(fake_ni, open_device):
    device, _ = open_device(do_rate_hz=10_000)
    left = device.valve("Dev1/port0/line0", "valve_left", no_ul)
    device.valve("Dev1/port0/line1", "valve_right", no_ul)
    device.start()
    task = fake_ni.named("valves")
    n_before = len(task.ops)
    left.open_for(0.0503)
    ops = [op for op, _ in task.ops[n_before:]]
    assert ops == ["stop", "samp_clk", "write", "auto_start", "start"]
    assert task.samp_clk["rate"] == 10_000
    assert task.samp_clk["sample_mode"] == AcquisitionType.FINITE
    assert task.samp_clk["samps_per_chan"] == 504
    expected = np.zeros((2, 504), dtype=bool)
    expected[0, :503] = True  # 50.3 ms at 10 kHz, then one low sample ends it closed
    np.testing.assert_array_equal(task.last_write, expected)
    assert ("auto_start", False) in task.ops[n_before:]


def test_single_valve_writes_a_one_dimensional_waveform(fake_ni, open_device):
    device, _ = open_device(do_rate_hz=1000)
    valve = device.valve("Dev1/port0/line0", "valve_left", no_ul)
    device.start()
    valve.open_for(0.004)
    assert fake_ni.named("valves").last_write.tolist() == [True] * 4 + [False]


def test_overlapping_openings_keep_the_other_valve_open_for_its_remaining_time(
    fake_ni, open_device
):
    device, _ = open_device(do_rate_hz=10_000)
    left = device.valve("Dev1/port0/line0", "valve_left", no_ul)
    right = device.valve("Dev1/port0/line1", "valve_right", no_ul)
    device.start()
    t0 = time.perf_counter()
    left.open_for(0.2)
    right.open_for(0.02)
    elapsed = time.perf_counter() - t0
    data = fake_ni.named("valves").last_write
    left_high, right_high = int(data[0].sum()), int(data[1].sum())
    assert right_high == 200
    assert 2000 - round(elapsed * 10_000) - 2 <= left_high <= 2000
    assert data[0, :left_high].all() and data[1, :200].all() and not data[:, -1].any()
    right.close()  # closing one valve leaves the other running
    data = fake_ni.named("valves").last_write
    assert not data[1].any() and data[0].sum() > 0
    left.close()
    assert not fake_ni.named("valves").last_write.any()


def test_valve_timing_auto_uses_a_thread_where_the_line_has_no_sample_clock(
    fake_ni, open_device
):
    fake_ni.caps["Dev1/port1/line0"] = {"do_samp_clk_supported": False}
    device, _ = open_device()
    valve = device.valve("Dev1/port1/line0", "valve_left", no_ul)
    device.start()
    task = fake_ni.named("valve_left")
    assert task.channels == [("do", "Dev1/port1/line0", {
        "lines": "Dev1/port1/line0", "name_to_assign_to_lines": "",
        "line_grouping": LineGrouping.CHAN_PER_LINE})]
    t0 = time.perf_counter()
    valve.open_for(0.03)
    wait_for(lambda: task.writes[-1] is False)
    took = time.perf_counter() - t0
    assert task.writes == [False, True, False]
    assert task.samp_clk is None and task.change_detection is None  # on-demand writes
    assert 0.029 <= took < 0.2


def test_thread_timed_valve_close_cancels_the_pending_closing(fake_ni, open_device):
    device, _ = open_device(valve_timing="thread")
    valve = device.valve("Dev1/port0/line0", "valve_left", no_ul)
    valve.open_for(0.05)
    valve.close()
    time.sleep(0.08)
    assert fake_ni.named("valve_left").writes == [False, True, False]


# --- digital outputs --------------------------------------------------------------------------


def test_cue_line_is_on_demand_low_until_set_and_low_on_close(fake_ni, open_device):
    device, _ = open_device()
    cue = device.digital_output("Dev1/port1/line1", "cue_go")
    task = fake_ni.named("cue_go")
    cue.set(True)
    cue.set(False)
    cue.set(True)
    device.close()
    assert task.lines == ["Dev1/port1/line1"]
    assert task.channels[0][2]["line_grouping"] == LineGrouping.CHAN_PER_LINE
    assert task.writes == [False, True, False, True, False]
    assert task.samp_clk is None and task.closed


# --- laser ------------------------------------------------------------------------------------


def laser_on(fake_ni: FakeNi, open_device: Any, clock: Any = None, cfg: Any = None,
             **settings: Any) -> tuple[Any, Any, FakeTask]:
    device, sink = open_device(clock=clock, **settings)
    laser = device.laser("Dev1/ao0", cfg or laser_cfg(max_power_mw=15))
    return device, laser, fake_ni.named("laser")


def window(level: float, n: int, ramp_steps: int) -> np.ndarray:
    """``n`` samples at ``level``, the last ``ramp_steps`` falling linearly to exactly 0."""
    out = np.full(n, level)
    out[n - 1 - ramp_steps:] *= np.linspace(1.0, 0.0, ramp_steps + 1)
    return out


def test_laser_ao_channel_range_and_initial_zero(fake_ni, open_device):
    _, _, task = laser_on(fake_ni, open_device, ao_min_v=0.0, ao_max_v=5.0)
    (kind, physical, params), = task.channels
    assert (kind, physical, params["min_val"], params["max_val"]) == ("ao", "Dev1/ao0", 0.0, 5.0)
    np.testing.assert_array_equal(task.last_write, [0.0, 0.0])
    assert task.samp_clk["sample_mode"] == AcquisitionType.FINITE


def test_constant_emission_is_a_finite_waveform_the_card_ends_at_0v_by_max_on_s(fake_ni,
                                                                              open_device):
    """Issue 11 §3: the card, not the host, ends the light: one finite generation of
    max_on_s x rate samples, its ramp-down inside, last sample 0 V (held by the channel)."""
    cfg = laser_cfg(max_power_mw=15, max_on_s=2.0, ramp_down_s=0.1)
    _, laser, task = laser_on(fake_ni, open_device, clock=StepClock(), cfg=cfg,
                              laser_volts_per_mw=0.25, ao_rate_hz=1000)
    laser.emit(5.0)
    np.testing.assert_allclose(task.last_write, window(1.25, 2000, 100))
    assert task.samp_clk["rate"] == 1000 and task.samp_clk["samps_per_chan"] == 2000
    assert task.samp_clk["sample_mode"] == AcquisitionType.FINITE
    assert task.last_write[-1] == 0.0
    assert [op for op, _ in task.ops[-5:]] == ["stop", "samp_clk", "write", "auto_start", "start"]


def test_a_host_that_stops_calling_cannot_extend_the_light_past_max_on_s(fake_ni, open_device):
    """Whatever the host writes while the light is on, the card's waveform ends by the window's
    end (light onset + max_on_s); once it is written, a stalled host adds nothing."""
    clock = StepClock()
    cfg = laser_cfg(max_power_mw=15, max_on_s=2.0, ramp_down_s=0.1)
    _, laser, task = laser_on(fake_ni, open_device, clock=clock, cfg=cfg,
                              laser_volts_per_mw=0.25, ao_rate_hz=1000)
    ends = []
    for t, mw in [(0.0, 5.0), (0.8, 8.0), (1.5, 4.0), (1.99, 6.0)]:  # power changes, no stop
        clock.t = t
        laser.emit(mw)
        wave = task.last_write
        assert wave[-1] == 0.0 and task.samp_clk["sample_mode"] == AcquisitionType.FINITE
        ends.append(t + len(wave) / 1000)
    assert max(ends) <= 2.0 + 1e-9  # never past onset + max_on_s
    clock.t = 0.8
    writes = len(task.writes)
    np.testing.assert_allclose(task.writes[1 + 1], window(2.0, 1200, 100))  # 8 mW at 0.8 s
    # The host stalls from here: no call reaches the card; what it plays ends at 0 V by 2 s.
    assert len(task.writes) == writes
    # The engine's own cut comes late (host resumed at 2.5 s): the card is already dark, and a
    # new onset opens a new window of max_on_s.
    clock.t = 2.5
    laser.stop(0.1)
    assert len(task.writes) == writes  # nothing rewritten: no flash after the card's ramp
    laser.emit(5.0)
    assert len(task.last_write) == 2000


def test_off_and_on_inside_the_ramp_is_one_window(fake_ni, open_device):
    """Light that never reached 0 V is one continuous emission: on again during the ramp-down
    keeps the window's end (it cannot be used to restart the limit)."""
    clock = StepClock()
    cfg = laser_cfg(max_power_mw=15, max_on_s=2.0, ramp_down_s=0.1)
    _, laser, task = laser_on(fake_ni, open_device, clock=clock, cfg=cfg,
                              laser_volts_per_mw=0.25, ao_rate_hz=1000)
    laser.emit(5.0)
    clock.t = 1.0
    laser.stop(0.1)
    clock.t = 1.05  # still ramping
    laser.emit(5.0)
    assert 1.05 + len(task.last_write) / 1000 <= 2.0 + 1e-9
    clock.t = 1.5
    laser.stop(0.1)
    clock.t = 1.7  # dark since 1.6: a new window
    laser.emit(5.0)
    assert len(task.last_write) == 2000
    clock.t = 3.6985  # less than two samples of the window left: off, not a flash
    laser.emit(5.0)
    np.testing.assert_array_equal(task.last_write, [0.0, 0.0])


def test_pulse_train_is_whole_periods_for_the_window_ending_at_0v(fake_ni, open_device):
    cfg = laser_cfg(max_power_mw=15, max_on_s=0.2, ramp_down_s=0.0)
    _, laser, task = laser_on(fake_ni, open_device, clock=StepClock(), cfg=cfg, ao_rate_hz=10_000)
    laser.emit(10.0, PulseTrain(frequency_hz=20, width_s=0.005))
    period = np.zeros(500)
    period[:50] = 2.5  # 5 ms at 10 mW x 0.25 V/mW, then 45 ms at 0 V
    np.testing.assert_allclose(task.last_write, np.tile(period, 4))
    assert task.samp_clk["sample_mode"] == AcquisitionType.FINITE
    assert task.samp_clk["samps_per_chan"] == 2000 and task.last_write[-1] == 0.0


def test_ramp_down_of_constant_emission_is_linear_to_zero_in_hardware(fake_ni, open_device):
    _, laser, task = laser_on(fake_ni, open_device, ao_rate_hz=10_000)
    laser.emit(8.0)
    laser.stop(0.1)
    np.testing.assert_allclose(task.last_write, np.linspace(2.0, 0.0, 1001))
    assert task.samp_clk["sample_mode"] == AcquisitionType.FINITE
    assert task.samp_clk["samps_per_chan"] == 1001 and task.last_write[-1] == 0.0


def test_ramp_down_of_a_pulse_train_keeps_pulsing_under_a_falling_envelope(fake_ni, open_device):
    _, laser, task = laser_on(fake_ni, open_device, ao_rate_hz=1000)
    laser.emit(4.0, PulseTrain(frequency_hz=100, width_s=0.002))  # period 10, 2 samples on
    laser.stop(0.02)  # 20 steps: 21 samples
    envelope = np.linspace(1.0, 0.0, 21)
    pattern = np.resize([1.0, 1.0] + [0.0] * 8, 21)
    np.testing.assert_allclose(task.last_write, pattern * envelope)
    # emit again, stop without ramp: off at once
    laser.emit(4.0)
    laser.stop(0.0)
    np.testing.assert_array_equal(task.last_write, [0.0, 0.0])


def test_laser_needs_volts_per_mw_and_a_ceiling_inside_the_ao_range(fake_ni, open_device):
    device, _ = open_device(laser_volts_per_mw=None)
    with pytest.raises(DeviceError, match="needs devices.Dev1.laser_volts_per_mw"):
        device.laser("Dev1/ao0", laser_cfg())
    device, _ = open_device(laser_volts_per_mw=0.5, ao_max_v=5.0)
    with pytest.raises(DeviceError, match="15 mW needs 7.5 V, above ao_max_v 5 V"):
        device.laser("Dev1/ao0", laser_cfg(max_power_mw=15))


def test_pulse_train_the_sample_clock_cannot_make_is_refused(fake_ni, open_device):
    _, laser, task = laser_on(fake_ni, open_device, ao_rate_hz=1000)
    with pytest.raises(DeviceError, match="cannot be made from 1000 Hz samples"):
        laser.emit(4.0, PulseTrain(frequency_hz=500, width_s=0.002))


def test_laser_on_a_digital_line_switches_only_and_cannot_ramp_or_pulse(fake_ni, open_device):
    device, _ = open_device()
    with pytest.raises(DeviceError, match="cannot ramp down.*laser.ramp_down_s: 0"):
        device.laser("Dev1/port1/line3", laser_cfg(channel="Dev1/port1/line3"))
    device, _ = open_device(laser_counter=None)
    laser = device.laser("Dev1/port1/line3", laser_cfg(channel="Dev1/port1/line3",
                                                       ramp_down_s=0))
    laser.emit(5.0)
    laser.stop(0.0)
    with pytest.raises(DeviceError, match="cannot time pulse trains"):
        laser.emit(5.0, PulseTrain(20, 0.005))
    assert fake_ni.named("laser").writes == [False, True, False]


def co_pulses(fake_ni: FakeNi, role: str) -> list[FakeTask]:
    return [t for t in fake_ni.tasks if t.name.endswith(" " + role)
            and t.channels and t.channels[0][0] == "co"]


@pytest.mark.parametrize("role", ["laser_gate", "laser"])
def test_laser_line_is_one_counter_pulse_of_max_on_s_the_card_ends(fake_ni, open_device, role):
    """Issue 11 §3: a TTL laser line or the laser gate is a single counter pulse whose high
    time is max_on_s, idle low, on the line's PFI terminal: the card lowers it by itself."""
    from nidaqmx.constants import Level, TimeUnits

    clock = StepClock()
    device, _ = open_device(clock=clock)
    cfg = laser_cfg(channel="Dev1/port1/line3", ramp_down_s=0, max_on_s=30.0)
    line = (device.laser("Dev1/port1/line3", cfg).output if role == "laser"
            else device.laser_gate("Dev1/port1/line3", cfg))
    assert fake_ni.last_value("Dev1/port1/line3") is False  # low from the start
    line.set(True)
    (task,) = co_pulses(fake_ni, role)
    (kind, counter, params), = task.channels
    assert (kind, counter) == ("co", "Dev1/ctr0")
    assert (params["high_time"], params["idle_state"], params["units"]) == (
        30.0, Level.LOW, TimeUnits.SECONDS)
    assert [op for op, _ in task.ops] == ["set", "start"]
    assert task.ops[0][1] == ("co_pulse_term", "/Dev1/PFI3")
    assert task.samp_clk is None  # no sample timing: one pulse, finite
    # Raising it again (the next power change) cannot extend the pulse.
    clock.t = 20.0
    line.set(True)
    assert len(co_pulses(fake_ni, role)) == 1
    # Lowering releases the counter and drives the line low at once.
    clock.t = 21.0
    line.set(False)
    assert task.closed and fake_ni.last_value("Dev1/port1/line3") is False
    # After the pulse has ended on the card, a new onset is a new pulse of max_on_s.
    line.set(True)
    assert len(co_pulses(fake_ni, role)) == 2
    device.close()
    assert all(t.closed for t in fake_ni.tasks)
    assert fake_ni.last_value("Dev1/port1/line3") is False


def test_a_counter_timed_line_goes_low_when_its_task_fails(fake_ni, open_device):
    device, _ = open_device()
    gate = device.laser_gate("Dev1/port1/line2", laser_cfg())
    gate.set(True)
    (pulse,) = co_pulses(fake_ni, "laser_gate")
    pulse.broken = daq_error(-200019, "Counter output failed.")
    gate.set(False)  # a broken counter task cannot stop the line going low
    assert pulse.closed and fake_ni.last_value("Dev1/port1/line2") is False
    fake_ni.remove_device()
    with pytest.raises(DeviceError, match=r"laser_gate on Dev1/port1/line2 .*NI error -200045"):
        gate.set(True)
    device.close()  # never raises; the off path still tried a fresh task
    assert all(t.closed for t in fake_ni.tasks)
    assert is_off_task(fake_ni.tasks[-1])  # tried, and failed on the vanished card


def test_a_counter_timed_line_needs_a_pfi_line_and_its_own_counter(fake_ni, open_device):
    device, _ = open_device()
    with pytest.raises(DeviceError, match=r"port1/port2 line.*laser_counter: null"):
        device.laser_gate("Dev1/port0/line4", laser_cfg())
    device, _ = open_device()
    device.laser("Dev1/port1/line3", laser_cfg(channel="Dev1/port1/line3", ramp_down_s=0))
    with pytest.raises(DeviceError, match="Dev1/ctr0' is used twice"):
        device.laser_gate("Dev1/port1/line2", laser_cfg())
    device, _ = open_device(laser_counter=None)  # untimed: an on-demand line
    device.laser_gate("Dev1/port0/line4", laser_cfg()).set(True)
    assert fake_ni.named("laser_gate").writes == [False, True]


# --- digital inputs ---------------------------------------------------------------------------


def test_licks_by_change_detection_one_task_both_edges_all_lines(fake_ni, open_device):
    device, sink = open_device()
    device.digital_input("Dev1/port0/line2", "lick_left")
    device.digital_input("Dev1/port0/line3", "lick_right")
    device.start()
    idle, task = fake_ni.named("inputs idle"), fake_ni.named("inputs")
    assert idle.lines == task.lines == ["Dev1/port0/line2", "Dev1/port0/line3"]
    assert idle.closed and ("read", [False, False]) in idle.ops  # idle levels, on demand
    assert all(a["line_grouping"] == LineGrouping.CHAN_PER_LINE for _, _, a in task.channels)
    assert task.change_detection == {
        "rising_edge_chan": "Dev1/port0/line2, Dev1/port0/line3",
        "falling_edge_chan": "Dev1/port0/line2, Dev1/port0/line3",
        "sample_mode": AcquisitionType.CONTINUOUS, "samps_per_chan": 1000,
    }
    assert task.running and task.samp_clk is None
    fake_ni.set_level("Dev1/port0/line2", True)
    fake_ni.set_level("Dev1/port0/line3", True)
    fake_ni.set_level("Dev1/port0/line2", False)
    wait_for(lambda: len(sink.events) == 3)
    assert [(e.name, e.value) for e in sink.events] == [
        ("lick_left", 1.0), ("lick_right", 1.0), ("lick_left", 0.0)]
    times = [e.t for e in sink.events]
    assert times == sorted(times) and times[0] > 0


def test_active_low_inputs_are_inverted(fake_ni, open_device):
    fake_ni.levels["Dev1/port0/line2"] = True  # idle: beam unbroken, line high
    device, sink = open_device(di_active_low=True)
    device.digital_input("Dev1/port0/line2", "lick_left")
    device.start()
    fake_ni.set_level("Dev1/port0/line2", False)
    wait_for(lambda: len(sink.events) == 1)
    assert (sink.events[0].name, sink.events[0].value) == ("lick_left", 1.0)


def test_auto_falls_back_to_polling_where_a_line_lacks_change_detection(fake_ni, open_device):
    fake_ni.caps["Dev1/port1/line4"] = {"di_change_detect_supported": False}
    device, sink = open_device(di_poll_period_s=0.001)
    device.digital_input("Dev1/port0/line2", "lick_left")
    device.digital_input("Dev1/port1/line4", "beam")
    device.start()
    task = fake_ni.named("inputs")
    assert device.inputs.mode == "polled"
    assert task.change_detection is None and task.samp_clk is None  # on-demand reads
    fake_ni.levels["Dev1/port1/line4"] = True
    wait_for(lambda: len(sink.events) == 1)
    fake_ni.levels["Dev1/port1/line4"] = False
    wait_for(lambda: len(sink.events) == 2)
    assert [(e.name, e.value) for e in sink.events] == [("beam", 1.0), ("beam", 0.0)]
    reads = sum(op == "read" for op, _ in task.ops)
    assert reads >= 3


def test_forced_change_detection_and_forced_polling(fake_ni, open_device):
    device, _ = open_device(di_mode="polled")
    device.digital_input("Dev1/port0/line2", "lick_left")
    device.start()
    assert fake_ni.named("inputs").change_detection is None
    fake_ni.caps["Dev1/port0/line3"] = {"di_change_detect_supported": False}
    device, _ = open_device(di_mode="change_detection")
    device.digital_input("Dev1/port0/line3", "lick_left")
    device.start()  # the operator asked for it: the card (here, the fake) decides
    assert fake_ni.named("inputs").change_detection is not None


# --- analog input -----------------------------------------------------------------------------


def test_neural_signal_is_continuous_hardware_timed_ai_in_chunks(fake_ni, open_device):
    device, sink = open_device(signal_chunk_s=0.01, ai_terminal="differential",
                               ai_min_v=-5, ai_max_v=5, ai_buffer_s=10)
    device.signal_input("Dev1/ai0", "neural_signal", 1000)
    task = fake_ni.named("neural_signal")
    (kind, physical, params), = task.channels
    assert (kind, physical) == ("ai", "Dev1/ai0")
    assert params["terminal_config"] == TerminalConfiguration.DIFF
    assert (params["min_val"], params["max_val"]) == (-5, 5)
    assert task.samp_clk["rate"] == 1000
    assert task.samp_clk["sample_mode"] == AcquisitionType.CONTINUOUS
    assert task.samp_clk["samps_per_chan"] == 10_000
    t_before = device.ctx.clock.now()
    device.start()
    first, second = list(np.arange(10) / 10), list(np.arange(10, 20) / 10)
    task.samples.put(first)
    task.samples.put(second)
    wait_for(lambda: len(sink.chunks) == 2)
    a, b = sink.chunks
    assert (a.first, b.first, a.rate_hz, a.name) == (0, 10, 1000, "neural_signal")
    np.testing.assert_array_equal(a.samples, first)
    np.testing.assert_array_equal(b.samples, second)
    assert t_before <= a.t0 and b.t0 == pytest.approx(a.t0 + 0.010, abs=1e-12)


def test_one_continuous_analog_input_per_card(open_device):
    device, _ = open_device()
    device.signal_input("Dev1/ai0", "neural_signal", 1000)
    with pytest.raises(DeviceError, match="one continuous analog input per card"):
        device.signal_input("Dev1/ai1", "other", 1000)


# --- faults: every output goes off on close and on error ---------------------------------------


def build_everything(fake_ni: FakeNi, open_device: Any, **settings: Any) -> tuple[Any, Any, dict]:
    """Dev1 with every kind of channel, as in nidaq_rig.yaml, plus a thread-timed valve."""
    fake_ni.caps["Dev1/port1/line5"] = {"do_samp_clk_supported": False}
    device, sink = open_device(**settings)
    drivers = {
        "valve_left": device.valve("Dev1/port0/line0", "valve_left", no_ul),
        "valve_right": device.valve("Dev1/port0/line1", "valve_right", no_ul),
        "valve_thread": device.valve("Dev1/port1/line5", "valve_thread", no_ul),
        "cue_go": device.digital_output("Dev1/port1/line1", "cue_go"),
        "laser_gate": device.digital_output("Dev1/port1/line2", "laser_gate"),
        "laser": device.laser("Dev1/ao0", laser_cfg()),
    }
    device.digital_input("Dev1/port0/line2", "lick_left")
    device.signal_input("Dev1/ai0", "neural_signal", 1000)
    device.start()
    return device, sink, drivers


OFF = {
    "Dev1/port0/line0": False, "Dev1/port0/line1": False, "Dev1/port1/line5": False,
    "Dev1/port1/line1": False, "Dev1/port1/line2": False, "Dev1/ao0": 0.0,
}


def everything_on(drivers: dict) -> None:
    drivers["valve_left"].open_for(0.4)
    drivers["valve_thread"].open_for(0.4)
    drivers["cue_go"].set(True)
    drivers["laser_gate"].set(True)
    drivers["laser"].emit(10.0, PulseTrain(20, 0.005))


def test_close_turns_every_output_off_and_closes_every_task(fake_ni, open_device):
    device, _, drivers = build_everything(fake_ni, open_device)
    everything_on(drivers)
    assert fake_ni.last_value("Dev1/port1/line1") is True
    device.close()
    assert {ch: fake_ni.last_value(ch) for ch in OFF} == OFF
    assert all(t.closed for t in fake_ni.tasks)
    assert not any(is_off_task(t) for t in fake_ni.tasks)  # no fallback needed


def test_close_turns_the_laser_off_first_and_stops_readers_last(fake_ni, open_device):
    device, _, drivers = build_everything(fake_ni, open_device)
    everything_on(drivers)
    start = len(fake_ni.journal)
    device.close()
    writes = [name for name, op in fake_ni.journal[start:] if op == "write"]
    assert writes[0] == "laser"
    assert writes.index("valves") < writes.index("cue_go")
    closes = [name for name, op in fake_ni.journal[start:] if op == "close"]
    assert closes[-2:] == ["inputs", "neural_signal"]


@pytest.mark.parametrize(
    ("output", "command", "off"),
    [
        ("valves", lambda d: d["valve_left"].open_for(0.1), lambda d: d["valve_left"].close()),
        ("valve_thread", lambda d: d["valve_thread"].open_for(0.1),
         lambda d: d["valve_thread"].close()),
        ("cue_go", lambda d: d["cue_go"].set(True), lambda d: d["cue_go"].set(False)),
        ("laser_gate", lambda d: d["laser_gate"].set(True), lambda d: d["laser_gate"].set(False)),
        ("laser", lambda d: d["laser"].emit(5.0), lambda d: d["laser"].force_off()),
        ("laser", lambda d: d["laser"].stop(0.1), lambda d: d["laser"].force_off()),
    ],
)
def test_every_output_path_goes_off_when_its_task_fails(fake_ni, open_device, output,
                                                        command, off):
    device, _, drivers = build_everything(fake_ni, open_device)
    everything_on(drivers)
    task = fake_ni.named(output)
    task.broken = daq_error(-200019, "ADC conversion attempted before the prior one completed.")
    with pytest.raises(DeviceError) as exc:
        command(drivers)
    assert str(exc.value).startswith("device 'Dev1': ") and "(NI error -200019)" in str(exc.value)
    assert "\n" not in str(exc.value)
    if output == "laser":
        off(drivers)  # force_off never raises: it turns to a fresh task
        assert fake_ni.last_value("Dev1/ao0") == 0.0
    device.close()  # what the session does next: every output off, broken task bypassed
    assert {ch: fake_ni.last_value(ch) for ch in OFF} == OFF
    fallbacks = [t for t in fake_ni.tasks if is_off_task(t)]
    assert fallbacks and set().union(*(t.lines for t in fallbacks)) <= set(OFF)
    assert all(t.closed for t in fake_ni.tasks)


def test_thread_timed_closing_that_fails_ends_the_session_through_the_sink(fake_ni,
                                                                         open_device):
    device, sink, drivers = build_everything(fake_ni, open_device)
    drivers["valve_thread"].open_for(0.02)
    fake_ni.named("valve_thread").broken = daq_error(-200019, "Write failed.")
    wait_for(lambda: sink.failures)
    assert "valve_thread on Dev1/port1/line5" in str(sink.failures[0])
    device.close()
    assert fake_ni.last_value("Dev1/port1/line5") is False


@pytest.mark.parametrize("reader", ["inputs", "neural_signal"])
def test_a_reader_error_fails_the_session_and_close_still_turns_outputs_off(
    fake_ni, open_device, reader
):
    device, sink, drivers = build_everything(fake_ni, open_device)
    everything_on(drivers)
    fake_ni.named(reader).samples.put(
        daq_error(BUFFER_OVERFLOW, "The application is not able to keep up with the hardware.")
    )
    wait_for(lambda: sink.failures)
    msg = str(sink.failures[0])
    assert msg.startswith("device 'Dev1': ") and f"(NI error {BUFFER_OVERFLOW})" in msg
    device.close()
    assert {ch: fake_ni.last_value(ch) for ch in OFF} == OFF


def test_card_removed_mid_session_fails_and_close_still_tries_every_off(fake_ni, open_device):
    device, sink, drivers = build_everything(fake_ni, open_device)
    everything_on(drivers)
    fake_ni.remove_device()
    wait_for(lambda: sink.failures)
    assert "Device has been removed. (NI error -200045)" in str(sink.failures[0])
    with pytest.raises(DeviceError, match="NI error -200045"):
        drivers["valve_left"].open_for(0.01)
    drivers["laser"].force_off()  # must not raise
    device.close()  # must not raise
    # Nothing can reach a vanished card, but each output's off path tried a fresh task.
    offs = [t for t in fake_ni.tasks if is_off_task(t)]
    assert len(offs) >= 5  # valve bank, thread valve, cue, gate, laser (force_off and close)
    assert all(t.closed for t in fake_ni.tasks)


# --- a whole session on the NI config ------------------------------------------------------


def test_session_on_nidaq_rig_aborts_on_a_reader_error_with_outputs_off(fake_ni, tmp_path):
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import load_rig
    from rigctl.data import load_session
    from rigctl.engine.session import Session, SessionOptions

    cfg = load_rig(str(NIDAQ_YAML))
    spec = resolve_protocol(None, cfg, str(NIDAQ_YAML), {"n_trials": 5})
    session = Session(cfg, SessionOptions(subject=Subject(id="M1"), protocol=spec,
                                          data_root=tmp_path, seed=1, realtime=True,
                                          config_source=str(NIDAQ_YAML)))
    folder = session.open()
    threading.Timer(0.2, lambda: fake_ni.named("inputs").samples.put(
        daq_error(BUFFER_OVERFLOW, "The application is not able to keep up."))).start()
    with pytest.raises(DeviceError, match=f"NI error {BUFFER_OVERFLOW}"):
        session.run()
    data = load_session(folder)
    assert data.status == "aborted"
    assert {ch: fake_ni.last_value(ch) for ch in OFF if ch != "Dev1/port1/line5"} == {
        ch: v for ch, v in OFF.items() if ch != "Dev1/port1/line5"}
    assert all(t.closed for t in fake_ni.tasks)


# --- waveforms, exactly -----------------------------------------------------------------------


def test_waveform_shapes():
    np.testing.assert_array_equal(waveforms.valve_bank([]), np.zeros((0, 2), dtype=bool))
    np.testing.assert_array_equal(waveforms.valve_bank([0, 0]), np.zeros((2, 2), dtype=bool))
    np.testing.assert_array_equal(waveforms.valve_bank([3, 1]),
                                  [[1, 1, 1, 0], [1, 0, 0, 0]])
    np.testing.assert_allclose(waveforms.pulse_period(2.0, PulseTrain(40, 0.005), 10_000),
                               np.r_[np.full(50, 2.0), np.zeros(200)])
    np.testing.assert_allclose(waveforms.ramp_down(np.array([3.0]), 0.004, 1000),
                               [3.0, 2.25, 1.5, 0.75, 0.0])
    np.testing.assert_array_equal(waveforms.ramp_down(np.array([3.0]), 0.0, 1000), [0.0, 0.0])


# --- the mixed rig: the NI card's part --------------------------------------------------------


def test_mixed_rig_routes_the_gate_and_the_signal_to_the_card(fake_ni, open_device):
    data = yaml.safe_load(MIXED_YAML.read_text())
    settings = nidaq.Settings(**{k: v for k, v in data["devices"]["Dev1"].items() if k != "type"})
    assert settings.laser_volts_per_mw is None  # power goes through the OBIS, not an ao
    device, _ = open_device(**settings.model_dump())
    laser = data["laser"]
    assert not laser["channel"].startswith("Dev1/")
    gate = device.laser_gate(laser["gate_channel"], LaserConfig(**laser))
    device.signal_input(data["neural_signal"]["channel"], "neural_signal",
                        data["neural_signal"]["rate_hz"])
    device.start()
    assert fake_ni.named("neural_signal").lines == ["Dev1/ai0"]
    gate.set(True)
    (pulse,) = co_pulses(fake_ni, "laser_gate")
    assert ("set", ("co_pulse_term", "/Dev1/PFI2")) in pulse.ops
    device.close()
    assert pulse.closed and fake_ni.last_value("Dev1/port1/line2") is False
    assert not [t for t in fake_ni.tasks if t.name.endswith((" valves", " laser", " inputs"))]


def test_mixed_rig_config_validates_once_every_device_type_is_registered(capsys):
    from rigctl.hardware.registry import BACKENDS

    missing = {"reward_controller", "obis"} - set(BACKENDS)
    if missing:
        pytest.skip(f"device types not registered yet: {', '.join(sorted(missing))}")
    code = main(["check", str(MIXED_YAML)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Dev1: nidaq" in captured.out and "ctrl: reward_controller" in captured.out


# --- cross-check one level down: the real nidaqmx.Task over a mocked driver interpreter -----


@pytest.fixture
def mocked_interpreter(fake_ni: FakeNi, monkeypatch: pytest.MonkeyPatch):
    """The real ``nidaqmx.Task`` over an autospec'd driver interpreter, as nidaqmx's own unit
    tests do it, so nidaqmx itself checks the data types and shapes the backend writes (a
    wrong dtype is refused by ``Task.write`` before reaching the driver)."""
    from unittest import mock

    from nidaqmx._base_interpreter import BaseInterpreter
    from nidaqmx.constants import ChannelType

    interp = mock.create_autospec(BaseInterpreter, instance=True)
    handles = iter(f"H{k}" for k in range(1000))
    chans: dict[str, list[tuple[str, ChannelType]]] = defaultdict(list)
    interp.create_task.side_effect = lambda name: (next(handles), True)

    def created(kind: ChannelType) -> Callable[..., None]:
        def record(handle: str, physical: str, *rest: Any) -> None:
            chans[handle].append((physical, kind))
        return record

    interp.create_do_chan.side_effect = created(ChannelType.DIGITAL_OUTPUT)
    interp.create_ao_voltage_chan.side_effect = created(ChannelType.ANALOG_OUTPUT)
    task_names = {4726: "rigctl task"}  # DAQmx_Task_Name

    def task_string(handle: str, attribute: int) -> str:
        if attribute == 4723:  # DAQmx_Task_Channels
            return ", ".join(p for p, _ in chans[handle])
        return task_names.get(attribute, "")

    interp.get_task_attribute_string.side_effect = task_string
    interp.get_chan_attribute_int32.side_effect = (
        lambda handle, chan, attribute: chans[handle][0][1].value  # DAQmx_ChanType
    )
    interp.get_write_attribute_uint32.return_value = 1  # DO booleans per channel: one line each
    interp.write_digital_lines.side_effect = lambda h, n, *rest: n
    interp.write_analog_f64.side_effect = lambda h, n, *rest: n
    monkeypatch.setattr(nidaqmx, "Task", RealTask)
    monkeypatch.setattr("nidaqmx.utils._select_interpreter", lambda *a, **k: interp)
    return interp


def _calls(interp: Any, name: str) -> list[Any]:
    return [c.args for c in interp.mock_calls if c[0] == name]


def test_real_task_valve_bank_reaches_the_driver_as_boolean_lines(mocked_interpreter,
                                                                   open_device):
    from nidaqmx.constants import Edge, FillMode

    device, _ = open_device(do_rate_hz=10_000)
    left = device.valve("Dev1/port0/line0", "valve_left", no_ul)
    device.valve("Dev1/port0/line1", "valve_right", no_ul)
    device.start()
    left.open_for(0.0012)
    creates = _calls(mocked_interpreter, "create_do_chan")
    handle = creates[0][0]
    assert creates == [(handle, "Dev1/port0/line0", "", LineGrouping.CHAN_PER_LINE.value),
                       (handle, "Dev1/port0/line1", "", LineGrouping.CHAN_PER_LINE.value)]
    assert _calls(mocked_interpreter, "cfg_samp_clk_timing")[-1] == (
        handle, 10_000, "", Edge.RISING.value, AcquisitionType.FINITE.value, 13)
    h, n, auto_start, timeout, layout, data = _calls(mocked_interpreter, "write_digital_lines")[-1]
    assert (h, n, auto_start, layout) == (handle, 13, False, FillMode.GROUP_BY_CHANNEL.value)
    assert data.dtype == bool and data.shape == (2, 13)
    assert data[0].tolist() == [True] * 12 + [False] and not data[1].any()
    device.close()
    assert _calls(mocked_interpreter, "clear_task")  # tasks closed through nidaqmx


def test_real_task_laser_pulse_train_reaches_the_driver_as_float64_volts(mocked_interpreter,
                                                                         open_device):
    from nidaqmx.constants import FillMode, VoltageUnits

    device, _ = open_device(ao_rate_hz=10_000, laser_volts_per_mw=0.25)
    laser = device.laser("Dev1/ao0", laser_cfg(max_on_s=0.05, ramp_down_s=0))
    laser.emit(10.0, PulseTrain(frequency_hz=40, width_s=0.005))
    (create,) = _calls(mocked_interpreter, "create_ao_voltage_chan")
    handle = create[0]
    assert create == (handle, "Dev1/ao0", "", 0.0, 5.0, VoltageUnits.VOLTS.value, "")
    assert _calls(mocked_interpreter, "cfg_samp_clk_timing")[-1][4:] == (
        AcquisitionType.FINITE.value, 500)
    h, n, auto_start, timeout, layout, volts = _calls(mocked_interpreter, "write_analog_f64")[-1]
    assert (n, auto_start, layout) == (500, False, FillMode.GROUP_BY_CHANNEL.value)
    assert volts.dtype == np.float64
    np.testing.assert_allclose(volts, np.tile(np.r_[np.full(50, 2.5), np.zeros(200)], 2))
    laser.force_off()
    np.testing.assert_array_equal(_calls(mocked_interpreter, "write_analog_f64")[-1][5], [0, 0])


def test_mixed_rig_session_gate_on_the_card_valves_on_the_controller(fake_ni, tmp_path):
    """Issue 4 item 4 end to end: the shipped mixed rig, its serial devices emulated on ptys and
    the card faked: a short session runs, the gate toggles on the NI line and ends low."""
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import load_rig
    from rigctl.data import load_session
    from rigctl.engine.session import Session, SessionOptions
    from rigctl.hardware.registry import BACKENDS

    if not {"reward_controller", "obis"} <= set(BACKENDS):
        pytest.skip("serial device types not registered yet")
    data = yaml.safe_load(MIXED_YAML.read_text())
    data["devices"]["ctrl"].update(port="emulated", emulator={"mouse": {"rt_median_s": 0.2}})
    data["devices"]["obis"].update(port="emulated", emulator={"max_power_mw": 100})
    data["protocol"]["parameters"].update(
        n_trials=3, iti_s=0.1, sample_s=0.1, delays_s=[0.3], response_window_s=1.0,
        reward_consumption_s=0.1, timeout_s=0.1, laser_fraction=1.0, max_consecutive=3)
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = load_rig(str(path))
    spec = resolve_protocol(None, cfg, str(path), None)
    session = Session(cfg, SessionOptions(subject=Subject(id="M1"), protocol=spec,
                                          data_root=tmp_path, seed=3, realtime=True,
                                          config_source=str(path)))
    result = session.run()
    assert result.status == "completed" and result.n_trials == 3
    pulses = co_pulses(fake_ni, "laser_gate")
    assert pulses and all(("set", ("co_pulse_term", "/Dev1/PFI2")) in t.ops for t in pulses)
    assert all(t.closed for t in pulses) and fake_ni.last_value("Dev1/port1/line2") is False
    assert load_session(result.folder).status == "completed"


# --- the laser's measured calibration (rigctl calibrate laser) --------------------------------


def test_calibrated_laser_commands_volts_from_the_fit(fake_ni, open_device):
    from rigctl.config.calibration import LaserCalibrationConfig
    from rigctl.hardware.calibration import LaserCurve

    cal = LaserCalibrationConfig(command_unit="V", points=[(0.5, 1.0), (1.0, 3.0), (2.0, 8.0),
                                                           (3.0, 14.0), (4.0, 20.0)])
    device, _ = open_device(laser_volts_per_mw=None, ao_max_v=5.0)
    laser = device.laser("Dev1/ao0", laser_cfg(max_power_mw=15, calibration=cal))
    task = fake_ni.named("laser")
    laser.emit(8.0)
    volts = LaserCurve(cal).command_for_mw(8.0)
    np.testing.assert_allclose(task.last_write[:-1001], volts)  # then the 0.1 s ramp
    assert task.last_write[-1] == 0.0
    assert 1.8 < volts < 2.2  # near the measured point (2 V -> 8 mW)
    laser.stop(0.0)
    np.testing.assert_array_equal(task.last_write, [0.0, 0.0])


def test_calibration_in_milliwatts_is_refused_on_an_analog_output(fake_ni, open_device):
    from rigctl.config.calibration import LaserCalibrationConfig

    cal = LaserCalibrationConfig(command_unit="mW", points=[(1.0, 0.9), (10.0, 9.1)])
    device, _ = open_device()
    with pytest.raises(DeviceError, match="commanded in V"):
        device.laser("Dev1/ao0", laser_cfg(calibration=cal))
