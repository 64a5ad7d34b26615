"""Neural signal → real-time predictor → threshold-crossing events, inside the control loop.

Chunks of the neural signal arrive through the event source in time order with the input edges.
Each chunk runs through the predictor with the laser's current inhibition as its second input.
At a threshold crossing the chunk is cut: the samples up to the crossing are kept, the crossing
is dispatched as an input event (``ca_crossing``) in the same loop iteration, and what follows
runs with the laser state the protocol has just chosen. On a simulated rig in virtual time the
rest of the chunk is *revisable* (it was computed assuming the laser off), so the loop asks the
source to regenerate it; this is what makes a session jumping from event to event identical to
one stepped every millisecond.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rigctl.hardware.interfaces import Clock, EventSource, InputEvent, SignalChunk
from rigctl.predictor.settings import PredictorSettings
from rigctl.predictor.stream import Predictor

CROSSING = "ca_crossing"
NEURAL_SIGNAL = "neural_signal"  # the chunks of this name (only) feed the predictor
CHANNELS = (NEURAL_SIGNAL, "calcium", "gliotransmission", "laser_mw")
Recorder = Callable[[int, np.ndarray], None]


class SignalPipeline:
    def __init__(
        self,
        settings: PredictorSettings,
        rate_hz: float,
        clock: Clock,
        source: EventSource,
        laser: Callable[[], tuple[float, float]],
        dispatch: Callable[[InputEvent], None],
        log: Callable[[float, str, str, str], None],
    ) -> None:
        self.settings = settings
        self.predictor: Predictor = settings.build(rate_hz)
        self.rate_hz = rate_hz
        self.clock = clock
        self.source = source
        self.laser = laser  # () -> (commanded mW, duty cycle)
        self.dispatch = dispatch
        self.log = log
        self.recorders: list[Recorder] = []
        self.next_sample = 0
        self.last_signal = float("nan")

    @property
    def value(self) -> float:
        """The tracked variable (calcium or gliotransmission) after the last sample."""
        return self.predictor.value

    def _inhibition(self, power_mw: float, duty: float) -> float:
        """Inhibition input of the predictor: pulsed light inhibits by its duty cycle."""
        return self.settings.laser_inhibition * duty if power_mw > 0 else 0.0

    def _record(self, first: int, samples: np.ndarray, chunk_out, power_mw: float) -> None:
        if samples.size:
            self.last_signal = float(samples[-1])
        if not self.recorders:
            return
        block = np.empty((samples.size, len(CHANNELS)), dtype=np.float32)
        block[:, 0] = samples
        block[:, 1] = chunk_out.calcium
        block[:, 2] = chunk_out.gliotransmission
        block[:, 3] = power_mw
        for rec in self.recorders:
            rec(first, block)

    def feed(self, chunk: SignalChunk) -> None:
        """Process one chunk; may dispatch a crossing event (and then cut the chunk)."""
        if chunk.first != self.next_sample:
            self.log(chunk.t0, "warning", chunk.name,
                     f"signal gap: expected sample {self.next_sample}, got {chunk.first}")
        samples = np.asarray(chunk.samples, dtype=np.float64)
        pred, n, pos = self.predictor, samples.size, 0
        dt = 1.0 / chunk.rate_hz
        while pos < n:
            power, duty = self.laser()
            inhibition = self._inhibition(power, duty)
            snap = pred.snapshot()
            out = pred.process(samples[pos:], inhibition)
            j = out.crossing
            if j < 0:
                self._record(chunk.first + pos, samples[pos:], out, power)
                pos = n
                break
            if pos + j + 1 < n:  # keep only the samples up to the crossing
                pred.restore(snap)
                out = pred.process(samples[pos:pos + j + 1], inhibition)
            self._record(chunk.first + pos, samples[pos:pos + j + 1], out, power)
            pos += j + 1
            t_cross = chunk.t0 + pos * dt
            self.next_sample = chunk.first + pos
            if chunk.revisable:
                self.source.revise(self.next_sample)  # type: ignore[attr-defined]
                self.clock.wait_until(t_cross)
                self.dispatch(InputEvent(t=t_cross, name=CROSSING, value=pred.value))
                return
            self.dispatch(InputEvent(t=t_cross, name=CROSSING, value=pred.value))
        self.next_sample = chunk.first + n
        if chunk.revisable:
            self.clock.wait_until(chunk.t0 + n * dt)
