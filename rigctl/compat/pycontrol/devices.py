"""pyControl's device classes, as a pyControl hardware definition or task file uses them.

Written from pyControl's public hardware documentation. A device here holds no hardware: it
declares which pins and behaviour-port lines it uses and the event names of its inputs, and asks
the runtime to drive its output pins; the runtime routes pins to rig channels through the
binding (``binding.py``). Classes are made per runtime by :func:`device_namespace` so that two
sessions never share a device.
"""

from __future__ import annotations

from typing import Any, Protocol


class Runtime(Protocol):
    """What devices need from the pyControl runtime."""

    def add_input(self, pin: str, rising: str | None, falling: str | None) -> None: ...
    def add_analog(self, name: str, rate: float, threshold: Any, rising: str | None,
                   falling: str | None) -> None: ...
    def analog_value(self, name: str) -> float: ...
    def input_level(self, pin: str) -> bool: ...
    def output_pin(self, pin: str) -> OutputPin: ...
    def add_sync(self, pin: str, event: str, mean_ipi_ms: float, pulse_ms: float) -> None: ...
    def note(self, pin: str, what: str) -> None: ...
    def all_outputs_off(self) -> None: ...


def pin_name(pin: object) -> str:
    """``'X1'`` stays ``'X1'``; a behaviour-port line is already ``'port_1.DIO_A'``."""
    return str(pin)


class OutputPin:
    """One output line: on/off/toggle/pulse; the runtime says what it drives."""

    def __init__(self, pin: str, drive: Any, pulse: Any) -> None:
        self.pin = pin
        self.state = False
        self._drive = drive  # (pin, level) -> None
        self._pulse = pulse  # (pin, freq_hz, duty_pct, n) -> None; None stops a train

    def on(self) -> None:
        self._pulse(self.pin, None, 0, 0)
        self.state = True
        self._drive(self.pin, True)

    def off(self) -> None:
        self._pulse(self.pin, None, 0, 0)
        self.state = False
        self._drive(self.pin, False)

    def toggle(self) -> None:
        self.off() if self.state else self.on()

    def pulse(self, freq: float, duty_cycle: float = 50, n_pulses: int | bool = False) -> None:
        self._pulse(self.pin, float(freq), float(duty_cycle), int(n_pulses or 0))

    def enable_pulse(self) -> None:
        """Pulsed output needs no hardware timer here."""


class Port:
    """A behaviour port of a breakout board: its lines are named ``port_N.LINE``."""

    def __init__(self, name: str) -> None:
        self.name = name
        for line in ("DIO_A", "DIO_B", "DIO_C", "POW_A", "POW_B", "POW_C"):
            setattr(self, line, f"{name}.{line}")

    def __str__(self) -> str:
        return self.name


class _Breakout:
    n_ports = 6

    def __init__(self) -> None:
        for i in range(1, self.n_ports + 1):
            setattr(self, f"port_{i}", Port(f"port_{i}"))
        for name in ("BNC_1", "BNC_2", "DAC_1", "DAC_2", "button"):
            setattr(self, name, name)


class Breakout_1_2(_Breakout):  # noqa: N801 - pyControl's class names
    n_ports = 6


class Breakout_1_0(_Breakout):  # noqa: N801
    n_ports = 4


class _Device:
    _rt: Runtime


class Digital_input(_Device):  # noqa: N801
    def __init__(self, pin: object, rising_event: str | None = None,
                 falling_event: str | None = None, debounce: Any = 5, decimate: Any = False,
                 pull: Any = None) -> None:
        self.pin = pin_name(pin)
        self._rt.add_input(self.pin, rising_event, falling_event)

    def value(self) -> bool:
        return self._rt.input_level(self.pin)


class Digital_output(_Device):  # noqa: N801
    def __init__(self, pin: object, inverted: bool = False, pulse_enabled: bool = False) -> None:
        self.pin = pin_name(pin)
        self._out = self._rt.output_pin(self.pin)

    @property
    def state(self) -> bool:
        return self._out.state

    def on(self) -> None:
        self._out.on()

    def off(self) -> None:
        self._out.off()

    def toggle(self) -> None:
        self._out.toggle()

    def pulse(self, freq: float, duty_cycle: float = 50, n_pulses: int | bool = False) -> None:
        self._out.pulse(freq, duty_cycle, n_pulses)

    def enable_pulse(self) -> None:
        self._out.enable_pulse()


