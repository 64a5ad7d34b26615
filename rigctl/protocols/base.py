"""The task API: what a task declares, and the small set of helpers it writes states with.

A task is a class whose state handlers are methods named after the states, as in pyControl. It
declares, once: its parameters (a pydantic model in ``Params``), its states and initial state,
the events it handles, the inputs and outputs it needs (``requires``), its trial record
(``Trial``, a dataclass whose fields are the columns of trials.csv) and, for simulation, what
a working-memory subject should make of its outputs (``agent``). Built-in tasks and users' task
files use exactly this class; `rigctl check` reads the declarations before any session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from rigctl.config.agent import WorkingMemoryMapping
from rigctl.config.rig import CUES, RigConfig
from rigctl.hardware.interfaces import Clock, PulseTrain
from rigctl.hardware.rig import Laser, Output, Rig
from rigctl.protocols.trial import TrialRecord
from rigctl.runtime.analog import AnalogInputs
from rigctl.runtime.controls import SessionControls
from rigctl.runtime.machine import Handler, StateMachine
from rigctl.runtime.signals import SignalPipeline


@dataclass(frozen=True)
class Requires:
    """The rig a task needs, by the names it uses: checked before a session starts."""

    inputs: tuple[str, ...] = ()  # input events, e.g. ("centre_poke", "lick_left")
    outputs: tuple[str, ...] = ()  # outputs, e.g. ("house_light", "go")
    ports: tuple[str, ...] = ()  # reward ports, e.g. ("left", "right")
    laser: bool = False  # any laser
    lasers: tuple[str, ...] = ()  # lasers by name, e.g. ("left_mpfc", "right_mpfc")
    neural_signal: bool = False

    def problems(self, task: str, cfg: RigConfig) -> list[str]:
        """One line per missing thing, naming the task and the rig field to add."""
        out: list[str] = []
        inputs, outputs = cfg.input_names(), cfg.output_names()
        for name in self.inputs:
            if name not in inputs:
                out.append(f"task {task} needs input {name!r}: add it under `inputs:` (or a "
                           f"reward port for lick_<port>) in the rig config")
        for name in self.outputs:
            if name not in outputs:
                where = f"wire cues.{name}" if name in CUES else "add it under `outputs:`"
                out.append(f"task {task} needs output {name!r}: {where} in the rig config")
        for name in self.ports:
            if name not in cfg.reward_ports:
                out.append(f"task {task} needs reward port {name!r}: add "
                           f"reward_ports.{name} to the rig config")
        lasers = cfg.all_lasers()
        if self.laser and not lasers:
            out.append(f"task {task} needs a laser: add `laser:` to the rig config")
        for name in self.lasers:
            if name not in lasers:
                have = f" (it has {', '.join(lasers)})" if lasers else ""
                out.append(f"task {task} needs laser {name!r}: add lasers.{name} to the rig "
                           f"config{have}")
        if self.neural_signal and cfg.neural_signal is None:
            out.append(f"task {task} needs a neural signal: add `neural_signal:` to the rig config")
        return out


@dataclass
class ProtocolContext:
    rig: Rig
    machine: StateMachine
    clock: Clock
    rng: np.random.Generator
    log: Callable[[float, str, str, str], None]
    write_trial: Callable[[Any], None]
    signals: SignalPipeline | None = None
    controls: SessionControls = field(default_factory=SessionControls)
    #: the subject's persistent state (an instance of the task's ``State``), or None
    state: BaseModel | None = None
    #: the rig's named analog inputs (``analog_inputs:``): ``analog.listen(name, fn)`` hears
    #: every chunk of samples of input ``name`` (None on a rig without analog inputs)
    analog: AnalogInputs | None = None


class Protocol:
    """Base class of every task: set the declarations below and write one method a state.

    A handler is called with ``"entry"`` when its state is entered, ``"exit"`` when it is left,
    and with every event (an input's name, ``<input>_off``, a timer's event) while it is current.
    """

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    states: ClassVar[tuple[str, ...]]
    initial_state: ClassVar[str]
    #: events the states handle (inputs, timers, ``crossing``); checked against the rig
    events: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[Requires] = Requires()
    #: the trial record: a dataclass whose fields (with ``col`` docs) are trials.csv's columns
    Trial: ClassVar[type] = TrialRecord
    #: what a simulated working-memory subject should make of this task's outputs
    agent: ClassVar[WorkingMemoryMapping | None] = None
    #: states entered only when the operator acts (a pause): not expected of a simulated subject
    operator_states: ClassVar[tuple[str, ...]] = ()
    #: states entered other than by a goto from the initial state (none for most tasks)
    entry_states: ClassVar[tuple[str, ...]] = ()
    #: the subject's persistent state between sessions (a pydantic model: training stage,
    #: reward size...): read at session start into ``self.state``, saved at the end
    #: (rigctl.data.subject_state); None for a task that keeps nothing
    State: ClassVar[type[BaseModel] | None] = None

    def __init__(self, params: BaseModel, ctx: ProtocolContext) -> None:
        self.p = params
        self.ctx = ctx
        self.rig = ctx.rig
        self.state: Any = ctx.state
        self._written = 0
        self._scored = 0
        self._correct = 0

    @classmethod
    def rig_problems(cls, params: BaseModel, rig: Rig) -> list[str]:
        """Field-naming reasons why ``params`` cannot run on ``rig`` (empty when fine).

        The base checks ``requires`` and the agent mapping; tasks add their own checks (a
        reward the calibration cannot give, a laser power above the ceiling) and call super."""
        return cls.requires.problems(cls.name, rig.cfg)

    def handlers(self) -> dict[str, Handler]:
        return {name: getattr(self, name) for name in self.states}

    # pyControl-style helpers ----------------------------------------------------------------
    def now(self) -> float:
        return self.ctx.clock.now()

    def goto(self, state: str) -> None:
        self.ctx.machine.goto(state)

    def timed_goto(self, state: str, delay_s: float) -> None:
        self.ctx.machine.timed_goto(state, delay_s)

    def log(self, kind: str, name: str, value: object = "") -> None:
        self.ctx.log(self.now(), kind, name, str(value))

    def set_timer(self, event: str, delay_s: float) -> int:
        """Post ``event`` to the current state after ``delay_s``; outlives the state that set
        it (cancel with ``disarm``)."""
        return self.ctx.machine.set_timer(event, delay_s)

    def disarm(self, handle: int) -> None:
        self.ctx.machine.disarm(handle)

    def time_in_state(self) -> float:
        return self.ctx.machine.time_in_state()

    @property
    def rng(self) -> np.random.Generator:
        """The session's seeded random generator: the same seed gives the same session."""
        return self.ctx.rng

    def output(self, name: str) -> Output:
        """A digital output by the rig's name for it (``house_light``, ``go``...)."""
        try:
            return self.rig.outputs.get(name) or self.rig.cues[name]  # unwired cue: a no-op
        except KeyError:
            raise KeyError(f"no output {name!r} on this rig (outputs: "
                           f"{', '.join(self.rig.outputs) or 'none'})") from None

    def on(self, *names: str) -> None:
        for name in names:
            self.output(name).set(True)

    def off(self, *names: str) -> None:
        for name in names:
            self.output(name).set(False)

    def laser(self, name: str | None = None) -> Laser:
        """A laser by the rig's name for it (``left_mpfc``); without a name, the rig's only
        laser (a rig with several needs the name)."""
        lasers = self.rig.lasers
        if name is None:
            if len(lasers) == 1:
                return next(iter(lasers.values()))
            raise KeyError(f"this rig has {len(lasers)} lasers ({', '.join(lasers) or 'none'}); "
                           "name one: laser_on(mw, name=...)")
        try:
            return lasers[name]
        except KeyError:
            raise KeyError(f"no laser {name!r} on this rig (lasers: "
                           f"{', '.join(lasers) or 'none'})") from None

    def laser_on(self, mw: float, name: str | None = None,
                 pulses: PulseTrain | None = None) -> None:
        """Light laser ``name`` at ``mw`` at the fibre tip (its ceiling, calibration and
        max on-time hold; refused, logged, while the emergency latch holds)."""
        self.laser(name).on(mw, pulses)

    def laser_off(self, name: str | None = None) -> None:
        """Laser ``name`` off with its ramp-down; without a name, every laser of the rig."""
        for laser in [self.laser(name)] if name is not None else self.rig.lasers.values():
            laser.off()

    def deliver(self, port: str, ul: float) -> float:
        """Deliver ``ul`` µL at ``port`` through its calibration and interlocks; returns the
        valve's open time (ms)."""
        return self.rig.ports[port].deliver(ul)

    def write_trial(self, record: Any) -> None:
        """Append ``record`` (an instance of ``Trial``) to trials.csv, durably, now.

        A written trial is a trial boundary: when the operator asked to finish after the trial
        (the GUI's window closing, ``--exit-after-trials``), the session ends after this
        handler, so a task of one's own honours it without checking for it."""
        self._written += 1
        correct = getattr(record, "correct", None)
        if correct is not None:
            self._scored += 1
            self._correct += int(correct)
        self.ctx.write_trial(record)
        if self.ctx.controls.finish_reason:
            self.finish()

    def finish(self) -> None:
        """End the session after this handler: the current state's exit handler runs."""
        self.ctx.machine.stop()

    def progress(self) -> dict[str, float]:
        """Numbers for progress displays: trials written and, when the record has a
        ``correct`` column, the fraction correct of the scored ones."""
        out: dict[str, float] = {"trial": self._written, "scored": self._scored,
                                 "accuracy": self._correct / self._scored if self._scored
                                 else float("nan")}
        n_trials = getattr(self.p, "n_trials", None)
        if n_trials is not None:
            out["n_trials"] = n_trials
        return out
