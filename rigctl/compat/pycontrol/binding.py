"""Where a pyControl pin or behaviour-port line lands on this rig: the one place that knows.

A pyControl hardware definition names pins (``'X1'``, ``'B4'``) and behaviour-port lines
(``board.port_1.DIO_A``). The rig config's ``pycontrol:`` section maps each of those names to a
rig input (whose rising edge arrives as event ``NAME`` and falling edge as ``NAME_off``) or to a
rig output: a reward port (its valve, interlocked by ``max_open_s``), a digital output, or
``laser`` (interlocked by the laser's power ceiling and ``max_on_s``).

Today's rig has reward ports (inputs ``lick_<port>``), cues (``rig.cues``) and one laser; when the
rig config gains named ``inputs:``/``outputs:`` only :func:`resolve_output` and
:func:`rig_input_names` change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rigctl.hardware.interfaces import Clock
from rigctl.hardware.rig import Rig
from rigctl.timing.timers import Timers

LogFn = Callable[[float, str, str, str], None]


class PyControlBinding(BaseModel):
    """The rig config's ``pycontrol:`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hardware_definition: str | None = Field(
        None, description="pyControl hardware_definition.py to use when the task imports "
        "`hardware_definition` (default: the file beside the task)",
    )
    pins: dict[str, str] = Field(
        default_factory=dict,
        description="pyControl pin or port line (X1, port_1.DIO_A, BNC_1) -> rig input or "
        "output name (lick_left, left, trial_start, laser)",
    )
    laser_power_mw: float | None = Field(
        None, gt=0, description="Power of the laser when a pin bound to `laser` is turned on",
    )
    unbound: Literal["error", "virtual"] = Field(
        "error", description="A task pin with no binding: refuse the task (error) or log its "
        "outputs and never fire its inputs (virtual)",
    )


def default_binding(rig: object | None = None) -> PyControlBinding:
    """The binding used when the rig config has no ``pycontrol:`` section: pokes or
    lickometers on behaviour ports 1 and 2 are the left and right reward ports, POW_A of port 3
    the trial-start cue, and pins nobody bound are virtual (listed before the run)."""
    return PyControlBinding(
        pins={
            "port_1.DIO_A": "lick_left", "port_1.POW_B": "left", "port_1.POW_A": "sample_left",
            "port_2.DIO_A": "lick_right", "port_2.POW_B": "right", "port_2.POW_A": "sample_right",
            "port_3.POW_A": "trial_start",
        },
        unbound="virtual",
    )


def binding_of(cfg: object, explicit: PyControlBinding | None = None) -> PyControlBinding:
    """The binding for a rig config: ``explicit`` if given, else its ``pycontrol:`` section
    (once RigConfig has that field), else :func:`default_binding`."""
    if explicit is not None:
        return explicit
    section = getattr(cfg, "pycontrol", None)
    if section is None:
        return default_binding(cfg)
    if isinstance(section, PyControlBinding):
        return section
    return PyControlBinding.model_validate(section)


# --- what names exist on the rig ----------------------------------------------------------
def rig_input_names(rig: Rig) -> set[str]:
    """Names of the rig's digital inputs, as events reach the state machine."""
    names = {f"lick_{side}" for side in rig.ports}
    names |= set(getattr(rig, "inputs", {}) or {})
    return names


def rig_output_names(rig: Rig) -> set[str]:
    names = set(rig.ports) | set(rig.cues) | set(getattr(rig, "outputs", {}) or {})
    if rig.laser is not None:
        names.add("laser")
    return names


