"""Emulated Coherent OBIS laser: the SCPI subset rigctl uses, on a pty, with CR LF line ends.

Every command is answered ``OK`` or ``ERR-<code>``; a query first returns its value line, then
``OK`` (the OBIS's factory setting, handshaking on). Emission follows the laser's rules: on when
``SOUR:AM:STAT ON`` and, in digital or mixed modulation, only while the gate input (a controller
output wired to ``laser_gate``, see ``Bench``) is high. Analog modulation is accepted but the
analog input is not emulated (it reads as 0 V, so no light). Emitted power reaches the
simulated mouse through the session's ``Bench``.

Error codes are this emulator's (the driver reports any ``ERR-<code>`` verbatim with the
command that caused it): ERR-100 unrecognised command, ERR-101 invalid parameter, ERR-102
parameter out of range.

    python -m sim_backend.emulators.obis [--max-power-mw 100] [--log]
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sim_backend.emulators.bench import Bench, bench_for
from sim_backend.emulators.ptyport import LineEmulator, serve_until_signalled

ERR_UNKNOWN, ERR_INVALID, ERR_RANGE = "ERR-100", "ERR-101", "ERR-102"
ST_FAULT, ST_EMISSION, ST_READY, ST_STANDBY, ST_EXTERNAL = 0x1, 0x2, 0x4, 0x8, 0x400
MODES = MappingProxyType({
    "INT CWP": "CWP", "INT CWC": "CWC", "EXT DIG": "DIGITAL", "EXT ANAL": "ANALOG",
    "EXT MIX": "MIXED",
})


class Settings(BaseModel):
    """The ``emulator:`` keys of a ``type: obis`` device with ``port: emulated``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_power_mw: float = Field(100.0, gt=0, le=10_000, description="Laser's rated power (mW)")
    wavelength_nm: int = Field(594, gt=300, lt=1200, description="Wavelength (nm)")


@dataclass
class ObisRecord:
    """What the laser received and emitted, on its own clock (s)."""

    commands: list[tuple[float, str]] = field(default_factory=list)
    emission: list[tuple[float, float]] = field(default_factory=list)  # (t, emitted mW)
    listener: Callable[[str, dict[str, Any]], None] | None = None

    def note(self, kind: str, **data: Any) -> None:
        if self.listener is not None:
            self.listener(kind, data)


