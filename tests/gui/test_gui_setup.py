"""Session setup: config errors inline by field, the generated parameter form refuses bad
values, units and ranges come from the pydantic model."""

from __future__ import annotations

import yaml

from gui.forms import ParamForm, field_label, field_unit
from rigctl.catalog.discovery import builtin_tasks


def test_invalid_config_shows_field_errors_inline(qtbot, window, config):
    data = yaml.safe_load(config.read_text())
    data["reward_ports"]["left"]["valve"]["max_open_s"] = -1
    data["laser"]["max_power_mw"] = "lots"
    data["lazer"] = {}
    bad = config.with_name("bad.yaml")
    bad.write_text(yaml.safe_dump(data))
    tab = window.add_rig(str(bad))
    setup = tab.setup
    assert setup.cfg is None
    assert setup.config_errors.isVisible()
    lines = setup.problem_lines()
    heads = [line.split(": ", 1)[0] for line in lines]
    assert "<b>reward_ports.left.valve.max_open_s</b>" in heads
    assert "<b>laser.max_power_mw</b>" in heads
    assert "<b>lazer</b>" in heads
    text = setup.config_errors.text()
    assert "greater than 0" in text and "unknown field" in text
    assert not tab.start_button.isEnabled()
    assert "max_open_s" in tab.log_text()  # the same lines reach the log pane

    # fixing the file and reloading clears the errors and enables Start
    setup.load_config(str(config))
    assert setup.cfg is not None and not setup.config_errors.isVisible()
    assert tab.start_button.isEnabled()


def test_missing_config_file(qtbot, window, tmp_path):
    tab = window.add_rig(str(tmp_path / "nope.yaml"))
    assert "file not found" in tab.setup.config_errors.text()
    assert not tab.start_button.isEnabled()


def test_invalid_parameter_is_refused_in_the_form(qtbot, window, config):
    tab = window.add_rig(str(config))
    form = tab.setup.form
    assert not form.problems() and tab.start_button.isEnabled()

    # a spin box cannot hold a value outside the model's range at all
    n = form.editors["n_trials"].widget
    n.setValue(0)
    assert n.value() == 1
    frac = form.editors["laser_fraction"].widget
    frac.setValue(1.7)
    assert frac.value() == 1.0

    # a typed list item outside its range is refused with the model's reason, by its field
    delays = form.editors["delays_s"]
    delays.widget.setText("2, 700")
    assert form.problems()
    assert delays.error.isVisible() and "600" in delays.error.text()
    assert not tab.start_button.isEnabled()
    delays.widget.setText("2, abc")
    assert "delays_s" in form.problems()[0]
    delays.widget.setText("2, 5")
    assert not form.problems() and tab.start_button.isEnabled()

    # an exclusive bound (gt=0) the spin box allows is refused by the model
    form.editors["laser_power_mw"].widget.setValue(0)
    assert form.editors["laser_power_mw"].error.isVisible()
    assert not tab.start_button.isEnabled()
    form.editors["laser_power_mw"].widget.setValue(5)

    # a rule between fields (pulse width shorter than the period) names its field
    form.editors["laser_pulse_hz"].widget.setText("50")
    form.editors["laser_pulse_width_s"].widget.setValue(0.05)
    assert form.editors["laser_pulse_width_s"].error.isVisible()
    assert not tab.start_button.isEnabled()
    form.editors["laser_pulse_hz"].widget.setText("")
    assert not form.problems()

    # a subject ID that cannot be a folder name is refused too
    tab.setup.subject_id.setText("M 12/a")
    assert tab.setup.subject_error.isVisible() and not tab.start_button.isEnabled()


def test_rig_problem_at_start_is_shown_by_field(qtbot, window, config):
    """Checks that need the rig (laser ceiling) run in the engine; their answer reaches the
    field, and nothing is written."""
    tab = window.add_rig(str(config))
    tab.setup.virtual.setChecked(True)
    tab.setup.form.editors["laser_power_mw"].widget.setValue(40)  # model allows, rig does not
    tab.start()
    qtbot.waitUntil(lambda: tab.phase == "idle" and "could not start" in tab.status.text(),
                    timeout=30_000)
    assert "laser.max_power_mw" in tab.setup.form.editors["laser_power_mw"].error.text()
    assert not (config.parent / "data").exists()


def test_form_units_ranges_tooltips(qtbot):
    form = ParamForm(builtin_tasks()["delayed_alternation"].Params)
    qtbot.addWidget(form)
    iti = form.editors["iti_s"]
    assert iti.widget.suffix() == " s" and iti.widget.maximum() == 600
    assert "Inter-trial interval" in iti.widget.toolTip() and "≤ 600" in iti.widget.toolTip()
    assert form.editors["reward_ul"].widget.suffix() == " µL"
    assert form.editors["laser_power_mw"].widget.suffix() == " mW"
    assert form.editors["stim_mode"].widget.count() == 4
    assert "each ≥ 0, ≤ 600" in form.editors["delays_s"].widget.toolTip()
    assert "predictor" in form.subforms
    assert form.subforms["predictor"].editors["threshold"].widget.value() == 0.6
    assert field_unit("omega_a_per_s", "") == "1/s"
    assert field_label("response_window_s") == "response window"
    values = form.values()
    model = builtin_tasks()["delayed_alternation"].Params.model_validate(values)
    assert model.model_dump() == builtin_tasks()["delayed_alternation"].Params().model_dump()


def test_command_plugs_into_the_rigctl_parser():
    """``rigctl gui`` is found through the ``rigctl.commands`` entry point; the module has the
    command interface the CLI expects."""
    import gui.command
    from rigctl.cli import _parser

    parser = _parser({"gui": gui.command})
    args = parser.parse_args(["gui", "a.yaml", "b.yaml", "--autostart",
                              "--exit-after-trials", "5", "--screenshot", "x.png", "--virtual"])
    assert args.config == ["a.yaml", "b.yaml"] and args.exit_after_trials == 5
    assert args.autostart and args.virtual and args.screenshot == "x.png"
    assert gui.command.NAME == "gui" and gui.command.HELP
