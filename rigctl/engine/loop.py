"""The event-driven control loop: wait for the next input or timer, whichever comes first.

The loop never sleeps for a fixed tick. On a rig it blocks in the event source until an input
arrives or the next timer is due, so an input is answered as soon as the thread wakes; in
simulation the virtual clock jumps straight to the next event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rigctl.engine.machine import StateMachine
from rigctl.engine.signals import CROSSING, SignalPipeline
from rigctl.engine.timers import Timers
from rigctl.hardware.interfaces import Clock, EventSource, InputEvent, SignalChunk

LogFn = Callable[..., None]  # (t, kind, name, value[, device_t])


class ControlLoop:
    """Pulls events from ``source`` and timers from ``timers`` in time order into ``machine``."""

    def __init__(
        self,
        clock: Clock,
        source: EventSource,
        timers: Timers,
        machine: StateMachine,
        log: LogFn,
    ) -> None:
        self.clock = clock
        self.source = source
        self.timers = timers
        self.machine = machine
        self.log = log
        self.stop_requested = threading.Event()
        self.stop_reason = ""
        self.on_input: Callable[[InputEvent], None] | None = None
        self.signals: SignalPipeline | None = None

    def request_stop(self, reason: str) -> None:
        """Thread- and signal-safe: the loop returns after the event in progress."""
        if not self.stop_requested.is_set():
            self.stop_reason = reason
        self.stop_requested.set()
        self.source.wake()

    def run(self) -> None:
        machine, timers, source = self.machine, self.timers, self.source
        while not machine.finished and not self.stop_requested.is_set():
            deadline = timers.next_deadline()
            event = source.next_event(deadline)
            if event is None:
                now = self.clock.now()
                callback = timers.pop_due(now)
                while callback is not None and not machine.finished:
                    callback()
                    callback = timers.pop_due(now)
                continue
            if isinstance(event, SignalChunk):
                if self.signals is not None:
                    self.signals.feed(event)
                continue
            self.handle_input(event)

    def handle_input(self, event: InputEvent) -> None:
        """Log an input event and deliver it to the current state (``name`` or ``name_off``)."""
        self.log(event.t, "input", event.name, _fmt(event.value), event.device_t)
        if self.on_input is not None:
            self.on_input(event)
        if event.name == CROSSING or event.value:
            self.machine.dispatch(event.name)
        else:
            self.machine.dispatch(event.name + "_off")


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(float(value), 6))
