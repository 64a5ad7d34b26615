"""The Coherent OBIS backend against its emulator, through real pseudo-terminals."""

from __future__ import annotations

import math

import pytest
from serial_helpers import Sink, make_ctx, wait_until

from rigctl.config.rig import LaserConfig
from rigctl.errors import DeviceError, InterlockError
from rigctl.hardware import obis
from sim_backend.emulators.bench import Bench
from sim_backend.emulators.obis import ObisEmulator
from sim_backend.emulators.ptyport import PtyPort

CFG = LaserConfig(channel="obis/laser", max_power_mw=15, ramp_down_s=0.1)
GATED = LaserConfig(channel="obis/laser", gate_channel="ctrl/out2", max_power_mw=15)


@pytest.fixture
def bench():
    return Bench()


@pytest.fixture
def emu(bench):
    e = ObisEmulator(bench=bench).start()
    yield e
    e.close()


@pytest.fixture
def sink():
    return Sink()


@pytest.fixture
def connect(emu, sink):
    opened: list[obis.ObisLaser] = []

    def make(**settings) -> obis.ObisLaser:
        dev = obis.open("obis", obis.Settings(port=emu.port, **settings), make_ctx(sink))
        opened.append(dev)
        return dev

    yield make
    for dev in opened:
        dev.close()


def commands(emu: ObisEmulator, since: int = 0) -> list[str]:
    return [c for _, c in emu.record.commands[since:]]


def test_connect_identifies_checks_faults_and_turns_emission_off(emu, connect):
    dev = connect()
    assert "OBIS" in dev.identity and dev.limit_mw == pytest.approx(100.0)
    assert commands(emu) == ["*IDN?", "SOUR:AM:STAT OFF", "SYST:FAUL?", "SOUR:POW:LIM:HIGH?",
                             "SOUR:AM:INT CWP", "SYST:STAT?"]


def test_not_an_obis_or_a_faulted_laser_is_refused(emu):
    pty = PtyPort()
    try:
        with pytest.raises(DeviceError, match=r"no reply to '\*IDN\?' .*handshaking on"):
            obis.open("obis", obis.Settings(port=pty.path, reply_timeout_s=0.3), make_ctx())
    finally:
        pty.close()
    emu.fault = 0x20
    with pytest.raises(DeviceError) as exc:
        obis.open("obis", obis.Settings(port=emu.port), make_ctx())
    assert "fault code 0x00000020" in str(exc.value) and str(exc.value).startswith("test.yaml:")
    assert "\n" not in str(exc.value)


def test_emit_sets_power_then_turns_on_and_ramps_down_in_steps(emu, connect, sink):
    dev = connect()
    laser = dev.laser("obis/laser", CFG)
    start = len(emu.record.commands)
    laser.emit(5.0)
    wait_until(lambda: emu.emitted_mw == 5.0, what="emission at 5 mW")
    assert commands(emu, start) == ["SOUR:POW:LEV:IMM:AMPL 0.005000", "SOUR:AM:STAT ON"]
    laser.stop(0.1)  # 10 steps of ramp_step_s = 10 ms, timed by the driver thread
    wait_until(lambda: emu.emitted_mw == 0.0, what="emission off")
    ramp = commands(emu, start + 2)
    assert ramp == [f"SOUR:POW:LEV:IMM:AMPL {5e-3 * k / 10:.6f}" for k in range(9, 0, -1)] + [
        "SOUR:AM:STAT OFF"]
    levels = [mw for _, mw in emu.record.emission]
    assert levels == [5.0, 4.5, 4.0, 3.5, 3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.0]
    assert not sink.failures


