"""A pyControl-style state machine: one handler per state, called with event names.

A handler receives ``"entry"`` when its state is entered, ``"exit"`` when it is left, and every
input or timer event while its state is current. ``goto`` inside a handler takes effect when the
handler returns (exit of the old state, then entry of the new), so a handler always finishes
before the next one runs. Timers set with ``timed_goto`` belong to the state and are cancelled
when it exits; timers set with ``set_timer`` outlive the state and post an event when due.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rigctl.hardware.interfaces import Clock
from rigctl.timing.timers import Timers

ENTRY = "entry"
EXIT = "exit"

Handler = Callable[[str], None]
LogFn = Callable[[float, str, str, str], None]

_MAX_TRANSITIONS_PER_INSTANT = 1000


class StateMachine:
    """Runs handlers for states named in ``handlers``; see the module docstring for semantics."""

    def __init__(
        self,
        clock: Clock,
        timers: Timers,
        handlers: Mapping[str, Handler],
        log: LogFn | None = None,
    ) -> None:
        if not handlers:
            raise ValueError("a state machine needs at least one state")
        self.clock = clock
        self.timers = timers
        self.handlers = dict(handlers)
        self.state: str | None = None
        self.entered_at = 0.0
        self.finished = False
        self._log = log or (lambda t, kind, name, value: None)
        self._pending: str | None = None
        self._in_handler = False
        self._in_exit = False
        self._state_timers: set[int] = set()

    # --- called by protocols ---------------------------------------------------------------
    def goto(self, state: str) -> None:
        """Leave the current state for ``state`` once the running handler returns."""
        if state not in self.handlers:
            raise KeyError(f"unknown state {state!r}; states are {sorted(self.handlers)}")
        if self._in_exit:
            raise RuntimeError(f"goto({state!r}) inside an exit handler is not allowed")
        if self._pending is not None and self._pending != state:
            raise RuntimeError(f"goto({state!r}) after goto({self._pending!r}) in one event")
        self._pending = state
        if not self._in_handler:
            self._run(lambda: None)

    def timed_goto(self, state: str, delay_s: float) -> None:
        """Go to ``state`` after ``delay_s`` unless the current state is left first."""
        if state not in self.handlers:
            raise KeyError(f"unknown state {state!r}; states are {sorted(self.handlers)}")
        handle = self.timers.set_at(self.clock.now() + delay_s, lambda: self.goto(state))
        self._state_timers.add(handle)

    def set_timer(self, event: str, delay_s: float) -> int:
        """Post ``event`` to whatever state is current after ``delay_s``; returns a handle."""
        return self.timers.set_at(self.clock.now() + delay_s, lambda: self.dispatch(event))

    def disarm(self, handle: int) -> None:
        self.timers.cancel(handle)

    def time_in_state(self) -> float:
        return self.clock.now() - self.entered_at

    # --- called by the engine --------------------------------------------------------------
    def start(self, state: str) -> None:
        self.finished = False
        self.goto(state)

    def dispatch(self, event: str) -> None:
        """Deliver ``event`` to the current state's handler."""
        if self.state is None or self.finished:
            return
        handler = self.handlers[self.state]
        self._run(lambda: handler(event))

    def stop(self) -> None:
        """Run the current state's exit handler and stop; later events are ignored."""
        if self.state is not None and not self.finished:
            self._exit_current()
        self.finished = True
        self._pending = None

    # --- internals -------------------------------------------------------------------------
    def _run(self, fn: Callable[[], None]) -> None:
        outer = self._in_handler
        self._in_handler = True
        try:
            fn()
            if outer:
                return
            count = 0
            while self._pending is not None and not self.finished:
                target, self._pending = self._pending, None
                count += 1
                if count > _MAX_TRANSITIONS_PER_INSTANT:
                    raise RuntimeError(f"state machine loops without time passing (at {target!r})")
                self._transition(target)
        finally:
            self._in_handler = outer

    def _exit_current(self) -> None:
        assert self.state is not None
        for h in self._state_timers:
            self.timers.cancel(h)
        self._state_timers.clear()
        self._in_exit = True
        try:
            self.handlers[self.state](EXIT)
        finally:
            self._in_exit = False

    def _transition(self, target: str) -> None:
        if self.state is not None:
            self._exit_current()
        self.state = target
        self.entered_at = self.clock.now()
        self._log(self.entered_at, "state", target, "")
        self.handlers[target](ENTRY)
