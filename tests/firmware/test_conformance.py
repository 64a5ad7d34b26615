"""The protocol of docs/serial-protocol.md, line by line, against every implementation.

Each test runs on the Python emulator, on the reference firmware in simavr and (with
RIGCTL_TEST_BOARD_PORT) on a real board: the emulator may only pass where the firmware passes,
so tests written against the emulator mean something for the board a lab flashes. The cases
of issue #17 where the two used to differ are here by name (case, spaces, CR, empty lines,
over-long lines, ``1.``, argument-count wording, numbers past 2**32).
"""

from __future__ import annotations

import time

import pytest
from fw_helpers import Target, Wire


def ts(line: str) -> int:
    return int(line.split()[1])


def status(wire: Wire) -> list[int]:
    """valves, outputs, inputs masks, watchdog ms, streaming."""
    reply = wire.reply("STATUS")
    assert reply.startswith("OK STATUS ")
    return [int(x) for x in reply.split()[2:]]


# --- identification and framing -----------------------------------------------------------
def test_hello_names_protocol_firmware_and_channel_counts(wire):
    parts = wire.reply("HELLO").split()
    assert parts[:4] == ["OK", "HELLO", "rigctl-reward", "1"]
    assert parts[4].startswith("1.2.1")
    assert parts[5:] == ["2", "2", "4"]


def test_ping_echoes_its_sequence_and_the_clock_moves_forward(wire):
    a = wire.reply("PING abc").split()
    time.sleep(0.05)
    b = wire.reply("PING 17").split()
    assert a[:3] == ["OK", "PING", "abc"] and b[:3] == ["OK", "PING", "17"]
    assert int(b[3]) > int(a[3])  # µs since boot (simavr may run behind the wall clock)


@pytest.mark.parametrize(("line", "reply"), [
    ("hello", "ERR hello 1 unknown command"),             # command names are case-sensitive
    ("FOO 1", "ERR FOO 1 unknown command"),
    ("PING", "ERR PING 2 expected 1 argument(s)"),
    ("VALVE 0", "ERR VALVE 2 expected 2 argument(s)"),
    ("STATUS 1", "ERR STATUS 2 expected 0 argument(s)"),
    ("OUT 0 1 2 3 4", "ERR OUT 2 expected 2 argument(s)"),
    ("PING\t3", "ERR PING\t3 1 unknown command"),         # only a space separates fields
])
def test_errors_are_numbered_and_worded_alike(wire, line, reply):
    assert wire.reply(line) == reply


def test_runs_of_spaces_separate_fields_like_one(wire):
    assert wire.reply("  PING   5  ").split()[:3] == ["OK", "PING", "5"]


def test_a_cr_is_dropped_wherever_it_appears_and_only_lf_ends_a_line(wire):
    assert wire.reply(b"PI\rNG 5\r\n").split()[:3] == ["OK", "PING", "5"]
    # a lone CR does not end a line: this is one line with two arguments
    assert wire.reply(b"PING 1\rPING 2\n") == "ERR PING 2 expected 1 argument(s)"


def test_an_empty_line_gets_no_reply(wire):
    wire.send(b"\n\n")
    assert wire.reply("PING 9").split()[:3] == ["OK", "PING", "9"]


def test_lines_of_64_characters_are_read_and_longer_ones_refused(wire):
    longest = "PING " + "x" * 59
    assert len(longest) == 64
    assert wire.reply(longest).split()[:3] == ["OK", "PING", "x" * 59]
    assert wire.reply(longest + "y") == "ERR ? 5 line longer than 64 characters"
    assert wire.reply("PING 2").split()[:3] == ["OK", "PING", "2"]  # and the next line is fine


