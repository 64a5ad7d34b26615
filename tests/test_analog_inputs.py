"""Named analog inputs (rig config ``analog_inputs:``): routed by name, recorded, simulated."""

from __future__ import annotations

import numpy as np

from rigctl.engine.analog import AnalogInputs
from rigctl.engine.clock import VirtualClock
from rigctl.engine.loop import ControlLoop
from rigctl.engine.signals import SignalPipeline
from rigctl.engine.timers import Timers
from rigctl.hardware.events import QueueEventSource
from rigctl.hardware.interfaces import InputEvent, SignalChunk
from rigctl.predictor.settings import PredictorSettings


def _loop(clock: VirtualClock, source: QueueEventSource, logged: list) -> ControlLoop:
    loop = ControlLoop(clock, source, Timers(), None,
                       lambda *a: logged.append(a), watch=False)
    dispatched: list[InputEvent] = []
    loop.signals = SignalPipeline(PredictorSettings(), 1000.0, clock, source,
                                  laser=lambda: (0.0, 0.0), dispatch=dispatched.append,
                                  log=lambda *a: logged.append(a))
    loop.signals.recorders.append(lambda first, block: dispatched.append(first))
    loop.analog = AnalogInputs(log=lambda *a: logged.append(a))
    return loop


def test_an_analog_input_not_named_neural_signal_never_reaches_the_predictor():
    clock = VirtualClock()
    source = QueueEventSource(clock)
    logged: list = []
    loop = _loop(clock, source, logged)
    heard: list[SignalChunk] = []
    loop.analog.listen("wheel", heard.append)
    # A wheel spinning hard: far above anything the predictor expects of a neural signal.
    for k in range(3):
        source.put_signal(SignalChunk(t0=k * 0.005, first=k * 5, samples=np.full(5, 50.0),
                                      rate_hz=1000.0, name="wheel"))
    loop.serve(until=0.0)
    assert loop.signals.next_sample == 0  # the predictor saw no sample
    assert not any("gap" in str(x) for x in logged)
    assert [c.first for c in heard] == [0, 5, 10]


def test_the_neural_signal_still_reaches_the_predictor_and_not_the_analog_listeners():
    clock = VirtualClock()
    source = QueueEventSource(clock)
    logged: list = []
    loop = _loop(clock, source, logged)
    heard: list[SignalChunk] = []
    loop.analog.listen("wheel", heard.append)
    source.put_signal(SignalChunk(t0=0.0, first=0, samples=np.full(5, 0.2), rate_hz=1000.0))
    loop.serve(until=0.0)
    assert loop.signals.next_sample == 5
    assert heard == []


def test_a_gap_in_an_analog_input_is_logged_once_with_its_name():
    clock = VirtualClock()
    source = QueueEventSource(clock)
    logged: list = []
    loop = _loop(clock, source, logged)
    source.put_signal(SignalChunk(t0=0.0, first=0, samples=np.zeros(5), rate_hz=1000.0,
                                  name="wheel"))
    source.put_signal(SignalChunk(t0=0.01, first=10, samples=np.zeros(5), rate_hz=1000.0,
                                  name="wheel"))
    loop.serve(until=0.0)
    gaps = [x for x in logged if x[1] == "warning"]
    assert len(gaps) == 1 and gaps[0][2] == "wheel" and "expected sample 5, got 10" in gaps[0][3]
