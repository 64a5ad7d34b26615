"""The reward-port controller backend against its emulator, through real pseudo-terminals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import serial
from serial_helpers import Sink, make_ctx, wait_until

from rigctl.errors import ConfigError, DeviceError
from rigctl.hardware import reward_controller as rc
from rigctl.hardware.registry import BuildContext
from rigctl.timing.clock import VirtualClock
from sim_backend.emulators.ptyport import PtyPort
from sim_backend.emulators.reward_controller import ControllerEmulator

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def emu():
    e = ControllerEmulator().start()
    yield e
    e.close()


@pytest.fixture
def sink():
    return Sink()


@pytest.fixture
def connect(emu, sink):
    """Open the backend on the emulator's pty; every device opened is closed afterwards."""
    opened: list[rc.RewardController] = []

    def make(**settings) -> rc.RewardController:
        ctx = make_ctx(sink)
        dev = rc.open("ctrl", rc.Settings(port=emu.port, **settings), ctx)
        opened.append(dev)
        return dev

    yield make
    for dev in opened:
        dev.close()


def commands(emu: ControllerEmulator) -> list[str]:
    return [c for _, c in emu.record.commands]


# --- handshake --------------------------------------------------------------------------------
def test_handshake_identifies_arms_watchdog_and_syncs_clocks(emu, connect):
    dev = connect(watchdog_s=0.5)
    assert dev.firmware == "1.2.1-emulated"
    assert dev.counts == {"valve": 2, "in": 2, "out": 4}
    sent = commands(emu)
    assert sent[:3] == ["HELLO", "OFF", "WDOG 500"]
    assert sent[3:11] == [f"PING {i}" for i in range(8)]
    assert dev.sync.ready


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"protocol": 2}, "the controller speaks protocol 2 (firmware 1.2.1-emulated), this "
                          "rigctl speaks 1"),
        ({"identity": "other-board"}, "not a rigctl reward controller"),
    ],
)
def test_wrong_protocol_version_or_device_is_refused(kwargs, expected):
    emu = ControllerEmulator(**kwargs).start()
    try:
        with pytest.raises(DeviceError) as exc:
            rc.open("ctrl", rc.Settings(port=emu.port), make_ctx())
        msg = str(exc.value)
        assert expected in msg and msg.startswith("test.yaml: device 'ctrl'") and "\n" not in msg
        assert commands(emu) == ["HELLO"]  # nothing else is sent to a device we do not know
    finally:
        emu.close()


def test_silent_port_times_out_with_advice():
    pty = PtyPort()  # a port with nothing behind it
    try:
        with pytest.raises(DeviceError, match=r"no answer to HELLO within 0.5 s .*rigctl devices"):
            rc.open("ctrl", rc.Settings(port=pty.path, connect_timeout_s=0.5), make_ctx())
    finally:
        pty.close()


def test_missing_port_names_the_port_and_suggests_rigctl_devices():
    with pytest.raises(DeviceError) as exc:
        rc.open("ctrl", rc.Settings(port="/dev/ttyACM_RIGCTL_NOPE"), make_ctx())
    msg = str(exc.value)
    assert msg.startswith("test.yaml: device 'ctrl': serial port '/dev/ttyACM_RIGCTL_NOPE' not "
                          "found") and "`rigctl devices`" in msg


def test_virtual_clock_is_refused_with_the_fix(emu):
    ctx = BuildContext(VirtualClock(), make_ctx().subject, make_ctx().seed, Sink(),
                       source="rig.yaml")
    with pytest.raises(DeviceError, match="rig.yaml: devices.ctrl: .* run the session with "
                                          "--realtime"):
        rc.open("ctrl", rc.Settings(port=emu.port), ctx)


# --- valves, inputs, outputs ------------------------------------------------------------------
def test_valve_opening_is_timed_by_the_controller(emu, connect, sink):
    dev = connect()
    valve = dev.valve("ctrl/valve1", "valve_right", lambda ms: ms / 10)
    valve.open_for(0.04)
    valve.open_for(0.0375)  # µs resolution on the wire: "VALVE 1 37.5"
    wait_until(lambda: len(emu.record.valve_closings) == 1, what="the valve to close")
    assert "VALVE 1 40" in commands(emu) and "VALVE 1 37.5" in commands(emu)
    (t0, n0, d0), (t1, n1, d1) = emu.record.valve_openings
    assert (n0, d0, n1, d1) == (1, 0.04, 1, 0.0375)
    # The second command restarted the controller's timer: one closing, at its own time.
    ((tc, nc, why),) = emu.record.valve_closings
    assert (nc, why) == (1, "timer") and tc == pytest.approx(t1 + 0.0375, abs=1e-9)
    assert not sink.failures


