"""The emulator and the firmware, fed the same generated lines, answer alike.

A seeded generator mixes valid commands with the malformed ones a host or a noisy cable could
produce (wrong case, extra spaces, tabs, CRs, huge and fractional numbers, unknown names, too
many arguments, over-long lines). Every line goes to the Python emulator and to the firmware in
simavr; their replies must be the same line, with the controller's timestamps blanked. Timings
are chosen so that nothing expires during the run (long valve openings and gate limits, a
watchdog of 0 or >= 30 s), so STATUS must agree too (its valve mask aside: an opening of up to
5 s may end between the two asks).
"""

from __future__ import annotations

import numpy as np
import pytest
from fw_helpers import EmulatorTarget, SimavrTarget, Wire

from sim_backend.avr.build import missing_tools

pytestmark = pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))

NAMES = ["HELLO", "PING", "WDOG", "VALVE", "CLOSE", "OUT", "GATE", "START", "STOP", "OFF",
         "STATUS", "hello", "Valve", "FOO", "PINGG", ""]
ARGS = ["0", "1", "2", "3", "4", "7", "00", "01", "4294967295", "4294967296", "99999999999",
        "-1", "+1", "1.", ".5", "1.5", "2000.25", "3000.125", "0.0005", "5000.001", "x", "1e3",
        "30000", "60000", "60001", "49", "1000000", "1000001", "abc"]


def _line(rng: np.random.Generator) -> bytes:
    name = NAMES[rng.integers(len(NAMES))]
    words = [name] + [ARGS[rng.integers(len(ARGS))] for _ in range(rng.integers(0, 4))]
    if name in ("VALVE",) and rng.random() < 0.6:  # mostly openings that outlast the run
        words = ["VALVE", str(rng.integers(0, 3)), str(rng.choice(["4000", "4999.5", "3500"]))]
    if name == "WDOG" and rng.random() < 0.7:
        words = ["WDOG", str(rng.choice(["0", "30000", "60000"]))]
    if name == "GATE" and rng.random() < 0.7:
        words = ["GATE", str(rng.integers(0, 5)), str(rng.choice(["0", "100000", "1000000"]))]
    sep = " " * int(rng.integers(1, 3))
    text = sep.join(words)
    r = rng.random()
    if r < 0.05:
        text = text.replace(" ", "\t", 1)
    elif r < 0.10:
        text = " " + text + " "
    elif r < 0.15:
        text = text[:2] + "\r" + text[2:]
    elif r < 0.18:
        text = text + " " + "z" * 70
    return text.encode("latin-1") + b"\n"


def _normal(reply: str) -> str:
    parts = reply.split(" ")
    if parts[:2] == ["OK", "PING"] and len(parts) == 4:
        parts[3] = "<t>"
    if parts[:2] == ["OK", "VALVE"] and len(parts) == 4:
        parts[3] = "<t>"
    if parts[:2] == ["OK", "HELLO"] and len(parts) == 8:
        parts[4] = parts[4].removesuffix("-emulated")
    return " ".join(parts)


def test_generated_lines_get_the_same_replies_from_emulator_and_firmware():
    emu, fw = EmulatorTarget(), SimavrTarget("uno")
    try:
        wires = [Wire(emu.port), Wire(fw.port)]
        rng = np.random.default_rng(20261202)
        diffs = []
        for i in range(60):
            line = _line(rng)
            if line.strip(b" \r\n") == b"":
                continue
            replies = [_normal(w.reply(line)) for w in wires]
            if replies[0] != replies[1]:
                diffs.append((i, line, *replies))
            if i % 10 == 9:
                # the valve mask is left out: a 5 s opening may end between the two asks
                status = [w.reply("STATUS").split(" ")[3:] for w in wires]
                if status[0] != status[1]:
                    diffs.append((i, b"STATUS", *status))
        assert diffs == []
    finally:
        for w in wires:
            w.close()
        emu.close()
        fw.close()
