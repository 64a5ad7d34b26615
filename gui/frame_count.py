"""The live frame count of a session's frame-clock inputs (microscope frame-out, camera).

One line under the status strip: ``Frames  frame_clock 54,012 (30.0/s)``, updated from the
engine's :class:`rigctl.engine.messages.Frames` reports; hidden on a rig without a frame clock.
The rate is counted on the session clock between the last two reports, so a stalled or
unplugged microscope shows as a rate of 0 while the session time goes on.
"""

from __future__ import annotations

from collections.abc import Iterable

from PyQt5.QtWidgets import QLabel

from rigctl.engine import messages as m


class FrameCount(QLabel):
    """Frames so far per frame-clock input, and their rate."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("frame_count")
        self.setContentsMargins(4, 0, 4, 2)  # as the status strip above it
        self.counts: dict[str, tuple[int, float, float]] = {}  # name -> (count, t, rate)
        self.reset(())

    def reset(self, names: Iterable[str]) -> None:
        self.counts = {n: (0, 0.0, 0.0) for n in names}
        self.setVisible(bool(self.counts))
        self._show()

    def on_frames(self, msg: m.Frames) -> None:
        n0, t0, rate = self.counts.get(msg.name, (0, 0.0, 0.0))
        if msg.t > t0:
            rate = (msg.count - n0) / (msg.t - t0)
        self.counts[msg.name] = (msg.count, msg.t, rate)
        self.setVisible(True)
        self._show()

    def _show(self) -> None:
        parts = [f"{name} <b>{n:,}</b> ({rate:.1f}/s)" for name, (n, _, rate)
                 in self.counts.items()]
        self.setText("<span style='color:#666'>Frames</span>&nbsp;&nbsp;" + ", ".join(parts))
