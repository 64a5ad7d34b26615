"""State machine semantics: entry/exit order, timers, cancelled timers, goto rules."""

from __future__ import annotations

import pytest

from rigctl.runtime.machine import ENTRY, EXIT, StateMachine
from rigctl.timing.clock import VirtualClock
from rigctl.timing.timers import Timers


class Harness:
    """Drives a machine by firing timers in time order on a virtual clock."""

    def __init__(self, handlers):
        self.clock = VirtualClock()
        self.timers = Timers()
        self.log: list[tuple[float, str]] = []
        self.m = StateMachine(self.clock, self.timers, handlers,
                              log=lambda t, k, n, v: self.log.append((t, n)))

    def run_until(self, t_end: float) -> None:
        while True:
            t = self.timers.next_deadline()
            if t > t_end or self.m.finished:
                break
            self.clock.wait_until(t)
            cb = self.timers.pop_due(t)
            while cb is not None:
                cb()
                cb = self.timers.pop_due(t)
        self.clock.wait_until(t_end)


def test_entry_exit_order_and_goto_after_handler_returns():
    calls = []

    def a(ev):
        calls.append(("a", ev))
        if ev == "go":
            h.m.goto("b")
            calls.append(("a", "after goto"))  # the handler finishes before the transition

    def b(ev):
        calls.append(("b", ev))

    h = Harness({"a": a, "b": b})
    h.m.start("a")
    h.m.dispatch("go")
    assert calls == [("a", ENTRY), ("a", "go"), ("a", "after goto"), ("a", EXIT), ("b", ENTRY)]
    assert h.m.state == "b"


def test_timed_goto_fires_at_its_time_and_is_cancelled_when_state_exits():
    seen = []

    def a(ev):
        if ev == ENTRY:
            h.m.timed_goto("c", 5.0)   # would fire at t=5 ...
            h.m.timed_goto("b", 2.0)   # ... but this one leaves first

    def b(ev):
        seen.append((h.clock.now(), "b", ev))
        if ev == ENTRY:
            h.m.timed_goto("a", 10.0)

    def c(ev):
        seen.append((h.clock.now(), "c", ev))

    h = Harness({"a": a, "b": b, "c": c})
    h.m.start("a")
    h.run_until(8.0)
    assert seen == [(2.0, "b", ENTRY)]  # c never entered: its timer died with state a
    assert h.m.state == "b"
    h.run_until(12.5)
    assert h.m.state == "a" and h.m.entered_at == 12.0


def test_set_timer_outlives_state_and_disarm_cancels():
    events = []

    def a(ev):
        if ev == ENTRY:
            h.m.set_timer("ping", 3.0)
            handle = h.m.set_timer("never", 4.0)
            h.m.disarm(handle)
            h.m.goto("b")

    def b(ev):
        events.append((h.clock.now(), ev))

    h = Harness({"a": a, "b": b})
    h.m.start("a")
    h.run_until(10.0)
    assert events == [(0.0, ENTRY), (3.0, "ping")]


def test_equal_deadlines_fire_in_the_order_set():
    order = []
    h = Harness({"a": lambda ev: None})
    for name in "xyz":
        h.timers.set_at(1.0, lambda n=name: order.append(n))
    h.run_until(2.0)
    assert order == ["x", "y", "z"]


def test_state_entries_are_logged_with_time():
    def a(ev):
        if ev == ENTRY:
            h.m.timed_goto("b", 1.5)

    h = Harness({"a": a, "b": lambda ev: None})
    h.m.start("a")
    h.run_until(3.0)
    assert h.log == [(0.0, "a"), (1.5, "b")]


def test_goto_rules_are_enforced():
    def a(ev):
        if ev == "twice":
            h.m.goto("b")
            h.m.goto("a")

    def b(ev):
        if ev == EXIT:
            h.m.goto("a")

    h = Harness({"a": a, "b": b})
    h.m.start("a")
    with pytest.raises(KeyError, match="unknown state"):
        h.m.goto("nowhere")
    with pytest.raises(RuntimeError, match="in one event"):
        h.m.dispatch("twice")
    h2 = Harness({"a": lambda ev: None, "b": b})
    h = h2
    h.m.start("b")
    with pytest.raises(RuntimeError, match="exit handler"):
        h.m.goto("a")


def test_immediate_transition_loop_is_detected():
    def a(ev):
        if ev == ENTRY:
            h.m.goto("b")

    def b(ev):
        if ev == ENTRY:
            h.m.goto("a")

    h = Harness({"a": a, "b": b})
    with pytest.raises(RuntimeError, match="without time passing"):
        h.m.start("a")


def test_stop_runs_exit_handler_and_ignores_later_events():
    calls = []
    h = Harness({"a": lambda ev: calls.append(ev)})
    h.m.start("a")
    h.m.stop()
    h.m.dispatch("late")
    assert calls == [ENTRY, EXIT]
    assert h.m.finished