# --- numbers ------------------------------------------------------------------------------
@pytest.mark.parametrize(("line", "reply"), [
    # past 2**32 - 1 used to wrap around in the firmware: watchdog off, valve 0, output 3
    ("WDOG 4294967296", "ERR WDOG 3 watchdog must be 0 (off) or 50-60000 ms"),
    ("VALVE 4294967296 10", "ERR VALVE 4 no valve 4294967296 (valves 0-1)"),
    ("OUT 4294967299 1", "ERR OUT 4 no output 4294967299 (outputs 0-3)"),
    ("VALVE 0 1.", "ERR VALVE 3 duration must be 0.001-5000 ms"),
    ("VALVE 0 .5", "ERR VALVE 3 duration must be 0.001-5000 ms"),
    ("VALVE 0 0.0005", "ERR VALVE 3 duration must be 0.001-5000 ms"),
    ("VALVE 0 5000.001", "ERR VALVE 3 duration must be 0.001-5000 ms"),
    ("VALVE 0 0", "ERR VALVE 3 duration must be 0.001-5000 ms"),
    ("VALVE 0 -1", "ERR VALVE 3 duration must be 0.001-5000 ms"),
    ("VALVE 2 10", "ERR VALVE 4 no valve 2 (valves 0-1)"),
    ("VALVE +1 10", "ERR VALVE 4 no valve +1 (valves 0-1)"),
    ("WDOG 49", "ERR WDOG 3 watchdog must be 0 (off) or 50-60000 ms"),
    ("WDOG 60001", "ERR WDOG 3 watchdog must be 0 (off) or 50-60000 ms"),
    ("OUT 0 2", "ERR OUT 3 level must be 0 or 1"),
    ("OUT 0 01", "ERR OUT 3 level must be 0 or 1"),
    ("GATE 2 1000001", "ERR GATE 3 gate limit must be 0 (none) or 1-1000000 ms"),
    ("GATE 4 100", "ERR GATE 4 no output 4 (outputs 0-3)"),
])
def test_out_of_range_and_malformed_numbers_are_refused_without_effect(wire, line, reply):
    assert wire.reply(line) == reply
    assert status(wire) == [0, 0, 0, 0, 0]


def test_leading_zeros_are_numbers(wire):
    assert wire.reply("WDOG 00500") == "OK WDOG 500"
    assert wire.reply("WDOG 0") == "OK WDOG 0"


# --- valves -------------------------------------------------------------------------------
def test_a_valve_opens_for_its_duration_on_the_controllers_clock(wire, controller: Target):
    ok = wire.reply("VALVE 1 37.5").split()
    assert ok[:3] == ["OK", "VALVE", "1"]
    assert status(wire)[0] == 0b10
    closed = wire.event("VALVE")
    assert closed.split()[2:] == ["VALVE", "1", "0"]
    assert abs(ts(closed) - int(ok[3]) - 37_500) < 2_000  # its own record, not host timing
    assert status(wire)[0] == 0
    assert controller.kind == "board" or controller.level("valve", 1) == 0


def test_a_new_opening_restarts_the_valve_timer(wire):
    first = int(wire.reply("VALVE 0 400").split()[3])
    time.sleep(0.05)
    second = int(wire.reply("VALVE 0 100").split()[3])
    closed = wire.event("VALVE")
    assert abs(ts(closed) - second - 100_000) < 5_000
    assert ts(closed) - first < 400_000
    wire.lines(0.5)
    assert not any(e.split()[2] == "VALVE" for e in wire.events)  # closed once


def test_close_and_off_end_openings_and_outputs(wire, controller: Target):
    wire.reply("VALVE 0 4000")
    wire.reply("VALVE 1 4000")
    assert wire.reply("OUT 3 1") == "OK OUT 3 1"
    assert status(wire)[:2] == [0b11, 0b1000]
    assert wire.reply("CLOSE 0") == "OK CLOSE 0"
    assert wire.event("VALVE").split()[2:] == ["VALVE", "0", "0"]
    assert wire.reply("CLOSE 0") == "OK CLOSE 0"  # closing a closed valve: no event
    assert wire.reply("OFF") == "OK OFF"
    assert wire.event("VALVE").split()[2:] == ["VALVE", "1", "0"]
    assert status(wire)[:2] == [0, 0]
    if controller.kind != "board":
        assert [controller.level("valve", n) for n in (0, 1)] == [0, 0]
        assert controller.level("out", 3) == 0


