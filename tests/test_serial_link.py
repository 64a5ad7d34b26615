"""The shared serial link against a real pseudo-terminal: framing, garbage, replies, faults."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable

import pytest
from serial_helpers import wait_until

from rigctl.errors import DeviceError
from rigctl.hardware.serial_link import EVENT, GARBAGE, REPLY, Reply, SerialLink
from sim_backend.emulators.ptyport import PtyPort


@pytest.fixture
def pty():
    port = PtyPort()
    os.set_blocking(port.master, True)
    yield port
    port.close()


class Peer:
    """The device end: reads command lines on the master, answers with ``respond``."""

    def __init__(self, pty: PtyPort, respond: Callable[[str], bytes | None]) -> None:
        self.pty, self.respond = pty, respond
        self.received: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = b""
        while not self._stop and not self.pty.closed:
            try:
                ready, _, _ = select.select([self.pty.master], [], [], 0.05)
                if not ready:
                    continue
                buf += os.read(self.pty.master, 1024)
            except OSError:
                return
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode().strip()
                self.received.append(text)
                out = self.respond(text)
                if out:
                    os.write(self.pty.master, out)

    def stop(self) -> None:
        """Join before the pty closes: a thread left reading a closed fd number would read
        the next test's pty, which reuses it."""
        self._stop = True
        self._thread.join(timeout=5)


def open_link(pty: PtyPort, match: bool = False, **kw):
    events: list[str] = []
    failures: list[DeviceError] = []

    def route(line: str, t: float) -> str:
        if line.startswith("EVT "):
            events.append(line)
            return EVENT
        if line.startswith(("OK ", "ERR ")):
            return REPLY
        return GARBAGE

    def same(reply: Reply, line: str) -> bool:
        return reply.command.split()[0] == line.split()[1]

    link = SerialLink("dev", pty.path, route=route, is_final=lambda line: True,
                      is_error=lambda line: line.startswith("ERR"), on_failure=failures.append,
                      match=same if match else None, **kw)
    link.open()
    return link, events, failures


def test_lines_are_framed_across_reads_and_routed(pty):
    link, events, failures = open_link(pty)
    try:
        os.write(pty.master, b"EVT 1 IN 0 1\nEV")
        time.sleep(0.01)
        os.write(pty.master, b"T 2 IN 0 0\r\nEVT 3")
        os.write(pty.master, b" IN 1 1\n")
        wait_until(lambda: len(events) == 3, what="three events")
        assert events == ["EVT 1 IN 0 1", "EVT 2 IN 0 0", "EVT 3 IN 1 1"]
        assert link.stats.garbage == 0 and not failures
    finally:
        link.close()


def test_garbage_partial_and_overlong_lines_are_ignored_counted_and_logged(pty, caplog):
    link, events, failures = open_link(pty, partial_timeout_s=0.05, max_line=64)
    try:
        os.write(pty.master, b"boot banner v1.0\n\xff\xfe\x80\nOK stray\n")
        os.write(pty.master, b"x" * 200 + b"\nEVT 1 IN 0 1\n")
        os.write(pty.master, b"EVT 2 IN")  # a torn line: the rest never comes
        time.sleep(0.3)  # longer than partial_timeout_s, so the fragment is stale
        os.write(pty.master, b"EVT 3 IN 1 1\n")
        wait_until(lambda: len(events) == 2, what="the two good events")
        assert events == ["EVT 1 IN 0 1", "EVT 3 IN 1 1"]
        s = link.stats
        # banner, non-ASCII, reply with no command waiting, over-long, torn
        wait_until(lambda: link.stats.garbage == 5, what="five garbage lines counted")
        assert (s.partial, s.overlong) == (1, 1)
        assert not failures
        assert "ignored line 'boot banner v1.0'" in caplog.text
    finally:
        link.close()


def test_request_reply_and_error_reply_names_the_command(pty):
    peer = Peer(pty, lambda c: b"OK PING 42\n" if c == "PING" else b"ERR " + c.encode()
                + b" 1 unknown command\n")
    link, _, failures = open_link(pty)
    try:
        reply = link.request("PING")
        assert reply.final == "OK PING 42" and reply.t_done >= reply.t_sent
        with pytest.raises(DeviceError) as exc:
            link.request("FROB")
        assert "'FROB' answered 'ERR FROB 1 unknown command'" in str(exc.value)
        assert "device 'dev'" in str(exc.value) and pty.path in str(exc.value)
        assert not failures  # a waiter got it; nothing to report behind its back
    finally:
        peer.stop()
        link.close()


def test_error_reply_to_an_unwaited_command_is_reported(pty):
    peer = Peer(pty, lambda c: b"ERR VALVE 3 duration out of range\n")
    link, _, failures = open_link(pty)
    try:
        link.send("VALVE 0 9999")  # returns at once: the control loop does not wait
        wait_until(lambda: failures, what="the failure report")
        assert "'VALVE 0 9999' answered 'ERR VALVE 3 duration out of range'" in str(failures[0])
    finally:
        peer.stop()
        link.close()