class LED_driver(Digital_output):  # noqa: N801
    """A constant-current LED driver on a behaviour port: one output, bound by port name."""

    def __init__(self, port: object) -> None:
        super().__init__(str(port))


class Poke(_Device):
    """IR beam on DIO_A, stimulus LED on POW_A, solenoid on POW_B."""

    def __init__(self, port: Port, rising_event: str | None = None,
                 falling_event: str | None = None, debounce: Any = 5) -> None:
        self._pin = port.DIO_A
        self._rt.add_input(self._pin, rising_event, falling_event)
        self.LED = self._rt.output_pin(port.POW_A)
        self.SOL = self._rt.output_pin(port.POW_B)

    def value(self) -> bool:
        return self._rt.input_level(self._pin)


class Lickometer(_Device):
    """Two lick inputs (DIO_A, DIO_B) and two solenoids (POW_A, POW_B)."""

    def __init__(self, port: Port, rising_event_A: str | None = "lick",
                 falling_event_A: str | None = "lick_off", rising_event_B: str | None = "lick_2",
                 falling_event_B: str | None = "lick_2_off", debounce: Any = 5) -> None:
        self._pins = (port.DIO_A, port.DIO_B)
        self._rt.add_input(port.DIO_A, rising_event_A, falling_event_A)
        self._rt.add_input(port.DIO_B, rising_event_B, falling_event_B)
        self.SOL_1 = self._rt.output_pin(port.POW_A)
        self.SOL_2 = self._rt.output_pin(port.POW_B)

    def value_A(self) -> bool:  # noqa: N802 - pyControl's method names
        return self._rt.input_level(self._pins[0])

    def value_B(self) -> bool:  # noqa: N802
        return self._rt.input_level(self._pins[1])


class Rsync(_Device):
    """Sync pulses at random intervals (mean ``mean_IPI`` ms), each logged as a sync event."""

    def __init__(self, pin: object, event_name: str = "rsync", mean_IPI: float = 5000,
                 pulse_dur: float = 50) -> None:
        self.pin = pin_name(pin)
        self._rt.add_sync(self.pin, event_name, float(mean_IPI), float(pulse_dur))


class Audio_board(_Device):
    """Sound output bound by port name (``port_3``): any sound turns the output on, ``off``
    turns it off; what was played is logged."""

    def __init__(self, port: object) -> None:
        self.pin = str(port)
        self._out = self._rt.output_pin(self.pin)

    def _play(self, what: str) -> None:
        self._rt.note(self.pin, what)
        self._out.on()

    def set_volume(self, V: int) -> None:  # noqa: N803
        self._rt.note(self.pin, f"volume {V}")

    def off(self) -> None:
        self._out.off()

    def stop(self) -> None:
        self._out.off()

    def sine(self, freq: float) -> None:
        self._play(f"sine {freq:g}Hz")

    def square(self, freq: float) -> None:
        self._play(f"square {freq:g}Hz")

    def noise(self, freq: float = 10000) -> None:
        self._play(f"noise {freq:g}Hz")

    def click(self) -> None:
        self._rt.note(self.pin, "click")
        self._out.pulse(1000, 50, 1)

    def clicks(self, rate: float) -> None:
        self._rt.note(self.pin, f"clicks {rate:g}Hz")
        self._out.pulse(rate, 10, 0)

    def pulsed_sine(self, freq: float, pulse_rate: float) -> None:
        self._rt.note(self.pin, f"pulsed sine {freq:g}Hz at {pulse_rate:g}Hz")
        self._out.pulse(pulse_rate, 50, 0)

    def pulsed_square(self, freq: float, pulse_rate: float) -> None:
        self._rt.note(self.pin, f"pulsed square {freq:g}Hz at {pulse_rate:g}Hz")
        self._out.pulse(pulse_rate, 50, 0)

    def pulsed_noise(self, freq: float, pulse_rate: float) -> None:
        self._rt.note(self.pin, f"pulsed noise {freq:g}Hz at {pulse_rate:g}Hz")
        self._out.pulse(pulse_rate, 50, 0)

    def stepped_sine(self, start_freq: float, end_freq: float, n_steps: int,
                     step_rate: float) -> None:
        self._play(f"stepped sine {start_freq:g}-{end_freq:g}Hz")

    def stepped_square(self, start_freq: float, end_freq: float, n_steps: int,
                       step_rate: float) -> None:
        self._play(f"stepped square {start_freq:g}-{end_freq:g}Hz")


