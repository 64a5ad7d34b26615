"""Deadline timers shared by the state machine, interlocks and devices timed by the engine."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable


class Timers:
    """A priority queue of (deadline, callback). Equal deadlines fire in the order they were set.

    Cancelling marks a handle dead instead of searching the heap, so both set and cancel are
    O(log n) and a cancelled timer can never fire.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._live: set[int] = set()

    def set_at(self, t: float, callback: Callable[[], None]) -> int:
        """Call ``callback`` once the clock reaches ``t``; returns a handle for ``cancel``."""
        if math.isnan(t):
            raise ValueError("timer deadline is NaN")
        handle = next(self._seq)
        heapq.heappush(self._heap, (t, handle, callback))
        self._live.add(handle)
        return handle

    def cancel(self, handle: int | None) -> None:
        if handle is not None:
            self._live.discard(handle)

    def next_deadline(self) -> float:
        """The earliest live deadline, or +inf when no timer is set."""
        heap = self._heap
        while heap and heap[0][1] not in self._live:
            heapq.heappop(heap)
        return heap[0][0] if heap else math.inf

    def pop_due(self, now: float) -> Callable[[], None] | None:
        """Remove and return the earliest live callback due at ``now``, or None."""
        if self.next_deadline() <= now:
            _, handle, cb = heapq.heappop(self._heap)
            self._live.discard(handle)
            return cb
        return None

    def clear(self) -> None:
        self._heap.clear()
        self._live.clear()
