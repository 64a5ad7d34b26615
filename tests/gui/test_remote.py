"""The engine-process plumbing without Qt: decimation, coalescing, and an outbox that never
blocks the control loop, even when the GUI stops reading."""

from __future__ import annotations

import multiprocessing
import threading
import time

import numpy as np

from rigctl.engine import messages as m
from rigctl.engine.messages import Event, Trial
from rigctl.engine.remote import (
    SIGNAL_COLUMNS,
    Decimator,
    EngineProcess,
    Outbox,
    SignalBuffer,
    StartRequest,
)
from tests.gui.conftest import SIM_YAML


def test_decimator_bins_one_sample_chunks_like_one_big_chunk():
    rng = np.random.default_rng(0)
    block = rng.random((1000, 4)).astype(np.float32)
    big, small = [], []
    Decimator(1000, 100, big.append)(0, block)
    d = Decimator(1000, 100, small.append)
    for i in range(1000):  # a rig delivers one sample at a time
        d(i, block[i:i + 1])
    a, b = np.concatenate(big), np.concatenate(small)
    assert a.shape == (100, len(SIGNAL_COLUMNS)) and np.allclose(a, b)
    assert np.allclose(a[:, 0], np.arange(100) / 100)
    assert np.allclose(a[3, 1], block[30:40, 0].mean())
    assert np.allclose(a[3, 2], block[30:40, 0].min())
    assert np.allclose(a[3, 3], block[30:40, 0].max())
    assert np.allclose(a[3, 6], block[30:40, 3].max())


def test_decimator_restarts_after_a_gap():
    out = []
    d = Decimator(1000, 100, out.append)
    d(0, np.ones((5, 4), np.float32))  # half a bin, then a gap
    d(100, np.zeros((10, 4), np.float32))
    (rows,) = out
    assert rows.shape[0] == 1 and rows[0, 0] == 0.1 and rows[0, 1] == 0.0


def test_signal_buffer_keeps_only_the_newest_rows():
    buf = SignalBuffer(keep_rows=100)
    for i in range(50):
        buf.add(np.full((10, 7), i, float))
    rows = buf.take()
    assert 100 <= len(rows) < 110 and rows[-1, 0] == 49
    assert buf.dropped == 500 - len(rows)
    assert buf.take() is None


def test_outbox_never_blocks_and_never_drops_trials():
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    out = Outbox(child, keep_rows=300)
    big = np.zeros((100, 7))

    def produce() -> None:
        for i in range(2000):  # the parent does not read: the pipe fills up
            out.put(Trial({"trial": i, "pad": "x" * 500}, {}))
            out.signals.add(big)

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(timeout=60)  # a hang guard, not a speed check
    assert not producer.is_alive(), "put() blocked on a pipe nobody reads"
    trials, rows = [], 0
    deadline = time.monotonic() + 20
    while len(trials) < 2000 and time.monotonic() < deadline:
        if parent.poll(0.1):
            _, batch = parent.recv()
            trials += [m.record["trial"] for m in batch["msgs"] if isinstance(m, Trial)]
            if batch["signal"] is not None:
                rows += len(batch["signal"])
    assert trials == list(range(2000))
    assert rows < 2000 * 100 and out.signals.dropped > 0  # signal was coalesced and trimmed
    out.close(timeout=1)


def test_outbox_reports_a_vanished_parent():
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    out = Outbox(child)
    gone = []
    out.on_parent_gone = lambda: gone.append(True)
    parent.close()
    out.put(Event(0.0, "state", "iti", ""))
    deadline = time.monotonic() + 5
    while not gone and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gone == [True] and out.parent_gone.is_set()
    out.close(timeout=1)


def test_engine_child_dispatches_typed_commands_and_reports_unknown_ones(tmp_path):
    req = StartRequest(str(SIM_YAML), "delayed_alternation", params={"n_trials": 100_000},
                       data_root=str(tmp_path), seed=3, realtime=False, summary_figure=False)
    proc = EngineProcess(req)
    proc.start()
    try:
        got = proc.wait_for((m.Ready, m.Failed), timeout=60)
        ready = next(g for g in got if isinstance(g, (m.Ready, m.Failed)))
        assert isinstance(ready, m.Ready) and ready.has_laser, ready
        assert proc.send(m.Cancel())  # a manual command: not the engine's
        rid = proc.set_params({"iti_s": -1.0})
        got = proc.wait_for((m.ParamsResult,), timeout=30)
        result = next(g for g in got if isinstance(g, m.ParamsResult))
        assert result.id == rid and result.problems and result.problems[0].startswith("iti_s")
        warnings = [g for g in got if isinstance(g, m.Event) and g.kind == "warning"]
        assert [w.value for w in warnings] == ["unknown command Cancel"]
        proc.stop("test")
        got = proc.wait_for((m.Ended,), timeout=60)
        ended = next(g for g in got if isinstance(g, m.Ended))
        assert ended.status == "aborted" and ended.reason == "test"
    finally:
        proc.join(30)
        proc.kill()