def test_outputs_follow_out(wire, controller: Target):
    assert wire.reply("OUT 1 1") == "OK OUT 1 1"
    assert status(wire)[1] == 0b10
    assert controller.kind == "board" or controller.level("out", 1) == 1
    assert wire.reply("OUT 1 0") == "OK OUT 1 0"
    assert status(wire)[1] == 0


# --- inputs -------------------------------------------------------------------------------
def test_input_edges_stream_only_between_start_and_stop(wire, controller: Target):
    if not controller.can_drive_inputs:
        pytest.skip("a real board's inputs are not driven by the tests")
    controller.set_input(0, 1)
    wire.lines(0.1)
    assert status(wire)[2] == 0b01  # the level is known while not streaming ...
    assert not wire.events  # ... but not sent
    assert wire.reply("START") == "OK START"
    controller.set_input(1, 1)
    edge = wire.event("IN")
    assert edge.split()[2:] == ["IN", "1", "1"]
    controller.set_input(1, 0)
    assert wire.event("IN").split()[2:] == ["IN", "1", "0"]
    assert wire.reply("STOP") == "OK STOP"
    controller.set_input(0, 0)
    wire.lines(0.1)
    assert not wire.events
    assert status(wire)[2:] == [0, 0, 0]


# --- watchdog -----------------------------------------------------------------------------
def test_the_watchdog_turns_everything_off_when_the_host_falls_silent(wire, controller: Target):
    wire.reply("VALVE 0 4000")
    wire.reply("OUT 2 1")
    assert wire.reply("WDOG 100") == "OK WDOG 100"
    assert wire.event("WDOG").split()[2:] == ["WDOG"]
    assert wire.events == [] or all(e.split()[2] == "VALVE" for e in wire.events)
    assert status(wire)[:2] == [0, 0]
    if controller.kind != "board":
        assert controller.level("valve", 0) == 0 and controller.level("out", 2) == 0


def test_empty_lines_feed_the_watchdog(wire):
    assert wire.reply("WDOG 400") == "OK WDOG 400"
    for _ in range(10):
        wire.send(b"\n")
        wire.lines(0.05)
    assert not any(e.split()[2] == "WDOG" for e in wire.events)
    assert wire.event("WDOG", timeout_s=2.0)  # and silence still trips it


def test_any_line_rearms_a_tripped_watchdog_an_over_long_one_too(wire):
    assert wire.reply("WDOG 100") == "OK WDOG 100"
    wire.event("WDOG")
    assert wire.reply("X" * 70) == "ERR ? 5 line longer than 64 characters"
    wire.event("WDOG")  # it fired again: the over-long line re-armed it
    assert wire.reply("NOPE") == "ERR NOPE 1 unknown command"
    wire.event("WDOG")  # so does a line answered with an error


# --- laser gate ---------------------------------------------------------------------------
def test_a_gate_is_cut_by_the_controller_after_its_limit_while_the_host_talks(
        wire, controller: Target):
    assert wire.reply("GATE 2 300") == "OK GATE 2 300"
    high = time.monotonic()
    assert wire.reply("OUT 2 1") == "OK OUT 2 1"
    time.sleep(0.1)
    assert wire.reply("OUT 2 1") == "OK OUT 2 1"  # setting it high again does not extend it
    while time.monotonic() - high < 0.6 and not any(e.split()[2] == "GATE"
                                                    for e in wire.events):
        assert wire.reply("PING 1").startswith("OK PING")  # the host is alive and talking
    cut = wire.event("GATE")
    assert cut.split()[2:] == ["GATE", "2", "0"]
    assert status(wire)[1] == 0
    if controller.kind != "board":
        assert controller.level("out", 2) == 0
        high, low = controller.spans("out", 2)[-1]
        assert low - high == pytest.approx(0.300, abs=0.03)  # from the first rising edge
    assert wire.reply("OUT 2 1") == "OK OUT 2 1"  # a new rising edge gets a new limit
    assert status(wire)[1] == 0b100


