"""Recording a named analog input: its chunks to ``analog_<name>.bin``, in bounded memory.

The session listens to every analog input (:class:`rigctl.runtime.analog.AnalogInputs`) with
one :class:`AnalogRecorder` each; the file format is :mod:`rigctl.data.analog`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from rigctl.hardware.interfaces import SignalChunk

if TYPE_CHECKING:  # the writer is handed in by the session
    from rigctl.data.signals import SignalWriter


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