def test_valve_close_and_long_openings(emu, connect, sink):
    dev = connect()
    valve = dev.valve("ctrl/valve0", "valve_left", lambda ms: ms / 10)
    valve.open_for(3.0)
    wait_until(lambda: emu.valve_is_open(0), what="the valve to open")
    valve.close()
    wait_until(lambda: not emu.valve_is_open(0), what="the valve to close")
    assert emu.record.valve_closings[0][1:] == (0, "command")
    with pytest.raises(DeviceError, match="valve0 opening of 6000 ms is outside"):
        valve.open_for(6.0)
    assert not sink.failures


def test_lick_edges_carry_the_controllers_timestamps(emu, connect, sink):
    dev = connect()
    dev.digital_input("ctrl/in0", "lick_left")
    emu.set_input(0, 1)  # before START: not streamed
    emu.set_input(0, 0)
    dev.start()
    wait_until(lambda: emu.now() > 0.1, what="the controller clock to pass 0.1 s")
    t_on = emu.now() - 0.05  # edges stamped in the past, as a line is read after its edge
    emu.set_input(0, 1, t=t_on)
    emu.set_input(1, 1)  # not wired in the config: ignored by the host
    emu.set_input(0, 0, t=t_on + 0.03)
    wait_until(lambda: len(sink.events) == 2, what="two lick edges")
    on, off = sink.events
    assert (on.name, on.value, off.name, off.value) == ("lick_left", 1.0, "lick_left", 0.0)
    assert on.device_t == pytest.approx(t_on, abs=1e-6)
    assert off.device_t == pytest.approx(t_on + 0.03, abs=1e-6)
    # On the session clock: the controller's time mapped by the heartbeat clock sync (both
    # clocks read time.perf_counter here, so the true mapping is known).
    true_on = emu.boot_perf + t_on - dev.ctx.clock._t0
    assert on.t == pytest.approx(true_on, abs=0.005)
    assert off.t - on.t == pytest.approx(0.03, abs=0.001)
    assert dev.ignored_inputs == 1  # in1: not wired (edges before START are not even sent)


def test_cue_outputs_and_everything_off_on_close(emu, connect, sink):
    dev = connect()
    out = dev.digital_output("ctrl/out1", "cue_go")
    gate = dev.digital_output("ctrl/out2", "laser_gate")
    valve = dev.valve("ctrl/valve0", "valve_left", lambda ms: ms / 10)
    dev.start()
    out.set(True)
    gate.set(True)
    valve.open_for(2.0)
    wait_until(lambda: emu.outputs[1] and emu.outputs[2] and emu.valves[0], what="outputs on")
    dev.close()
    assert commands(emu)[-2:] == ["STOP", "OFF"]
    assert emu.outputs == [0, 0, 0, 0] and emu.valves == [False, False]
    assert emu.record.valve_closings[-1][1:] == (0, "off")
    assert not sink.failures


def test_a_laser_gate_is_armed_from_max_on_s_and_an_older_firmware_is_refused(emu, connect):
    dev = connect()
    gate = dev.digital_output("ctrl/out2", "laser_gate")
    assert gate.limit_high(30.1) is True  # max_on_s 30 + ramp_down_s 0.1
    assert commands(emu)[-1] == f"GATE 2 {30100 + rc.GATE_MARGIN_MS}"
    assert emu.gate_ms[2] == 30100 + rc.GATE_MARGIN_MS
    emu.inject_error("GATE", "1 unknown command")  # what a 1.0.0 firmware answers
    with pytest.raises(DeviceError, match=r"cannot time a laser gate by itself .*flash "
                                          r"docs/firmware/reward_controller"):
        dev.digital_output("ctrl/out3", "laser_gate").limit_high(30.1)
    with pytest.raises(DeviceError, match="at most 1000000 ms"):
        gate.limit_high(2000)


