"""Frame clocks in: the control loop hands each frame-clock edge here instead of to the task.

A frame clock (``inputs.NAME.frame_clock`` in the rig config) ticks at up to 1 kHz for the whole
session. Its rising edges are counted and appended to ``frames_<name>.bin``
(:mod:`rigctl.data.frames`): no ``events.csv`` row, no event listener call, no state-machine
dispatch per frame, so a 1 kHz clock costs the loop one dictionary lookup and a buffered
append per edge (docs/sync.md, "Frame clocks in", has the measured cost). Falling edges are
dropped: a frame is its rising edge.

Listeners (the GUI's live count, through the engine process) get ``(name, count, t)`` at most
every ``report_s`` of session time, and once more for each input at :meth:`close`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rigctl.data.frames import FramesWriter
from rigctl.hardware.interfaces import InputEvent

FrameListener = Callable[[str, int, float], None]  # (input name, frames so far, session time)
REPORT_S = 0.25  # the live count is updated this often (session time)


class FrameClocks:
    """The session's frame-clock inputs, their counts and their files."""

    def __init__(self, names: Iterable[str], report_s: float = REPORT_S) -> None:
        self.counts: dict[str, int] = dict.fromkeys(names, 0)
        self.writers: dict[str, FramesWriter] = {}
        self.listeners: list[FrameListener] = []
        self.report_s = report_s
        self._next_report = 0.0

    def __bool__(self) -> bool:
        return bool(self.counts)

    def attach(self, name: str, writer: FramesWriter) -> None:
        """Record input ``name``'s frames into ``writer`` (the session folder exists now)."""
        self.writers[name] = writer

    def take(self, event: InputEvent) -> bool:
        """True if ``event`` is a frame-clock edge (recorded here, not for the task)."""
        counts = self.counts
        if event.name not in counts:
            return False
        if event.value:
            counts[event.name] += 1
            writer = self.writers.get(event.name)
            if writer is not None:
                writer.append(event.t, event.device_t)
            if event.t >= self._next_report and self.listeners:
                self._next_report = event.t + self.report_s
                self._report(event.t)
        return True

    def _report(self, t: float) -> None:
        for listener in self.listeners:
            for name, n in self.counts.items():
                listener(name, n, t)

    def close(self, t: float) -> None:
        """The final counts to every listener."""
        if self.counts:
            self._report(t)