def test_missing_reply_times_out_naming_the_command(pty):
    peer = Peer(pty, lambda c: None)  # a hung device
    link, _, failures = open_link(pty, reply_timeout_s=0.1)
    try:
        with pytest.raises(DeviceError, match=r"no reply to 'STATUS' within 0.1 s"):
            link.request("STATUS")
        link.send("OUT 1 1")
        wait_until(lambda: failures, what="the timeout report")
        assert "no reply to 'OUT 1 1' within 0.1 s" in str(failures[0])
    finally:
        peer.stop()
        link.close()


def test_late_reply_to_an_abandoned_command_is_not_taken_by_the_next(pty):
    answers = {"HELLO": None, "PING": b"OK PING 7\n"}
    peer = Peer(pty, lambda c: answers.get(c.split()[0]))
    link, _, failures = open_link(pty, match=True)
    try:
        with pytest.raises(DeviceError, match="no reply to 'HELLO'"):
            link.request("HELLO", timeout_s=0.05)
        os.write(pty.master, b"OK HELLO late\n")  # the late answer: dropped with its command
        assert link.request("PING").final == "OK PING 7"
        with pytest.raises(DeviceError):
            link.request("HELLO", timeout_s=0.05)  # never answered at all
        assert link.request("PING").final == "OK PING 7"  # skips past it
        assert not failures and link.stats.garbage == 0
    finally:
        peer.stop()
        link.close()


def test_port_missing_at_open_is_one_line_naming_the_port():
    link = SerialLink("ctrl", "/dev/ttyRIGCTL_NOPE", route=lambda line, t: GARBAGE,
                      is_final=lambda line: True, is_error=lambda line: False,
                      on_failure=lambda e: None)
    with pytest.raises(DeviceError) as exc:
        link.open()
    msg = str(exc.value)
    assert "\n" not in msg
    assert "'/dev/ttyRIGCTL_NOPE' not found" in msg and "rigctl devices" in msg
    assert "device 'ctrl'" in msg


def test_a_port_in_use_is_refused(pty):
    link, _, _ = open_link(pty)
    try:
        with pytest.raises(DeviceError, match="in use by another program"):
            open_link(pty)
    finally:
        link.close()


def test_port_vanishing_mid_session_reports_once_and_fails_waiters(pty):
    link, _, failures = open_link(pty)
    try:
        pending = link.send("PING")
        pty.close()  # unplugged
        wait_until(lambda: failures, what="the vanish report")
        assert len(failures) == 1
        msg = str(failures[0])
        assert "device 'dev'" in msg and pty.path in msg and "vanished" in msg
        assert pending.done.is_set() and pending.error is failures[0]
        assert not link.alive
        with pytest.raises(DeviceError, match="vanished"):
            link.send("OUT 1 1")
    finally:
        link.close()
        link.close()  # closing twice is harmless


def test_rigctl_devices_lists_usb_serial_ports_and_says_when_ni_is_missing(monkeypatch, capsys):
    from serial.tools import list_ports, list_ports_common

    from rigctl.cli import main

    arduino = list_ports_common.ListPortInfo("/dev/ttyACM0", skip_link_detection=True)
    arduino.vid, arduino.pid, arduino.serial_number = 0x2341, 0x0043, "75833353035351B0B1C1"
    arduino.manufacturer, arduino.product = "Arduino (www.arduino.cc)", "Uno"
    plain = list_ports_common.ListPortInfo("/dev/ttyS0", skip_link_detection=True)
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: [plain, arduino])
    import nidaqmx.system

    def no_driver():
        raise OSError("libnidaqmx.so not found")

    monkeypatch.setattr(nidaqmx.system.System, "local", staticmethod(no_driver))
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert ("/dev/ttyACM0      VID:PID 2341:0043  serial 75833353035351B0B1C1  "
            "(Arduino (www.arduino.cc) Uno)") in out
    assert "/dev/ttyS0" not in out and "1 port(s) without a USB device" in out
    assert "NI-DAQmx driver not found" in out
    assert main(["devices", "--all"]) == 0
    assert "/dev/ttyS0" in capsys.readouterr().out


def test_resetting_input_while_a_device_streams_never_looks_like_a_vanished_port(pty):
    """Issue #17: connect() flushed the port while the reader thread was reading it; with a
    device streaming a line every 0.2 ms, 3 of 40 connects reported the port as vanished
    (pyserial: "device reports readiness to read but returned no data")."""
    stop = threading.Event()

    def stream() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                os.write(pty.master, b"EVT 1 IN 0 1\n")
            time.sleep(0.0002)

    streamer = threading.Thread(target=stream, daemon=True)
    streamer.start()
    try:
        for _ in range(40):
            link, _events, failures = open_link(pty)
            try:
                for _ in range(3):
                    link.reset_input()
                assert link.alive and not failures, failures
            finally:
                link.close()
    finally:
        stop.set()
        streamer.join(timeout=2)
