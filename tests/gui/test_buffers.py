"""The live view's ring buffers keep exactly the newest rows, in order, in fixed memory."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gui.buffers import RingBuffer


@given(capacity=st.integers(1, 12),
       blocks=st.lists(st.integers(0, 30), min_size=1, max_size=25),
       singles=st.lists(st.booleans(), min_size=1, max_size=25))
def test_the_buffer_holds_the_newest_rows_oldest_first(capacity, blocks, singles):
    ring = RingBuffer(capacity, 2)
    model: deque[tuple[float, float]] = deque(maxlen=capacity)
    counter = 0
    for n, one in zip(blocks, singles, strict=False):
        rows = np.array([[counter + i, -(counter + i)] for i in range(n)], float).reshape(-1, 2)
        counter += n
        if one and n:
            for r in rows:
                ring.append(r)
        else:
            ring.extend(rows)
        model.extend(map(tuple, rows))
        assert [tuple(r) for r in ring.view()] == list(model)
        assert len(ring) == len(model)
    assert ring.total == counter
    last = ring.last()
    assert (last is None) == (not model) and (last is None or tuple(last) == model[-1])


def test_memory_is_allocated_once_and_does_not_grow():
    ring = RingBuffer(100, 6)
    before = ring.nbytes
    for i in range(50_000):
        ring.append(np.full(6, float(i)))
    ring.extend(np.ones((10_000, 6)))
    assert ring.nbytes == before == 2 * 100 * 6 * 8
    assert len(ring) == 100 and ring.total == 60_000


def test_the_view_is_read_only_and_clear_empties():
    ring = RingBuffer(3, 1)
    ring.extend(np.arange(5.0).reshape(-1, 1))
    v = ring.view()
    assert v.ravel().tolist() == [2.0, 3.0, 4.0]
    with pytest.raises(ValueError):
        v[0, 0] = 9
    ring.clear()
    assert len(ring) == 0 and ring.view().shape == (0, 1) and ring.last() is None


def test_a_zero_sized_buffer_is_refused():
    with pytest.raises(ValueError, match="capacity and width"):
        RingBuffer(0, 3)
