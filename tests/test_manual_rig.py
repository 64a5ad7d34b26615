"""Manual rig control: pulses, flushes and laser test pulses on the simulated rig, interlocks, and
every output off on exit and on error.

Most tests run the simulated rig in virtual time, so times in the simulated world's record are
exact; one runs on the wall clock (the default) and asserts nothing about speed.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from rigctl.config import load_rig
from rigctl.engine.manual import (
    Cancelled,
    ManualRig,
    RawCommandLaser,
    calibrate_laser,
    calibrate_valve,
)
from rigctl.errors import InterlockError, RigctlError
from rigctl.hardware.calibration import ValveCurve, laser_record
from rigctl.hardware.interfaces import LaserDriver, PulseTrain
from rigctl.timing.clock import VirtualClock


class Boom(Exception):
    """Raised by a test in the middle of an operation."""


@pytest.fixture
def open_rig(make_config):
    def make(changes=None, **kwargs) -> ManualRig:
        kwargs.setdefault("clock", VirtualClock())
        return ManualRig.open(make_config(changes), **kwargs)

    return make


def world(rig: ManualRig):
    return rig.rig.devices["sim"].world


class RawLaser(LaserDriver):
    """An analog laser as a real driver would offer it: raw volts for calibration."""

    command_unit = "V"

    def __init__(self, inner: LaserDriver) -> None:
        self.inner = inner
        self.commands: list[float] = []

    def emit(self, power_mw, pulses=None):
        self.inner.emit(power_mw, pulses)

    def emit_command(self, value: float) -> None:
        self.commands.append(value)
        self.inner.emit(2.0 * value)  # this "laser" gives 2 mW per volt

    def stop(self, ramp_down_s):
        self.inner.stop(ramp_down_s)

    def force_off(self):
        self.inner.force_off()


# --- valves -------------------------------------------------------------------------------------


def test_valve_pulses_are_recorded_by_the_simulated_world(open_rig):
    progress = []
    with open_rig() as rig:
        n = rig.pulse_valve("left", 40, count=10, interval_s=0.3,
                            progress=lambda d, t: progress.append((d, t)))
        assert n == 10
        deliveries = [d for d in world(rig).record.deliveries if d[1] == "left"]
        assert rig.now() == pytest.approx(deliveries[-1][0] + 0.04)  # returns once closed
        curve = ValveCurve(rig.cfg.reward_ports.left.calibration)
    assert len(deliveries) == 10
    assert all(d[2] == pytest.approx(0.04) for d in deliveries)
    assert np.allclose(np.diff([d[0] for d in deliveries]), 0.34)  # open 40 ms + 300 ms closed
    assert all(d[3] == pytest.approx(curve.ul_for_ms(40)) for d in deliveries)
    assert progress == [(k, 10) for k in range(1, 11)]
    logged = [ln for ln in rig.log_lines if ln[1] == "output" and ln[2] == "valve_left"]
    assert [ln[3] for ln in logged] == ["40.000ms"] * 10


def test_valve_interlocks_and_bad_arguments(open_rig):
    with open_rig({"reward_ports": {"left": {"valve": {"max_open_s": 0.1}}}}) as rig:
        with pytest.raises(InterlockError, match=r"reward_ports.left: 150 ms is above "
                                                 r"valve.max_open_s = 0.1 s"):
            rig.pulse_valve("left", 150)
        with pytest.raises(RigctlError, match="unknown port 'middle'"):
            rig.pulse_valve("middle", 20)
        with pytest.raises(RigctlError, match="count must be at least 1"):
            rig.pulse_valve("left", 20, count=0)
        with pytest.raises(RigctlError, match="must be > 0 ms"):
            rig.pulse_valve("left", 0)
        assert world(rig).record.deliveries == []


def test_flush_respects_max_open_time(open_rig):
    with open_rig({"reward_ports": {"right": {"valve": {"max_open_s": 0.2}}}}) as rig:
        assert rig.flush_valve("right", 0.5, gap_s=0.05) == pytest.approx(0.5)
        rec = world(rig).record.deliveries
    assert [round(d[2], 6) for d in rec] == [0.2, 0.2, 0.1]
    assert np.allclose(np.diff([d[0] for d in rec]), 0.25)


# --- laser --------------------------------------------------------------------------------------


def test_laser_test_pulse_ramps_down_at_the_end(open_rig):
    with open_rig() as rig:
        t0 = rig.now()
        result = rig.laser_pulse(5.0, 1.0)
        assert rig.now() == pytest.approx(t0 + 1.1)  # returns after the ramp
        rec = world(rig).record.laser
    assert not result.cut_by_interlock and result.on_s == pytest.approx(1.0)
    assert [(round(t - t0, 6), p, k) for t, p, k in rec] == [
        (0.0, 5.0, "on"), (1.0, 5.0, "ramp"), (1.1, 0.0, "off")]


def test_laser_test_pulse_is_cut_by_max_on_time(open_rig):
    with open_rig({"laser": {"max_on_s": 0.5}}) as rig:
        t0 = rig.now()
        result = rig.laser_pulse(5.0, 2.0, pulses=PulseTrain(20, 0.01))
        assert world(rig).laser_power_mw == 0.0
        rec = world(rig).record.laser
        cuts = [ln for ln in rig.log_lines if ln[1] == "interlock"]
    assert result.cut_by_interlock and result.on_s == pytest.approx(0.5)
    ramps = [t - t0 for t, _, k in rec if k == "ramp"]
    assert ramps == [pytest.approx(0.5)]
    assert len(cuts) == 1 and "max_on_s 0.5 s reached" in cuts[0][3]


def test_laser_power_ceiling_refuses_before_any_light(open_rig):
    with open_rig() as rig:
        with pytest.raises(InterlockError, match="max_power_mw"):
            rig.laser_pulse(20.0, 1.0)
        with pytest.raises(RigctlError, match="duration must be > 0"):
            rig.laser_pulse(5.0, 0)
        assert world(rig).record.laser == []


def test_raw_laser_commands_for_calibration_keep_the_max_on_time(open_rig):
    with open_rig({"laser": {"max_on_s": 1.0}}, calibrated_laser=False) as rig:
        raw = RawLaser(rig.rig.laser.driver)
        rig.rig.laser.driver = raw
        assert isinstance(raw, RawCommandLaser) and rig.laser_command_unit == "V"
        result = rig.laser_command(2.5, 3.0)
        assert raw.commands == [2.5] and world(rig).laser_power_mw == 0.0
        assert result.cut_by_interlock and result.on_s == pytest.approx(1.0)
        assert result.unit == "V"


def test_set_points_need_the_laser_opened_uncalibrated(open_rig, make_config):
    record = laser_record([1, 2, 4], [0.8, 1.7, 3.5], "mW")
    changes = {"laser": {"calibration": record.model_dump(mode="json")}}
    with open_rig(changes) as rig:
        assert rig.laser_command_unit == "mW"
        with pytest.raises(RigctlError, match="calibrated_laser=False"):
            rig.laser_command(2.0, 0.5)
    with open_rig(changes, calibrated_laser=False) as rig:
        assert rig.cfg.laser.calibration == record  # the caller's config is unchanged
        assert rig.rig.cfg.laser.calibration is None  # the driver sees no calibration
        result = rig.laser_command(2.0, 0.5)
        assert result.unit == "mW" and world(rig).record.laser[0][1] == 2.0


# --- cues and inputs ----------------------------------------------------------------------------


def test_read_events_returns_licks_after_a_reward(open_rig):
    seen = []
    with open_rig(on_event=seen.append) as rig:
        assert rig.read_events(0.5) == []  # the simulated mouse licks only for water
        rig.pulse_valve("right", 60)
        events = rig.read_events(3.0)
        assert rig.read_events(0.0) == []  # each input is returned once
    assert events and {e.name for e in events} == {"lick_right"}
    assert [e.value for e in events][:2] == [1.0, 0.0]
    assert seen == events
    assert all(events[i].t <= events[i + 1].t for i in range(len(events) - 1))


def test_cues_can_be_set_and_are_named(open_rig):
    with open_rig() as rig:
        assert "go" in rig.cues
        rig.set_cue("trial_start", True)
        assert rig.rig.cues["trial_start"].driver.level is True
        with pytest.raises(RigctlError, match="cue 'buzzer' is not wired"):
            rig.set_cue("buzzer", True)
    assert rig.rig.cues["trial_start"].driver.level is False


# --- everything off, on every path --------------------------------------------------------------


def test_everything_is_off_after_a_normal_exit(open_rig):
    with open_rig() as rig:
        rig.set_cue("go", True)
        rig.pulse_valve("left", 20, count=2, interval_s=0.1)
        rig.laser_pulse(3.0, 0.2)
    w = world(rig)
    assert w.laser_power_mw == 0.0
    assert all(c.driver is None or c.driver.level is False for c in rig.rig.cues.values())
    assert rig.log_lines[-1][2:] == ("all_off", "laser off, valves closed")
    assert rig.closed and rig.close() == []  # closing twice is harmless
    with pytest.raises(RigctlError, match="closed"):
        rig.pulse_valve("left", 20)


def _raise_on_progress(after: float = 0):
    def progress(done, total):
        if done >= after:
            raise Boom("operator's progress bar crashed")

    return progress


def _valve_error(rig):
    rig.pulse_valve("left", 100, count=5, interval_s=0.1, progress=_raise_on_progress(2))


def _flush_error(rig):
    rig.flush_valve("right", 2.0, progress=_raise_on_progress(1))


def _laser_error(rig):
    rig.laser_pulse(5.0, 2.0, progress=_raise_on_progress(0.5))


def _raw_laser_error(rig):
    rig.rig.laser.driver = RawLaser(rig.rig.laser.driver)
    rig.laser_command(3.0, 2.0, progress=_raise_on_progress(0.5))


def _cue_error(rig):
    rig.set_cue("go", True)
    rig.set_cue("trial_start", True)
    raise Boom("error in the caller's code")


def _valve_open(rig, side):
    """Is a valve of ``side`` open now (the last opening has not reached its end)?"""
    w = world(rig)
    t = rig.now()
    closed = {s for _, s in w.record.valve_closed_early}
    return any(s == side and t0 <= t < t0 + d for t0, s, d, _ in w.record.deliveries) and (
        side not in closed)


@pytest.mark.parametrize("path", ["valve", "flush", "laser", "raw_laser", "cue"])
def test_an_exception_inside_the_context_turns_every_output_off(open_rig, path):
    action = {"valve": _valve_error, "flush": _flush_error, "laser": _laser_error,
              "raw_laser": _raw_laser_error, "cue": _cue_error}[path]
    with pytest.raises(Boom), open_rig(calibrated_laser=path != "raw_laser") as rig:
        w = world(rig)
        action(rig)
    if path in ("valve", "flush"):
        side = "left" if path == "valve" else "right"
        # the error came while an opening was in progress: the valve was closed early, at once
        # (closed by the operation's error path, and again by the exit: both are right)
        assert {s for _, s in w.record.valve_closed_early} == {side}
        assert w.record.valve_closed_early[0][0] == pytest.approx(w.record.deliveries[-1][0])
        assert not _valve_open(rig, side)
    if path in ("laser", "raw_laser"):
        assert w.laser_power_mw == 0.0
        t_off, power, kind = w.record.laser[-1]
        assert (power, kind) == (0.0, "off")  # forced off, no ramp
        assert "ramp" not in [k for _, _, k in w.record.laser]
    if path == "cue":
        assert rig.rig.cues["go"].driver.level is False
        assert rig.rig.cues["trial_start"].driver.level is False
    assert rig.closed and rig.log_lines[-1][2] == "all_off"


def test_cancel_stops_the_operation_and_closes_the_valve(open_rig):
    with open_rig() as rig:
        def progress(done, total):
            if done == 3:
                rig.cancel()

        with pytest.raises(Cancelled, match="cancelled by the operator"):
            rig.pulse_valve("left", 50, count=10, interval_s=0.2, progress=progress)
        w = world(rig)
        assert len(w.record.deliveries) == 3
        assert [s for _, s in w.record.valve_closed_early] == ["left"]
        assert rig.pulse_valve("left", 50) == 1  # the next operation is not cancelled


def test_wall_clock_rig_and_cancel_from_another_thread(open_rig):
    """The default clock, with a cancel from another thread (a GUI's stop button).

    The simulated mouse does not lick here (licks_per_ul 0) and the laser stays off, so the
    simulated world has no event of its own to deliver: on the wall clock it currently fails
    when it delivers one more than 0.5 ms late (SimWorld._advance integrates a negative number of
    steps; reported for sim_backend).
    """
    quiet = {"devices": {"sim": {"mouse": {"licks_per_ul": 0}}}}
    started = threading.Event()
    errors: list[BaseException] = []
    with open_rig(quiet, clock=None) as rig:
        assert rig.pulse_valve("left", 10, count=2, interval_s=0.01) == 2
        assert len(world(rig).record.deliveries) == 2

        def worker():
            try:
                rig.pulse_valve("right", 10, count=100_000, interval_s=0.005,
                                progress=lambda d, t: started.set())
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                errors.append(exc)

        thread = threading.Thread(target=worker)
        thread.start()
        assert started.wait(30)
        rig.cancel()
        thread.join(30)
        assert not thread.is_alive()
        pulses = len(world(rig).record.deliveries)
        assert 2 < pulses < 2 + 100_000
    assert len(errors) == 1 and isinstance(errors[0], Cancelled)
    assert len(world(rig).record.deliveries) == pulses  # nothing opened after the cancel


# --- calibration procedures ---------------------------------------------------------------------


def test_valve_calibration_procedure_measures_the_simulated_truth(open_rig):
    """The simulated valve's true flow is its calibration × valve_flow_scale: a calibration that
    weighs what the simulated valve delivered finds exactly that."""
    steps, progress = [], []
    with open_rig({"devices": {"sim": {"valve_flow_scale": 1.25}}}) as rig:
        old = ValveCurve(rig.cfg.reward_ports.left.calibration)
        w = world(rig)

        def weigh(step):  # the balance: the water of this step's openings
            return sum(d[3] for d in w.record.deliveries[-step.openings:])

        record = calibrate_valve(rig, "left", [60, 20, 40], weigh, openings=10, interval_s=0.1,
                                 before_step=steps.append,
                                 progress=lambda s, d, t: progress.append((s.index, d, t)))
    assert [s.command for s in steps] == [20, 40, 60] and steps[0].openings == 10
    assert progress[-1] == (2, 10, 10)
    for ms, ul in record.points:
        assert ul == pytest.approx(1.25 * old.ul_for_ms(ms), rel=1e-5)
    assert record.openings == 10 and record.fit is not None and record.date is not None


def test_laser_calibration_procedure_with_a_raw_driver(open_rig):
    with open_rig(calibrated_laser=False) as rig:
        raw = RawLaser(rig.rig.laser.driver)
        rig.rig.laser.driver = raw
        w = world(rig)
        record = calibrate_laser(rig, [3, 1, 2], lambda step: w.record.laser[-3][1], on_s=0.5)
    assert raw.commands == [1, 2, 3]
    assert record.command_unit == "V" and record.points == [(1, 2.0), (2, 4.0), (3, 6.0)]


def test_valve_calibration_plan_is_checked_before_any_pulse(open_rig):
    from rigctl.hardware.calibration import CalibrationError

    with open_rig() as rig:
        for times, match in [([20], "at least two"), ([20, 20], "measured once"),
                             ([20, 900], "max_open_s")]:
            with pytest.raises(CalibrationError, match=match):
                calibrate_valve(rig, "left", times, lambda s: 1.0)
        assert world(rig).record.deliveries == []


def test_virtual_clock_works_with_the_simulated_rig_only(sim_yaml):
    cfg = load_rig(str(sim_yaml))
    with ManualRig(cfg, clock=VirtualClock()) as rig:
        assert rig.sides == ("left", "right") and rig.has_laser
