"""What every protocol gets from the session, and the small API it writes states with.

A protocol is a class whose state handlers are methods named after the states, as in pyControl;
it declares its parameters once, as a pydantic model in ``Params``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from pydantic import BaseModel

from rigctl.engine.controls import SessionControls
from rigctl.engine.machine import Handler, StateMachine
from rigctl.engine.signals import SignalPipeline
from rigctl.hardware.interfaces import Clock
from rigctl.hardware.rig import Rig
from rigctl.protocols.trial import TrialRecord


@dataclass
class ProtocolContext:
    rig: Rig
    machine: StateMachine
    clock: Clock
    rng: np.random.Generator
    log: Callable[[float, str, str, str], None]
    write_trial: Callable[[TrialRecord], None]
    signals: SignalPipeline | None = None
    controls: SessionControls = field(default_factory=SessionControls)


class Protocol:
    """Base class: subclasses set ``name``, ``Params``, ``states`` and write one method a state."""

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    states: ClassVar[tuple[str, ...]]
    initial_state: ClassVar[str]

    def __init__(self, params: BaseModel, ctx: ProtocolContext) -> None:
        self.p = params
        self.ctx = ctx
        self.rig = ctx.rig

    @classmethod
    def rig_problems(cls, params: BaseModel, rig: Rig) -> list[str]:
        """Field-naming reasons why ``params`` cannot run on ``rig`` (empty when fine)."""
        return []

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

    def finish(self) -> None:
        """End the session after this handler: the current state's exit handler runs."""
        self.ctx.machine.stop()

    def progress(self) -> dict[str, float]:
        """Numbers for progress displays; subclasses add their own."""
        return {}
