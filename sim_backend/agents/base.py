"""The interface between the simulated world and a simulated subject."""

from __future__ import annotations

from abc import ABC
from collections.abc import Callable
from typing import Protocol

from sim_backend.mouse import SimMouse


class AgentWorld(Protocol):
    """What an agent may do in the world: act on inputs, at times of its choosing."""

    inputs: list[str]  # digital inputs the rig wired to the simulated device
    port_inputs: dict[str, str]  # reward port -> the input of its lick sensor

    def press(self, t: float, name: str, hold_s: float) -> None:
        """Input ``name`` high at ``t`` and low again ``hold_s`` later."""

    def at(self, t: float, action: Callable[[], None]) -> None:
        """Call ``action`` at ``t`` (the agent's own timers)."""


class Agent(ABC):  # noqa: B024 - every hook is optional
    """Base class: override the hooks the subject reacts to."""

    def __init__(self, body: SimMouse) -> None:
        self.body = body
        self.world: AgentWorld | None = None

    def attach(self, world: AgentWorld) -> None:
        self.world = world

    def start(self, t: float) -> None:  # noqa: B027 - optional
        """The session starts (schedule spontaneous behaviour here)."""

    def output(self, t: float, name: str, level: bool) -> None:  # noqa: B027 - optional
        """An output of the rig changed (a light, tone, door...)."""

    def water(self, t: float, port: str, ul: float) -> None:  # noqa: B027 - optional
        """``ul`` µL arrived at ``port``."""

    def lick_bout(self, t: float, port: str, ul: float) -> None:
        """Lick out a reward at the port's lick sensor, as a thirsty mouse does."""
        assert self.world is not None
        lick = self.world.port_inputs.get(port)
        if lick is None:
            return
        for dt in self.body.lick_bout(ul):
            self.world.press(t + dt, lick, self.body.s.lick_contact_s)
