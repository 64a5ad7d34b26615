"""The event-driven control loop: wait for the next input or timer, whichever comes first.

The loop never waits for a fixed tick to answer an input. On a rig it blocks in the event
source until an input arrives or the next timer is due, so an input is answered as soon as the
thread wakes; in simulation the virtual clock jumps straight to the next event.

On the wall clock the loop also notices when it was not running. It looks at the clock at least
every ``WATCH_S`` (besides its timers); coming back later than ``stall_s`` after a timer or a
look was due means the host stalled (swap, a GC pause, a suspended laptop, SIGSTOP) and nothing
the engine times (the laser's max on-time cut, state timers) acted meanwhile. Each stall is
logged once as a ``warning`` event named ``stall`` (the GUI shows it) and as a warning line.
Stalls longer than ``WATCH_S + stall_s`` are always seen; shorter ones when a timer was due.
The virtual clock never stalls: nothing is checked there.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

from rigctl.engine.frames import FrameClocks
from rigctl.hardware.interfaces import Clock, EventSource, InputEvent, SignalChunk
from rigctl.runtime.analog import AnalogInputs
from rigctl.runtime.machine import StateMachine
from rigctl.runtime.signals import CROSSING, NEURAL_SIGNAL, SignalPipeline
from rigctl.timing.lateness import LoopTiming
from rigctl.timing.timers import Timers

LogFn = Callable[..., None]  # (t, kind, name, value[, device_t])
STALL_S = 0.05  # default: a loop this late is a stall worth a warning
WATCH_S = 0.1  # on the wall clock the loop looks at the clock at least this often

log = logging.getLogger(__name__)


class ControlLoop:
    """Pulls events from ``source`` and timers from ``timers`` in time order into ``machine``.

    The one loop of the engine: a session runs it until its state machine finishes
    (``run``); manual control (``rigctl.engine.manual``), which has no state machine, runs it
    for the span of one operation (``serve``) and takes the inputs through ``on_input``.
    """

    def __init__(
        self,
        clock: Clock,
        source: EventSource,
        timers: Timers,
        machine: StateMachine | None,
        log: LogFn,
        stall_s: float = STALL_S,
        watch: bool | None = None,
    ) -> None:
        self.clock = clock
        self.source = source
        self.timers = timers
        self.machine = machine
        self.log = log
        self.stop_requested = threading.Event()
        self.stop_reason = ""
        self.on_input: Callable[[InputEvent], None] | None = None
        self.on_signal: Callable[[SignalChunk], None] | None = None
        self.frames: FrameClocks | None = None  # frame-clock edges go there, not to the task
        self.signals: SignalPipeline | None = None  # the neural signal's predictor
        self.analog: AnalogInputs | None = None  # every other analog input, by name
        self.stall_s = stall_s
        # stalls are watched on the wall clock (``watch=False``: not at all)
        self._watch = bool(getattr(clock, "realtime", False)) if watch is None else watch
        self._stall_seen_at = -math.inf  # anything due before this was late by that stall
        self._look_at = math.inf  # next time the loop must look at the clock (wall clock)
        # how late inputs and timers are answered: only the wall clock can be late
        self.timing = LoopTiming() if getattr(clock, "realtime", False) else None

    def request_stop(self, reason: str) -> None:
        """Thread- and signal-safe: the loop returns after the event in progress."""
        if not self.stop_requested.is_set():
            self.stop_reason = reason
        self.stop_requested.set()
        self.source.wake()

    def _finished(self) -> bool:
        return self.machine is not None and self.machine.finished

    def run(self) -> None:
        """Until the state machine finishes or a stop is requested."""
        self.serve()

    def serve(self, until: float = math.inf, stop: Callable[[], bool] | None = None) -> None:
        """Deliver timers and inputs in time order until the clock reaches ``until`` with
        nothing more due (so an output issued next never comes before an input that already
        happened), ``stop()`` is true after the timers due, the machine finishes or a stop is
        requested."""
        timers, source = self.timers, self.source
        if self._watch:
            self._look_at = self.clock.now() + WATCH_S
        while not self._finished() and not self.stop_requested.is_set():
            if stop is not None and stop():
                return
            done = until != math.inf and self.clock.now() >= until
            deadline = timers.next_deadline()
            event = source.next_event(
                self.clock.now() if done else min(deadline, self._look_at, until))
            if self._watch:
                self._watch_clock(deadline, timer_due=event is None)
            if event is None:
                now = self.clock.now()
                due = timers.next_deadline()
                callback = timers.pop_due(now)
                while callback is not None and not self._finished():
                    if self.timing is not None:
                        self.timing.timer_late.add(self.clock.now() - due)
                    callback()
                    due = timers.next_deadline()
                    callback = timers.pop_due(now)
                if done:
                    return
                continue
            if isinstance(event, SignalChunk):
                # Only the neural signal is the predictor's; a wheel or a pressure sensor
                # goes to its own listeners (the recorder, a task's threshold).
                if event.name == NEURAL_SIGNAL:
                    if self.signals is not None:
                        self.signals.feed(event)
                elif self.analog is not None:
                    self.analog.feed(event)
                if self.on_signal is not None:
                    self.on_signal(event)
                continue
            if self.frames is not None and self.frames.take(event):
                continue
            self.handle_input(event)
            if self.timing is not None:  # the handler's outputs are out: the edge is answered
                self.timing.input_to_output.add(self.clock.now() - event.t)

    def _watch_clock(self, deadline: float, timer_due: bool) -> None:
        """After each wait: how late is the loop against its last look or a due timer?"""
        now = self.clock.now()
        due, what = self._look_at, "a look at the clock"
        if timer_due and deadline < due:
            due, what = deadline, "a timer"
        if now >= due:
            self._check_late(now, due, what)
        if now >= self._look_at:
            self._look_at = now + WATCH_S

    def _check_late(self, now: float, due: float, what: str) -> None:
        """Log a stall when ``what`` due at ``due`` is handled at ``now``, over ``stall_s``
        late; once per stall (later items due before it was seen are the same stall)."""
        late = now - due
        if not late > self.stall_s or due < self._stall_seen_at:
            return
        self._stall_seen_at = now
        text = (f"control loop stalled: {what} due at {due:.3f} s was handled {late * 1000:.0f} "
                f"ms late (over stall_warning_s {self.stall_s * 1000:g} ms); nothing the engine "
                "times acted meanwhile")
        self.log(now, "warning", "stall", text)
        log.warning("%s", text)

    def handle_input(self, event: InputEvent) -> None:
        """Log an input event and deliver it to the current state (``name`` or ``name_off``)."""
        self.log(event.t, "input", event.name, _fmt(event.value), event.device_t)
        if self.on_input is not None:
            self.on_input(event)
        if self.machine is None:
            return
        if event.name == CROSSING or event.value:
            self.machine.dispatch(event.name)
        else:
            self.machine.dispatch(event.name + "_off")


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(float(value), 6))
