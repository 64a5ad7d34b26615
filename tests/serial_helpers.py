"""Helpers shared by the serial-backend tests: a collecting sink, a build context on the wall
clock, and polling with generous timeouts (never a timing assertion)."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from rigctl.config.subject import Subject
from rigctl.errors import DeviceError
from rigctl.hardware.interfaces import InputEvent, SignalChunk
from rigctl.hardware.registry import BuildContext
from rigctl.timing.clock import WallClock


class Sink:
    """Collects what devices deliver, as the engine's queue would receive it."""

    def __init__(self) -> None:
        self.events: list[InputEvent] = []
        self.failures: list[DeviceError] = []
        self._lock = threading.Lock()

    def put(self, event: InputEvent) -> None:
        with self._lock:
            self.events.append(event)

    def put_signal(self, chunk: SignalChunk) -> None:  # pragma: no cover - serial has none
        raise AssertionError("serial devices deliver no signal chunks")

    def fail(self, error: DeviceError) -> None:
        with self._lock:
            self.failures.append(error)


def make_ctx(sink: Sink | None = None, shared: dict[str, Any] | None = None,
             clock: Any = None) -> BuildContext:
    return BuildContext(clock or WallClock(), Subject(), np.random.SeedSequence(0),
                        sink or Sink(), source="test.yaml",
                        shared=shared if shared is not None else {})


def wait_until(pred: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``pred`` until truthy (returns its value); fail after a generous ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.005)


def deep_update(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, nested mappings merged key by key."""
    out = copy.deepcopy(base)
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_update(out[k], v)
        else:
            out[k] = v
    return out