def test_gate_limit_zero_removes_it_and_other_outputs_are_untouched(wire):
    assert wire.reply("GATE 2 100") == "OK GATE 2 100"
    assert wire.reply("GATE 2 0") == "OK GATE 2 0"
    wire.reply("OUT 2 1")
    wire.reply("OUT 1 1")
    wire.lines(0.3)
    assert not any(e.split()[2] == "GATE" for e in wire.events)
    assert status(wire)[1] == 0b110


# --- sync pulses --------------------------------------------------------------------------
SEED, MEAN, SPREAD, WIDTH = 12345, 60, 40, 10  # a fast train: pulses every 20-100 ms


def _sync_edges(wire: Wire, n_rises: int) -> list[tuple[int, int]]:
    """(t_us, level) of the SYNC events until ``n_rises`` whole pulses have been reported."""
    deadline = time.monotonic() + 10
    while sum(1 for e in wire.events if e.split()[2:4] == ["SYNC", "3"]) < 2 * n_rises \
            and time.monotonic() < deadline:
        wire.lines(0.05)
    edges = [(ts(e), int(e.split()[4])) for e in wire.events if e.split()[2] == "SYNC"]
    assert sum(lv for _, lv in edges) >= n_rises, "the sync train stalled (hang guard)"
    return edges


def test_a_sync_train_follows_its_seeded_schedule_and_reports_every_edge(
        wire, controller: Target):
    from rigctl.hardware.sync_train import TrainSpec

    before = 0 if controller.kind == "board" else len(controller.spans("out", 3))
    ok = wire.reply(f"SYNC 3 {SEED} {MEAN} {SPREAD} {WIDTH}").split()
    assert ok[:3] == ["OK", "SYNC", "3"]
    t0 = int(ok[3])
    edges = _sync_edges(wire, 8)
    assert wire.reply("SYNC 3 0") == "OK SYNC 3 0"
    levels = [lv for _, lv in edges]
    assert levels[:16] == [1, 0] * 8  # every edge, in order
    rises = [t for t, lv in edges if lv][:8]
    falls = [t for t, lv in edges if not lv][:8]
    due = [t0 + 1000 * ms for ms in TrainSpec(SEED, MEAN, SPREAD, WIDTH).rises_ms(8)]
    # each edge within one loop pass of when the schedule has it (the emulator: exactly)
    assert max(abs(r - d) for r, d in zip(rises, due, strict=True)) <= 300
    assert all(abs(f - r - WIDTH * 1000) <= 300 for r, f in zip(rises, falls, strict=True))
    if controller.kind != "board":
        # the pin did what was reported: same widths and intervals (µs), on the pin's clock
        spans = controller.spans("out", 3)[before:before + 8]  # (earlier tests' come first)
        assert len(spans) == 8
        for (hi, lo), r, f in zip(spans, rises, falls, strict=True):
            assert lo is not None and abs((lo - hi) * 1e6 - (f - r)) <= 20
        pin_gaps = [(b[0] - a[0]) * 1e6 for a, b in zip(spans, spans[1:], strict=False)]
        gaps = [b - a for a, b in zip(rises, rises[1:], strict=False)]
        assert all(abs(g - h) <= 20 for g, h in zip(pin_gaps, gaps, strict=True))
        assert controller.level("out", 3) == 0


def test_stopping_a_train_while_high_drops_the_line_and_reports_it(wire, controller: Target):
    # a wide pulse so that the stop lands while the line is high
    assert wire.reply(f"SYNC 3 {SEED} 2100 0 1000").startswith("OK SYNC 3 ")
    deadline = time.monotonic() + 6
    while status(wire)[1] != 0b1000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status(wire)[1] == 0b1000
    assert wire.reply("SYNC 3 0") == "OK SYNC 3 0"
    assert status(wire)[1] == 0
    wire.lines(0.1)
    assert [lv for _, lv in _sync_edges(wire, 1)] == [1, 0]
    wire.lines(2.3)
    assert len([e for e in wire.events if e.split()[2] == "SYNC"]) == 2  # and no more pulses
    assert controller.kind == "board" or controller.level("out", 3) == 0