def test_channels_are_checked_against_what_the_controller_has(connect):
    dev = connect()
    with pytest.raises(DeviceError, match=r"'ctrl/valve2' is not a valve .*valve0-valve1"):
        dev.valve("ctrl/valve2", "valve_left", lambda ms: ms)
    with pytest.raises(DeviceError, match=r"'ctrl/lick0' is not a digital input .*in0-in1"):
        dev.digital_input("ctrl/lick0", "lick_left")
    dev.digital_output("ctrl/out0", "cue_go")
    with pytest.raises(DeviceError, match="used for both cue_go and cue_trial_start"):
        dev.digital_output("ctrl/out0", "cue_trial_start")


# --- errors, garbage, heartbeat, watchdog -----------------------------------------------------
def test_error_reply_is_surfaced_with_the_command(emu, connect, sink):
    dev = connect()
    out = dev.digital_output("ctrl/out1", "cue_go")
    emu.inject_error("OUT", "9 output driver fault")
    out.set(True)
    wait_until(lambda: sink.failures, what="the failure")
    assert len(sink.failures) == 1
    assert str(sink.failures[0]).endswith(
        "'OUT 1 1' answered 'ERR OUT 9 output driver fault'")


def test_garbage_from_the_controller_is_ignored_and_counted(emu, connect, sink):
    dev = connect()
    dev.digital_input("ctrl/in1", "lick_right")
    dev.start()
    emu.write_raw(b"debug: free ram 812\n\xfe\xff\nEVT 12 IN\nEVT x IN 1 1\nEVT 5 IN 1 7\n")
    emu.write_raw(b"EVT 99 IN 1")  # torn: the controller reset mid-line
    time.sleep(0.3)  # longer than the link's partial-line timeout
    emu.set_input(1, 1)
    wait_until(lambda: sink.events, what="the good lick")
    assert [e.name for e in sink.events] == ["lick_right"]
    assert dev.link.stats.garbage == 6 and dev.link.stats.partial == 1
    assert not sink.failures


def test_heartbeat_keeps_the_watchdog_quiet(emu, connect, sink):
    connect(watchdog_s=0.2, heartbeat_s=0.05)
    wait_until(lambda: sum(c.startswith("PING") for c in commands(emu)) >= 20,
               what="a dozen heartbeats")
    assert not emu.record.watchdog_trips and not sink.failures


def test_watchdog_closes_valves_when_the_host_falls_silent(emu):
    """A host that stops talking (here a bare pyserial client) gets its valves closed."""
    host = serial.Serial(emu.port, 115200, timeout=1.0)
    try:
        host.write(b"WDOG 100\nVALVE 0 3000\nOUT 1 1\n")
        wait_until(lambda: emu.record.watchdog_trips, what="the watchdog")
        assert emu.record.valve_closings == [(emu.record.watchdog_trips[0], 0, "watchdog")]
        assert emu.outputs == [0, 0, 0, 0]
        lines = []
        wait_until(lambda: lines.append(host.readline().decode()) or
                   lines[-1].startswith("EVT") and lines[-1].split()[2:] == ["WDOG"],
                   what="the WDOG event line")
    finally:
        host.close()


def test_watchdog_firing_mid_session_ends_it(emu, connect, sink):
    dev = connect(watchdog_s=0.2, heartbeat_s=0.05)
    dev._hb_stop.set()  # the host hangs: no more heartbeats
    wait_until(lambda: sink.failures, what="the failure")
    assert "watchdog fired" in str(sink.failures[0])
    assert emu.record.watchdog_trips


def test_controller_restart_mid_session_ends_it(emu, connect, sink):
    connect()
    emu.write_line("EVT 1000 BOOT rigctl-reward 1 1.0.0")
    wait_until(lambda: sink.failures, what="the failure")
    assert "restarted mid-session" in str(sink.failures[0])


def test_vanished_controller_reports_once_and_off_commands_do_not_raise(emu, connect, sink):
    dev = connect()
    valve = dev.valve("ctrl/valve0", "valve_left", lambda ms: ms / 10)
    out = dev.digital_output("ctrl/out0", "cue_trial_start")
    emu.vanish()
    wait_until(lambda: sink.failures, what="the vanish report")
    assert len(sink.failures) == 1 and "device 'ctrl'" in str(sink.failures[0])
    assert "vanished" in str(sink.failures[0])
    valve.close()  # the error path turns everything off: nothing left to command, no raise
    out.set(False)
    with pytest.raises(DeviceError, match="vanished"):
        valve.open_for(0.04)
    dev.close()


