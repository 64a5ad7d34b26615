"""Named analog inputs (``analog_inputs:`` in the rig config): their chunks, by name.

The control loop hands the neural signal's chunks to the predictor pipeline
(:mod:`rigctl.engine.signals`) and every other analog input's chunks here, so a running wheel
or a pressure sensor is never taken for the neural signal. Whoever needs an input's samples
(the session's recorder, a pyControl ``Rotary_encoder``) listens to it by name. Gaps (a chunk
that does not start where the last one ended) are logged once per gap, as for the neural
signal; listeners still get the chunk, with its own ``first``, so a recorder can pad the hole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from rigctl.hardware.interfaces import SignalChunk

if TYPE_CHECKING:  # the writer is handed in by the session; importing it here would close
    from rigctl.data.signals import SignalWriter  # a circle through rigctl.protocols

Listener = Callable[[SignalChunk], None]
LogFn = Callable[..., None]  # (t, kind, name, value)


class AnalogInputs:
    """Per-name listeners of analog-input chunks, fed by the control loop in time order."""

    def __init__(self, log: LogFn) -> None:
        self._log = log
        self._listeners: dict[str, list[Listener]] = {}
        self._next: dict[str, int] = {}  # next expected sample of each input

    def listen(self, name: str, listener: Listener) -> None:
        """Call ``listener(chunk)`` for every chunk of the analog input ``name``."""
        self._listeners.setdefault(name, []).append(listener)

    def feed(self, chunk: SignalChunk) -> None:
        expected = self._next.get(chunk.name, 0)
        if chunk.first != expected:
            self._log(chunk.t0, "warning", chunk.name,
                      f"signal gap: expected sample {expected}, got {chunk.first}")
        self._next[chunk.name] = chunk.first + len(chunk.samples)
        for listener in self._listeners.get(chunk.name, ()):
            listener(chunk)


#: An analog input's file is made durable (fsync) at least every this many seconds of its
#: samples, besides every trial end: tasks without trials (pyControl's) lose at most this.
FLUSH_S = 10.0


class AnalogRecorder:
    """Writes one analog input's chunks to its ``analog_<name>.bin``, in bounded memory.

    The file is opened at the first chunk, so its ``t0_s`` is the session time of the input's
    first sample as its device reports it. A gap (lost samples) is filled with NaN so every
    later sample keeps its time; samples that overlap what is written (a device that repeats
    itself) are dropped. Each chunk goes straight to the writer's buffered file.
    """

    def __init__(self, open_writer: Callable[[float], SignalWriter],
                 flush_s: float = FLUSH_S) -> None:
        self._open = open_writer
        self._flush_s = flush_s
        self.writer: SignalWriter | None = None
        self._flush_at = 0

    def __call__(self, chunk: SignalChunk) -> None:
        w = self.writer
        if w is None:
            w = self.writer = self._open(chunk.t0 - chunk.first / chunk.rate_hz)
            self._flush_at = max(1, round(self._flush_s * chunk.rate_hz))
        samples = np.asarray(chunk.samples, dtype=np.float32).reshape(-1, 1)
        first = chunk.first
        if first < w.n_samples:  # already written
            samples = samples[w.n_samples - first:]
            first = w.n_samples
        elif first > w.n_samples:
            w.pad_to(first)
        w.append(first, samples)
        if w.n_samples >= self._flush_at:
            w.flush()
            self._flush_at = w.n_samples + max(1, round(self._flush_s * chunk.rate_hz))
