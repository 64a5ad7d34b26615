"""The command line: `rigctl run --protocol task.py`, `--duration`, and one-line errors for
what a pyControl file uses that rigctl cannot run (exit 2, no session folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from rigctl.cli import main
from rigctl.compat.pycontrol import PyControlBinding, load_task
from rigctl.errors import RigctlError
from tests.compat.conftest import SIM_YAML, TASKS


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(("task", "line", "says"), [
    ("bad_pyb.py", 2, "'pyb.Pin' is a MicroPython-only name"),
    ("bad_device.py", 4, "device class 'Stepper_motor' is not supported"),
    ("bad_api.py", 11, "pyControl.utility.sound_alarm is not implemented"),
    ("bad_initial.py", 5, "initial_state 'c' is not one of the states"),
    ("bad_name.py", 10, "name 'play_tone' is not defined"),
    ("no_such_task.py", None, "no_such_task.py: task file not found"),
])
def test_unsupported_names_are_one_line_before_running(capsys, tmp_path, task, line, says):
    code, _, err = cli(capsys, "run", str(SIM_YAML), "--protocol", str(TASKS / task),
                       "--data", str(tmp_path))
    assert code == 2
    lines = err.strip().splitlines()
    where = task if line is None else f"{task}:{line}:"
    assert len(lines) == 1 and where in lines[0] and says in lines[0]
    assert not any(tmp_path.iterdir())  # nothing was written


def test_unbound_pin_names_the_binding_field(tmp_path):
    from rigctl.config import load_rig
    from rigctl.config.subject import Subject
    from rigctl.engine.session import Session, SessionOptions
    from rigctl.errors import RigctlError

    binding = PyControlBinding(pins={"X1": "lick_left", "X2": "no_such_input"})
    spec = load_task(TASKS / "all_states.py", binding)
    with pytest.raises(RigctlError) as err:
        Session(load_rig(SIM_YAML), SessionOptions(subject=Subject(id="m1"), protocol=spec,
                                                   data_root=tmp_path))
    text = str(err.value)
    assert "pycontrol.pins.X2: 'no_such_input' is not an input of this rig" in text
    assert "pycontrol.pins: output pin 'B4' is not bound" in text
    assert not any(tmp_path.iterdir())


def test_run_pycontrol_task_with_duration(capsys, tmp_path):
    code, out, _ = cli(capsys, "run", str(SIM_YAML), "--protocol", str(TASKS / "poke_states.py"),
                       "--duration", "600", "--seed", "1", "--data", str(tmp_path), "--quiet",
                       "--agent", "none")
    assert code == 0, out
    assert "status: completed" in out
    assert "states: 1/3 entered; never entered: light_on, reward" in out
    folder = next(tmp_path.glob("*/*"))
    tsv = pd.read_csv(next(folder.glob("*.tsv")), sep="\t", keep_default_na=False)
    assert tsv["time"].iloc[-1] == 600.0  # run_end at the end of --duration
    assert tsv[tsv["type"] == "print"]["content"].iloc[-1] == "run_end pokes=0"


def test_duration_ends_a_builtin_session_as_completed(capsys, tmp_path):
    code, out, _ = cli(capsys, "run", str(SIM_YAML), "--duration", "60", "--seed", "3",
                       "--data", str(tmp_path), "--quiet", "--no-figure")
    assert code == 0 and "status: completed" in out
    folder = next(tmp_path.glob("*/*"))
    meta = json.loads((folder / "session.json").read_text())
    assert meta["status"] == "completed"
    events = pd.read_csv(folder / "events.csv")
    assert events["t_s"].max() <= 60.0 + 1e-9 and events["name"].iloc[-1] == "all_off"
    trials = pd.read_csv(folder / "trials.csv")
    assert 0 < len(trials) < 200 and trials["end_s"].max() <= 60.0


def test_duration_must_be_positive(capsys, tmp_path):
    code, _, err = cli(capsys, "run", str(SIM_YAML), "--duration", "0", "--data", str(tmp_path))
    assert code == 2 and "--duration: must be > 0 s" in err


def test_task_file_path_in_session_metadata(capsys, tmp_path: Path):
    cli(capsys, "run", str(SIM_YAML), "--protocol", str(TASKS / "timers.py"),
        "--data", str(tmp_path), "--quiet")
    meta = json.loads(next(tmp_path.glob("*/*/session.json")).read_text())
    assert meta["protocol"]["name"] == "pycontrol_timers"
    assert meta["protocol"]["source"].endswith("timers.py")
    assert len(meta["protocol"]["sha256"]) == 64


def test_pyControl_1x_names_load(tmp_path):
    """Older hardware definitions import the device classes from ``pyControl.hardware`` (and
    ``pyb``, for its LEDs); older tasks call ``goto``. They load, and their pins are seen."""
    (tmp_path / "hardware_definition.py").write_text(
        "from devices import *\nimport pyb\nfrom pyControl.hardware import *\n"
        "board = Breakout_1_2()\nlick = Lickometer(port=board.port_1)\n"
        "sync = Rsync(pin=board.BNC_1, mean_IPI=1000, pulse_dur=10)\nled = pyb.LED(1)\n")
    task = tmp_path / "old_task.py"
    task.write_text("from pyControl.utility import *\nimport hardware_definition as hw\n"
                    "states = ['a', 'b']\nevents = ['lick']\ninitial_state = 'a'\n"
                    "def a(event):\n    if event == 'lick':\n        goto('b')\n"
                    "def b(event):\n    if event == 'entry':\n        hw.led.on()\n")
    spec = load_task(task, PyControlBinding(unbound="virtual"))
    info = spec.cls.task
    assert info.input_pins == {"port_1.DIO_A", "port_1.DIO_B"}
    assert info.output_pins == {"port_1.POW_A", "port_1.POW_B", "BNC_1", "LED_1"}
    text = task.read_text().replace("as hw\n", "as hw\nimport pyb\n")
    task.write_text(text + "        pyb.delay(10)\n")  # pyb's other names: refused
    with pytest.raises(RigctlError, match=r"^old_task\.py:13: 'pyb.delay' is a MicroPython"):
        load_task(task, PyControlBinding(unbound="virtual"))


def test_an_error_at_run_time_aborts_the_session_and_exits_1(capsys, tmp_path):
    # Exit 2 means "nothing ran"; here a session ran for 3 s and its folder is kept.
    code, out, err = cli(capsys, "run", str(SIM_YAML), "--protocol",
                         str(TASKS / "crash_mid_session.py"), "--data", str(tmp_path))
    assert code == 1
    assert err.strip().splitlines() == [
        "rigctl: error: crash_mid_session.py:17: ZeroDivisionError: division by zero"]
    assert "status: aborted (TaskError: crash_mid_session.py:17:" in out
    (folder,) = (p for p in tmp_path.rglob("session.json"))
    assert json.loads(folder.read_text())["status"] == "aborted"
