"""The pyControl state-machine API on rigctl's engine: timers, goto, events, prints, data.

One runtime per loaded task module. Loaded for checking (no rig: ``attach`` never called) it
only records which pins and events the task declares; attached to a session it drives the rig
through the binding, keeps pyControl's millisecond timers on the engine's timers and writes
pyControl's data files.

pyControl semantics kept here (from its public docs): ``set_timer`` timers outlive the state
that set them and fire unless disarmed; ``timed_goto_state`` is cancelled by any transition;
``goto_state`` in ``entry``/``exit`` is an error; input events not in ``events`` are inactive;
timer events are written to the data file only with ``output_event=True``; time is counted in
ms from the run start.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import rigctl
from rigctl.compat.pycontrol.analog import AnalogPin
from rigctl.compat.pycontrol.binding import (
    PyControlBinding,
    Target,
    input_event_names,
    resolve_output,
)
from rigctl.compat.pycontrol.datafile import PyControlDataFiles
from rigctl.compat.pycontrol.devices import OutputPin
from rigctl.compat.pycontrol.utility import API, Variables, helper_namespace
from rigctl.errors import RigctlError
from rigctl.hardware.interfaces import SignalChunk

if TYPE_CHECKING:
    from rigctl.protocols.base import ProtocolContext

TIMER = "pycontrol:timer:"
PUBLISH = "pycontrol:publish:"


class TaskError(RigctlError):
    """A pyControl task did something its API forbids, or raised; names the task file:line
    once ``located``."""

    def __init__(self, text: str, located: bool = False) -> None:
        super().__init__(text)
        self.located = located


@dataclass
class _Timer:
    handle: int | None
    deadline: float
    output_event: bool
    remaining: float | None = None  # set while paused


class PyControlRuntime:
    def __init__(self, task_file: Path, rng: np.random.Generator, binding: PyControlBinding,
                 events: list[str] | None = None) -> None:
        self.task_file = task_file
        self.binding = binding
        self.rng = rng
        self.v = Variables()
        self.events: set[str] = set(events or [])
        self._event_order: list[str] = list(events or [])
        self.inputs: dict[str, tuple[str | None, str | None]] = {}
        self.analogs: dict[str, AnalogPin] = {}  # Analog_input/Rotary_encoder by name
        self._sampled: dict[str, str] = {}  # analog name -> the rig analog input it reads
        self.outputs: dict[str, OutputPin] = {}
        self.syncs: list[tuple[str, str, float, float]] = []
        self.levels: dict[str, bool] = {}
        self.ctx: ProtocolContext | None = None
        self.on_stop: Callable[[], None] = lambda: None
        self.data: PyControlDataFiles | None = None
        self.t0 = 0.0
        self.in_transition = False
        self._targets: dict[str, Target] = {}
        self._rig_events: dict[str, tuple[str, str | None, bool]] = {}
        self._timers: dict[str, list[_Timer]] = {}
        self._trains: dict[str, int | None] = {}
        self._pending_prints: list[str] = []
        self.begun = False

    # --- the namespace the task imports ---------------------------------------------------
    def utility(self) -> dict[str, Any]:
        ns = helper_namespace(self.rng)
        ns.update({
            "goto_state": self.goto_state, "timed_goto_state": self.timed_goto_state,
            "goto": self.goto_state,  # pyControl 1.x's name, still used by its hardware_test
            "set_timer": self.set_timer, "disarm_timer": self.disarm_timer,
            "reset_timer": self.reset_timer, "pause_timer": self.pause_timer,
            "unpause_timer": self.unpause_timer, "timer_remaining": self.timer_remaining,
            "get_current_time": self.get_current_time, "publish_event": self.publish_event,
            "print": self.print, "print_variables": self.print_variables,
            "warning": self.warning,
            "stop_framework": self.stop_framework, "v": self.v,
        })
        assert set(ns) == API
        return ns

    # --- devices declare pins ---------------------------------------------------------------
    def add_input(self, pin: str, rising: str | None, falling: str | None) -> None:
        self.inputs[pin] = (rising, falling)
        self.levels[pin] = False

    def input_level(self, pin: str) -> bool:
        return self.levels.get(pin, False)

    def add_analog(self, name: str, rate: float, threshold: Any, rising: str | None,
                   falling: str | None) -> None:
        """An ``Analog_input``/``Rotary_encoder``: an input pin named ``name`` (so a binding
        to a digital rig input still works) whose samples come from the rig analog input it
        is bound to, when it is bound to one."""
        self.add_input(name, rising, falling)
        self.analogs[name] = AnalogPin(name, rate, None if threshold is None
                                       else float(threshold), rising, falling)

    def analog_value(self, name: str) -> float:
        if name in self._sampled:
            return self.analogs[name].last
        return float(self.input_level(name))

    def output_pin(self, pin: str) -> OutputPin:
        if pin not in self.outputs:
            self.outputs[pin] = OutputPin(pin, self._drive, self._pulse)
        return self.outputs[pin]

    def add_sync(self, pin: str, event: str, mean_ipi_ms: float, pulse_ms: float) -> None:
        self.output_pin(pin)
        self.syncs.append((pin, event, mean_ipi_ms, pulse_ms))

    def note(self, pin: str, what: str) -> None:
        if self.ctx is not None:
            self.ctx.log(self._now(), "output", f"pycontrol_{pin}", what)

    def all_outputs_off(self) -> None:
        for out in self.outputs.values():
            out.off()

    # --- attach to a session ----------------------------------------------------------------
    def attach(self, ctx: ProtocolContext, on_stop: Callable[[], None]) -> None:
        """Route every pin through the binding (checked by ``binding_problems`` already)."""
        self.ctx, self.on_stop = ctx, on_stop
        for pin in self.outputs:
            self._targets[pin] = resolve_output(pin, self.binding, ctx.rig, ctx.clock,
                                                _LazyTimers(self), ctx.log)  # type: ignore[arg-type]
        for pin, (rising, falling) in self.inputs.items():
            names = input_event_names(pin, self.binding)
            if names is not None:
                self._rig_events[names[0]] = (pin, rising, True)
                self._rig_events[names[1]] = (pin, falling, False)
        analog_inputs = set(getattr(ctx.rig.cfg, "analog_inputs", {}) or {})
        for name, apin in self.analogs.items():
            target = self.binding.pins.get(name, name)
            if target not in analog_inputs or ctx.analog is None:
                continue  # bound to a digital input (its edges are the crossings), or virtual
            self._sampled[name] = target
            self._rig_events[target] = (name, apin.rising, True)
            self._rig_events[target + "_off"] = (name, apin.falling, False)
            ctx.analog.listen(target, functools.partial(self._analog_chunk, apin, target))

    def _analog_chunk(self, apin: AnalogPin, target: str, chunk: SignalChunk) -> None:
        """Samples of a bound analog input: into the .npy stream; each threshold crossing
        becomes the input event at its sample's time, through the engine's timers (so in
        time order with the task's own timers)."""
        if not self.begun or self.ctx is None:
            return
        dt_s = 1.0 / chunk.rate_hz
        apin.write(chunk.t0 - self.t0, chunk.samples, chunk.rate_hz)
        timers = self._machine("analog input").timers
        for i, rising in apin.crossings(chunk.samples):
            t = chunk.t0 + i * dt_s
            value = float(chunk.samples[i])
            timers.set_at(t, functools.partial(self._analog_event, target, rising, value, t))

    def _analog_event(self, target: str, rising: bool, value: float, t: float) -> None:
        assert self.ctx is not None
        self.ctx.log(t, "input", target, f"{'1' if rising else '0'} ({value:.6g})")
        self._machine("analog input").dispatch(target if rising else target + "_off")

    def begin(self, folder: Path | None, info: dict[str, str]) -> None:
        """Run start: t0, the data files' info block and run_start variables."""
        assert self.ctx is not None
        self.t0 = self.ctx.clock.now()
        self.begun = True
        if folder is not None:
            start = dt.datetime.now()
            sync_events = sorted({e for _, e, _, _ in self.syncs} - self.events)
            stem = f"{info.get('subject_id', 'subject')}-{start:%Y-%m-%d-%H%M%S}"
            self.data = PyControlDataFiles(folder, stem, info["states_list"].split(","),
                                           [*self.task_events(), *sync_events])
            labels = {"experiment_name": "Experiment name", "task_name": "Task name",
                      "task_file_hash": "Task file hash", "subject_id": "Subject ID"}
            for key in ("experiment_name", "task_name", "task_file_hash", "setup_id"):
                self.data.info(0.0, key, info.get(key, ""), labels.get(key))
            self.data.info(0.0, "framework_version", f"rigctl {rigctl.__version__}")
            self.data.info(0.0, "micropython_version", "none (rigctl)")
            self.data.info(0.0, "subject_id", info.get("subject_id", ""), "Subject ID")
            utc = start.astimezone(dt.timezone.utc).replace(tzinfo=None)  # as pyControl's GUI
            self.data.info(0.0, "start_time", utc.isoformat(timespec="milliseconds"))
            self.data.txt_info("Start date", f"{start:%Y/%m/%d %H:%M:%S}")
            self.data.start_data()
            self.data.variables(0.0, "run_start", self.v.public())
            for name in self._sampled:
                self.analogs[name].open_data(folder, stem)
        for pin in sorted(set(self.inputs) | set(self.outputs)):
            if pin not in self.binding.pins and pin not in self._sampled:
                text = f"pin {pin} is not bound to this rig (virtual: see pycontrol.pins)"
                if self.data is not None:
                    self.data.warning(0.0, text)
                self.ctx.log(self._now(), "warning", "pycontrol", text)
        for text in self._pending_prints:
            self._print_row(text)
        self._pending_prints.clear()
        for pin, event, mean_ipi, pulse in self.syncs:
            self._schedule_sync(pin, event, mean_ipi, pulse)

    def task_events(self) -> list[str]:
        """The task's events in its own order (IDs in the .txt's ``E`` table follow it)."""
        return list(dict.fromkeys(self._event_order))

    def end(self) -> None:
        """Run end: run_end variables, end time, files closed (analog data to .npy)."""
        for name in self._sampled:
            self.analogs[name].close_data()
        if self.data is not None and not self.data.closed:
            t = self._t()
            self.data.variables(t, "run_end", self.v.public())
            end = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            self.data.info(t, "end_time", end.isoformat(timespec="milliseconds"))
            self.data.close()

    def error(self, text: str) -> None:
        """An error row; the files stay open for ``run_end``'s rows (closed by ``end``)."""
        if self.data is not None and not self.data.closed:
            self.data.error(self._t(), text)

    # --- events -----------------------------------------------------------------------------
    def state_entered(self, state: str) -> None:
        if self.data is not None:
            self.data.state(self._t(), state)

    def translate(self, raw: str) -> str | None:
        """The pyControl event for an engine event, logged as pyControl logs it; None when the
        task does not listen to it."""
        if raw.startswith(TIMER):
            return raw[len(TIMER):]
        if raw.startswith(PUBLISH):
            return raw[len(PUBLISH):]
        hit = self._rig_events.get(raw)
        if hit is None:
            return None
        pin, event, level = hit
        self.levels[pin] = level
        if event is None or event not in self.events:
            return None
        if self.data is not None:
            self.data.event(self._t(), "input", event)
        return event

    @contextlib.contextmanager
    def transition(self) -> Iterator[None]:
        self.in_transition = True
        try:
            yield
        finally:
            self.in_transition = False

    # --- the API ----------------------------------------------------------------------------
    def _machine(self, what: str) -> Any:
        if self.ctx is None or self.ctx.machine is None:
            raise TaskError(f"{what} can only be called while the task runs (not at import)")
        return self.ctx.machine

    def goto_state(self, next_state: str) -> None:
        machine = self._machine("goto_state")
        if self.in_transition:
            raise TaskError(f"goto_state({next_state!r}) called in response to 'entry' or "
                            "'exit' (not allowed in pyControl)")
        if next_state not in machine.handlers:
            raise TaskError(f"goto_state({next_state!r}): not one of the task's states")
        machine.goto(next_state)

    def timed_goto_state(self, next_state: str, interval: float) -> None:
        machine = self._machine("timed_goto_state")
        if next_state not in machine.handlers:
            raise TaskError(f"timed_goto_state({next_state!r}): not one of the task's states")
        machine.timed_goto(next_state, interval / 1000.0)

    def set_timer(self, event: str, interval: float, output_event: bool = True) -> None:
        self._machine("set_timer")
        deadline = self._now() + interval / 1000.0
        rec = _Timer(None, deadline, output_event)
        rec.handle = self._arm(event, rec)
        self._timers.setdefault(event, []).append(rec)

    def _arm(self, event: str, rec: _Timer) -> int:
        def fire() -> None:
            live = self._timers.get(event, [])
            if rec in live:
                live.remove(rec)
            if rec.output_event and self.data is not None:
                self.data.event(self._t(), "timer", event)
            self._machine("timer").dispatch(TIMER + event)

        return self._machine("set_timer").timers.set_at(rec.deadline, fire)

    def disarm_timer(self, event: str) -> None:
        timers = self._machine("disarm_timer").timers
        for rec in self._timers.pop(event, []):
            timers.cancel(rec.handle)

    def reset_timer(self, event: str, interval: float, output_event: bool = True) -> None:
        self.disarm_timer(event)
        self.set_timer(event, interval, output_event)

    def pause_timer(self, event: str) -> None:
        timers = self._machine("pause_timer").timers
        now = self._now()
        for rec in self._timers.get(event, []):
            if rec.remaining is None:
                timers.cancel(rec.handle)
                rec.remaining, rec.handle = max(0.0, rec.deadline - now), None

    def unpause_timer(self, event: str) -> None:
        self._machine("unpause_timer")
        now = self._now()
        for rec in self._timers.get(event, []):
            if rec.remaining is not None:
                rec.deadline, rec.remaining = now + rec.remaining, None
                rec.handle = self._arm(event, rec)

    def timer_remaining(self, event: str) -> int:
        now = self._now()
        left = [rec.remaining if rec.remaining is not None else rec.deadline - now
                for rec in self._timers.get(event, [])]
        return int(round(min(left) * 1000.0)) if left else 0

    def get_current_time(self) -> int:
        return int(round(self._t() * 1000.0))

    def publish_event(self, event: str) -> None:
        machine = self._machine("publish_event")

        def fire() -> None:
            if self.data is not None:
                self.data.event(self._t(), "publish", event)
            machine.dispatch(PUBLISH + event)

        machine.timers.set_at(self._now(), fire)

    def print(self, *args: object, sep: str = " ", end: str = "\n", **_: object) -> None:
        text = sep.join(str(a) for a in args)
        if not self.begun:  # printed at import: logged at the run start, as on a board
            self._pending_prints.append(text)
            return
        self._print_row(text)

    def _print_row(self, text: str) -> None:
        # Prints go to the pyControl data files only: events.csv has no `print` kind (yet).
        if self.data is not None:
            self.data.print(self._t(), text)

    def print_variables(self, variables: Any = "all") -> None:
        values = self.v.public() if variables in ("all", None) else self.v.pick(list(variables))
        if self.data is not None:
            self.data.variables(self._t(), "print", values)

    def warning(self, message: object) -> None:
        """A warning row of the data files (and a warning in events.csv)."""
        text = str(message)
        if self.data is not None:
            self.data.warning(self._t(), text)
        if self.ctx is not None:
            self.ctx.log(self._now(), "warning", "pycontrol", text)

    def stop_framework(self) -> None:
        self._machine("stop_framework")
        self.on_stop()

    # --- outputs ----------------------------------------------------------------------------
    def _drive(self, pin: str, level: bool) -> None:
        target = self._targets.get(pin)
        if target is not None:
            target.set(level)

    def _pulse(self, pin: str, freq: float | None, duty: float, n: int) -> None:
        if self.ctx is None:
            return
        timers = self.ctx.machine.timers
        timers.cancel(self._trains.pop(pin, None))
        if freq is None or freq <= 0:
            return
        period, on_s = 1.0 / freq, duty / 100.0 / freq

        def pulse(k: int) -> None:
            t = self._now()
            self._drive(pin, True)
            self._trains[pin] = timers.set_at(t + on_s, lambda: low(k, t))

        def low(k: int, t_on: float) -> None:
            self._drive(pin, False)
            if n and k + 1 >= n:
                self._trains.pop(pin, None)
                return
            self._trains[pin] = timers.set_at(t_on + period, lambda: pulse(k + 1))

        pulse(0)

    def _schedule_sync(self, pin: str, event: str, mean_ipi: float, pulse_ms: float) -> None:
        assert self.ctx is not None
        timers = self.ctx.machine.timers

        def high() -> None:
            self._drive(pin, True)
            if self.data is not None:
                self.data.event(self._t(), "sync", event)
            now = self._now()
            timers.set_at(now + pulse_ms / 1000.0, lambda: self._drive(pin, False))
            gap = float(self.rng.uniform(0.1, 1.9)) * mean_ipi / 1000.0
            timers.set_at(now + max(gap, 2 * pulse_ms / 1000.0), high)

        timers.set_at(self._now() + float(self.rng.uniform(0.1, 1.9)) * mean_ipi / 1000.0, high)

    # --- time -------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.ctx.clock.now() if self.ctx is not None else 0.0

    def _t(self) -> float:
        return self._now() - self.t0


class _LazyTimers:
    """The engine's timers, looked up when used: the state machine (which owns them) is built
    by the session after the protocol."""

    def __init__(self, rt: PyControlRuntime) -> None:
        self._rt = rt

    def set_at(self, t: float, cb: Callable[[], None]) -> int:
        return self._rt._machine("timer").timers.set_at(t, cb)

    def cancel(self, handle: int | None) -> None:
        self._rt._machine("timer").timers.cancel(handle)
