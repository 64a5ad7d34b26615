"""Fixed-size ring buffers of numeric rows: what the live view keeps of a session.

The live view draws the last 30 s of signal, the last few hundred trials and the last licks; a
session of ten thousand trials must not hold ten thousand of anything. Every history the GUI
keeps is one of these: its memory is allocated once, when the session starts, and stays the
same however long the session runs (``docs/performance.md`` has the measured RSS).

The rows are stored twice (at ``i`` and ``i + capacity``), so the newest ``n`` rows are always
one contiguous slice: :meth:`RingBuffer.view` is a view, not a copy, and costs nothing at each
redraw. Appending costs two row writes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class RingBuffer:
    """The newest ``capacity`` rows of ``width`` numbers, oldest first."""

    def __init__(self, capacity: int, width: int, dtype: type = np.float64) -> None:
        if capacity < 1 or width < 1:
            raise ValueError(f"RingBuffer needs capacity and width >= 1 (got {capacity}, {width})")
        self.capacity = int(capacity)
        self.width = int(width)
        self._data = np.full((2 * self.capacity, self.width), np.nan, dtype=dtype)
        self._next = 0  # where the next row goes, in [0, capacity)
        self._len = 0
        self.total = 0  # rows ever appended (the kept ones are the last len(self))

    def __len__(self) -> int:
        return self._len

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes)

    def clear(self) -> None:
        self._next = self._len = self.total = 0

    def append(self, row: Sequence[float] | np.ndarray) -> None:
        i = self._next
        self._data[i] = row
        self._data[i + self.capacity] = row
        self._next = (i + 1) % self.capacity
        self._len = min(self._len + 1, self.capacity)
        self.total += 1

    def extend(self, rows: np.ndarray) -> None:
        """Append a block of rows (shape ``(n, width)``); only the last ``capacity`` matter."""
        rows = np.asarray(rows, dtype=self._data.dtype).reshape(-1, self.width)
        n = len(rows)
        if n == 0:
            return
        self.total += n
        if n > self.capacity:
            rows = rows[-self.capacity:]
        k = len(rows)
        cap = self.capacity
        start = self._next
        first = min(k, cap - start)  # rows that fit before the end of the first copy
        for base in (0, cap):
            self._data[base + start: base + start + first] = rows[:first]
            if k > first:
                self._data[base: base + k - first] = rows[first:]
        self._next = (start + k) % cap
        self._len = min(self._len + k, cap)

    def view(self) -> np.ndarray:
        """The kept rows, oldest first: a read-only view valid until the next append."""
        end = self._next + self.capacity if self._len == self.capacity else self._next
        if self._len < self.capacity:
            out = self._data[:self._len]
        else:
            out = self._data[end - self.capacity: end]
        out = out.view()
        out.flags.writeable = False
        return out

    def last(self) -> np.ndarray | None:
        """The newest row (a copy), or None when empty."""
        if not self._len:
            return None
        return self._data[(self._next - 1) % self.capacity].copy()