def test_power_ceiling_is_enforced_before_sending(emu, connect, sink):
    dev = connect()
    laser = dev.laser("obis/laser", CFG)
    before = len(emu.record.commands)
    for bad in (15.01, 200.0, 0.0, -1.0, math.nan):
        with pytest.raises(InterlockError, match="refused before sending"):
            laser.emit(bad)
    assert commands(emu, before) == []  # the laser never saw any of them
    small_emu = ObisEmulator(max_power_mw=10).start()
    try:
        small = obis.open("obis2", obis.Settings(port=small_emu.port), make_ctx(sink))
        try:
            with pytest.raises(DeviceError, match="above the laser's own limit of 10 mW"):
                small.laser("obis2/laser", CFG).emit(12.0)
        finally:
            small.close()
    finally:
        small_emu.close()


def test_pulse_trains_are_refused(connect):
    from rigctl.hardware.interfaces import PulseTrain

    laser = connect().laser("obis/laser", CFG)
    with pytest.raises(DeviceError, match="pulse trains cannot be timed over a serial port"):
        laser.emit(5.0, PulseTrain(frequency_hz=20, width_s=0.01))


def test_force_off_cancels_a_ramp_and_turns_emission_off(emu, connect, sink):
    dev = connect(ramp_step_s=0.05)
    laser = dev.laser("obis/laser", CFG)
    laser.emit(10.0)
    wait_until(lambda: emu.emitted_mw == 10.0, what="emission")
    laser.stop(2.0)  # a long ramp, cut short
    wait_until(lambda: 0 < emu.emitted_mw < 10.0, what="the ramp to start")
    laser.force_off()
    assert emu.emitted_mw == 0.0  # force_off waits for the laser's OK
    n = len(emu.record.commands)
    assert commands(emu)[-1] == "SOUR:AM:STAT OFF"
    laser.emit(3.0)  # emission may start again afterwards
    wait_until(lambda: emu.emitted_mw == 3.0, what="emission again")
    assert commands(emu, n) == ["SOUR:POW:LEV:IMM:AMPL 0.003000", "SOUR:AM:STAT ON"]
    assert not sink.failures


def test_error_reply_ends_the_session_naming_the_command_and_light_goes_off(emu, connect, sink):
    dev = connect()
    laser = dev.laser("obis/laser", CFG)
    laser.emit(5.0)
    wait_until(lambda: emu.emitted_mw == 5.0, what="emission")
    emu.inject_error("SOUR:POW:LEV:IMM:AMPL", "ERR-500")
    laser.emit(8.0)
    wait_until(lambda: sink.failures, what="the failure")
    assert str(sink.failures[0]).endswith("'SOUR:POW:LEV:IMM:AMPL 0.008000' answered 'ERR-500'")
    wait_until(lambda: emu.emitted_mw == 0.0, what="emission off after the error")
    laser.force_off()  # what the session's error path does next: still fine
    assert emu.emitted_mw == 0.0


def test_a_hung_laser_times_out(emu, connect, sink):
    laser = connect(reply_timeout_s=0.2).laser("obis/laser", CFG)
    emu.mute = True
    laser.emit(5.0)
    wait_until(lambda: sink.failures, what="the failure")
    assert "no reply to 'SOUR:POW:LEV:IMM:AMPL 0.005000' within 0.2 s" in str(sink.failures[0])
    laser.force_off()  # never raises, even with nobody answering


def test_close_turns_emission_off(emu, connect):
    dev = connect()
    dev.laser("obis/laser", CFG).emit(5.0)
    wait_until(lambda: emu.emitted_mw == 5.0, what="emission")
    dev.close()
    assert emu.emitted_mw == 0.0 and not emu.enabled
    assert commands(emu)[-1] == "SOUR:AM:STAT OFF"


def test_vanished_laser_is_reported_and_off_paths_do_not_raise(emu, connect, sink):
    dev = connect()
    laser = dev.laser("obis/laser", CFG)
    emu.vanish()
    wait_until(lambda: sink.failures, what="the vanish report")
    assert "device 'obis'" in str(sink.failures[0]) and "vanished" in str(sink.failures[0])
    laser.force_off()
    with pytest.raises(DeviceError, match="link is down"):
        laser.emit(5.0)
    dev.close()