def test_the_answer_to_a_stop_follows_every_edge_of_the_train(wire, controller: Target):
    # The first rise is made while `SYNC 3 0` is still coming in (the firmware holds reports
    # until a line ends). A host logs a train's edges until the stop's answer, so every edge
    # must be reported before it: the rise, and the fall the stop makes.
    assert wire.reply(f"SYNC 3 {SEED} 1000 0 500").startswith("OK SYNC 3 ")
    wire.send(b"SYNC 3 ")
    if controller.kind == "board":
        time.sleep(1.3)  # the rise is due 1 s after the train's origin
    else:  # simavr on a loaded machine runs behind the wall clock: wait for the pin itself
        deadline = time.monotonic() + 15
        while controller.level("out", 3) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert controller.level("out", 3) == 1, "the train's first rise never came (hang guard)"
    wire.send(b"0\n")
    got = wire.lines(2.0, until=lambda s: s.startswith(("OK", "ERR")))
    assert got and got[-1] == "OK SYNC 3 0"
    assert [ln.split()[2:] for ln in got[:-1]] == [["SYNC", "3", "1"], ["SYNC", "3", "0"]]
    assert controller.kind == "board" or controller.level("out", 3) == 0


@pytest.mark.parametrize("stop", ["OFF", "watchdog"])
def test_off_and_the_watchdog_end_a_train(wire, controller: Target, stop):
    assert wire.reply(f"SYNC 3 {SEED} {MEAN} {SPREAD} {WIDTH}").startswith("OK SYNC 3 ")
    _sync_edges(wire, 2)
    if stop == "OFF":
        assert wire.reply("OFF") == "OK OFF"
    else:
        assert wire.reply("WDOG 100") == "OK WDOG 100"
        wire.event("WDOG")
    wire.lines(0.1)
    n = len([e for e in wire.events if e.split()[2] == "SYNC"])
    wire.lines(0.4)  # several intervals: no edge comes after the stop
    edges = [e for e in wire.events if e.split()[2] == "SYNC"]
    assert len(edges) == n and edges[-1].endswith(" 0")
    assert status(wire)[1] == 0
    assert controller.kind == "board" or controller.level("out", 3) == 0


@pytest.mark.parametrize(("line", "reply"), [
    ("SYNC 3", "ERR SYNC 2 expected 2 or 5 argument(s)"),
    ("SYNC 3 1 60 40", "ERR SYNC 2 expected 2 or 5 argument(s)"),
    ("SYNC 3 1", "ERR SYNC 3 SYNC <n> 0 stops a train"),
    ("SYNC 4 1 60 40 10", "ERR SYNC 4 no output 4 (outputs 0-3)"),
    ("SYNC 3 0 60 40 10", "ERR SYNC 3 needs seed >= 1, width 1-1000 ms, mean <= 600000 ms, "
                          "mean - spread >= 2 x width"),
    ("SYNC 3 1 60 40 11", "ERR SYNC 3 needs seed >= 1, width 1-1000 ms, mean <= 600000 ms, "
                          "mean - spread >= 2 x width"),
    ("SYNC 3 1 600001 0 10", "ERR SYNC 3 needs seed >= 1, width 1-1000 ms, mean <= 600000 ms, "
                             "mean - spread >= 2 x width"),
    ("SYNC 3 1 5000 3000 1001", "ERR SYNC 3 needs seed >= 1, width 1-1000 ms, mean <= 600000 "
                                "ms, mean - spread >= 2 x width"),
    ("SYNC 3 4294967296 60 40 10", "ERR SYNC 3 needs seed >= 1, width 1-1000 ms, mean <= "
                                   "600000 ms, mean - spread >= 2 x width"),
])
def test_bad_sync_commands_are_refused_without_effect(wire, line, reply):
    assert wire.reply(line) == reply
    wire.lines(0.15)
    assert not any(e.split()[2] == "SYNC" for e in wire.events)
    assert status(wire) == [0, 0, 0, 0, 0]
