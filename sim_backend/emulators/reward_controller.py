"""Emulated reward-port controller: the protocol of docs/serial-protocol.md on a pty.

It behaves as the reference firmware (docs/firmware/reward_controller/reward_controller.ino)
does: valves timed by its own timers, input edges streamed with its own timestamps, a watchdog
that closes every valve and drops every output when the host falls silent, numbered error
replies. Its record (``ControllerRecord``) holds everything it received and did, on its own
clock, for tests to compare with a session's log.

Backed by a ``LiveWorld`` (``serve_for_host`` with ``simulated_mouse: true``, or ``--mouse`` on
the command line), its inputs are the simulated mouse's licks and its valves and cue outputs
act on the mouse. What each line is wired to comes from the rig config's roles (in-process) or
the default wiring of docs/serial-protocol.md (standalone).

    python -m sim_backend.emulators.reward_controller [--mouse] [--log]

prints the pty path, then serves until killed.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from pydantic import Field

from rigctl.hardware.sync_train import TrainSpec, intervals_ms
from sim_backend.emulators.bench import Bench, LiveWorld, bench_for
from sim_backend.emulators.ptyport import LineEmulator, serve_until_signalled
from sim_backend.settings import SimSettings

IDENTITY = "rigctl-reward"
PROTOCOL = 1
FIRMWARE = "1.2.1-emulated"
MAX_LINE = 64
MAX_VALVE_MS = 5000.0
WDOG_RANGE_MS = (50, 60000)
GATE_MAX_MS = 1_000_000
COMMANDS = ("HELLO", "PING", "WDOG", "VALVE", "CLOSE", "OUT", "GATE", "SYNC", "START", "STOP",
            "OFF", "STATUS")
_UINT = re.compile(r"[0-9]+")
_MS = re.compile(r"([0-9]+)(?:\.([0-9]{1,3}))?")

# Error codes of the protocol (docs/serial-protocol.md, "Errors").
E_UNKNOWN, E_ARGS, E_RANGE, E_CHANNEL, E_LONG = 1, 2, 3, 4, 5

# The wiring of docs/serial-protocol.md, used when no config tells the emulator its roles.
DEFAULT_WIRING = MappingProxyType({
    ("valve", 0): "valve_left", ("valve", 1): "valve_right",
    ("in", 0): "lick_left", ("in", 1): "lick_right",
    ("out", 0): "cue_trial_start", ("out", 1): "cue_go", ("out", 2): "laser_gate",
})


class Settings(SimSettings):
    """The ``emulator:`` keys of a ``type: reward_controller`` device with ``port: emulated``:
    the simulated mouse behind it (the keys of the sim device) and whether to use it."""

    simulated_mouse: bool = Field(
        True, description="Inputs are the licks of a simulated mouse (false: inputs stay idle)"
    )
    firmware: Literal["uno", "mega"] | None = Field(
        None, description="Run the reference firmware, compiled for this board, in the simavr "
        "AVR simulator instead of the Python emulator (needs gcc-avr, arduino-mk, simavr)"
    )


@dataclass
class ControllerRecord:
    """What the controller received and did, timestamped on its own clock (s)."""

    commands: list[tuple[float, str]] = field(default_factory=list)
    valve_openings: list[tuple[float, int, float]] = field(default_factory=list)  # t, n, s
    valve_closings: list[tuple[float, int, str]] = field(default_factory=list)  # t, n, why
    inputs: list[tuple[float, int, int, bool]] = field(default_factory=list)  # t, n, level, sent
    outputs: list[tuple[float, int, int]] = field(default_factory=list)  # t, n, level
    watchdog_trips: list[float] = field(default_factory=list)
    gate_cuts: list[tuple[float, int]] = field(default_factory=list)  # t, output
    listener: Callable[[str, dict[str, Any]], None] | None = None

    def note(self, kind: str, **data: Any) -> None:
        if self.listener is not None:
            self.listener(kind, data)


def _parse_ms(text: str) -> float | None:
    """A duration in ms with at most 3 decimals (µs resolution), as the firmware parses it:
    ASCII digits, a dot only between digits (``1.`` and ``.5`` are refused)."""
    m = _MS.fullmatch(text)
    if m is None:
        return None
    frac = m.group(2) or ""
    return int(m.group(1)) + (int(frac) / 10 ** len(frac) if frac else 0.0)


def _uint(text: str) -> int | None:
    """ASCII decimal digits below 2**32, or None (as the firmware's parse_uint)."""
    if _UINT.fullmatch(text) is None or int(text) >= 2**32:
        return None
    return int(text)


class ControllerEmulator(LineEmulator):
    """The firmware's behaviour, decided line by line in docs/serial-protocol.md ("Framing")
    and checked against the firmware itself by tests/firmware/test_conformance.py."""

    newline = b"\n"
    max_line = MAX_LINE
    thread_name = "emulated-controller"
    line_ends = b"\n"  # only LF ends a line ...
    dropped = b"\r"  # ... a CR is dropped wherever it appears
    empty_lines = True  # an empty line feeds the watchdog

    def __init__(
        self,
        now: Callable[[], float] | None = None,
        *,
        bench: Bench | None = None,
        world: LiveWorld | None = None,
        n_valves: int = 2,
        n_inputs: int = 2,
        n_outputs: int = 4,
        protocol: int = PROTOCOL,
        identity: str = IDENTITY,
        boot_banner: bool = True,
    ) -> None:
        super().__init__(now or (bench.now if bench is not None else None))
        if bench is not None:
            self.boot_perf = bench.boot_perf
        self.bench = bench
        self.world = world
        self.owns_world = False
        self.n_valves, self.n_inputs, self.n_outputs = n_valves, n_inputs, n_outputs
        self.protocol = protocol
        self.identity = identity
        self.record = ControllerRecord()
        self.valves = [False] * n_valves
        self.outputs = [0] * n_outputs
        self.inputs = [0] * n_inputs
        self.streaming = False
        self.watchdog_ms = 0
        self.tripped = False
        self.last_host = self.now()
        self.roles: dict[tuple[str, int], str] = {}
        self.nominal_ul: dict[int, Callable[[float], float]] = {}
        self.errors_to_inject: dict[str, str] = {}
        self._valve_timer: dict[int, int] = {}
        self.gate_ms = [0] * n_outputs  # GATE: the longest an output may stay high (0: none)
        self._gate_timer: dict[int, int] = {}
        self._sync: tuple[int, TrainSpec] | None = None  # SYNC: (output, train) running
        self._sync_timer: int | None = None
        self._sync_intervals = iter(())
        if world is not None:
            world.add_listener(self._world_input)
        if boot_banner:
            self._send_event(self.now(), f"BOOT {self.identity} {self.protocol} {FIRMWARE}")

    # --- wiring (what a real controller knows by its cables) -----------------------------------
    def wire(self, kind: str, index: int, role: str,
             nominal_ul: Callable[[float], float] | None = None) -> None:
        """Say what line ``kind``/``index`` drives or reads (``valve_left``, ``lick_right``,
        ``cue_go``, ``laser_gate``), so the simulated mouse sees the right thing."""
        self.roles[(kind, index)] = role
        if kind == "in" and self.world is not None:  # a line the simulated mouse can act on
            port = role.removeprefix("lick_") if role.startswith("lick_") else None
            self.world.apply(lambda w: w.add_input(role, port))
        if nominal_ul is not None:
            self.nominal_ul[index] = nominal_ul

    def use_default_wiring(self) -> None:
        for (kind, index), role in DEFAULT_WIRING.items():
            if (kind, index) not in self.roles:
                self.wire(kind, index, role)

    def _index_of(self, kind: str, role: str) -> int | None:
        for (k, i), r in self.roles.items():
            if k == kind and r == role:
                return i
        return None

    # --- test controls ------------------------------------------------------------------------
    def set_input(self, n: int, level: int, t: float | None = None) -> None:
        """An edge on input ``n`` (a lick) at device time ``t`` (default now)."""
        t = self.now() if t is None else t
        self.inputs[n] = level
        sent = self.streaming and not self.vanished
        self.record.inputs.append((t, n, level, sent))
        self.record.note("input", t=t, input=n, level=level, sent=sent)
        if sent:
            self._send_event(t, f"IN {n} {level}")

    def inject_error(self, command: str, reply: str) -> None:
        """Answer the next ``command`` (first word) with ``ERR <command> <reply>`` instead."""
        self.errors_to_inject[command.upper()] = reply

    def valve_is_open(self, n: int) -> bool:
        return self.valves[n]

    # --- protocol -----------------------------------------------------------------------------
    def _send_event(self, t: float, text: str) -> None:
        self.write_line(f"EVT {round(t * 1e6)} {text}")

    def _ok(self, name: str, *values: object) -> None:
        self.write_line(" ".join(["OK", name, *map(str, values)]))

    def _err(self, name: str, code: int, text: str) -> None:
        self.write_line(f"ERR {name} {code} {text}")

    def overlong_line(self, t: float) -> None:
        self.last_host = t
        self.tripped = False
        self._err("?", E_LONG, f"line longer than {MAX_LINE} characters")

    def handle_line(self, line: str, t: float) -> None:
        self.last_host = t  # any line, an empty one too, feeds the watchdog
        self.tripped = False
        words = [w for w in line.split(" ") if w]  # spaces only; a run of them is one
        if not words:
            return
        self.record.commands.append((t, line))
        self.record.note("command", t=t, line=line)
        name, args = words[0], words[1:]  # case matters: `hello` is an unknown command
        injected = self.errors_to_inject.pop(name, None)
        if injected is not None:
            self.write_line(f"ERR {name} {injected}")
            return
        if name not in COMMANDS:
            self._err(name, E_UNKNOWN, "unknown command")
            return
        getattr(self, f"_cmd_{name.lower()}")(name, args, t)

    def _nargs(self, name: str, args: list[str], n: int) -> bool:
        if len(args) != n:
            self._err(name, E_ARGS, f"expected {n} argument(s)")
            return False
        return True

    def _channel(self, name: str, text: str, count: int, what: str) -> int | None:
        n = _uint(text)
        if n is None or n >= count:
            self._err(name, E_CHANNEL, f"no {what} {text} ({what}s 0-{count - 1})")
            return None
        return n

    def _cmd_hello(self, name: str, args: list[str], t: float) -> None:
        self._ok(name, self.identity, self.protocol, FIRMWARE, self.n_valves, self.n_inputs,
                 self.n_outputs)

    def _cmd_ping(self, name: str, args: list[str], t: float) -> None:
        if self._nargs(name, args, 1):
            self._ok(name, args[0], round(self.now() * 1e6))

    def _cmd_wdog(self, name: str, args: list[str], t: float) -> None:
        if not self._nargs(name, args, 1):
            return
        lo, hi = WDOG_RANGE_MS
        ms = _uint(args[0])
        if ms is None or not (ms == 0 or lo <= ms <= hi):
            self._err(name, E_RANGE, f"watchdog must be 0 (off) or {lo}-{hi} ms")
            return
        self.watchdog_ms = ms
        self._ok(name, self.watchdog_ms)

    def _cmd_valve(self, name: str, args: list[str], t: float) -> None:
        if not self._nargs(name, args, 2):
            return
        n = self._channel(name, args[0], self.n_valves, "valve")
        if n is None:
            return
        ms = _parse_ms(args[1])
        if ms is None or not 0 < ms <= MAX_VALVE_MS:
            self._err(name, E_RANGE, f"duration must be 0.001-{MAX_VALVE_MS:g} ms")
            return
        self._open_valve(n, ms / 1000.0, t)
        self._ok(name, n, round(t * 1e6))

    def _cmd_close(self, name: str, args: list[str], t: float) -> None:
        if not self._nargs(name, args, 1):
            return
        n = self._channel(name, args[0], self.n_valves, "valve")
        if n is not None:
            self._close_valve(n, t, "command")
            self._ok(name, n)

    def _cmd_out(self, name: str, args: list[str], t: float) -> None:
        if not self._nargs(name, args, 2):
            return
        n = self._channel(name, args[0], self.n_outputs, "output")
        if n is None:
            return
        if args[1] not in ("0", "1"):
            self._err(name, E_RANGE, "level must be 0 or 1")
            return
        self._set_output(n, int(args[1]), t)
        self._ok(name, n, args[1])

    def _cmd_gate(self, name: str, args: list[str], t: float) -> None:
        if not self._nargs(name, args, 2):
            return
        n = self._channel(name, args[0], self.n_outputs, "output")
        if n is None:
            return
        ms = _uint(args[1])
        if ms is None or ms > GATE_MAX_MS:
            self._err(name, E_RANGE, f"gate limit must be 0 (none) or 1-{GATE_MAX_MS} ms")
            return
        self.gate_ms[n] = ms
        self.cancel(self._gate_timer.pop(n, None))
        if self.outputs[n]:  # already high: its full limit from now
            self._arm_gate(n, t)
        self._ok(name, n, ms)

    def _cmd_sync(self, name: str, args: list[str], t: float) -> None:
        if len(args) not in (2, 5):
            self._err(name, E_ARGS, "expected 2 or 5 argument(s)")
            return
        n = self._channel(name, args[0], self.n_outputs, "output")
        if n is None:
            return
        if len(args) == 2:
            if args[1] != "0":
                self._err(name, E_RANGE, "SYNC <n> 0 stops a train")
                return
            if self._sync is not None and self._sync[0] == n:
                self._sync_stop(t)
            self._ok(name, n, 0)
            return
        values = [_uint(a) for a in args[1:]]
        spec = None if None in values else TrainSpec(*values)  # type: ignore[arg-type]
        if spec is None or spec.seed == 0 or spec.problem() is not None:
            self._err(name, E_RANGE, "needs seed >= 1, width 1-1000 ms, mean <= 600000 ms, "
                                     "mean - spread >= 2 x width")
            return
        self._sync_stop(t)  # one train at a time: a running one ends first
        self._sync = (n, spec)
        self._sync_intervals = intervals_ms(spec.seed, spec.mean_ms, spec.spread_ms)
        self._sync_next_rise(t)
        self._ok(name, n, round(t * 1e6))

    def _sync_next_rise(self, after: float) -> None:
        rise = after + next(self._sync_intervals) / 1000.0
        self._sync_timer = self.at(rise, lambda: self._sync_edge(1, rise))

    def _sync_edge(self, level: int, t: float) -> None:
        """An edge of the train, exactly when due (the firmware: within one loop pass)."""
        if self._sync is None:
            return
        n, spec = self._sync
        self._set_output(n, level, t)
        self._send_event(t, f"SYNC {n} {level}")
        if level:
            fall = t + spec.width_ms / 1000.0
            self._sync_timer = self.at(fall, lambda: self._sync_edge(0, fall))
        else:
            self._sync_next_rise(t - spec.width_ms / 1000.0)

    def _sync_stop(self, t: float) -> None:
        """The train ends; a line that is high goes low, and that edge is reported."""
        if self._sync is None:
            return
        n = self._sync[0]
        self.cancel(self._sync_timer)
        self._sync, self._sync_timer = None, None
        if self.outputs[n]:
            self._set_output(n, 0, t)
            self._send_event(t, f"SYNC {n} 0")

    def _cmd_start(self, name: str, args: list[str], t: float) -> None:
        if self._nargs(name, args, 0):
            self.streaming = True
            self._ok(name)

    def _cmd_stop(self, name: str, args: list[str], t: float) -> None:
        if self._nargs(name, args, 0):
            self.streaming = False
            self._ok(name)

    def _cmd_off(self, name: str, args: list[str], t: float) -> None:
        if self._nargs(name, args, 0):
            self._all_off(t, "off")
            self._ok(name)

    def _cmd_status(self, name: str, args: list[str], t: float) -> None:
        def mask(bits: list) -> int:
            return sum(1 << i for i, b in enumerate(bits) if b)

        if self._nargs(name, args, 0):
            self._ok(name, mask(self.valves), mask(self.outputs), mask(self.inputs),
                     self.watchdog_ms, int(self.streaming))

    # --- outputs ------------------------------------------------------------------------------
    def _open_valve(self, n: int, duration_s: float, t: float) -> None:
        self.cancel(self._valve_timer.pop(n, None))  # a new opening restarts the timer
        self.valves[n] = True
        self.record.valve_openings.append((t, n, duration_s))
        self.record.note("valve_open", t=t, valve=n, duration_s=duration_s)
        close_t = t + duration_s
        self._valve_timer[n] = self.at(close_t, lambda: self._close_valve(n, close_t, "timer"))
        side = self._side("valve", n)
        if side is not None and self.world is not None:
            nominal = self.nominal_ul.get(n, lambda ms: 0.1 * ms)
            self.world.apply(lambda w: w.valve_open(side, duration_s, nominal))

    def _close_valve(self, n: int, t: float, why: str) -> None:
        self.cancel(self._valve_timer.pop(n, None))
        if not self.valves[n]:
            return
        self.valves[n] = False
        self.record.valve_closings.append((t, n, why))
        self.record.note("valve_close", t=t, valve=n, why=why)
        self._send_event(t, f"VALVE {n} 0")
        side = self._side("valve", n)
        if why != "timer" and side is not None and self.world is not None:
            self.world.apply(lambda w: w.valve_close(side))

    def _arm_gate(self, n: int, t: float) -> None:
        if self.gate_ms[n]:
            cut_t = t + self.gate_ms[n] / 1000.0
            self._gate_timer[n] = self.at(cut_t, lambda: self._cut_gate(n, cut_t))

    def _cut_gate(self, n: int, t: float) -> None:
        """The gate has been high for its limit: drop it, whatever the host is doing."""
        self._gate_timer.pop(n, None)
        if not self.outputs[n]:
            return
        self._set_output(n, 0, t)
        self.record.gate_cuts.append((t, n))
        self.record.note("gate_cut", t=t, output=n)
        self._send_event(t, f"GATE {n} 0")

    def _set_output(self, n: int, level: int, t: float) -> None:
        if self.outputs[n] == level:
            return
        self.outputs[n] = level
        self.cancel(self._gate_timer.pop(n, None))
        if level:
            self._arm_gate(n, t)
        self.record.outputs.append((t, n, level))
        self.record.note("output", t=t, output=n, level=level)
        role = self.roles.get(("out", n))
        if role == "laser_gate" and self.bench is not None:
            self.bench.set_gate(bool(level))
        elif role is not None and role.startswith("cue_") and self.world is not None:
            cue = role.removeprefix("cue_")
            self.world.apply(lambda w: w.output(cue, bool(level)))

    def _all_off(self, t: float, why: str) -> None:
        self._sync_stop(t)
        for n in range(self.n_valves):
            self._close_valve(n, t, why)
        for n in range(self.n_outputs):
            self._set_output(n, 0, t)

    def _side(self, kind: str, n: int) -> str | None:
        role = self.roles.get((kind, n))
        if role is None:
            return None
        return role.split("_", 1)[1] if "_" in role else None

    # --- watchdog -----------------------------------------------------------------------------
    def tick(self, now: float) -> float | None:
        if not self.watchdog_ms or self.tripped:
            return None
        due = self.last_host + self.watchdog_ms / 1000.0
        if now < due:
            return due
        self.tripped = True
        self.record.watchdog_trips.append(now)
        self.record.note("watchdog", t=now)
        self._all_off(now, "watchdog")
        self._send_event(now, "WDOG")
        return None

    def power_lost(self) -> None:
        """Unplugged: a USB-powered board goes dark, so its valves close and its outputs (the
        laser gate too) drop."""
        self._all_off(self.now(), "power")

    # --- the simulated mouse ------------------------------------------------------------------
    def _world_input(self, name: str, value: float, t: float) -> None:
        n = self._index_of("in", name)
        if n is not None and not self.vanished:
            self.set_input(n, int(value), t)

    def close(self) -> None:
        super().close()
        if self.world is not None:
            self.world.remove_listener(self._world_input)
            if self.owns_world:
                self.world.close()


def serve_for_host(name: str, settings: Settings, ctx: Any) -> Any:
    """Start an emulated controller for device ``name`` of a session (``port: emulated``):
    this module's emulator, or with ``firmware:`` the reference firmware in simavr."""
    bench = bench_for(ctx.shared)
    world, created = None, False
    if settings.firmware is not None:
        from sim_backend.avr.build import missing_tools

        missing = missing_tools()
        if missing is not None:
            from rigctl.errors import DeviceError

            raise DeviceError(f"{ctx.source}: devices.{name}.emulator.firmware: {missing}")
    if settings.simulated_mouse:
        world, created = bench.ensure_world(settings, ctx.subject, ctx.seed, ctx.agent)
    if settings.firmware is not None:
        from sim_backend.avr.controller import FirmwareController

        board = FirmwareController(settings.firmware, bench, world)
        board.owns_world = created
        return board
    emu = ControllerEmulator(bench=bench, world=world)
    emu.owns_world = created
    emu.start()
    return emu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Emulated rigctl reward-port controller on a pty.")
    ap.add_argument("--mouse", action="store_true",
                    help="inputs are licks of a simulated mouse (default wiring)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the simulated mouse")
    ap.add_argument("--log", action="store_true",
                    help="print every command, valve change, input and output as a JSON line")
    args = ap.parse_args(argv)
    bench = Bench()
    world = None
    if args.mouse:
        import numpy as np

        from rigctl.config.agent import AgentChoice
        from rigctl.config.subject import Subject
        from rigctl.protocols.delayed_alternation import DelayedAlternation

        # Standing alone, the emulator's mouse does what its default wiring is for: the
        # built-in delayed alternation (a host session's own task is not known here).
        mouse = AgentChoice(kind="working_memory", mapping=DelayedAlternation.agent)
        world, _ = bench.ensure_world(Settings(), Subject(), np.random.SeedSequence(args.seed),
                                      mouse)
    emu = ControllerEmulator(bench=bench, world=world)
    emu.owns_world = world is not None
    emu.use_default_wiring()
    return serve_until_signalled(emu, args.log)


if __name__ == "__main__":
    sys.exit(main())
