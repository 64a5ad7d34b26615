"""The event source of a real rig: device threads put events, the control loop takes them.

The loop blocks in ``queue.get`` with a timeout equal to the time left until the next timer, so it
wakes for whichever comes first: an input (one thread hand-off, tens of µs) or the deadline.
"""

from __future__ import annotations

import math
import queue

from rigctl.errors import DeviceError
from rigctl.hardware.interfaces import Clock, EventSource, InputEvent, SignalChunk

_WAKE = InputEvent(t=-1.0, name="__wake__")


class _Failure(InputEvent):
    """Carries a device failure through the queue so the loop raises it in its own thread."""

    __slots__ = ("error",)

    def __init__(self, error: DeviceError) -> None:
        super().__init__(t=-1.0, name="__failure__")
        object.__setattr__(self, "error", error)
_MAX_BLOCK_S = 0.5


class QueueEventSource(EventSource):
    """Thread-safe sink (``put``) and wall-clock event source (``next_event``) in one."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._q: queue.SimpleQueue[InputEvent] = queue.SimpleQueue()

    def put(self, event: InputEvent) -> None:
        self._q.put(event)

    def put_signal(self, chunk: SignalChunk) -> None:
        self._q.put(chunk)  # type: ignore[arg-type]  # the loop tells chunks from edges

    def fail(self, error: DeviceError) -> None:
        """From a device thread: the device failed; the control loop raises ``error`` at once."""
        self._q.put(_Failure(error))

    def next_event(self, deadline: float) -> InputEvent | None:
        while True:
            remaining = deadline - self.clock.now()
            if remaining <= 0:
                try:
                    ev = self._q.get_nowait()
                except queue.Empty:
                    return None
            else:
                timeout = _MAX_BLOCK_S if math.isinf(remaining) else min(remaining, _MAX_BLOCK_S)
                try:
                    ev = self._q.get(timeout=timeout)
                except queue.Empty:
                    if math.isinf(deadline):
                        return None  # let the loop look at its stop flag
                    continue
            if ev is _WAKE:
                return None
            if isinstance(ev, _Failure):
                raise ev.error
            return ev

    def wake(self) -> None:
        self._q.put(_WAKE)