def test_clock_sync_follows_a_drifting_controller_clock():
    sync = rc.ClockSync()
    drift, offset = 1e-3, 5.0  # a ceramic resonator 0.1% fast, booted 5 s before the session
    for k in range(60):
        host = 0.2 * k
        rtt = 0.0003 if k % 3 else 0.002  # some slow round trips, to be ignored
        device = (host + rtt / 2 - offset) / (1 + drift)
        sync.add(host, host + rtt, device)
    device = (12.0 - offset) / (1 + drift)
    assert sync.to_session(device) == pytest.approx(12.0, abs=1e-4)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="heartbeat_s .* at most half of watchdog_s"):
        rc.Settings(port="/dev/ttyACM0", watchdog_s=0.1, heartbeat_s=0.1)
    with pytest.raises(ValueError, match="emulator: only used with port: emulated"):
        rc.Settings(port="/dev/ttyACM0", emulator={"mouse": {}})
    with pytest.raises(ValueError, match=r"emulator.mouse.lapse_rate: Input should be less"):
        rc.Settings(port="emulated", emulator={"mouse": {"lapse_rate": 2}})
    with pytest.raises(ValueError, match="baud: 1234 is not a standard rate"):
        rc.Settings(port="/dev/ttyACM0", baud=1234)


def test_bad_device_keys_are_named_by_rigctl_check(make_config, capsys):
    from rigctl.cli import main

    cfg = make_config({"devices": {"sim": {"type": "reward_controller", "port": "emulated",
                                           "watchdog": 1}}})
    assert main(["check", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"rigctl: error: {cfg}: devices.sim.watchdog: unknown field" in err
    assert "Traceback" not in err
    with pytest.raises(ConfigError):
        from rigctl.config import load_rig
        from rigctl.hardware.registry import device_settings

        device_settings(load_rig(str(cfg)), str(cfg))


# --- as separate processes: kill the host, the controller turns itself off --------------------
HOST_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from rigctl.config.subject import Subject
    from rigctl.timing.clock import WallClock
    from rigctl.hardware import reward_controller as rc
    from rigctl.hardware.registry import BuildContext

    class Sink:
        def put(self, e): pass
        def put_signal(self, c): pass
        def fail(self, e): pass

    ctx = BuildContext(WallClock(), Subject(), np.random.SeedSequence(0), Sink())
    dev = rc.open("ctrl", rc.Settings(port=sys.argv[1], watchdog_s=0.3, heartbeat_s=0.05), ctx)
    dev.valve("ctrl/valve0", "valve_left", lambda ms: ms).open_for(4.0)
    dev.digital_output("ctrl/out1", "cue_go").set(True)
    print("ready", flush=True)
    time.sleep(60)
""")


def test_killed_host_process_gets_its_valves_closed_by_the_watchdog(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    emulator = subprocess.Popen(
        [sys.executable, "-m", "sim_backend.emulators.reward_controller", "--log"],
        stdout=subprocess.PIPE, text=True, env=env)
    host = None
    try:
        assert emulator.stdout is not None
        port = emulator.stdout.readline().strip()
        assert port.startswith("/dev/")
        host = subprocess.Popen([sys.executable, "-c", HOST_SCRIPT, port],
                                stdout=subprocess.PIPE, text=True, env=env)
        assert host.stdout is not None and host.stdout.readline().strip() == "ready"
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=30)
        seen: list[dict] = []
        deadline = time.monotonic() + 30
        while not any(r["kind"] == "watchdog" for r in seen):
            if time.monotonic() >= deadline:  # hang guard, not a speed check
                pytest.fail("the watchdog never fired")
            seen.append(json.loads(emulator.stdout.readline()))
        seen.append(json.loads(emulator.stdout.readline()))  # what the trip did next
        closes = [r for r in seen if r["kind"] == "valve_close"]
        assert closes and closes[-1]["why"] == "watchdog" and closes[-1]["valve"] == 0
        opened = next(r for r in seen if r["kind"] == "valve_open")
        assert closes[-1]["t"] < opened["t"] + opened["duration_s"]  # before its own timer
    finally:
        if host is not None:
            host.kill()
        emulator.send_signal(signal.SIGTERM)
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
