"""A stalled host cannot keep the laser gate high past its limit (issue #11, section 3).

The host is a separate process (tests/firmware/stalled_host.py) running rigctl's driver: it
arms the gate limit as a session does, sets the gate high and is then frozen with SIGSTOP, as
swap, a GC pause or a closed laptop lid would freeze it. The controller on the other side of
the pty, the Python emulator or the firmware in simavr, must drop the gate by itself: after
``max_on_s`` (+ the driver's margin) by its gate timer, or sooner by its watchdog. The light's
duration is read from the controller's own record of the pin (cycle-exact in simavr).

And a host whose control loop stalls while its heartbeat thread lives on (the watchdog stays
fed): only the gate timer can end the light, and the driver reports the cut as a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fw_helpers import Target
from serial_helpers import Sink, make_ctx, wait_until

from rigctl.hardware import reward_controller as rc

HOST = Path(__file__).with_name("stalled_host.py")
MARGIN_S = rc.GATE_MARGIN_MS / 1000


def _tolerance(controller: Target) -> float:
    # the firmware checks its gate every loop pass (µs); the emulator on Python timers (ms)
    return 0.002 if controller.kind == "firmware" else 0.03


def _new_span(controller: Target, before: int) -> tuple[float, float]:
    """The first high span of the gate after the ``before`` spans seen before the test."""
    def done() -> tuple[float, float] | None:
        spans = controller.spans("out", 2)[before:]
        return spans[0] if spans and spans[0][1] is not None else None  # type: ignore[return-value]

    return wait_until(done, timeout=15, what="the gate to drop")


@pytest.mark.parametrize(("watchdog_s", "max_on_s", "cut_by"), [
    (10.0, 0.5, "gate timer"),   # watchdog longer than max_on_s: the gate timer must cut
    (0.3, 5.0, "watchdog"),      # watchdog shorter: it cuts first, everything off
])
def test_a_sigstopped_host_cannot_hold_the_gate_high(controller: Target, watchdog_s, max_on_s,
                                                      cut_by):
    if controller.kind == "board":
        pytest.skip("a real board's pins are not observed")
    before = len(controller.spans("out", 2))
    proc = subprocess.Popen([sys.executable, str(HOST), controller.port, str(watchdog_s),
                             str(max_on_s)], stdout=subprocess.PIPE, text=True)
    try:
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=30)
        assert got == ["HIGH\n"], f"the host did not start: {got!r} (hang guard)"
        os.kill(proc.pid, signal.SIGSTOP)
        high, low = _new_span(controller, before)
        on = low - high
        tol = _tolerance(controller)
        if cut_by == "gate timer":
            assert max_on_s + MARGIN_S - tol <= on <= max_on_s + MARGIN_S + tol
        else:
            assert watchdog_s - tol <= on <= watchdog_s + 0.5 < max_on_s
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait(timeout=10)


def test_a_stalled_loop_with_a_live_heartbeat_is_cut_by_the_gate_timer(controller: Target):
    if controller.kind == "board":
        pytest.skip("a real board's pins are not observed")
    sink = Sink()
    before = len(controller.spans("out", 2))
    dev = rc.open("ctrl", rc.Settings(port=controller.port, watchdog_s=1.0, heartbeat_s=0.1),
                  make_ctx(sink))
    try:
        gate = dev.digital_output("ctrl/out2", "laser_gate")
        assert gate.limit_high(0.3) is True
        gate.set(True)
        high, low = _new_span(controller, before)  # the loop never comes back to lower it
        tol = _tolerance(controller)
        assert 0.3 + MARGIN_S - tol <= low - high <= 0.3 + MARGIN_S + tol
        failure = wait_until(lambda: sink.failures, what="the cut to be reported")[0]
        assert "cut laser gate out2 after 0.35 s high by its own timer" in str(failure)
        assert "watchdog" not in str(failure)  # the heartbeat kept it fed: the gate timer cut
        time.sleep(0.1)
        assert dev.link.alive
    finally:
        dev.close()


def test_a_sigstopped_rigctl_run_cannot_hold_the_light_past_max_on_s(tmp_path):
    """Issue #11's reproduction, end to end: `rigctl run --realtime` on a serial rig whose
    controller is the emulator in its own process; the session is frozen with SIGSTOP while the
    laser is on. Before, the light stayed on until SIGCONT (42.5 s against max_on_s 30); now the
    controller cuts its gate at max_on_s + ramp_down_s + the margin, with the host still frozen.
    (The watchdog is set longer than max_on_s here, so only the gate timer can cut.) Emulator
    only: it prints its record as JSON lines, which is where the times are read."""
    import json
    import queue
    import threading

    import yaml
    from serial_helpers import deep_update

    root = Path(__file__).resolve().parents[2]
    emu = subprocess.Popen([sys.executable, "-m", "sim_backend.emulators.reward_controller",
                            "--mouse", "--log"], stdout=subprocess.PIPE, text=True,
                           cwd=root)
    host = None
    try:
        port = emu.stdout.readline().strip()
        data = deep_update(yaml.safe_load((root / "hardware_configs/serial_sim.yaml").read_text()),
                           {"devices": {"ctrl": {"port": port, "watchdog_s": 10.0}},
                            "laser": {"max_on_s": 1.0, "ramp_down_s": 0.1},
                            "protocol": {"parameters": {
                                "n_trials": 4, "iti_s": 0.2, "sample_s": 0.1,
                                "delays_s": [1.5], "laser_fraction": 0.5,
                                "max_consecutive": 1, "block_size": 2}}})
        del data["devices"]["ctrl"]["emulator"]
        data["data_root"] = str(tmp_path / "data")
        config = tmp_path / "rig.yaml"
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        host = subprocess.Popen([sys.executable, "-m", "rigctl", "run", str(config),
                                 "--realtime"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, cwd=root)
        lines: queue.Queue[str] = queue.Queue()  # the record, read off the pipe by a thread
        threading.Thread(target=lambda: [lines.put(ln) for ln in emu.stdout], daemon=True).start()
        high = low = cut = None
        deadline = time.monotonic() + 90
        while cut is None and time.monotonic() < deadline:  # the emulator's own record
            if host.poll() is not None:  # hang guard: a host that ended early sends nothing
                pytest.fail(f"rigctl run ended early: {host.communicate()[1][-500:]}")
            try:
                rec = json.loads(lines.get(timeout=1.0))
            except queue.Empty:
                continue
            if rec["kind"] == "output" and rec["output"] == 2:
                if rec["level"] == 1 and high is None:
                    os.kill(host.pid, signal.SIGSTOP)  # frozen with the light on
                    high = rec["t"]
                elif rec["level"] == 0 and high is not None:
                    low = rec["t"]
            elif rec["kind"] == "gate_cut":
                cut = rec["t"]
        assert high is not None and cut is not None, "no laser trial within 90 s (hang guard)"
        assert low == cut  # the gate fell when, and because, the controller cut it
        assert cut - high == pytest.approx(1.0 + 0.1 + MARGIN_S, abs=0.03)
        os.kill(host.pid, signal.SIGCONT)
        _, err = host.communicate(timeout=30)
        # The thawed host ends the session aborted. Which failure it names first is a race
        # (the cut, or a reply its own freeze delayed, from the in-process emulated OBIS).
        assert host.returncode != 0
        assert "rigctl: error: device '" in err, err
    finally:
        if host is not None and host.poll() is None:
            os.kill(host.pid, signal.SIGCONT)
            host.kill()
            host.wait(timeout=10)
        emu.terminate()
        emu.wait(timeout=10)