def test_digital_modulation_is_armed_at_start_and_lit_only_by_the_gate(emu, bench, connect):
    dev = connect(modulation="digital")
    with pytest.raises(DeviceError, match="set laser.gate_channel"):
        dev.laser("obis/laser", CFG)
    laser = dev.laser("obis/laser", GATED)
    assert "SOUR:AM:EXT DIG" in commands(emu)
    dev.start()
    assert emu.enabled and emu.emitted_mw == 0.0  # armed, dark: the gate is low
    n = len(emu.record.commands)
    laser.emit(5.0)
    wait_until(lambda: "SOUR:POW:LEV:IMM:AMPL 0.005000" in commands(emu, n), what="power set")
    assert emu.emitted_mw == 0.0
    bench.set_gate(True)  # the controller output wired to the laser's TTL input
    assert emu.emitted_mw == 5.0
    laser.stop(0.05)
    wait_until(lambda: emu.emitted_mw < 5.0, what="the ramp")
    assert emu.enabled  # stays armed; the gate ends the light
    bench.set_gate(False)
    assert emu.emitted_mw == 0.0
    laser.force_off()  # the error path disarms
    assert not emu.enabled


def test_analog_modulation_arms_at_start_and_disarms_at_close(emu, connect):
    dev = connect(modulation="analog")
    with pytest.raises(DeviceError, match="power follows an analog voltage"):
        dev.laser("obis/laser", CFG)
    dev.start()
    assert emu.enabled and emu.mode == "ANALOG"
    dev.close()
    assert not emu.enabled and commands(emu)[-1] == "SOUR:AM:STAT OFF"


def test_settings_are_checked():
    with pytest.raises(ValueError, match="modulation"):
        obis.Settings(port="/dev/ttyUSB0", modulation="ttl")
    with pytest.raises(ValueError, match=r"emulator.max_power_mw: Input should be greater"):
        obis.Settings(port="emulated", emulator={"max_power_mw": -1})


# --- the laser's calibration (issue 11 §3): tip mW through the measured set-point curve ------


def test_calibrated_tip_power_sends_the_set_point_that_gives_it(emu, connect, sink):
    """A calibration meaning 50% fibre loss: 4 mW asked at the tip is a set-point of 8 mW."""
    from rigctl.config.calibration import LaserCalibrationConfig

    cal = LaserCalibrationConfig(command_unit="mW", points=[(2.0, 1.0), (10.0, 5.0),
                                                            (20.0, 10.0)])
    laser = connect().laser("obis/laser", CFG.model_copy(update={"calibration": cal}))
    start = len(emu.record.commands)
    laser.emit(4.0)
    wait_until(lambda: emu.emitted_mw == 8.0, what="emission at the 8 mW set-point")
    assert commands(emu, start) == ["SOUR:POW:LEV:IMM:AMPL 0.008000", "SOUR:AM:STAT ON"]
    laser.stop(0.0)
    wait_until(lambda: emu.emitted_mw == 0.0, what="emission off")
    before = len(emu.record.commands)
    for outside in (12.0, 0.5):  # above and below the calibrated 1-10 mW at the tip
        with pytest.raises(InterlockError, match=r"outside the calibrated range 1-10 mW"):
            laser.emit(outside)
    assert commands(emu, before) == []  # refused before a byte was sent
    assert not sink.failures


def test_a_calibration_in_volts_is_refused_on_the_obis(connect):
    from rigctl.config.calibration import LaserCalibrationConfig

    cal = LaserCalibrationConfig(command_unit="V", points=[(1.0, 2.0), (4.0, 9.0)])
    with pytest.raises(DeviceError, match="commanded by its power set-point in mW"):
        connect().laser("obis/laser", CFG.model_copy(update={"calibration": cal}))
