"""A line-based serial link, shared by the serial backends (reward controller, OBIS laser).

Both devices speak ASCII lines over pyserial, and both need the same hard parts, done once and
tested once:

- a reader thread that frames lines as soon as their last byte arrives (it asks the driver how
  many bytes are waiting instead of blocking on a fixed-size read, which would add a timeout's
  worth of latency to every line);
- garbage, torn and over-long lines are ignored, counted and logged, never raised: a device that
  prints a boot banner or loses a byte must not end a session;
- request/response with timeouts. Replies are matched to commands in the order they were sent
  (both devices answer in order); the caller either waits for the reply (setup, laser) or lets
  the reader thread check it (valves, cues: the control loop must not block on a round trip). An
  error reply to an unwaited command, or no reply in time, is reported through ``on_failure``
  with the command that caused it;
- a port missing at start, and a port that vanishes mid-session, become one DeviceError naming
  the device and the port.

Nothing here knows either protocol: the device passes ``route`` (which lines are events, replies
or garbage), ``is_final`` and ``is_error`` (how a reply ends and whether it is an error).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import importlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import serial

from rigctl.errors import DeviceError

if TYPE_CHECKING:
    from rigctl.hardware.registry import BuildContext

log = logging.getLogger(__name__)

# How a device classifies a line it received (see ``SerialLink(route=...)``).
REPLY = "reply"  # part of the answer to the oldest command still waiting
EVENT = "event"  # handled by the device itself (a lick, a watchdog report)
GARBAGE = "garbage"  # not part of the protocol: ignored, counted, logged

# A config's ``port: emulated`` starts the device's emulator on a pseudo-terminal. Emulators live
# in sim_backend, which the core never imports at module level: they are found by module path.
EMULATED = "emulated"
EMULATORS = MappingProxyType(
    {
        "reward_controller": "sim_backend.emulators.reward_controller",
        "obis": "sim_backend.emulators.obis",
    }
)

_READ_TIMEOUT_S = 0.05  # how often the reader looks at reply deadlines and the stop flag
_LOGGED_GARBAGE = 20  # log the first N garbage lines, then every 100th, so a noisy line
_LOG_EVERY = 100  # cannot flood the log


def require_wall_clock(name: str, ctx: BuildContext) -> None:
    """Serial devices live in real time: a virtual clock that jumps from event to event would
    leave them waiting forever, so refuse it with the fix."""
    if not getattr(ctx.clock, "realtime", True):
        raise DeviceError(
            f"{ctx.source}: devices.{name}: a serial device runs on the wall clock; run the "
            "session with --realtime")


def emulator_module(kind: str) -> Any:
    """Import the emulator of device type ``kind`` (lazily: the core runs without sim_backend)."""
    try:
        return importlib.import_module(EMULATORS[kind])
    except ImportError as exc:
        raise ValueError(
            f"port: {EMULATED} needs the simulator package sim_backend ({exc}); install rigctl "
            "from a checkout or give a real serial port"
        ) from None


def open_connected(cls: Any, name: str, settings: Any, ctx: BuildContext) -> Any:
    """Construct a serial device and run its handshake; on any failure close it again, and
    prefix a DeviceError with the config file so the operator knows which rig it was."""
    require_wall_clock(name, ctx)
    dev = cls(name, settings, ctx)
    try:
        dev.connect()
    except BaseException as exc:
        dev.close()
        if isinstance(exc, DeviceError):
            raise DeviceError(f"{ctx.source}: {exc}") from None
        raise
    return dev


def validate_emulator_settings(kind: str, port: str, emulator: dict[str, Any]) -> None:
    """For a Settings validator: ``emulator`` keys are checked by the emulator's own model, so
    ``rigctl check`` catches typos in them without the core importing the simulator eagerly."""
    if port != EMULATED:
        if emulator:
            raise ValueError(f"emulator: only used with port: {EMULATED}")
        return
    from pydantic import ValidationError

    from rigctl.config.loading import format_validation_error

    try:
        emulator_module(kind).Settings.model_validate(emulator)
    except ValidationError as exc:
        raise ValueError("; ".join(format_validation_error(exc, "emulator"))) from None


def start_emulator(kind: str, name: str, emulator: dict[str, Any], ctx: BuildContext) -> Any:
    """Start the emulator of ``kind`` for device ``name``; returns its handle (``.port`` is the
    pseudo-terminal to open with pyserial, ``.close()`` stops it)."""
    module = emulator_module(kind)
    return module.serve_for_host(name, module.Settings.model_validate(emulator), ctx)


@dataclass(eq=False)
class Reply:
    """One command and its answer. ``lines`` excludes nothing: the final line is the last one."""

    command: str
    t_sent: float = 0.0
    deadline: float = 0.0
    waited: bool = False
    callback: Callable[[Reply], None] | None = None
    lines: list[str] = field(default_factory=list)
    t_done: float = 0.0
    error: DeviceError | None = None
    abandoned: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def final(self) -> str:
        return self.lines[-1] if self.lines else ""

    @property
    def values(self) -> list[str]:
        """Lines before the final one (a query's value)."""
        return self.lines[:-1]


@dataclass
class LinkStats:
    """Counters for logs, ``rigctl devices`` and tests."""

    lines: int = 0
    events: int = 0
    replies: int = 0
    garbage: int = 0
    partial: int = 0
    overlong: int = 0
    last_garbage: str = ""


def _first_word(text: str) -> str:
    return text.split(" ", 1)[0]


class SerialLink:
    """An open serial port that speaks lines. See the module docstring.

    ``route(line, t)`` runs in the reader thread for every complete line (``t`` from ``now`` when
    the line's last byte arrived) and returns REPLY, EVENT or GARBAGE. ``match(reply, line)``,
    when given, lets a reply line skip past older commands whose answers were lost or abandoned
    (the reward controller echoes the command name); without it replies go strictly in order.
    """

    def __init__(
        self,
        device: str,
        port: str,
        *,
        route: Callable[[str, float], str],
        is_final: Callable[[str], bool],
        is_error: Callable[[str], bool],
        on_failure: Callable[[DeviceError], None],
        now: Callable[[], float] = time.perf_counter,
        baudrate: int = 115200,
        newline: bytes = b"\n",
        reply_timeout_s: float = 0.5,
        match: Callable[[Reply, str], bool] | None = None,
        max_line: int = 256,
        partial_timeout_s: float = 0.1,
    ) -> None:
        self.device = device
        self.port = port
        self.label = f"device {device!r} ({port})"
        self.baudrate = baudrate
        self.newline = newline
        self.reply_timeout_s = reply_timeout_s
        self.stats = LinkStats()
        self._route = route
        self._is_final = is_final
        self._is_error = is_error
        self._on_failure = on_failure
        self._match = match
        self._now = now
        self._max_line = max_line
        self._partial_timeout_s = partial_timeout_s
        self._ser: serial.Serial | None = None
        self._lock = threading.RLock()  # guards writes + the pending queue, so they stay in step
        self._pending: collections.deque[Reply] = collections.deque()
        self._dead: DeviceError | None = None
        self._closing = False
        self._reported = False
        self._reader: threading.Thread | None = None
        self._drop_request = threading.Event()  # reset_input asks the reader to drop its input
        self._drop = threading.Event()  # ... and the reader says it has

    # --- opening and closing ----------------------------------------------------------------
    def open(self) -> None:
        """Open the port and start the reader; DeviceError naming the port if it cannot."""
        ser = serial.Serial(baudrate=self.baudrate, timeout=_READ_TIMEOUT_S, write_timeout=1.0)
        ser.port = self.port
        if os.name == "posix":
            ser.exclusive = True  # two sessions must never drive one controller
        try:
            ser.open()
        except serial.SerialException as exc:
            raise DeviceError(self._open_problem(exc)) from None
        except (OSError, ValueError) as exc:
            raise DeviceError(f"{self.label}: cannot open the serial port: {exc}") from None
        with contextlib.suppress(serial.SerialException, OSError):
            # Stale bytes from before this session. Flushed here, before the reader starts:
            # a flush between the reader's select and read made pyserial report "readiness to
            # read but returned no data", which looks exactly like a vanished port.
            ser.reset_input_buffer()
        self._ser = ser
        self._reader = threading.Thread(
            target=self._read_loop, name=f"serial-{self.device}", daemon=True
        )
        self._reader.start()

    def _open_problem(self, exc: serial.SerialException) -> str:
        code = exc.errno
        text = str(exc)
        if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO) or "No such file" in text:
            return (f"device {self.device!r}: serial port {self.port!r} not found (is it "
                    "plugged in and powered? `rigctl devices` lists the serial ports)")
        if code in (errno.EACCES, errno.EPERM):
            return (f"device {self.device!r}: permission denied opening {self.port!r} (on Linux "
                    "add your user to the 'dialout' group and log in again)")
        if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text:
            return (f"device {self.device!r}: serial port {self.port!r} is in use by another "
                    "program (another rigctl session, a serial monitor?)")
        first = text.splitlines()[0] if text else type(exc).__name__
        return (f"device {self.device!r}: cannot open serial port {self.port!r}: {first} "
                "(`rigctl devices` lists the serial ports)")

    @property
    def alive(self) -> bool:
        return self._ser is not None and self._dead is None and not self._closing

    def reset_input(self) -> None:
        """Drop bytes already received (stale lines from before this session).

        Done by the reader thread itself, never by flushing the port under it (see ``open``).
        """
        if self._reader is None or not self._reader.is_alive():
            return
        self._drop.clear()
        self._drop_request.set()
        self._drop.wait(timeout=4 * _READ_TIMEOUT_S)

    def close(self) -> None:
        """Stop the reader and close the port; pending waiters get a DeviceError. Never raises."""
        with self._lock:
            self._closing = True
            closed = DeviceError(f"{self.label}: the link was closed")
            self._fail_pending(closed)
        ser = self._ser
        if ser is not None:
            with contextlib.suppress(Exception):  # a vanished port may refuse even this
                ser.cancel_read()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=2.0)
        if ser is not None:
            with contextlib.suppress(Exception):  # closing must always succeed from our side
                ser.close()

    # --- sending ------------------------------------------------------------------------------
    def send(
        self,
        command: str,
        *,
        wait: bool = False,
        timeout_s: float | None = None,
        callback: Callable[[Reply], None] | None = None,
    ) -> Reply:
        """Write ``command`` and register it for its reply.

        With ``wait`` the reply is returned (DeviceError on an error reply, a timeout or a lost
        port, naming the command). Without, the call returns once the bytes are written; the
        reader thread checks the reply, calls ``callback`` with it, and reports an error reply or
        a missing one through ``on_failure``.
        """
        timeout_s = self.reply_timeout_s if timeout_s is None else timeout_s
        reply = Reply(command, waited=wait, callback=callback)
        data = command.encode("ascii") + self.newline
        with self._lock:
            if self._dead is not None:
                raise self._dead
            if self._ser is None or self._closing:
                raise DeviceError(f"{self.label}: the link is closed; cannot send {command!r}")
            try:
                self._ser.write(data)
            except (serial.SerialException, OSError) as exc:
                self._lost(f"write failed: {exc}")
                raise self._dead or DeviceError(f"{self.label}: write failed") from None
            reply.t_sent = self._now()
            reply.deadline = reply.t_sent + timeout_s
            self._pending.append(reply)
        if wait:
            self.wait(reply, timeout_s)
        return reply

    def request(self, command: str, timeout_s: float | None = None) -> Reply:
        """Send and wait: the reply, or DeviceError naming the command."""
        return self.send(command, wait=True, timeout_s=timeout_s)

    def wait(self, reply: Reply, timeout_s: float) -> Reply:
        if not reply.done.wait(timeout_s):
            with self._lock:
                if not reply.done.is_set():
                    reply.abandoned = True  # a late answer is still matched to it, then dropped
                    raise DeviceError(
                        f"{self.label}: no reply to {reply.command!r} within {timeout_s:g} s"
                    )
        if reply.error is not None:
            raise reply.error
        return reply

    def write_raw(self, data: bytes) -> None:
        """Bytes outside the request/response scheme (a line-end to clear a device's buffer)."""
        with self._lock:
            if self._ser is None or self._dead is not None:
                return
            try:
                self._ser.write(data)
            except (serial.SerialException, OSError) as exc:
                self._lost(f"write failed: {exc}")

    # --- garbage accounting -------------------------------------------------------------------
    def garbage(self, line: str, why: str = "not part of the protocol") -> None:
        """Count and log a line the protocol does not explain (called by routes, too)."""
        s = self.stats
        s.garbage += 1
        s.last_garbage = line[:80]
        if s.garbage <= _LOGGED_GARBAGE or s.garbage % _LOG_EVERY == 0:
            log.warning("%s: ignored line %r (%s; %d ignored so far)", self.label, line[:80],
                        why, s.garbage)

    # --- the reader thread --------------------------------------------------------------------
    def _read_loop(self) -> None:
        ser = self._ser
        assert ser is not None
        buf = bytearray()
        last_byte = 0.0
        skipping = False  # inside an over-long line: drop bytes until its end
        nl = self.newline[-1:]
        while not self._closing:
            try:
                waiting = ser.in_waiting
                data = ser.read(waiting if waiting > 0 else 1)
            except Exception as exc:  # noqa: BLE001 - SerialException, OSError, or a closed fd
                if not self._closing:
                    self._lost(f"read failed: {exc}")
                return
            now = self._now()
            if self._drop_request.is_set():
                self._drop_request.clear()
                buf.clear()
                skipping = False
                with contextlib.suppress(Exception):  # a failing port is found by the next read
                    while ser.in_waiting:
                        ser.read(ser.in_waiting)
                self._drop.set()
                continue
            if data:
                if now - last_byte > self._partial_timeout_s:
                    # A fragment that stopped mid-line (a reset, a dropped byte) would otherwise
                    # glue itself to the next good line and spoil it too.
                    if buf:
                        self.stats.partial += 1
                        self.garbage(buf.decode("ascii", "replace"), "partial line, no line end")
                        buf.clear()
                    skipping = False
                last_byte = now
                start = 0
                while True:
                    end = data.find(nl, start)
                    if end < 0:
                        break
                    piece = data[start:end]
                    start = end + 1
                    if skipping:
                        skipping = False
                        continue
                    if buf:
                        buf.extend(piece)
                        piece = bytes(buf)
                        buf.clear()
                    self._line(piece, now)
                if not skipping:
                    buf.extend(data[start:])
                    if len(buf) > self._max_line:
                        self.stats.overlong += 1
                        self.garbage(buf[:40].decode("ascii", "replace") + "...",
                                     f"line longer than {self._max_line} bytes")
                        buf.clear()
                        skipping = True
            # Only once everything received has been read: after the host itself stalled
            # (SIGSTOP, swap), replies that arrived meanwhile are still waiting in the port, and
            # blaming the device for them would hide what really happened.
            try:
                drained = ser.in_waiting == 0
            except Exception:  # noqa: BLE001 - a failing port is found by the next read
                drained = True
            if drained:
                self._check_deadlines(now)

    def _line(self, raw: bytes, t: float) -> None:
        raw = raw.strip(b"\r")
        if not raw:
            return
        self.stats.lines += 1
        if len(raw) > self._max_line:
            self.stats.overlong += 1
            self.garbage(raw[:40].decode("ascii", "replace") + "...",
                         f"line longer than {self._max_line} bytes")
            return
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            self.garbage(raw.decode("ascii", "replace"), "not ASCII")
            return
        if not line.isprintable():
            self.garbage(line, "control characters")
            return
        try:
            kind = self._route(line, t)
        except Exception:  # a bug in a route must not kill the reader: log it loudly
            log.exception("%s: error handling line %r", self.label, line)
            kind = GARBAGE
        if kind == EVENT:
            self.stats.events += 1
        elif kind == REPLY:
            self._reply_line(line, t)
        else:
            self.garbage(line)

    def _reply_line(self, line: str, t: float) -> None:
        failures: list[DeviceError] = []
        finished: Reply | None = None
        with self._lock:
            reply = self._take_pending(line, failures)
            if reply is None:
                self.garbage(line, "reply with no command waiting for it")
                return
            self.stats.replies += 1
            reply.lines.append(line)
            if self._is_final(line):
                self._pending.popleft()
                reply.t_done = t
                if self._is_error(line):
                    reply.error = DeviceError(
                        f"{self.label}: {reply.command!r} answered {line!r}")
                    if not reply.waited and not reply.abandoned:
                        failures.append(reply.error)
                finished = reply
                finished.done.set()
        if finished is not None and finished.error is None and finished.callback is not None:
            try:
                finished.callback(finished)
            except Exception:
                log.exception("%s: error handling the reply to %r", self.label, finished.command)
        for failure in failures:
            self._report(failure)

    def _take_pending(self, line: str, failures: list[DeviceError]) -> Reply | None:
        """The command ``line`` answers, dropping older commands it proves were answered (their
        own replies were lost or abandoned). Lost replies to unwaited commands go to
        ``failures``; a waiter of a lost reply gets the error itself."""
        if not self._pending:
            return None
        head = self._pending[0]
        if self._match is None or head.lines or self._match(head, line):
            return head
        # The device echoes command names: find the command this reply is for.
        for i, reply in enumerate(self._pending):
            if self._match(reply, line):
                for _ in range(i):
                    skipped = self._pending.popleft()
                    if not skipped.abandoned:
                        skipped.error = DeviceError(
                            f"{self.label}: the reply to {skipped.command!r} was lost "
                            f"(got {line!r} next)")
                        skipped.done.set()
                        if not skipped.waited:
                            failures.append(skipped.error)
                return reply
        if self._is_error(line):
            return head  # an error must never be dropped: it answers the oldest command
        return None

    def _check_deadlines(self, now: float) -> None:
        expired: Reply | None = None
        with self._lock:
            for reply in self._pending:  # a few at most; abandoned ones may sit ahead
                if not reply.waited and not reply.abandoned and now > reply.deadline:
                    reply.abandoned = True
                    expired = reply
                    break
        if expired is not None:
            self._report(DeviceError(
                f"{self.label}: no reply to {expired.command!r} within "
                f"{expired.deadline - expired.t_sent:g} s (the device stopped answering)"))

    # --- failures -----------------------------------------------------------------------------
    def _lost(self, why: str) -> None:
        with self._lock:
            if self._dead is not None or self._closing:
                return
            self._dead = DeviceError(
                f"{self.label} vanished: {why} (unplugged or powered off? check the cable; "
                "`rigctl devices` lists the serial ports)"
            )
            self._fail_pending(self._dead)
        self._report(self._dead)

    def _fail_pending(self, error: DeviceError) -> None:
        while self._pending:
            reply = self._pending.popleft()
            reply.error = error
            reply.done.set()

    def _report(self, error: DeviceError) -> None:
        if self._closing:
            log.info("%s", error)
            return
        with self._lock:
            first = not self._reported
            self._reported = True
        if first:  # the session reports it to the user; the log keeps it for later
            log.info("%s", error)
        self._on_failure(error)