class ObisEmulator(LineEmulator):
    newline = b"\r\n"
    thread_name = "emulated-obis"

    def __init__(
        self, now: Callable[[], float] | None = None, *, bench: Bench | None = None,
        max_power_mw: float = 100.0, wavelength_nm: int = 594,
    ) -> None:
        super().__init__(now or (bench.now if bench is not None else None))
        if bench is not None:
            self.boot_perf = bench.boot_perf
            bench.on_gate(self._gate_changed)
        self.bench = bench
        self.max_w = max_power_mw / 1000.0
        self.wavelength_nm = wavelength_nm
        self.record = ObisRecord()
        self.enabled = False  # SOUR:AM:STAT
        self.mode = "CWP"
        self.power_w = 0.0
        self.fault = 0
        self.handshake = True
        self.mute = False  # stop answering (a hung laser), for reply-timeout tests
        self.emitted_mw = 0.0
        self.errors_to_inject: dict[str, str] = {}
        self._lock = threading.Lock()  # the gate changes from the controller's thread

    def inject_error(self, command_prefix: str, code: str = "ERR-500") -> None:
        """Answer the next command starting with ``command_prefix`` with ``code``, no effect."""
        self.errors_to_inject[command_prefix.upper()] = code

    # --- emission -----------------------------------------------------------------------------
    def _gate_changed(self, level: bool) -> None:
        self._update(self.now())

    def _update(self, t: float) -> None:
        with self._lock:
            gate = self.bench.gate if self.bench is not None else False
            light = self.enabled and not self.fault and (
                self.mode in ("CWP", "CWC") or (self.mode in ("DIGITAL", "MIXED") and gate))
            mw = round(self.power_w * 1000.0, 6) if light else 0.0
            if mw == self.emitted_mw:
                return
            self.emitted_mw = mw
            self.record.emission.append((t, mw))
            self.record.note("emission", t=t, mw=mw)
        if self.bench is not None:
            self.bench.laser(mw)

    def power_lost(self) -> None:
        with self._lock:
            self.enabled = False
        self._update(self.now())

    # --- protocol -----------------------------------------------------------------------------
    def _reply(self, *lines: str) -> None:
        if self.mute:
            return
        for line in lines:
            self.write_line(line)

    def _ok(self, value: str | None = None) -> None:
        out = [value] if value is not None else []
        if self.handshake:
            out.append("OK")
        self._reply(*out)

    def handle_line(self, line: str, t: float) -> None:
        line = line.strip()
        if not line:
            return
        self.record.commands.append((t, line))
        self.record.note("command", t=t, line=line)
        cmd = line.upper()
        for prefix, code in list(self.errors_to_inject.items()):
            if cmd.startswith(prefix):
                del self.errors_to_inject[prefix]
                self._reply(code)
                return
        head, _, arg = cmd.partition(" ")
        arg = arg.strip()
        if head == "*IDN?":
            self._ok(f"Coherent, Inc - OBIS {self.wavelength_nm}nm LX "
                     f"{self.max_w * 1000:g}mW - V1.0 - rigctl emulator")
        elif head == "SYST:STAT?":
            self._ok(f"{self._status():08X}")
        elif head == "SYST:FAUL?":
            self._ok(f"{self.fault:08X}")
        elif head == "SYST:COMM:HAND" and arg in ("ON", "OFF"):
            self.handshake = arg == "ON"
            self._ok()
        elif head == "SOUR:AM:STAT" and arg in ("ON", "OFF"):
            self.enabled = arg == "ON"
            self._update(t)  # the light changes before the laser says OK
            self._ok()
        elif head == "SOUR:AM:STAT?":
            self._ok("ON" if self.enabled else "OFF")
        elif head in ("SOUR:AM:INT", "SOUR:AM:EXT"):
            mode = MODES.get(f"{head.rsplit(':', 1)[1]} {arg}")
            if mode is None:
                self._reply(ERR_INVALID)
                return
            self.mode = mode
            self._update(t)
            self._ok()
        elif head == "SOUR:AM:SOUR?":
            self._ok(self.mode)
        elif head == "SOUR:POW:LEV:IMM:AMPL" and arg:
            try:
                watts = float(arg)
            except ValueError:
                self._reply(ERR_INVALID)
                return
            if not 0.0 <= watts <= self.max_w:
                self._reply(ERR_RANGE)
                return
            self.power_w = watts
            self._update(t)
            self._ok()
        elif head == "SOUR:POW:LEV:IMM:AMPL?":
            self._ok(f"{self.power_w:.6f}")
        elif head == "SOUR:POW:LEV?":
            self._ok(f"{self.emitted_mw / 1000.0:.6f}")
        elif head == "SOUR:POW:LIM:HIGH?":
            self._ok(f"{self.max_w:.6f}")
        elif head == "SOUR:POW:LIM:LOW?":
            self._ok("0.000000")
        else:
            self._reply(ERR_UNKNOWN)

    def _status(self) -> int:
        st = ST_READY
        if self.enabled:
            st |= ST_EMISSION
        else:
            st |= ST_STANDBY
        if self.mode not in ("CWP", "CWC"):
            st |= ST_EXTERNAL
        if self.fault:
            st |= ST_FAULT
        return st

    def close(self) -> None:
        super().close()
        if self.bench is not None:
            self.bench.off_gate(self._gate_changed)


def serve_for_host(name: str, settings: Settings, ctx: Any) -> ObisEmulator:
    """Start an emulated OBIS for device ``name`` of a session (``port: emulated``)."""
    emu = ObisEmulator(bench=bench_for(ctx.shared), max_power_mw=settings.max_power_mw,
                       wavelength_nm=settings.wavelength_nm)
    emu.start()
    return emu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Emulated Coherent OBIS laser on a pty.")
    ap.add_argument("--max-power-mw", type=float, default=100.0)
    ap.add_argument("--log", action="store_true",
                    help="print every command and emission change as a JSON line")
    args = ap.parse_args(argv)
    emu = ObisEmulator(max_power_mw=args.max_power_mw)
    return serve_until_signalled(emu, args.log)


if __name__ == "__main__":
    sys.exit(main())
