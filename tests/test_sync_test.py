"""``rigctl sync-test``: every sync line pulsed and read back, pass/fail per line."""

from __future__ import annotations

import pytest

import rigctl.commands.sync_test as sync_test
from rigctl.cli import main
from rigctl.hardware.events import QueueEventSource
from rigctl.hardware.interfaces import DigitalOutputDriver
from rigctl.timing.clock import WallClock

WIRED = {"channel": "sim/sync", "readback_channel": "sim/sync_in",
         "trial_channel": "sim/ttl", "trial_readback_channel": "sim/ttl_in"}


def _cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_wired_lines_pass(make_config, capsys):
    code, out, _ = _cli(capsys, "sync-test", make_config({"sync": WIRED}), "--pulses", "3")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].startswith("PASS") and "sync.channel sim/sync -> sim/sync_in: 3/3" in lines[0]
    assert lines[1].startswith("PASS") and "sim/ttl -> sim/ttl_in: 3/3" in lines[1]


def test_a_line_without_readback_is_not_passed(make_config, capsys):
    cfg = make_config({"sync": {"channel": "sim/sync"}})
    code, out, _ = _cli(capsys, "sync-test", cfg, "--pulses", "1")
    assert code == 1 and out.startswith("NOT CHECKED") and "sync.readback_channel" in out


class _Unwired(DigitalOutputDriver):
    def __init__(self) -> None:
        self.level = False

    def set(self, level: bool) -> None:
        self.level = level


def test_pulses_that_never_come_back_fail():
    clock = WallClock()
    line = _Unwired()
    res = sync_test.LineResult("sync.channel", "Dev1/line5", "Dev1/line6")
    sync_test.pulse_and_read(line, QueueEventSource(clock), clock, "sync_readback", res, 2,
                             0.005, 0.01)
    assert res.sent == 2 and not res.passed and line.level is False
    assert res.line_text().startswith("FAIL") and "0/2 pulses back (check the wiring" in \
        res.line_text()


def test_sync_lines_go_low_when_the_test_fails(make_config, monkeypatch):
    driven = []

    def broken(driver, *args, **kwargs):
        driven.append(driver)
        driver.set(True)
        raise RuntimeError("bug mid-pulse")

    monkeypatch.setattr(sync_test, "pulse_and_read", broken)
    with pytest.raises(RuntimeError):
        main(["sync-test", str(make_config({"sync": WIRED}))])
    assert driven and all(d.level is False for d in driven)


def test_bad_use_is_one_line(make_config, capsys):
    code, _, err = _cli(capsys, "sync-test", make_config())
    assert code == 2 and err.count("\n") == 1 and "no sync: section" in err
    code, _, err = _cli(capsys, "sync-test", make_config({"sync": WIRED}), "--pulses", "0")
    assert code == 2 and "--pulses" in err
