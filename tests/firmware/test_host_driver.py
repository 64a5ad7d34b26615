"""rigctl's reward-controller driver against every implementation: the handshake, valves, licks,
the heartbeat, the watchdog and closing, as a session uses them. Plus the firmware built for a
Mega answering the same handshake."""

from __future__ import annotations

import time

import pytest
from fw_helpers import SimavrTarget, Target
from serial_helpers import Sink, make_ctx, wait_until

from rigctl.hardware import reward_controller as rc
from sim_backend.avr.build import missing_tools


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def device(controller: Target, sink: Sink):
    dev = rc.open("ctrl", rc.Settings(port=controller.port, watchdog_s=0.6, heartbeat_s=0.1),
                  make_ctx(sink))
    yield dev
    dev.close()


def test_handshake_reads_the_boards_identity_and_syncs_its_clock(device):
    assert device.firmware.startswith("1.2.1")
    assert device.counts == {"valve": 2, "in": 2, "out": 4}
    assert device.sync.ready


def test_a_valve_opening_is_timed_by_the_controller(device, controller: Target, sink: Sink):
    valve = device.valve("ctrl/valve1", "valve_right", lambda ms: 0.1 * ms)
    before = len(controller.spans("valve", 1))
    valve.open_for(0.040)
    span = wait_until(lambda: (s := controller.spans("valve", 1)[before:]) and s[0][1] and s[0],
                      what="the valve to close")
    tol = 0.0001 if controller.kind == "firmware" else 0.01
    assert abs(span[1] - span[0] - 0.040) <= tol
    assert sink.failures == []


def test_licks_arrive_as_input_events_with_the_controllers_time(device, controller: Target,
                                                               sink: Sink):
    device.digital_input("ctrl/in0", "lick_left")
    device.start()
    controller.pulse(0, 0.030)
    events = wait_until(lambda: len(sink.events) >= 2 and sink.events, what="two lick edges")
    assert [(e.name, e.value) for e in events] == [("lick_left", 1.0), ("lick_left", 0.0)]
    assert events[1].device_t - events[0].device_t == pytest.approx(0.030, abs=2e-5)
    assert sink.failures == []


def test_the_heartbeat_keeps_the_watchdog_fed_and_closing_turns_everything_off(
        device, controller: Target, sink: Sink):
    cue = device.digital_output("ctrl/out0", "cue_go")
    cue.set(True)
    time.sleep(1.5)  # more than two watchdog periods
    assert sink.failures == []
    assert controller.level("out", 0) == 1
    device.close()
    wait_until(lambda: controller.level("out", 0) == 0, what="the cue to drop at close")


def test_a_silent_host_trips_the_watchdog_which_the_driver_reports(device, controller: Target,
                                                                   sink: Sink):
    cue = device.digital_output("ctrl/out1", "cue_go")
    cue.set(True)
    wait_until(lambda: controller.level("out", 1) == 1, what="the cue to rise")
    device._hb_stop.set()  # the heartbeat thread ends: the host falls silent
    wait_until(lambda: controller.level("out", 1) == 0, what="the watchdog to drop the cue")
    failure = wait_until(lambda: sink.failures, what="the watchdog event")[0]
    assert "watchdog fired" in str(failure)


@pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))
def test_the_firmware_built_for_a_mega_answers_the_same_handshake():
    target = SimavrTarget("mega")
    try:
        dev = rc.open("ctrl", rc.Settings(port=target.port), make_ctx(Sink()))
        try:
            assert dev.firmware == "1.2.1"
            valve = dev.valve("ctrl/valve0", "valve_left", lambda ms: 0.1 * ms)
            valve.open_for(0.010)
            span = wait_until(lambda: (s := target.spans("valve", 0)) and s[0][1] and s[0],
                              what="the Mega's valve pin to close")
            assert abs(span[1] - span[0] - 0.010) <= 0.0001
        finally:
            dev.close()
    finally:
        target.close()
