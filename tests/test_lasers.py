"""Several lasers on one rig (one per hemisphere): named in the config, each with its own
interlocks, addressed by name from a task, and every one of them off on every exit path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from rigctl.catalog.loading import resolve_protocol
from rigctl.cli import main
from rigctl.config import Subject, load_rig
from rigctl.data import load_session
from rigctl.engine.manual import ManualRig
from rigctl.engine.session import Session, SessionOptions
from rigctl.errors import DeviceError, InterlockError, RigctlError
from tests.conftest import ROOT, SIM_YAML

BILATERAL = ROOT / "hardware_configs" / "sim_bilateral.yaml"
NAMES = ("left_mpfc", "right_mpfc")

#: a task that lights both lasers by name, then does what ``how`` says while they are on
TWO_LASERS = '''
from dataclasses import dataclass
from rigctl.task import ENTRY, Field, Requires, Task, TaskParams, col

class Params(TaskParams):
    how: str = Field("finish", description="what happens with both lasers on")

@dataclass
class Trial:
    trial: int = col("", "Trial number")

class TwoLasers(Task):
    name = "two_lasers"
    Params = Params
    Trial = Trial
    states = ("dark", "lit")
    initial_state = "dark"
    requires = Requires(lasers=("left_mpfc", "right_mpfc"))

    def dark(self, event):
        if event == ENTRY:
            self.timed_goto("lit", 1.0)

    def lit(self, event):
        if event == ENTRY:
            self.laser_on(4, name="left_mpfc")
            self.laser_on(3, name="right_mpfc")
            self.write_trial(Trial(trial=1))
            self.set_timer("act", 0.5)
        elif event == "act":
            if self.p.how == "error":
                raise ValueError("a bug in the task")
            if self.p.how == "finish":
                self.finish()
'''


def _task(tmp_path: Path) -> Path:
    path = tmp_path / "two_lasers.py"
    path.write_text(textwrap.dedent(TWO_LASERS))
    return path


def _config(tmp_path: Path, changes: dict | None = None, base: Path = BILATERAL) -> Path:
    data = yaml.safe_load(base.read_text())
    for key, value in (changes or {}).items():
        data[key] = value
    data["data_root"] = str(tmp_path / "data")
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _session(config: Path, tmp_path: Path, protocol: str | None, params: dict) -> Session:
    cfg = load_rig(str(config))
    spec = resolve_protocol(protocol, cfg, str(config), params)
    return Session(cfg, SessionOptions(subject=Subject(), protocol=spec,
                                       data_root=tmp_path / "data", seed=5,
                                       summary_figure=False))


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# --- the config ---------------------------------------------------------------------------


def test_laser_and_lasers_together_are_refused_naming_both(tmp_path, capsys):
    single = yaml.safe_load(SIM_YAML.read_text())["laser"]
    path = _config(tmp_path, {"laser": single})
    code, _, err = _cli(capsys, "check", str(path))
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "`laser:` and `lasers:` are both given" in err and str(path) in err


def test_two_lasers_on_one_channel_are_refused_naming_both_fields(tmp_path, capsys):
    lasers = yaml.safe_load(BILATERAL.read_text())["lasers"]
    lasers["right_mpfc"]["channel"] = lasers["left_mpfc"]["channel"]
    code, _, err = _cli(capsys, "check", str(_config(tmp_path, {"lasers": lasers})))
    assert code == 2
    assert "lasers.right_mpfc.channel: 'sim/laser_left' is also lasers.left_mpfc.channel" in err


def test_the_single_laser_is_the_laser_named_laser(sim_yaml):
    cfg = load_rig(str(sim_yaml))
    assert list(cfg.all_lasers()) == ["laser"] and cfg.laser_field("laser") == "laser"
    assert list(load_rig(str(BILATERAL)).all_lasers()) == list(NAMES)


def test_check_names_each_missing_laser_with_the_task_and_the_rig_field(tmp_path, capsys):
    code, _, err = _cli(capsys, "check", str(SIM_YAML), "--protocol", str(_task(tmp_path)))
    assert code == 2
    lines = [ln for ln in err.splitlines() if "needs laser" in ln]
    assert len(lines) == 2, err
    for name, line in zip(NAMES, lines, strict=True):
        assert f"task two_lasers needs laser '{name}': add lasers.{name}" in line
        assert "two_lasers.py" in line


def test_check_refuses_a_lasers_parameter_naming_a_laser_the_rig_lacks(tmp_path, capsys):
    protocol = tmp_path / "p.yaml"
    protocol.write_text("name: delayed_alternation\nparameters: {lasers: [left_ofc]}\n")
    code, _, err = _cli(capsys, "check", str(BILATERAL), "--protocol", str(protocol))
    assert code == 2
    assert "lasers: the rig has no laser 'left_ofc' (lasers: left_mpfc, right_mpfc)" in err


# --- interlocks, one laser at a time --------------------------------------------------------


def test_each_laser_has_its_own_ceiling_and_max_on_time(tmp_path):
    lasers = yaml.safe_load(BILATERAL.read_text())["lasers"]
    lasers["right_mpfc"]["max_on_s"] = 0.5
    session = _session(_config(tmp_path, {"lasers": lasers}), tmp_path, str(_task(tmp_path)),
                       {"how": "wait"})
    left, right = (session.rig.lasers[n] for n in NAMES)
    left.on(12)  # under left's 15 mW ceiling
    with pytest.raises(InterlockError, match=r"lasers\.right_mpfc: 12 mW refused.*"
                                             r"lasers\.right_mpfc\.max_power_mw = 10 mW"):
        right.on(12)
    right.on(8)
    session.timers.pop_due(0.6)()  # right's max_on_s cut, an engine timer of its own
    assert not right.is_on and left.is_on
    assert session.timers.pop_due(0.6) is None  # left's cut is at 30 s, not now
    session.rig.all_off()
    session.rig.close()


# --- every exit path turns every laser off --------------------------------------------------


def _both_on_then(tmp_path: Path, how: str) -> tuple[Session, Path | None, Exception | None]:
    session = _session(BILATERAL, tmp_path, str(_task(tmp_path)), {"how": how})
    seen: dict[str, str] = {}

    def listener(t: float, kind: str, name: str, value: str) -> None:
        if kind == "output" and name in NAMES and value.endswith("mW"):
            seen[name] = value
            if how == "stop" and len(seen) == 2:
                session.request_stop("stopped by the test")

    session.event_listeners.append(listener)
    error = None
    try:
        result = session.run()
        folder = result.folder
    except Exception as exc:  # noqa: BLE001 - the error path is what is tested
        error, folder = exc, session.writer.folder if session.writer else None
    assert seen == {"left_mpfc": "4mW", "right_mpfc": "3mW"}  # both were on
    lit = session.rig.events.record.lasers
    assert [p for _, p, kind in lit["laser_left"] if kind == "on"] == [4.0]
    assert [p for _, p, kind in lit["laser_right"] if kind == "on"] == [3.0]
    return session, folder, error


@pytest.mark.parametrize("how", ["error", "stop", "finish"])
def test_every_exit_path_with_two_lasers_on_ends_with_both_off(tmp_path, how):
    session, folder, error = _both_on_then(tmp_path, how)
    world = session.rig.events
    assert world.laser_powers == {"laser_left": 0.0, "laser_right": 0.0}
    assert all(not la.is_on for la in session.rig.lasers.values())
    data = load_session(folder)
    assert data.metadata["status"] == ("completed" if how == "finish" else "aborted")
    if how == "error":
        assert isinstance(error, ValueError)
        assert "two_lasers.py:" in data.metadata["reason"]  # the task's line, for the operator
    ev = data.events
    assert ev[ev["name"] == "all_off"]["kind"].eq("output").any()


def test_a_laser_driver_that_fails_to_turn_off_does_not_stop_the_other_one(tmp_path):
    session = _session(BILATERAL, tmp_path, str(_task(tmp_path)), {"how": "wait"})
    left, right = (session.rig.lasers[n] for n in NAMES)
    left.on(4)
    right.on(3)

    def broken() -> None:
        raise DeviceError("left driver gone")

    left.driver.force_off = broken  # type: ignore[method-assign]
    failures = session.rig.all_off()
    assert failures == ["left_mpfc: left driver gone"]
    assert session.rig.events.laser_powers["laser_right"] == 0.0 and not right.is_on
    session.rig.close()


def test_the_emergency_latch_turns_every_laser_off_and_holds_them(tmp_path):
    session = _session(BILATERAL, tmp_path, str(_task(tmp_path)), {"how": "wait"})
    world = session.rig.events

    def listener(t: float, kind: str, name: str, value: str) -> None:
        if kind == "output" and name == "right_mpfc" and value.endswith("mW"):
            session.request_laser_off("test operator")
            session.timers.set_at(t + 0.1, lambda: session.request_stop("done"))

    session.event_listeners.append(listener)
    result = session.run()
    assert all(la.latched for la in session.rig.lasers.values())
    assert world.laser_powers == {"laser_left": 0.0, "laser_right": 0.0}
    ev = load_session(result.folder).events
    latch = ev[ev["name"] == "laser_latch"]["value"].tolist()
    assert latch == ["left_mpfc: latched off (test operator)",
                     "right_mpfc: latched off (test operator)"]
    offs = ev[(ev["kind"] == "output") & ev["value"].eq("off latched")]["name"].tolist()
    assert offs == list(NAMES)


# --- the simulated world and the built-in tasks ---------------------------------------------


def test_one_laser_of_two_inhibits_half_the_astrocytes(tmp_path):
    session = _session(BILATERAL, tmp_path, str(_task(tmp_path)), {"how": "wait"})
    world, (left, right) = session.rig.events, (session.rig.lasers[n] for n in NAMES)
    saturation = world.s.mouse.laser_saturation_mw
    left.on(saturation)
    assert world.mouse.o == pytest.approx(0.5)
    right.on(saturation)
    assert world.mouse.o == pytest.approx(1.0)  # as the single bilateral laser at saturation
    session.rig.all_off()
    assert world.mouse.o == 0.0
    session.rig.close()


def test_laser_trials_light_the_lasers_the_parameter_names(tmp_path):
    params = {"n_trials": 8, "delays_s": [2.0], "laser_fraction": 0.5, "stim_mode": "open_loop",
              "max_consecutive": 3, "block_size": 4}
    both = _session(BILATERAL, tmp_path / "a", None, params).run()
    left = _session(BILATERAL, tmp_path / "b", None, {**params, "lasers": ["left_mpfc"]}).run()
    for result, lit in ((both, set(NAMES)), (left, {"left_mpfc"})):
        assert result.status == "completed"
        data = load_session(result.folder)
        ev, trials = data.events, data.trials
        on = ev[(ev["kind"] == "output") & ev["value"].str.endswith("mW")]
        assert set(on["name"]) == lit
        n_laser = int(trials["laser_onset_s"].notna().sum())
        assert n_laser >= 2 and (on["name"] == "left_mpfc").sum() == n_laser  # one a trial
    from rigctl.data.events import laser_epochs

    epochs = laser_epochs(load_session(both.folder).events)
    n_laser = int(load_session(both.folder).trials["laser_onset_s"].notna().sum())
    assert sorted(epochs["laser"].unique()) == list(NAMES) and len(epochs) == 2 * n_laser


def test_manual_control_addresses_the_first_laser_and_closes_them_all(tmp_path):
    from rigctl.timing.clock import VirtualClock

    with ManualRig.open(BILATERAL, clock=VirtualClock()) as rig:
        result = rig.laser_pulse(power_mw=2, duration_s=0.5)
        assert result.on_s == pytest.approx(0.5)
        names = {name for _, kind, name, _ in rig.log_lines if kind == "output"}
        assert "left_mpfc" in names and "right_mpfc" not in names
        rig.rig.lasers["right_mpfc"].on(3)
    assert rig.rig.events.laser_powers == {"laser_left": 0.0, "laser_right": 0.0}


def test_a_bilateral_session_runs_from_the_command_line(tmp_path, capsys):
    code, out, err = _cli(capsys, "run", str(BILATERAL), "--trials", "6", "--seed", "2",
                          "--data", str(tmp_path / "data"), "--quiet", "--no-figure")
    assert code == 0, err
    assert "status: completed" in out


def test_each_laser_is_calibrated_by_name_into_its_own_section(tmp_path, capsys):
    config = tmp_path / "bilateral.yaml"
    config.write_text(BILATERAL.read_text())
    args = ("calibrate", "laser", str(config), "--commands", "1,2,4", "--on-s", "0.5",
            "--virtual-time", "--date", "2026-12-01")
    code, _, err = _cli(capsys, *args, "--measured", "1,2,4")
    assert code == 2 and "the rig has 2 lasers (left_mpfc, right_mpfc); name the one on " \
                          "the power meter with --laser NAME" in err
    code, _, err = _cli(capsys, *args, "--laser", "right", "--measured", "1,2,4")
    assert code == 2 and "--laser: the rig has no laser 'right'" in err
    assert config.read_text() == BILATERAL.read_text()  # refused before any light or write
    code, out, err = _cli(capsys, *args, "--laser", "right_mpfc", "--measured", "0.9,1.9,3.6")
    assert code == 0, err
    assert "wrote lasers.right_mpfc.calibration (2026-12-01)" in out
    cfg = load_rig(str(config))
    assert cfg.lasers["left_mpfc"].calibration is None
    assert [list(p) for p in cfg.lasers["right_mpfc"].calibration.points] == [
        [1, 0.9], [2, 1.9], [4, 3.6]]


def test_manual_control_pulses_the_laser_it_is_given(tmp_path):
    from rigctl.timing.clock import VirtualClock

    with ManualRig.open(BILATERAL, clock=VirtualClock()) as rig:
        assert rig.lasers == NAMES
        rig.laser_pulse(power_mw=2, duration_s=0.5, laser_name="right_mpfc")
        names = {name for _, kind, name, _ in rig.log_lines if kind == "output"}
        assert "right_mpfc" in names and "left_mpfc" not in names
        with pytest.raises(RigctlError, match="no laser 'centre'"):
            rig.laser_pulse(power_mw=2, duration_s=0.5, laser_name="centre")
