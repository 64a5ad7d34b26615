"""What the firmware tests share: the implementations under test (``Target``) and a raw
protocol client (``Wire``). Fixtures are in conftest.py."""

from __future__ import annotations

import os
import time

import pytest
import serial

from sim_backend.emulators.reward_controller import ControllerEmulator

BOARD_PORT = os.environ.get("RIGCTL_TEST_BOARD_PORT")


class Target:
    """One implementation under test: its port, and (where it can) its pins."""

    kind = "?"
    can_drive_inputs = True

    @property
    def port(self) -> str:
        raise NotImplementedError

    def set_input(self, n: int, level: int) -> None:
        raise NotImplementedError

    def level(self, kind: str, n: int) -> int:
        """The level of valve/output ``n`` as the pin (or the emulator's state) shows it."""
        raise NotImplementedError

    def pulse(self, n: int, width_s: float) -> None:
        """Input ``n`` high for exactly ``width_s`` of the device's time (a lick)."""
        raise NotImplementedError

    def spans(self, kind: str, n: int) -> list[tuple[float, float | None]]:
        """(went high, went low or None) of valve/output ``n``, on the device's clock (s)."""
        raise NotImplementedError

    def fresh(self) -> None:
        """Back to the state after boot (between tests)."""

    def close(self) -> None: ...


def _spans(edges: list[tuple[float, int]]) -> list[tuple[float, float | None]]:
    out: list[tuple[float, float | None]] = []
    for t, level in edges:
        if level and (not out or out[-1][1] is not None):
            out.append((t, None))
        elif not level and out and out[-1][1] is None:
            out[-1] = (out[-1][0], t)
    return out


class EmulatorTarget(Target):
    kind = "emulator"

    def __init__(self) -> None:
        self.emu = ControllerEmulator().start()

    @property
    def port(self) -> str:
        return self.emu.port

    def set_input(self, n: int, level: int) -> None:
        self.emu.set_input(n, level)

    def level(self, kind: str, n: int) -> int:
        return int(self.emu.valves[n] if kind == "valve" else self.emu.outputs[n])

    def pulse(self, n: int, width_s: float) -> None:
        t = self.emu.now()
        self.emu.set_input(n, 1, t)
        self.emu.set_input(n, 0, t + width_s)

    def spans(self, kind: str, n: int) -> list[tuple[float, float | None]]:
        if kind == "valve":
            ups = [(t, 1) for t, i, _ in self.emu.record.valve_openings if i == n]
            downs = [(t, 0) for t, i, _ in self.emu.record.valve_closings if i == n]
            edges = sorted(ups + downs)
        else:
            edges = [(t, level) for t, i, level in self.emu.record.outputs if i == n]
        return _spans(edges)

    def fresh(self) -> None:
        self.emu.close()
        self.emu = ControllerEmulator().start()

    def close(self) -> None:
        self.emu.close()


class SimavrTarget(Target):
    kind = "firmware"

    def __init__(self, board: str = "uno") -> None:
        from sim_backend.avr.board import SimulatedBoard

        self.board = SimulatedBoard(board)

    @property
    def port(self) -> str:
        return self.board.port

    def set_input(self, n: int, level: int) -> None:
        self.board.set_input(n, level)

    def level(self, kind: str, n: int) -> int:
        return self.board.levels[(kind, n)]

    def pulse(self, n: int, width_s: float) -> None:
        # the fall is scheduled in simulated cycles: on a loaded machine the simulation runs
        # behind the wall clock, and two wall-clock-timed edges would bunch together
        before = len(self.board.changes)
        self.board.set_input(n, 1)
        self.board.wait_for(lambda ch: any(c.kind == "in" for c in ch[before:]), 5.0)
        rise = next(c.cycle for c in self.board.changes[before:] if c.kind == "in")
        self.board.set_input(n, 0, at_cycle=rise + round(width_s * self.board.f_cpu))

    def spans(self, kind: str, n: int) -> list[tuple[float, float | None]]:
        f = self.board.f_cpu
        return _spans([(c.cycle / f, c.level) for c in self.board.changes
                       if c.kind == kind and c.index == n])

    def fresh(self) -> None:
        n = len(self.board.resets)
        self.board.reset()
        deadline = time.monotonic() + 5
        while len(self.board.resets) == n and time.monotonic() < deadline:
            time.sleep(0.002)
        for n in range(2):
            self.board.set_input(n, 0)
        for key in self.board.levels:
            if key[0] != "in":
                self.board.levels[key] = 0  # a reset makes every pin an input (low)

    def close(self) -> None:
        self.board.close()


class BoardTarget(Target):
    """A real board on ``RIGCTL_TEST_BOARD_PORT``: protocol only (its pins are not watched)."""

    kind = "board"
    can_drive_inputs = False

    @property
    def port(self) -> str:
        assert BOARD_PORT is not None
        return BOARD_PORT

    def level(self, kind: str, n: int) -> int:
        pytest.skip("a real board's pins are not observed")


class Wire:
    """Raw protocol lines over pyserial: replies and events kept apart."""

    def __init__(self, port: str) -> None:
        self.ser = serial.Serial(port, 115200, timeout=0.05)
        self.events: list[str] = []
        self._pending = b""
        time.sleep(0.05)
        self.ser.reset_input_buffer()

    def send(self, line: str | bytes) -> None:
        data = line if isinstance(line, bytes) else line.encode("latin-1") + b"\n"
        self.ser.write(data)

    def lines(self, timeout_s: float = 2.0, until=None) -> list[str]:
        """Lines received until ``until(line)`` holds for one (or ``timeout_s``)."""
        out: list[str] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._pending += self.ser.read(self.ser.in_waiting or 1)
            while b"\n" in self._pending:
                raw, self._pending = self._pending.split(b"\n", 1)
                line = raw.decode("latin-1")
                out.append(line)
                if line.startswith("EVT "):
                    self.events.append(line)
                if until is not None and until(line):
                    return out
        return out

    def reply(self, line: str | bytes, timeout_s: float = 2.0) -> str:
        """Send and return the first reply (OK/ERR) line; events are kept in ``events``."""
        self.send(line)
        got = self.lines(timeout_s, until=lambda s: s.startswith(("OK", "ERR")))
        replies = [s for s in got if s.startswith(("OK", "ERR"))]
        if not replies:
            pytest.fail(f"no reply to {line!r} within {timeout_s:g} s (hang guard)")
        return replies[0]

    def event(self, kind: str, timeout_s: float = 3.0) -> str:
        """The first event of ``kind`` (``IN``, ``VALVE``, ``WDOG``, ``GATE``), waiting for it."""
        def found() -> str | None:
            return next((e for e in self.events if e.split()[2] == kind), None)

        deadline = time.monotonic() + timeout_s
        while found() is None and time.monotonic() < deadline:
            self.lines(0.05)
        event = found()
        if event is None:
            pytest.fail(f"no EVT {kind} within {timeout_s:g} s (hang guard)")
        self.events.remove(event)
        return event

    def close(self) -> None:
        self.ser.close()
