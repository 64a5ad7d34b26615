"""Backend for ``type: obis``: a Coherent OBIS laser driven by SCPI over its serial port.

The driver speaks the SCPI subset of docs/serial-protocol.md ("OBIS"), with CR LF line ends and
the laser's factory handshaking (each command answered ``OK`` or ``ERR-<code>``; a query first
returns its value). Why each design choice:

- **Ceiling before sending.** ``emit`` refuses any power above the rig config's
  ``laser.max_power_mw`` (and the laser's own limit) before a byte leaves the host. The rig's
  interlock checks this too; a second check at the last step means a bug above can never reach
  the laser.
- **Tip power through the calibration.** A protocol asks for mW at the fibre tip; the laser's
  set-point is its own output. With ``laser.calibration`` (``command_unit: mW``, written by
  ``rigctl calibrate laser``) ``emit`` sends ``command_for_mw``'s set-point and refuses tip
  powers outside the calibrated range; without one the set-point is the tip power.
- **The control loop never waits for the laser.** Commands are executed in order by one driver
  thread, so a slow laser (a few ms per command) cannot stall lick handling; an error reply or
  a missing one ends the session through ``ctx.sink.fail`` naming the command.
- **Ramp-down in steps.** OBIS has no ramp command: ``stop(ramp_down_s)`` lowers the power in
  steps of ``ramp_step_s`` (default 10 ms, i.e. 10 steps for the default 100 ms ramp), timed by
  the driver thread against absolute deadlines so steps do not drift; a new ``emit`` cancels a
  ramp in progress. In ``cw`` modulation emission is switched off at the end of the ramp; in
  ``digital``/``mixed`` modulation the gate line closes it (the rig closes the gate when the
  ramp is over) and the laser stays armed.
- **Off on every exit path.** ``force_off`` (every error path) and ``close`` send
  ``SOUR:AM:STAT OFF`` directly, after cancelling queued commands, and never raise.
- **Modulation.** ``cw``: power and on/off by command. ``digital``/``mixed``: armed
  (``SOUR:AM:STAT ON``) from session start, light only while the TTL gate
  (``laser.gate_channel``) is high, so a controller output gate also falls when the controller's
  watchdog fires. ``analog``: power follows an analog voltage (an NI-DAQ output is the laser
  channel); this device only arms the laser at start and disarms it at close.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rigctl.errors import DeviceError, InterlockError
from rigctl.hardware.calibration import command_for_mw
from rigctl.hardware.interfaces import Device, LaserDriver, PulseTrain
from rigctl.hardware.registry import BuildContext
from rigctl.hardware.serial_link import (
    EMULATED,
    REPLY,
    SerialLink,
    open_connected,
    start_emulator,
    validate_emulator_settings,
)

if TYPE_CHECKING:
    from rigctl.config.rig import LaserConfig

log = logging.getLogger(__name__)

MODULATION_COMMANDS = MappingProxyType({
    "cw": "SOUR:AM:INT CWP",
    "digital": "SOUR:AM:EXT DIG",
    "analog": "SOUR:AM:EXT ANAL",
    "mixed": "SOUR:AM:EXT MIX",
})
OFF = "SOUR:AM:STAT OFF"
ON = "SOUR:AM:STAT ON"


class Settings(BaseModel):
    """Keys of a ``type: obis`` device."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: str = Field(
        description="Serial port of the laser (/dev/ttyUSB0, COM4), or `emulated`", min_length=1
    )
    baud: int = Field(115200, description="Baud rate (OBIS: 115200)")
    modulation: Literal["cw", "digital", "analog", "mixed"] = Field(
        "cw", description="cw: on/off and power by command; digital/mixed: emission gated by "
        "the TTL line laser.gate_channel; analog: power follows an analog voltage"
    )
    ramp_step_s: float = Field(
        0.01, ge=0.001, le=0.5, description="Step of the stepped ramp-down at laser offset (s)"
    )
    reply_timeout_s: float = Field(
        1.0, gt=0, le=10, description="A command not answered within this ends the session (s)"
    )
    emulator: dict[str, Any] = Field(
        default_factory=dict,
        description="With port: emulated, settings of the emulated laser (max_power_mw, "
        "wavelength_nm)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        validate_emulator_settings("obis", self.port, self.emulator)
        return self


def _is_final(line: str) -> bool:
    return line == "OK" or line.startswith("ERR")


class ObisLaser(Device, LaserDriver):
    """The laser as a device (opened from the config) and as the rig's laser driver."""

    def __init__(self, name: str, settings: Settings, ctx: BuildContext) -> None:
        self.name = name
        self.s = settings
        self.ctx = ctx
        self.emulator: Any = None
        self.identity = ""
        self.limit_mw = math.inf
        self.cfg: LaserConfig | None = None
        self._failed = False
        self._identified = False
        self._armed = False  # SOUR:AM:STAT ON sent and not since turned off
        self._power_mw = 0.0
        self._killed = False
        self._send_lock = threading.Lock()  # a kill and the worker's sends never interleave
        self._cv = threading.Condition()
        self._jobs: collections.deque[tuple[str, float]] = collections.deque()
        self._stopping = False
        self._worker: threading.Thread | None = None
        port = settings.port
        if port == EMULATED:
            self.emulator = start_emulator("obis", name, settings.emulator, ctx)
            port = self.emulator.port
        self.link = SerialLink(
            name, port, route=self._route, is_final=_is_final,
            is_error=lambda line: line.startswith("ERR"), on_failure=self._on_failure,
            now=ctx.clock.now, baudrate=settings.baud, newline=b"\r\n",
            reply_timeout_s=settings.reply_timeout_s,
        )

    def _route(self, line: str, t: float) -> str:
        # OBIS speaks only when spoken to: every line belongs to the reply awaited (the link
        # counts a line with no command waiting as garbage).
        return REPLY

    # --- connecting ---------------------------------------------------------------------------
    def connect(self) -> None:
        link = self.link
        link.open()
        link.write_raw(b"\r\n")  # end whatever half-line the laser may hold from before
        time.sleep(0.05)
        link.reset_input()
        try:
            idn = self._query("*IDN?")
        except DeviceError as exc:
            raise DeviceError(
                f"{exc} (is it an OBIS at {self.s.baud} baud, with handshaking on? "
                "`rigctl devices` lists the serial ports)") from None
        if "OBIS" not in idn.upper():
            raise DeviceError(f"{link.label}: answered {idn!r} to *IDN?, not a Coherent OBIS "
                              "(wrong port? `rigctl devices` lists the serial ports)")
        self.identity = idn
        self._identified = True
        link.request(OFF)
        fault = self._hex_query("SYST:FAUL?")
        if fault:
            raise DeviceError(
                f"{link.label}: the laser reports fault code 0x{fault:08X} (SYST:FAUL?); see the "
                "OBIS manual, clear it (Coherent Connection or a power cycle) and retry")
        self.limit_mw = float(self._number("SOUR:POW:LIM:HIGH?")) * 1000.0
        link.request(MODULATION_COMMANDS[self.s.modulation])
        status = self._hex_query("SYST:STAT?")
        log.info("%s: %s, limit %g mW, modulation %s, status 0x%08X", link.label, idn,
                 self.limit_mw, self.s.modulation, status)
        self._worker = threading.Thread(target=self._work, name=f"obis-{self.name}", daemon=True)
        self._worker.start()

    def _query(self, command: str) -> str:
        reply = self.link.request(command)
        if len(reply.values) != 1:
            for extra in reply.values[:-1]:
                self.link.garbage(extra, f"extra line in the reply to {command}")
            if not reply.values:
                raise DeviceError(f"{self.link.label}: {command!r} returned no value")
        return reply.values[-1]

    def _number(self, command: str) -> float:
        text = self._query(command)
        try:
            value = float(text)
        except ValueError:
            raise DeviceError(
                f"{self.link.label}: {command!r} returned {text!r}, not a number") from None
        if not math.isfinite(value):
            raise DeviceError(f"{self.link.label}: {command!r} returned {text!r}")
        return value

    def _hex_query(self, command: str) -> int:
        text = self._query(command)
        try:
            return int(text, 16)
        except ValueError:
            raise DeviceError(
                f"{self.link.label}: {command!r} returned {text!r}, not a hex code") from None

    # --- as a Device --------------------------------------------------------------------------
    def laser(self, channel: str, cfg: LaserConfig) -> LaserDriver:
        if self.cfg is not None:
            raise DeviceError(
                f"device {self.name!r}: an OBIS is one laser and {channel!r} is a second laser "
                "on it; list each laser's OBIS as its own device")
        if self.s.modulation == "analog":
            raise DeviceError(
                f"device {self.name!r}: with modulation: analog the power follows an analog "
                "voltage; route laser.channel to that analog output (e.g. Dev1/ao0) and keep "
                "this device only to arm the laser")
        if self.s.modulation in ("digital", "mixed") and cfg.gate_channel is None:
            raise DeviceError(
                f"device {self.name!r}: modulation: {self.s.modulation} emits only while its TTL "
                "input is high; set laser.gate_channel to the line wired to it")
        if cfg.calibration is not None and cfg.calibration.command_unit != "mW":
            raise DeviceError(
                f"device {self.name!r}: laser.calibration is in {cfg.calibration.command_unit}, "
                "but an OBIS is commanded by its power set-point in mW; recalibrate with "
                "`rigctl calibrate laser`")
        if cfg.max_power_mw > self.limit_mw:
            log.warning("%s: laser.max_power_mw %g mW is above the laser's limit %g mW",
                        self.link.label, cfg.max_power_mw, self.limit_mw)
        self.cfg = cfg
        return self

    def start(self) -> None:
        if self.s.modulation != "cw":
            # Armed for the whole session: the gate (or the analog voltage) makes the light, so
            # the laser's start-up delay is paid once, before the first trial.
            with self._send_lock:
                self._killed = False
                reply = self.link.send(ON)
                self._armed = True
            self.link.wait(reply, self.s.reply_timeout_s)

    def close(self) -> None:
        """Emission off (waiting for the laser's OK), driver thread stopped, port released."""
        try:
            self._kill_and_off()
            with self._cv:
                self._stopping = True
                self._cv.notify_all()
            if self._worker is not None and self._worker is not threading.current_thread():
                self._worker.join(timeout=2.0)
        finally:
            self.link.close()
            if self.emulator is not None:
                try:
                    self.emulator.close()
                except Exception:  # noqa: BLE001 - closing must not raise
                    log.exception("closing the emulated laser")

    # --- as a LaserDriver (called by the control loop) ----------------------------------------
    def emit(self, power_mw: float, pulses: PulseTrain | None = None) -> None:
        ceiling = self.cfg.max_power_mw if self.cfg is not None else 0.0
        if not (0.0 < power_mw <= ceiling):  # also refuses NaN
            raise InterlockError(
                f"device {self.name!r}: {power_mw:g} mW refused before sending, outside "
                f"(0, laser.max_power_mw = {ceiling:g} mW]")
        setpoint = power_mw
        if self.cfg is not None and self.cfg.calibration is not None:
            setpoint = command_for_mw(self.cfg, power_mw)  # refuses outside the calibration
        if setpoint > self.limit_mw:
            raise DeviceError(f"device {self.name!r}: {power_mw:g} mW at the tip needs a "
                              f"set-point of {setpoint:g} mW, above the laser's own limit of "
                              f"{self.limit_mw:g} mW (SOUR:POW:LIM:HIGH?)")
        if pulses is not None:
            raise DeviceError(
                f"device {self.name!r}: pulse trains cannot be timed over a serial port; drive "
                "laser.gate_channel from hardware-timed output (NI-DAQ) for pulsed light")
        if not self.link.alive:
            raise DeviceError(f"{self.link.label}: the link is down; cannot emit")
        with self._send_lock:
            self._killed = False
        self._post("emit", setpoint)

    def stop(self, ramp_down_s: float) -> None:
        self._post("ramp", ramp_down_s)

    def force_off(self) -> None:
        """Emission off now: queued commands and a ramp in progress are dropped. Never raises."""
        self._kill_and_off()

    def _kill_and_off(self) -> None:
        with self._cv:
            self._jobs.clear()
            self._cv.notify_all()
        if not self._identified or not self.link.alive:
            return
        try:
            with self._send_lock:
                self._killed = True  # the driver thread sends nothing after this OFF
                reply = self.link.send(OFF)
                self._armed = False
            self.link.wait(reply, self.s.reply_timeout_s)
        except DeviceError as exc:
            log.error("%s", exc)
        except Exception:  # noqa: BLE001 - force_off must never raise
            log.exception("%s: turning emission off", self.link.label)

    # --- the driver thread --------------------------------------------------------------------
    def _post(self, job: str, value: float) -> None:
        with self._cv:
            self._jobs.append((job, value))
            self._cv.notify_all()

    def _next_job(self, timeout: float | None) -> tuple[str, float] | None:
        with self._cv:
            if not self._jobs and not self._stopping:
                self._cv.wait(timeout)
            if self._stopping:
                raise _Stop
            return self._jobs.popleft() if self._jobs else None

    def _work(self) -> None:
        job: tuple[str, float] | None = None
        while True:
            try:
                if job is None:
                    job = self._next_job(None)
                if job is None:
                    continue
                kind, value = job
                job = None
                if kind == "emit":
                    self._do_emit(value)
                else:
                    job = self._do_ramp(value)
            except _Stop:
                return
            except _Cancelled:
                job = None
            except DeviceError as exc:
                job = None
                self._on_failure(exc)

    def _send(self, command: str) -> None:
        with self._send_lock:
            if self._killed:
                raise _Cancelled
            reply = self.link.send(command)
            # Track the on/off state in the order commands reach the laser (a force_off from
            # another thread may slip in between this send and its reply).
            if command in (ON, OFF):
                self._armed = command == ON
        self.link.wait(reply, self.s.reply_timeout_s)

    def _do_emit(self, setpoint_mw: float) -> None:
        self._send(f"SOUR:POW:LEV:IMM:AMPL {setpoint_mw / 1000.0:.6f}")
        self._power_mw = setpoint_mw
        if not self._armed:
            self._send(ON)

    def _do_ramp(self, ramp_s: float) -> tuple[str, float] | None:
        """Step the power down; returns a job that interrupted the ramp, if any."""
        p0 = self._power_mw
        n = max(1, round(ramp_s / self.s.ramp_step_s)) if ramp_s > 0 else 1
        t0 = time.perf_counter()
        for k in range(1, n + 1):
            deadline = t0 + k * ramp_s / n
            while (wait := deadline - time.perf_counter()) > 0:
                job = self._next_job(wait)
                if job is not None:
                    return job
                if self._killed:
                    raise _Cancelled
            if k < n:
                self._power_mw = p0 * (n - k) / n
                self._send(f"SOUR:POW:LEV:IMM:AMPL {self._power_mw / 1000.0:.6f}")
        if self.s.modulation == "cw":
            self._send(OFF)
        return None

    def _on_failure(self, error: DeviceError) -> None:
        if self._failed:
            log.info("%s", error)
            return
        self._failed = True
        self.ctx.sink.fail(error)
        if self.link.alive:  # an error reply: make sure the light is off before anything else
            threading.Thread(target=self._kill_and_off, daemon=True).start()


class _Stop(Exception):
    """The device is closing: the driver thread ends."""


class _Cancelled(Exception):
    """force_off ran: the job in progress is dropped."""


def open(name: str, settings: Settings, ctx: BuildContext) -> ObisLaser:  # noqa: A001
    return open_connected(ObisLaser, name, settings, ctx)
