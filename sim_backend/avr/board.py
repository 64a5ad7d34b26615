"""The reference firmware running in simavr, its UART on a pseudo-terminal.

``SimulatedBoard`` starts the harness (sim_backend/avr/harness.c) on the compiled firmware and
speaks its stdin/stdout protocol: it drives input pins (licks), and records every output pin
change with the simulated CPU cycle it happened at. ``.port`` is the pty the host opens, exactly
as it would open /dev/ttyACM0. Tests and benchmarks read ``.changes`` (cycle-exact); the
session path (``FirmwareController``) turns pin changes into what the simulated mouse sees.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sim_backend.avr.build import BOARDS, firmware_elf, harness_binary, sketch_pins


@dataclass(frozen=True, slots=True)
class PinChange:
    cycle: int
    kind: str  # "valve", "in", "out"
    index: int
    level: int


PinListener = Callable[[PinChange], None]


class SimulatedBoard:
    """One simulated board (see the module docstring). ``fast`` runs unpaced."""

    def __init__(self, board: str = "uno", *, fast: bool = False,
                 probe_pin: int | None = None) -> None:
        self.board = BOARDS[board]
        self.f_cpu = self.board.f_cpu
        pins = sketch_pins()
        self._by_port: dict[str, tuple[str, int]] = {}
        self._port_of: dict[tuple[str, int], str] = {}
        for kind, numbers in pins.items():
            for index, number in enumerate(numbers):
                port = self.board.pins[number]
                self._by_port[port] = (kind, index)
                self._port_of[(kind, index)] = port
        self.changes: list[PinChange] = []
        self.resets: list[int] = []
        self.line_ends: list[int] = []  # cycles at which a host line's LF entered the UART
        self.cycles: list[int] = []  # answers to cycle_now
        self.probe_stats: list[tuple[int, ...]] = []  # (passes, p50, p99, max) in cycles
        self.listeners: list[PinListener] = []
        self.levels: dict[tuple[str, int], int] = {k: 0 for k in self._port_of}
        self._cond = threading.Condition()
        cmd = [str(harness_binary()), self.board.mcu, str(self.f_cpu),
               str(firmware_elf(board, probe_pin=probe_pin))]
        cmd.append("--fast" if fast else "--paced")
        if probe_pin is not None:
            cmd += ["--probe", self.board.pins[probe_pin]]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, bufsize=1)
        assert self._proc.stdout is not None
        first = self._proc.stdout.readline().split()
        if len(first) != 2 or first[0] != "PTY":
            self.close()
            raise RuntimeError(f"the simavr harness did not start (said {first!r})")
        self.port = first[1]
        self._wlock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="simavr-board", daemon=True)
        self._reader.start()

    # --- driving ------------------------------------------------------------------------------
    def set_input(self, index: int, level: int, at_cycle: int | None = None) -> None:
        """Drive input ``index`` (in0, in1) now, or at a later simulated cycle."""
        port = self._port_of[("in", index)]
        self._send(f"I {port} {level}" + (f" {at_cycle}" if at_cycle is not None else ""))

    def reset(self) -> None:
        self._send("R")

    def loop_passes(self, timeout_s: float = 2.0) -> tuple[int, ...]:
        """(passes, p50, p99, max pass in cycles) of the probe pin since the last call."""
        n = len(self.probe_stats)
        self._send("S")
        with self._cond:
            self._cond.wait_for(lambda: len(self.probe_stats) > n, timeout_s)
            return self.probe_stats[-1]

    def _send(self, line: str) -> None:
        with self._wlock:
            if self._proc.poll() is None and self._proc.stdin is not None:
                with contextlib.suppress(BrokenPipeError, OSError, ValueError):
                    self._proc.stdin.write(line + "\n")
                    self._proc.stdin.flush()

    # --- watching -----------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[list[PinChange]], bool], timeout_s: float) -> bool:
        """Wait until ``predicate(changes)`` holds (a hang guard, not a speed assertion)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.changes), timeout_s)

    def cycle_now(self, timeout_s: float = 2.0) -> int:
        """The simulated cycle now (asked of the harness)."""
        n = len(self.cycles)
        self._send("C")
        with self._cond:
            self._cond.wait_for(lambda: len(self.cycles) > n, timeout_s)
            return self.cycles[-1] if self.cycles else 0

    def _read(self) -> None:
        assert self._proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):  # closed under us by close()
            for line in self._proc.stdout:
                self._line(line)

    def _line(self, line: str) -> None:
        parts = line.split()
        if parts and parts[0] == "S":
            with self._cond:
                self.probe_stats.append(tuple(int(x) for x in parts[1:]))
                self._cond.notify_all()
            return
        if len(parts) == 2 and parts[0] == "C":
            with self._cond:
                self.cycles.append(int(parts[1]))
                self._cond.notify_all()
            return
        if len(parts) == 2 and parts[0] in ("R", "L"):
            (self.resets if parts[0] == "R" else self.line_ends).append(int(parts[1]))
            return
        if len(parts) != 4 or parts[0] not in ("P", "I"):
            return
        where = self._by_port.get(parts[2])
        if where is None:
            return
        kind, index = where
        if (parts[0] == "P") == (kind == "in"):
            return  # inputs are reported by their I echo, outputs by P
        change = PinChange(int(parts[1]), kind, index, int(parts[3]))
        with self._cond:
            self.changes.append(change)
            self.levels[(kind, index)] = change.level
            self._cond.notify_all()
        for listener in list(self.listeners):
            listener(change)

    def close(self) -> None:
        """Stop the simulation (the pty goes away: a host still attached sees it vanish)."""
        self._send("Q")
        try:
            self._proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=2.0)
        for stream in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()

    def __enter__(self) -> SimulatedBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
