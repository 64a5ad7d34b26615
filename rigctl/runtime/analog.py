"""Named analog inputs (``analog_inputs:`` in the rig config): their chunks, by name.

The control loop hands the neural signal's chunks to the predictor pipeline
(:mod:`rigctl.runtime.signals`) and every other analog input's chunks here, so a running wheel
or a pressure sensor is never taken for the neural signal. Whoever needs an input's samples
(the session's recorder, :class:`rigctl.engine.analog.AnalogRecorder`; a pyControl
``Rotary_encoder``) listens to it by name. Gaps (a chunk
that does not start where the last one ended) are logged once per gap, as for the neural
signal; listeners still get the chunk, with its own ``first``, so a recorder can pad the hole.
"""

from __future__ import annotations

from collections.abc import Callable

from rigctl.hardware.interfaces import SignalChunk

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