def binding_problems(binding: PyControlBinding, rig: Rig, inputs: set[str],
                     outputs: set[str], analogs: set[str] = frozenset()) -> list[str]:
    """One line per task pin whose binding is missing or names nothing on this rig.

    An ``Analog_input``/``Rotary_encoder`` (``analogs``, by name) binds to the rig analog
    input of its name, or to the analog or digital input ``pycontrol.pins.<name>`` names."""
    problems = []
    have_in, have_out = rig_input_names(rig), rig_output_names(rig)
    have_analog = set(getattr(rig.cfg, "analog_inputs", {}) or {})
    for name in sorted(analogs):
        target = binding.pins.get(name)
        if target is None and name in have_analog:
            continue
        if target is None:
            if binding.unbound == "error":
                problems.append(
                    f"pycontrol.pins: Analog_input/Rotary_encoder {name!r} is bound to no rig "
                    f"input; add `analog_inputs: {{{name}: {{channel: DEVICE/aiN}}}}` to the "
                    f"rig config or `pycontrol.pins.{name}: <input>` (rig analog inputs: "
                    f"{', '.join(sorted(have_analog)) or 'none'})")
        elif target not in have_analog and target not in have_in:
            problems.append(f"pycontrol.pins.{name}: {target!r} is not an analog or digital "
                            "input of this rig (analog inputs: "
                            f"{', '.join(sorted(have_analog)) or 'none'})")
    for pin in sorted(inputs - set(analogs)):
        target = binding.pins.get(pin)
        if target is None:
            if binding.unbound == "error":
                problems.append(f"pycontrol.pins: input pin {pin!r} is not bound; add "
                                f"`{pin}: <input>` (rig inputs: {', '.join(sorted(have_in))})")
        elif target not in have_in:
            problems.append(f"pycontrol.pins.{pin}: {target!r} is not an input of this rig "
                            f"({', '.join(sorted(have_in))})")
    for pin in sorted(outputs):
        target = binding.pins.get(pin)
        if target is None:
            if binding.unbound == "error":
                problems.append(f"pycontrol.pins: output pin {pin!r} is not bound; add "
                                f"`{pin}: <output>` (rig outputs: {', '.join(sorted(have_out))})")
        elif target not in have_out:
            problems.append(f"pycontrol.pins.{pin}: {target!r} is not an output of this rig "
                            f"({', '.join(sorted(have_out))})")
        elif target == "laser" and binding.laser_power_mw is None:
            problems.append(f"pycontrol.pins.{pin}: a pin bound to the laser needs "
                            "pycontrol.laser_power_mw")
    return problems


# --- the outputs a pyControl pin drives -----------------------------------------------------
class Target:
    """What a bound output pin drives; ``set`` is called on every on/off of the pin."""

    def set(self, level: bool) -> None:
        raise NotImplementedError


@dataclass
class VirtualTarget(Target):
    """An unbound pin (``unbound: virtual``): logged, drives nothing."""

    pin: str
    clock: Clock
    log: LogFn
    level: bool = False

    def set(self, level: bool) -> None:
        if level != self.level:
            self.level = level
            self.log(self.clock.now(), "output", f"virtual_{self.pin}", "1" if level else "0")


@dataclass
class LineTarget(Target):
    """A digital output of the rig (a cue line today, ``rig.outputs[NAME]`` later)."""

    line: object  # has .set(level: bool), logs itself

    def set(self, level: bool) -> None:
        self.line.set(level)  # type: ignore[attr-defined]


class ValveTarget(Target):
    """A reward port's valve held open by a pin (``SOL.on()``) until ``off``, and never longer
    than the port's ``max_open_s``: the valve is opened for at most ``max_open_s`` (timed by the
    device, as every rigctl reward) and an engine timer logs the cut when that time is reached."""

    def __init__(self, name: str, rig: Rig, clock: Clock, timers: Timers, log: LogFn) -> None:
        self.name, self.port = name, rig.ports[name]
        self.clock, self.timers, self.log = clock, timers, log
        self.level = False
        self._cut: int | None = None

    def set(self, level: bool) -> None:
        if level == self.level:
            return
        if level:
            self.level = True
            self.port.open_for_ms(self.port.max_open_s * 1000.0)
            self._cut = self.timers.set_at(self.clock.now() + self.port.max_open_s, self._limit)
        else:
            self.level = False
            self.timers.cancel(self._cut)
            self._cut = None
            self.log(self.clock.now(), "output", f"valve_{self.name}", "close")
            self.port.close()

    def _limit(self) -> None:
        self._cut, self.level = None, False
        self.log(self.clock.now(), "interlock", f"valve_{self.name}",
                 f"held on by the task for max_open_s {self.port.max_open_s:g} s; closed")
        self.port.close()


class LaserTarget(Target):
    def __init__(self, rig: Rig, power_mw: float) -> None:
        assert rig.laser is not None
        self.laser, self.power_mw = rig.laser, power_mw

    def set(self, level: bool) -> None:
        if level:
            self.laser.on(self.power_mw)
        else:
            self.laser.off()


def resolve_output(pin: str, binding: PyControlBinding, rig: Rig, clock: Clock, timers: Timers,
                   log: LogFn) -> Target:
    """The rig object a task's output pin drives (checked earlier by binding_problems)."""
    target = binding.pins.get(pin)
    if target is None:
        return VirtualTarget(pin, clock, log)
    if target in rig.ports:
        return ValveTarget(target, rig, clock, timers, log)
    if target == "laser":
        assert binding.laser_power_mw is not None
        return LaserTarget(rig, binding.laser_power_mw)
    outputs = getattr(rig, "outputs", {}) or {}
    if target in outputs:
        return LineTarget(outputs[target])
    return LineTarget(rig.cues[target])


def input_event_names(pin: str, binding: PyControlBinding) -> tuple[str, str] | None:
    """The rig's (rising, falling) event names of an input pin, or None when unbound."""
    target = binding.pins.get(pin)
    return None if target is None else (target, target + "_off")
