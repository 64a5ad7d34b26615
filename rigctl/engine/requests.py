"""Operator requests that must run in the control-loop thread (the emergency laser latch).

Only the control loop may command the devices, but the GUI's commands arrive on another thread.
:class:`LoopRequests` stands between the loop and its event source: a request is queued and the
source woken, and the queue is emptied every time the loop asks for its next event — at the start
of every loop iteration, before the next input or timer is handled. So a request takes effect
within one loop iteration, in the loop's own thread, without the loop knowing about it.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from rigctl.hardware.interfaces import EventSource, InputEvent


class LoopRequests(EventSource):
    """An event source that runs queued requests before delegating to ``source``."""

    def __init__(self, source: EventSource) -> None:
        self.source = source
        self._pending: collections.deque[Callable[[], None]] = collections.deque()

    def submit(self, request: Callable[[], None]) -> None:
        """Thread-safe: ``request()`` runs in the loop thread before its next event."""
        self._pending.append(request)  # deque.append/popleft are atomic
        self.source.wake()

    def run_pending(self) -> None:
        while self._pending:
            self._pending.popleft()()

    def next_event(self, deadline: float) -> InputEvent | None:
        self.run_pending()
        return self.source.next_event(deadline)

    def revise(self, sample: int) -> None:
        self.source.revise(sample)

    def wake(self) -> None:
        self.source.wake()

    def close(self) -> None:
        self.source.close()
