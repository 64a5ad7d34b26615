"""The reference firmware in simavr as a session's reward controller, wired to the simulated
mouse: ``port: emulated`` with ``emulator: {firmware: uno}`` (hardware_configs/
serial_firmware_sim.yaml).

The host opens the board's pty like a USB serial port and speaks to the compiled firmware; the
mouse's licks are driven onto its input pins and its valve and output pins act on the mouse.
What differs from a rig is only where the pins go. A valve's water reaches the simulated mouse
when the pin falls, with the open time measured in CPU cycles (the firmware announces no
duration on its pins), so a reward bout starts one opening later than on the Python emulator.
"""

from __future__ import annotations

from collections.abc import Callable

from sim_backend.avr.board import PinChange, SimulatedBoard
from sim_backend.emulators.bench import Bench, LiveWorld


class FirmwareController:
    """What RewardController needs of an emulated device (``port``, ``wire``, ``close``)."""

    def __init__(self, board: str, bench: Bench, world: LiveWorld | None) -> None:
        self.bench = bench
        self.world = world
        self.owns_world = False
        self.board = SimulatedBoard(board)
        self.port = self.board.port
        self.roles: dict[tuple[str, int], str] = {}
        self.nominal_ul: dict[int, Callable[[float], float]] = {}
        self._opened_at: dict[int, int] = {}
        self.board.listeners.append(self._pin)
        if world is not None:
            world.add_listener(self._world_input)

    def wire(self, kind: str, index: int, role: str,
             nominal_ul: Callable[[float], float] | None = None) -> None:
        self.roles[(kind, index)] = role
        if nominal_ul is not None:
            self.nominal_ul[index] = nominal_ul

    def _pin(self, change: PinChange) -> None:
        role = self.roles.get((change.kind, change.index))
        if role is None:
            return
        if change.kind == "valve":
            if change.level:
                self._opened_at[change.index] = change.cycle
                return
            start = self._opened_at.pop(change.index, None)
            if start is not None and self.world is not None:
                duration_s = (change.cycle - start) / self.board.f_cpu
                nominal = self.nominal_ul.get(change.index, lambda ms: 0.1 * ms)
                side = role.split("_", 1)[1]
                self.world.apply(lambda w: w.valve_open(side, duration_s, nominal))
        elif change.kind == "out":
            if role == "laser_gate":
                self.bench.set_gate(bool(change.level))
            elif role.startswith("cue_") and self.world is not None:
                cue = role.removeprefix("cue_")
                self.world.apply(lambda w: w.cue(cue, bool(change.level)))

    def _world_input(self, name: str, value: float, t: float) -> None:
        for (kind, index), role in self.roles.items():
            if kind == "in" and role == name:
                self.board.set_input(index, int(value))

    def close(self) -> None:
        if self.world is not None:
            self.world.remove_listener(self._world_input)
        self.board.close()
        if self.world is not None and self.owns_world:
            self.world.close()
