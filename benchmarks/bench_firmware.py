"""Timing of the reference firmware, measured in simavr with the CPU's cycle counter.

    python benchmarks/bench_firmware.py [--quick]

The firmware (docs/firmware/reward_controller) runs on a simulated ATmega328P at 16 MHz, paced
to the wall clock, with its UART on a pty that this benchmark writes protocol lines to. The
harness (sim_backend/avr/harness.c) reports every pin change and every line end entering the
UART with the cycle it happened at, so these are the firmware's own timings, not the host's:

- input edge -> its timestamp: ``EVT <t> IN`` minus the edge's cycle. The firmware's clock
  (``micros()``) starts a fixed time after reset; that offset is taken from the valve openings,
  whose reply carries the time read right after the pin was set (median of those samples);
- ``VALVE`` command -> pin high: cycles from the command's line end entering the UART to the
  valve pin rising;
- pulse width error at 1, 10, 100 and 1000 ms (the 1000 ms opening sent in one write with a
  ``PING``, the case that came out 1.3 ms short before issue #17);
- the longest loop pass while streaming events: a benchmark build (LOOP_PROBE_PIN=7) toggles
  pin 7 every pass; the harness keeps the intervals, while both lick inputs change every few
  ms, heartbeats arrive, valves open and a ``SYNC`` train runs;
- sync train (``SYNC``): each reported edge time minus the pin's edge (the host logs the
  reported times), and how late each edge is against its seeded schedule.

Targets (issue #17): edge stamp error <= 50 µs, pulse width error <= 20 µs, longest pass <= 200
µs. ``run(quick)`` returns the rows for ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

try:
    import sim_backend  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import serial

from sim_backend.avr.build import missing_tools

EDGE_TARGET_US = 50.0
WIDTH_TARGET_US = 20.0
PASS_TARGET_US = 200.0
PROBE_PIN = 7
SYNC_TRAIN = (17, 20, 10, 5)  # seed, mean, spread, width (ms): a fast train on out3


class _Client:
    def __init__(self, port: str) -> None:
        self.ser = serial.Serial(port, 115200, timeout=0.02)
        self.buf = b""
        self.events: list[str] = []
        self.sync_t0 = 0

    def write(self, text: str) -> None:
        self.ser.write(text.encode())

    def drain(self) -> None:
        """Take what has arrived (events kept) without waiting."""
        self.buf += self.ser.read(self.ser.in_waiting)
        while b"\n" in self.buf:
            raw, self.buf = self.buf.split(b"\n", 1)
            if raw.startswith(b"EVT"):
                self.events.append(raw.decode())

    def until(self, pred, timeout_s: float = 5.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.buf += self.ser.read(self.ser.in_waiting or 1)
            while b"\n" in self.buf:
                raw, self.buf = self.buf.split(b"\n", 1)
                line = raw.decode()
                if pred(line):
                    return line
                if line.startswith("EVT"):
                    self.events.append(line)
        raise RuntimeError("the firmware did not answer (simavr stalled?)")


def _valves(board, client: _Client, repeats: int) -> tuple[list, list, list]:
    """(latency µs, width error µs by ms, clock offset µs) of valve openings."""
    f = board.f_cpu / 1e6
    latency, widths, offsets = [], {1: [], 10: [], 100: [], 1000: []}, []
    for ms in widths:
        for _ in range(1 if ms == 1000 else repeats):
            n = len([c for c in board.changes if c.kind == "valve"])
            ends = len(board.line_ends)
            client.write(f"VALVE 0 {ms}\n" + ("PING 1\n" if ms == 1000 else ""))
            ok = client.until(lambda s: s.startswith("OK VALVE"))
            board.wait_for(lambda ch, n=n: len([c for c in ch if c.kind == "valve"]) >= n + 2,
                           ms / 1000 * 3 + 3)
            up, down = [c for c in board.changes if c.kind == "valve"][n:n + 2]
            end = board.line_ends[ends]
            latency.append((up.cycle - end) / f)
            widths[ms].append((down.cycle - up.cycle) / f - ms * 1000)
            offsets.append(int(ok.split()[3]) - up.cycle / f)
            client.until(lambda s: s.startswith("EVT") and " VALVE " in s)
    return latency, widths, offsets


def _edges(board, client: _Client, n: int) -> list[tuple[int, int, int]]:
    """Drive ``n`` edges (alternating inputs and levels, a few ms apart) with heartbeats and
    valve openings in between; returns (edge cycle, input, firmware stamp µs)."""
    client.write("START\n")
    client.until(lambda s: s == "OK START")
    rng = np.random.default_rng(17)
    driven: list[tuple[int, int, int]] = []
    levels = [0, 0]
    for i in range(n):
        k = i % 2
        levels[k] ^= 1
        before = len(board.changes)
        # 2-6 ms apart in simulated time (scheduled by cycle: the wall clock would bunch them)
        at = board.cycle_now() + int(rng.uniform(0.002, 0.006) * board.f_cpu)
        board.set_input(k, levels[k], at_cycle=at)
        board.wait_for(lambda ch, b=before: any(c.kind == "in" for c in ch[b:]), 5.0)
        driven.append((next(c.cycle for c in board.changes[before:] if c.kind == "in"), k,
                       levels[k]))
        if i % 5 == 0:
            client.write(f"PING {i}\n")
        if i % 17 == 0:
            client.write("VALVE 1 2.5\n")
        client.drain()  # keep reading: a full pty would drop the firmware's lines
    deadline = time.monotonic() + 5
    while len([e for e in client.events if " IN " in e]) < n and time.monotonic() < deadline:
        with contextlib.suppress(RuntimeError):
            client.until(lambda s: False, 0.05)
    stamps = [e.split() for e in client.events if " IN " in e]
    if [(k, lv) for k, lv in ((int(s[3]), int(s[4])) for s in stamps)] != [
            (k, lv) for _, k, lv in driven]:
        got = [(int(s[3]), int(s[4])) for s in stamps]
        want = [(k, lv) for _, k, lv in driven]
        first = next(i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b)
        raise RuntimeError(f"{len(driven)} edges driven, {len(stamps)} reported; first "
                           f"difference at {first}: {want[first - 2:first + 3]} driven, "
                           f"{got[first - 2:first + 3]} reported, {driven[first - 2:first + 3]}"
                           f" {stamps[first - 2:first + 3]}")
    return [(cyc, k, int(s[1])) for (cyc, k, _), s in zip(driven, stamps, strict=True)]


def _sync(board, client: _Client, offset: float, n_rises: int,
          stopped_at: int) -> tuple[list, list]:
    """(reported edge - pin edge, pin edge - its due time) in µs, of a fast SYNC train on out3
    while the other measurements stream (started before them, stopped here). Only edges made
    before the stop was sent (cycle ``stopped_at``) count: the fall the stop makes is not due."""
    from rigctl.hardware.sync_train import TrainSpec

    f = board.f_cpu / 1e6
    pins = [c for c in board.changes if c.kind == "out" and c.index == 3
            and c.cycle < stopped_at]
    events = [e.split() for e in client.events if " SYNC " in e][:len(pins)]
    k = min(len(events), len(pins), 2 * n_rises)
    stamp_err = [int(e[1]) - (c.cycle / f + offset) for e, c in zip(events[:k], pins[:k],
                                                                    strict=True)]
    t0 = client.sync_t0
    rises = TrainSpec(*SYNC_TRAIN).rises_ms(k // 2)
    due = [t0 + 1000 * ms + w for ms in rises for w in (0, 1000 * SYNC_TRAIN[3])]
    late = [c.cycle / f + offset - d for c, d in zip(pins[:k], due, strict=False)]
    return stamp_err, late


def _row(name: str, values, unit: str, target: str, limit: float | None) -> dict:
    v = np.abs(np.asarray(values, dtype=float))
    p50, p99, mx = (float(x) for x in (np.percentile(v, 50), np.percentile(v, 99), v.max()))
    return {"name": name, "unit": unit, "value": p50, "p50": p50, "p99": p99, "max": mx,
            "target": target, "ok": None if limit is None else bool(mx <= limit)}


def run(quick: bool = False) -> list[dict]:
    reason = missing_tools()
    if reason is not None:
        return [{"name": f"firmware: skipped ({reason})", "ok": None}]
    from sim_backend.avr.board import SimulatedBoard

    repeats, n_edges = (5, 60) if quick else (20, 400)
    with SimulatedBoard("uno", probe_pin=PROBE_PIN) as board:
        client = _Client(board.port)
        client.write("HELLO\n")
        client.until(lambda s: s.startswith("OK HELLO"))
        latency, widths, offsets = _valves(board, client, repeats)
        offset = float(np.median(offsets))
        board.loop_passes()  # from here on: passes while events stream
        client.write("SYNC 3 {} {} {} {}\n".format(*SYNC_TRAIN))
        client.sync_t0 = int(client.until(lambda s: s.startswith("OK SYNC")).split()[3])
        edges = _edges(board, client, n_edges)
        passes = board.loop_passes()
        stopped_at = board.cycle_now()
        client.write("SYNC 3 0\n")
        client.until(lambda s: s.startswith("OK SYNC"))
        sync_err, sync_late = _sync(board, client, offset, n_edges, stopped_at)
        client.ser.close()
    f = board.f_cpu / 1e6
    stamp_err = [t - cyc / f - offset for cyc, _, t in edges]
    all_widths = [w for ws in widths.values() for w in ws]
    rows = [
        _row(f"firmware: input edge -> its timestamp, n={len(edges)}", stamp_err, "us",
             f"max |error| <= {EDGE_TARGET_US:g} us", EDGE_TARGET_US),
        _row(f"firmware: VALVE line end -> pin high, n={len(latency)}", latency, "us",
             "(command to valve)", None),
    ]
    for ms, ws in widths.items():
        rows.append(_row(f"firmware: pulse width error at {ms} ms, n={len(ws)}", ws, "us",
                         f"max |error| <= {WIDTH_TARGET_US:g} us", WIDTH_TARGET_US))
    rows.append(_row("firmware: pulse width error, all", all_widths, "us",
                     f"max |error| <= {WIDTH_TARGET_US:g} us", WIDTH_TARGET_US))
    rows.append(_row(f"firmware: SYNC reported edge - pin edge, n={len(sync_err)}", sync_err,
                     "us", f"max |error| <= {EDGE_TARGET_US:g} us", EDGE_TARGET_US))
    rows.append(_row(f"firmware: SYNC pin edge - its schedule, n={len(sync_late)}", sync_late,
                     "us", f"(<= one loop pass, {PASS_TARGET_US:g} us)", PASS_TARGET_US))
    count, p50, p99, mx = passes
    rows.append({"name": f"firmware: loop pass while streaming, n={count}", "unit": "us",
                 "value": p50 / f, "p50": p50 / f, "p99": p99 / f, "max": mx / f,
                 "target": f"longest <= {PASS_TARGET_US:g} us",
                 "ok": bool(count > 0 and mx / f <= PASS_TARGET_US)})
    rows.append({"name": "firmware: clock offset after reset (calibration)", "unit": "us",
                 "value": offset, "p50": offset, "p99": None, "max": None,
                 "target": "(micros() vs cycles)", "ok": None})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    args = parser.parse_args(argv)
    for r in run(args.quick):
        ok = {True: "yes", False: "NO", None: ""}[r.get("ok")]
        nums = " ".join(f"{r.get(k):9.2f}" if isinstance(r.get(k), float) else " " * 9
                        for k in ("p50", "p99", "max"))
        print(f"{r['name']:52} {nums} {r.get('unit', ''):3} {r.get('target', ''):28} {ok}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
