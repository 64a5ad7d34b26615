"""Three implementations of the reward-controller protocol behind one fixture.

``controller`` is the Python emulator, the reference firmware compiled for an Uno and run in
simavr, or (only when ``RIGCTL_TEST_BOARD_PORT`` names its port) a real board flashed with
the firmware. Each test of tests/firmware talks to whichever it is given through a real
pseudo-terminal or serial port, so one suite decides whether they agree.

Without the AVR toolchain and simavr (apt-get install gcc-avr avr-libc arduino-core-avr
arduino-mk simavr libsimavr-dev) the firmware cases skip with one line naming the packages.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fw_helpers import BOARD_PORT, BoardTarget, EmulatorTarget, SimavrTarget, Target, Wire

from sim_backend.avr.build import missing_tools


def _make(kind: str) -> Target:
    if kind == "emulator":
        return EmulatorTarget()
    if kind == "board":
        if BOARD_PORT is None:
            pytest.skip("no real board: set RIGCTL_TEST_BOARD_PORT=/dev/ttyACM0 to run on one")
        return BoardTarget()
    reason = missing_tools()
    if reason is not None:
        pytest.skip(reason)
    return SimavrTarget(kind)


@pytest.fixture(scope="module", params=["emulator", "uno", "board"])
def target_module(request) -> Iterator[Target]:
    target = _make(request.param)
    yield target
    target.close()


@pytest.fixture
def controller(target_module: Target) -> Iterator[Target]:
    target_module.fresh()
    yield target_module


@pytest.fixture
def wire(controller: Target) -> Iterator[Wire]:
    w = Wire(controller.port)
    yield w
    w.close()