class Analog_input(_Device):  # noqa: N801
    """An analog input bound by its ``name`` to a rig analog input (``analog_inputs:``):
    threshold events computed from the samples, which are written as pyControl's ``.npy``
    analog data files. Bound to a digital rig input instead (rigctl < 0.x configs), its edges
    stand for the threshold crossings and nothing is recorded."""

    def __init__(self, pin: object, name: str, sampling_rate: float, threshold: Any = None,
                 rising_event: str | None = None, falling_event: str | None = None,
                 data_type: str = "H", triggers: Any = None) -> None:
        self.name = name
        self._rt.add_analog(name, float(sampling_rate), threshold, rising_event,
                            falling_event)

    def value(self) -> float:
        """The last sample (or, bound to a digital input, 1 above threshold, 0 below)."""
        return self._rt.analog_value(self.name)

    def record(self) -> None:
        self._rt.note(self.name, "record")

    def stop(self) -> None:
        self._rt.note(self.name, "stop")


class Rotary_encoder(Analog_input):  # noqa: N801
    def __init__(self, name: str, sampling_rate: float, output: str = "velocity",
                 threshold: Any = None, rising_event: str | None = None,
                 falling_event: str | None = None, bytes_per_sample: int = 2,
                 reverse: bool = False, triggers: Any = None) -> None:
        super().__init__(None, name, sampling_rate, threshold, rising_event, falling_event)
        self.output = output

    @property
    def velocity(self) -> float:
        """The last sample of the bound input (its unit: cm/s for the simulated wheel)."""
        return self._rt.analog_value(self.name)

    @property
    def position(self) -> float:
        return self.velocity


class Pyboard_LED(_Device):  # noqa: N801
    """``pyb.LED(n)``: one of the pyboard's own LEDs (1 red, 2 green, 3 yellow, 4 blue), an
    output pin named ``LED_n``. The only ``pyb`` name rigctl provides: pyControl's examples
    blink these LEDs, and nothing else of MicroPython is needed to do that."""

    def __init__(self, n: int) -> None:
        if n not in (1, 2, 3, 4):
            raise ValueError(f"pyb.LED({n!r}): the pyboard has LEDs 1-4")
        self._out = self._rt.output_pin(f"LED_{n}")

    def on(self) -> None:
        self._out.on()

    def off(self) -> None:
        self._out.off()

    def toggle(self) -> None:
        self._out.toggle()

    def intensity(self, value: int | None = None) -> int:
        """0 turns the LED off, anything else on; without an argument, 255 when on."""
        if value is None:
            return 255 if self._out.state else 0
        self.on() if value else self.off()
        return int(value)


PYB_NAMES = frozenset({"LED"})


def pyb_namespace(rt: Runtime) -> dict[str, Any]:
    """The ``pyb`` module as a task sees it: only ``LED`` (see :class:`Pyboard_LED`)."""
    return {"LED": type("LED", (Pyboard_LED,), {"_rt": rt, "__module__": "pyb"})}


DEVICE_CLASSES: tuple[type, ...] = (
    Digital_input, Digital_output, LED_driver, Poke, Lickometer, Rsync, Audio_board,
    Analog_input, Rotary_encoder,
)
BOARDS: tuple[type, ...] = (Breakout_1_2, Breakout_1_0)

# pyControl device classes documented but not provided here: a task naming one is refused.
UNSUPPORTED_DEVICES = frozenset({
    "Stepper_motor", "Audio_player", "MCP23017", "MCP23008", "Port_expander", "Frame_logger",
    "Load_cell", "Five_poke", "Nine_poke", "Analog_LED_driver", "Breakout_dseries_1_0",
    "Breakout_dseries_1_6", "Analog_output", "Lickometer_2", "UART_handler", "Servo",
    "Rotary_encoder_2", "Analog_channel",
})


def device_namespace(rt: Runtime) -> dict[str, Any]:
    """``devices`` as a task sees it: the device classes bound to ``rt``, boards, ``off``."""
    ns: dict[str, Any] = {cls.__name__: cls for cls in BOARDS}
    bound: dict[type, type] = {}
    for cls in DEVICE_CLASSES:
        # Subclass per runtime so devices built inside (Poke's LED...) use the same runtime.
        bound[cls] = type(cls.__name__, (cls,), {"_rt": rt, "__module__": "devices"})
        ns[cls.__name__] = bound[cls]
    ns["off"] = rt.all_outputs_off
    return ns
