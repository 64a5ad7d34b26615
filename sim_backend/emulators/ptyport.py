"""A pseudo-terminal and a line-serving device thread on its master side.

Why a pty and not a fake serial object: pyserial opens the slave side like any USB serial port
(termios, select, non-blocking reads), so the host's real I/O path — including what happens
when the device disappears — is exercised, not a mock of it.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import json
import os
import select
import signal
import threading
import time
import tty
from collections.abc import Callable
from typing import Any

_IDLE_S = 0.05  # the serve loop looks at its stop flag at least this often


class PtyPort:
    """A pty pair in raw mode. ``path`` is what the host opens; the emulator uses ``master``.

    The emulator keeps its own descriptor of the slave open, so the host may close and reopen
    the port (a new session) without the master seeing a hang-up, as a USB device stays put
    when a program closes it. Writes to the master never block: with nobody reading, output is
    dropped, as a USB CDC device drops what the host does not collect.
    """

    def __init__(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing, no CR/LF translation: bytes pass as sent
        os.set_blocking(master, False)
        self.master = master
        self._slave = slave
        self.path = os.ttyname(slave)
        self.closed = False

    def close(self) -> None:
        """Close both ends: a host that has the port open sees the device vanish (EIO)."""
        if self.closed:
            return
        self.closed = True
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class LineEmulator:
    """A device that speaks lines on a pty, served by one thread.

    Subclasses implement ``handle_line`` (called in the serve thread with the time the line was
    complete, on the device clock ``now``) and may override ``tick`` to act on deadlines of
    their own (a watchdog). ``at`` schedules device-timed actions (a valve closing) on the
    same thread, so device state needs no locking against the serve loop.
    """

    newline = b"\n"
    max_line = 256
    thread_name = "emulator"
    line_ends = b"\r\n"  # bytes that end a received line
    dropped = b""  # bytes ignored wherever they appear
    empty_lines = False  # pass empty lines to handle_line (a line end is news to a watchdog)

    def __init__(self, now: Callable[[], float] | None = None) -> None:
        boot = time.perf_counter()
        self.boot_perf = boot
        self.now: Callable[[], float] = now or (lambda: time.perf_counter() - boot)
        self.pty = PtyPort()
        self.port = self.pty.path
        self.dropped_bytes = 0
        self.vanished = False
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._dead_timers: set[int] = set()
        self._seq = itertools.count()
        self._tlock = threading.Lock()
        self._wlock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=self.thread_name, daemon=True)

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> LineEmulator:
        self._thread.start()
        return self

    def vanish(self) -> None:
        """The device disappears (USB unplugged): the port is gone, the host's reads fail."""
        self._stop.set()
        self._poke()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)  # before the fd number can be reused by a new file
        self.vanished = True
        self.power_lost()  # device state is the serve thread's: change it once that has ended
        with self._wlock:
            self.pty.close()

    def close(self) -> None:
        """Stop serving and release the pty (a host still attached sees the device vanish)."""
        self._stop.set()
        self._poke()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        with self._wlock:
            self.pty.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def power_lost(self) -> None:
        """Hook: what the device's outputs do when it loses power (vanish)."""

    # --- for subclasses -----------------------------------------------------------------------
    def handle_line(self, line: str, t: float) -> None:
        raise NotImplementedError

    def overlong_line(self, t: float) -> None:
        """Hook: a line longer than ``max_line`` was dropped."""

    def tick(self, now: float) -> float | None:
        """Hook run every loop turn; returns the next device time it wants to run at."""
        return None

    def at(self, t: float, action: Callable[[], None]) -> int:
        """Run ``action`` in the serve thread at device time ``t``; returns a handle."""
        handle = next(self._seq)
        with self._tlock:
            heapq.heappush(self._timers, (t, handle, action))
        self._poke()
        return handle

    def cancel(self, handle: int | None) -> None:
        if handle is not None:
            with self._tlock:
                self._dead_timers.add(handle)

    def write_line(self, text: str) -> None:
        self.write_raw(text.encode("latin-1", "replace") + self.newline)

    def write_raw(self, data: bytes) -> None:
        """Send bytes to the host; dropped (and counted) when nobody reads them."""
        with self._wlock:
            if self.pty.closed:
                return
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self.pty.master, view)
                except BlockingIOError:
                    self.dropped_bytes += len(view)
                    return
                except OSError:
                    return
                view = view[n:]

    # --- internals ----------------------------------------------------------------------------
    def _poke(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _run_due(self, now: float) -> float:
        """Run due timers; return the time of the next one (inf if none)."""
        while True:
            with self._tlock:
                if not self._timers:
                    return float("inf")
                t, handle, action = self._timers[0]
                if handle in self._dead_timers:
                    heapq.heappop(self._timers)
                    self._dead_timers.discard(handle)
                    continue
                if t > now:
                    return t
                heapq.heappop(self._timers)
            action()

    def _serve(self) -> None:
        buf = bytearray()
        skipping = False
        while not self._stop.is_set():
            now = self.now()
            next_t = self._run_due(now)
            wanted = self.tick(now)
            if wanted is not None:
                next_t = min(next_t, wanted)
            timeout = min(max(next_t - self.now(), 0.0), _IDLE_S)
            try:
                ready, _, _ = select.select([self.pty.master, self._wake_r], [], [], timeout)
            except (OSError, ValueError):
                return  # the pty was closed under us (vanish)
            if self._wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
            if self.pty.master not in ready:
                continue
            try:
                data = os.read(self.pty.master, 4096)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:  # no host attached: nothing to read
                    time.sleep(_IDLE_S)
                    continue
                return
            t = self.now()
            if self.dropped:
                data = data.translate(None, self.dropped)
            for byte_line in _split(data, self.line_ends):
                if byte_line is None:  # a line end
                    if skipping:  # answered at its end, as the firmware does
                        skipping = False
                        self.overlong_line(t)
                    elif buf or self.empty_lines:
                        line = bytes(buf).decode("latin-1")
                        buf.clear()
                        self.handle_line(line, t)
                    continue
                if skipping:
                    continue
                buf.extend(byte_line)
                if len(buf) > self.max_line:
                    buf.clear()
                    skipping = True


def _split(data: bytes, ends: bytes = b"\r\n") -> list[bytes | None]:
    """Pieces of ``data`` with None for every line end (a byte of ``ends``; CR LF gives an
    empty line, which the caller ignores unless it wants empty lines)."""
    out: list[bytes | None] = []
    start = 0
    for i, b in enumerate(data):
        if b in ends:
            if i > start:
                out.append(data[start:i])
            out.append(None)
            start = i + 1
    if start < len(data):
        out.append(data[start:])
    return out


def serve_until_signalled(emu: Any, log: bool) -> int:
    """Run ``emu`` as its own process: print its pty path (and, with ``log``, every recorded
    command as a JSON line) until SIGINT or SIGTERM, then close it (its outputs go off)."""
    lock = threading.Lock()

    def show(kind: str, data: dict[str, Any]) -> None:
        with lock:
            print(json.dumps({"kind": kind, **data}), flush=True)

    if log:
        emu.record.listener = show
    emu.start()
    print(emu.port, flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    emu.close()
    return 0
