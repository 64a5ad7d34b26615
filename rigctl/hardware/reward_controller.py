"""Backend for ``type: reward_controller``: a microcontroller that drives valves and cue lines
and reads lick sensors, over the line protocol of docs/serial-protocol.md.

Why a controller rather than the host timing valves: the host decides, the controller times.
``VALVE 0 40`` opens valve 0 for exactly 40 ms on the controller's timer, however late the host
is; lick edges come back stamped with the controller's microsecond clock. A heartbeat keeps
the controller's watchdog fed; if the host falls silent (crash, hang, cable out), the
controller closes every valve and drops every output by itself.

Commands that the control loop sends (valves, cues) do not wait for their reply: the reader
thread checks it, and an error reply or a missing one ends the session through
``ctx.sink.fail`` naming the command. Controller time is mapped to session time by the round
trips of the heartbeat (``ClockSync``), so each lick's session time is the controller's
timestamp, not the moment the host happened to read the line.

Channels: ``NAME/valveN``, ``NAME/inN`` (lick sensors), ``NAME/outN`` (cues, a laser gate, sync
pulses). A sync line on an output is timed by the controller (``SYNC``, :meth:`sync_train`): the
firmware runs the seeded train on its own clock and reports every edge with its timestamp.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rigctl.errors import DeviceError
from rigctl.hardware.interfaces import (
    Device,
    DigitalOutputDriver,
    InputEvent,
    ValveDriver,
)
from rigctl.hardware.registry import BuildContext
from rigctl.hardware.serial_link import (
    EMULATED,
    EVENT,
    GARBAGE,
    REPLY,
    Reply,
    SerialLink,
    open_connected,
    start_emulator,
    validate_emulator_settings,
)
from rigctl.hardware.sync_train import SyncEdge, TrainSpec

if TYPE_CHECKING:
    from rigctl.config.rig import LaserConfig

log = logging.getLogger(__name__)

IDENTITY = "rigctl-reward"
PROTOCOLS = (1,)  # protocol versions this host speaks
MAX_VALVE_MS = 5000.0
BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 250000, 460800, 500000, 921600,
              1000000, 2000000)
_SYNC_PINGS = 8
MAX_GATE_MS = 1_000_000  # the firmware's GATE range (1000 s)
GATE_MARGIN_MS = 50  # the controller's gate cut waits this long past the host's own


class Settings(BaseModel):
    """Keys of a ``type: reward_controller`` device."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: str = Field(
        description="Serial port (/dev/ttyACM0, COM3), or `emulated` for the emulated controller "
        "on a pseudo-terminal (with a simulated mouse)",
        min_length=1,
    )
    baud: int = Field(115200, description="Baud rate; must match the firmware")
    watchdog_s: float = Field(
        1.0, ge=0.05, le=60,
        description="Controller closes every valve and drops every output after this long "
        "without a line from the host (s)",
    )
    heartbeat_s: float = Field(
        0.2, ge=0.01, le=10, description="Host sends a heartbeat (and clock sync) this often (s)"
    )
    reply_timeout_s: float = Field(
        0.5, gt=0, le=10, description="A command not answered within this ends the session (s)"
    )
    connect_timeout_s: float = Field(
        4.0, gt=0, le=60,
        description="How long to wait for the controller to answer after opening the port; "
        "an Arduino resets when the port opens and needs ~2 s (s)",
    )
    emulator: dict[str, Any] = Field(
        default_factory=dict,
        description="With port: emulated, settings of the emulated controller and its "
        "simulated mouse (the keys of a sim device: mouse, valve_flow_scale; simulated_mouse)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.baud not in BAUD_RATES:
            raise ValueError(f"baud: {self.baud} is not a standard rate "
                             f"({', '.join(map(str, BAUD_RATES))})")
        if self.heartbeat_s * 2 > self.watchdog_s:
            raise ValueError(
                f"heartbeat_s ({self.heartbeat_s:g} s) must be at most half of watchdog_s "
                f"({self.watchdog_s:g} s), or one late heartbeat trips the watchdog")
        validate_emulator_settings("reward_controller", self.port, self.emulator)
        return self


class ClockSync:
    """Maps controller time to session time from heartbeat round trips.

    Each ``PING`` gives a sample: the controller's clock read between the host's send and
    receive, so ``offset = (sent + received)/2 - device`` with an error of at most half the round
    trip. Only the fastest round trips are trusted, and a line through them tracks the drift of
    the controller's crystal (up to ~0.1% on boards with a ceramic resonator: 3.6 s an hour).
    """

    def __init__(self, window: int = 64) -> None:
        self._samples: collections.deque[tuple[float, float, float]] = collections.deque(
            maxlen=window)
        self._fit = (0.0, 0.0, 0.0)  # (offset at d0, drift, d0)
        self._lock = threading.Lock()
        self.ready = False

    def add(self, sent: float, received: float, device_t: float) -> None:
        rtt = received - sent
        if rtt < 0:
            return
        with self._lock:
            self._samples.append((device_t, (sent + received) / 2.0 - device_t, rtt))
            self._fit = self._refit()
            self.ready = True

    def _refit(self) -> tuple[float, float, float]:
        samples = list(self._samples)
        best = min(s[2] for s in samples)
        good = [s for s in samples if s[2] <= 2.0 * best + 0.0002]
        d0 = sum(s[0] for s in good) / len(good)
        o0 = sum(s[1] for s in good) / len(good)
        span = max(s[0] for s in good) - min(s[0] for s in good)
        if len(good) < 4 or span < 2.0:
            return (o0, 0.0, d0)
        sdd = sum((s[0] - d0) ** 2 for s in good)
        sdo = sum((s[0] - d0) * (s[1] - o0) for s in good)
        return (o0, sdo / sdd, d0)

    def to_session(self, device_t: float) -> float:
        o0, drift, d0 = self._fit
        return device_t + o0 + drift * (device_t - d0)


def _fmt_ms(ms: float) -> str:
    """Milliseconds with at most 3 decimals and no trailing zeros (`40`, `37.5`)."""
    text = f"{ms:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def _same_command(reply: Reply, line: str) -> bool:
    parts = line.split(" ", 2)
    return len(parts) > 1 and reply.command.split(" ", 1)[0] == parts[1]


def _digits(text: str) -> bool:
    return text.isdigit() and text.isascii()


EVT_IN_BYTES = 22  # "EVT 4294967295 IN 1 1\n"


class RewardController(Device):
    """One controller board. See the module docstring."""

    def __init__(self, name: str, settings: Settings, ctx: BuildContext) -> None:
        self.name = name
        self.s = settings
        self.ctx = ctx
        self.emulator: Any = None
        self.sync = ClockSync()
        self.firmware = ""
        self.counts = {"valve": 0, "in": 0, "out": 0}
        self._inputs: dict[int, str] = {}
        self._used: dict[tuple[str, int], str] = {}
        self._streaming = False
        self._identified = False  # it answered HELLO as a controller we speak to
        self._connected = False
        self._failed = False
        self._last_t = -math.inf
        self._t_lock = threading.Lock()
        self._hb_stop = threading.Event()
        self._hb_thread: threading.Thread | None = None
        self.ignored_inputs = 0
        self._gates: dict[int, int] = {}  # output -> the limit the controller enforces (ms)
        self._sync_train: _SyncTrain | None = None
        port = settings.port
        if port == EMULATED:
            self.emulator = start_emulator("reward_controller", name, settings.emulator, ctx)
            port = self.emulator.port
        self.link = SerialLink(
            name, port, route=self._route, is_final=lambda line: True,
            is_error=lambda line: line.startswith("ERR"), on_failure=self._on_failure,
            now=ctx.clock.now, baudrate=settings.baud, newline=b"\n",
            reply_timeout_s=settings.reply_timeout_s, match=_same_command, max_line=128,
        )

    # --- connecting ---------------------------------------------------------------------------
    def connect(self) -> None:
        """Open, identify, check the protocol version, arm the watchdog, sync the clocks."""
        link = self.link
        link.open()
        link.reset_input()
        hello = self._hello()
        parts = hello.split()
        if len(parts) < 8 or parts[2] != IDENTITY:
            raise DeviceError(
                f"{link.label}: answered {hello!r} to HELLO, not a rigctl reward controller "
                "(wrong port? `rigctl devices` lists the serial ports)")
        if not _digits(parts[3]) or int(parts[3]) not in PROTOCOLS:
            raise DeviceError(
                f"{link.label}: the controller speaks protocol {parts[3]} (firmware {parts[4]}), "
                f"this rigctl speaks {', '.join(map(str, PROTOCOLS))}: flash "
                "docs/firmware/reward_controller/reward_controller.ino or update rigctl")
        if not all(_digits(p) for p in parts[5:8]):
            raise DeviceError(f"{link.label}: malformed HELLO reply {hello!r}")
        self._identified = True
        self.firmware = parts[4]
        self.counts = {"valve": int(parts[5]), "in": int(parts[6]), "out": int(parts[7])}
        link.request("OFF")
        link.request(f"WDOG {round(self.s.watchdog_s * 1000)}")
        for i in range(_SYNC_PINGS):
            self._pong(link.request(f"PING {i}"))
        self._connected = True
        self._hb_thread = threading.Thread(target=self._heartbeat, name=f"heartbeat-{self.name}",
                                           daemon=True)
        self._hb_thread.start()
        log.info("%s: %s protocol %s firmware %s, %d valves, %d inputs, %d outputs",
                 link.label, IDENTITY, parts[3], self.firmware, *self.counts.values())

    def _hello(self) -> str:
        """HELLO until answered: a board that resets when the port opens misses the first."""
        deadline = time.monotonic() + self.s.connect_timeout_s
        while True:
            try:
                return self.link.request("HELLO", timeout_s=0.25).final
            except DeviceError as exc:
                if not self.link.alive or "no reply" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise DeviceError(
                        f"{self.link.label}: no answer to HELLO within "
                        f"{self.s.connect_timeout_s:g} s (wrong port or baud rate, or the "
                        "firmware is not flashed? `rigctl devices` lists the serial ports)"
                    ) from None

    # --- channels -----------------------------------------------------------------------------
    def _index(self, channel: str, kind: str, what: str, role: str) -> int:
        local = channel.split("/", 1)[1] if "/" in channel else channel
        count = self.counts[kind]
        number = local.removeprefix(kind)
        if not local.startswith(kind) or not _digits(number) or int(number) >= count:
            have = f"{kind}0-{kind}{count - 1}" if count else "none"
            raise DeviceError(
                f"device {self.name!r}: channel {channel!r} is not a {what} of this controller "
                f"(it has {have})")
        index = int(number)
        other = self._used.get((kind, index))
        if other is not None and other != role:
            raise DeviceError(
                f"device {self.name!r}: channel {channel!r} is used for both {other} and {role}")
        self._used[(kind, index)] = role
        return index

    def valve(self, channel: str, role: str, nominal_ul: Callable[[float], float]) -> ValveDriver:
        index = self._index(channel, "valve", "valve", role)
        if self.emulator is not None:
            self.emulator.wire("valve", index, role, nominal_ul)
        return _Valve(self, index)

    def digital_input(self, channel: str, role: str) -> None:
        index = self._index(channel, "in", "digital input", role)
        self._inputs[index] = role
        if self.emulator is not None:
            self.emulator.wire("in", index, role)

    def frame_clock_rate_hz(self, channel: str) -> tuple[float, str]:
        """Each edge is an ``EVT <t_us> IN <n> <0|1>`` line (~22 bytes, 10 bits a byte on the
        wire), two per frame; the firmware's 500 µs debounce alone allows 1 kHz."""
        uart = self.s.baud / 10 / (2 * EVT_IN_BYTES)
        return min(1000.0, uart), (f"two EVT IN lines per frame at {self.s.baud} baud, "
                                   "500 µs debounce")

    def digital_output(self, channel: str, role: str) -> _Output:
        index = self._index(channel, "out", "digital output", role)
        if self.emulator is not None:
            self.emulator.wire("out", index, role)
        return _Output(self, index)

    def sync_train(self, channel: str) -> _SyncTrain:
        """The sync line ``channel`` (an output) with its random train timed by the controller
        (``SYNC``): see :mod:`rigctl.hardware.sync_train`."""
        index = self._index(channel, "out", "digital output", "sync")
        if self.emulator is not None:
            self.emulator.wire("out", index, "sync")
        self._sync_train = _SyncTrain(self, index)
        return self._sync_train

    def laser_gate(self, channel: str, cfg: LaserConfig) -> DigitalOutputDriver:
        """The laser's gate on a controller output, which the controller itself drops after
        ``max_on_s`` + ``ramp_down_s`` (``GATE``): a stalled host cannot hold the light on."""
        out = self.digital_output(channel, "laser_gate")
        out.limit_high(cfg.max_on_s + cfg.ramp_down_s)
        return out

    def start(self) -> None:
        self.link.request("START")
        self._streaming = True

    # --- commands from the control loop -------------------------------------------------------
    def command(self, text: str) -> None:
        """Send without waiting; the reader thread checks the reply (DeviceError if the link is
        down, so an output that cannot be set is never silently skipped)."""
        self.link.send(text)

    def command_off(self, text: str) -> None:
        """Turn something off. On a link already lost there is nothing left to command (the
        failure was reported, and the controller's watchdog turns it off): log, never raise."""
        try:
            self.link.send(text)
        except DeviceError as exc:
            log.info("%s: %r not sent: %s", self.link.label, text, exc)

    # --- the reader thread --------------------------------------------------------------------
    def _route(self, line: str, t_recv: float) -> str:
        if line.startswith(("OK ", "ERR ")):
            return REPLY
        if not line.startswith("EVT "):
            return GARBAGE
        parts = line.split()
        if len(parts) < 3 or not _digits(parts[1]):
            return GARBAGE
        device_t = int(parts[1]) / 1e6
        kind = parts[2]
        if kind == "IN":
            if len(parts) != 5 or not _digits(parts[3]) or parts[4] not in ("0", "1"):
                return GARBAGE
            self._input(int(parts[3]), int(parts[4]), device_t, t_recv)
        elif kind == "VALVE":
            if len(parts) != 5:
                return GARBAGE
            log.debug("%s: valve %s closed at %.6f s", self.link.label, parts[3], device_t)
        elif kind == "GATE":
            if len(parts) != 5 or not _digits(parts[3]):
                return GARBAGE
            self._on_failure(DeviceError(
                f"{self.link.label}: the controller cut laser gate out{parts[3]} after "
                f"{self._gates.get(int(parts[3]), 0) / 1000:g} s high by its own timer "
                "(laser.max_on_s + ramp_down_s): the host did not end the light in time "
                "(stalled?)"))
        elif kind == "SYNC":
            if len(parts) != 5 or not _digits(parts[3]) or parts[4] not in ("0", "1"):
                return GARBAGE
            train = self._sync_train
            if train is not None and train.index == int(parts[3]):
                train.reported(parts[4] == "1", device_t, t_recv)
        elif kind == "WDOG":
            if self._connected:
                self._on_failure(DeviceError(
                    f"{self.link.label}: the controller's watchdog fired (no line from the host "
                    f"for {self.s.watchdog_s:g} s): it closed every valve and dropped every "
                    "output"))
        elif kind == "BOOT":
            if self._connected:
                self._on_failure(DeviceError(
                    f"{self.link.label}: the controller restarted mid-session (power glitch or "
                    "USB reset?); its valves and outputs were reset"))
        else:
            return GARBAGE
        return EVENT

    def _input(self, index: int, level: int, device_t: float, t_recv: float) -> None:
        role = self._inputs.get(index)
        if role is None or not self._streaming:
            self.ignored_inputs += 1
            return
        # The controller's timestamp, on the session clock; never later than the line's arrival
        # and never before the previous event, so the loop sees time move forward.
        with self._t_lock:
            t = min(self.sync.to_session(device_t), t_recv)
            t = max(t, self._last_t)
            self._last_t = t
        self.ctx.sink.put(InputEvent(t=t, name=role, value=float(level), device_t=device_t))

    def _pong(self, reply: Reply) -> None:
        parts = reply.final.split()
        if len(parts) == 4 and _digits(parts[3]):
            self.sync.add(reply.t_sent, reply.t_done, int(parts[3]) / 1e6)
        else:
            self.link.garbage(reply.final, "malformed PING reply")

    def _heartbeat(self) -> None:
        period = self.s.heartbeat_s
        seq = _SYNC_PINGS
        next_t = time.monotonic() + period
        while not self._hb_stop.wait(max(0.0, next_t - time.monotonic())):
            now = time.monotonic()
            next_t = max(next_t + period, now + period / 2)
            try:
                self.link.send(f"PING {seq}", callback=self._pong)
            except DeviceError:
                return  # the link is gone; the failure has been reported
            seq += 1

    def _on_failure(self, error: DeviceError) -> None:
        if self._failed:
            log.info("%s", error)
            return
        self._failed = True
        self.ctx.sink.fail(error)

    # --- closing ------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop streaming, everything off (waiting for the controller's OK), release the port."""
        try:
            if self.link.alive and self._identified:
                try:
                    self.link.send("STOP")
                    self.link.request("OFF")
                except DeviceError as exc:
                    log.warning("%s", exc)
            self._hb_stop.set()
            if self._hb_thread is not None and self._hb_thread is not threading.current_thread():
                self._hb_thread.join(timeout=2.0)
        finally:
            self.link.close()
            if self.emulator is not None:
                try:
                    self.emulator.close()
                except Exception:  # noqa: BLE001 - closing must not raise
                    log.exception("closing the emulated controller")


class _Valve(ValveDriver):
    def __init__(self, dev: RewardController, index: int) -> None:
        self.dev, self.index = dev, index

    def open_for(self, duration_s: float) -> None:
        ms = duration_s * 1000.0
        if not 0.001 <= ms <= MAX_VALVE_MS:
            raise DeviceError(
                f"device {self.dev.name!r}: valve{self.index} opening of {ms:g} ms is outside "
                f"what the controller times (0.001-{MAX_VALVE_MS:g} ms)")
        self.dev.command(f"VALVE {self.index} {_fmt_ms(ms)}")

    def close(self) -> None:
        self.dev.command_off(f"CLOSE {self.index}")


class _Output(DigitalOutputDriver):
    def __init__(self, dev: RewardController, index: int) -> None:
        self.dev, self.index = dev, index

    def limit_high(self, max_s: float) -> bool:
        """``GATE n ms``: the controller drops this output by its own timer once it has been
        high for ``max_s`` (plus GATE_MARGIN_MS, so the host's own cut comes first). A firmware
        without the command is refused: the laser must not depend on the host alone."""
        ms = math.ceil(max_s * 1000.0) + GATE_MARGIN_MS
        if not 1 <= ms <= MAX_GATE_MS:
            raise DeviceError(f"device {self.dev.name!r}: a laser gate limit of {max_s:g} s is "
                              f"outside what the controller times (at most {MAX_GATE_MS} ms)")
        link = self.dev.link
        try:
            link.request(f"GATE {self.index} {ms}")
        except DeviceError as exc:
            if "answered 'ERR GATE 1 " in str(exc):  # unknown command: an older firmware
                raise DeviceError(
                    f"{link.label}: firmware {self.dev.firmware} cannot time a laser gate by "
                    "itself (no GATE command), so a stalled host could hold the light on: flash "
                    "docs/firmware/reward_controller/reward_controller.ino (1.1.0 or later)"
                ) from None
            raise
        self.dev._gates[self.index] = ms
        log.info("%s: out%d is a laser gate, cut by the controller after %d ms high",
                 link.label, self.index, ms)
        return True

    def set(self, level: bool) -> None:
        if level:
            self.dev.command(f"OUT {self.index} 1")
        else:
            self.dev.command_off(f"OUT {self.index} 0")


class _SyncTrain(DigitalOutputDriver):
    """A sync line whose random train the controller times (``SYNC n seed mean spread width``).

    Each ``EVT <t_us> SYNC n 0|1`` is kept as a :class:`SyncEdge` at the controller's time
    mapped to session time (never later than the line's arrival), for the engine to log. The
    controller ends the train and drops the line on ``SYNC n 0``, ``OFF``, its watchdog and a
    reset, so the line is low on every exit path even when this host is gone.
    """

    def __init__(self, dev: RewardController, index: int) -> None:
        self.dev, self.index = dev, index
        self._edges: collections.deque[SyncEdge] = collections.deque()
        self._high = False
        self._low = threading.Event()
        self._low.set()
        self.running = False

    def start(self, spec: TrainSpec) -> None:
        link = self.dev.link
        try:
            link.request(f"SYNC {self.index} {spec.seed} {spec.mean_ms} {spec.spread_ms} "
                         f"{spec.width_ms}")
        except DeviceError as exc:
            if "answered 'ERR SYNC 1 " in str(exc):  # unknown command: an older firmware
                raise DeviceError(
                    f"{link.label}: firmware {self.dev.firmware} cannot time sync pulses (no "
                    "SYNC command): flash docs/firmware/reward_controller/reward_controller.ino "
                    "(1.2.0 or later)") from None
            raise
        self.running = True
        log.info("%s: out%d carries sync pulses timed by the controller (%s)", link.label,
                 self.index, spec)

    def reported(self, level: bool, device_t: float, t_recv: float) -> None:
        """From the reader thread: an edge the controller made."""
        t = min(self.dev.sync.to_session(device_t), t_recv)
        self._high = level
        if level:
            self._low.clear()
        else:
            self._low.set()
        self._edges.append(SyncEdge(t, level, device_t))

    def edges(self) -> list[SyncEdge]:
        out = []
        while self._edges:
            out.append(self._edges.popleft())
        return out

    def stop(self) -> str | None:
        """End the train (the line drops; its last edge is waited for briefly). Never raises."""
        if not self.running:
            return None
        self.running = False
        try:
            self.dev.link.request(f"SYNC {self.index} 0")
        except DeviceError as exc:
            return str(exc)  # the link is gone: the controller's watchdog drops the line
        if not self._low.wait(0.5):
            return f"{self.dev.link.label}: no report that sync line out{self.index} fell"
        return None

    def set(self, level: bool) -> None:
        """Driven by hand (only low, when the engine ends the session)."""
        if level:
            self.dev.command(f"OUT {self.index} 1")
        else:
            self.dev.command_off(f"OUT {self.index} 0")


def open(name: str, settings: Settings, ctx: BuildContext) -> RewardController:  # noqa: A001
    return open_connected(RewardController, name, settings, ctx)
