"""Gaussian noise indexed by sample number, not by call order.

The simulated mouse is integrated over spans whose boundaries depend on when events happen. If
noise were drawn per call, stepping every millisecond and jumping between events would consume
the generator differently and give different mice. Drawing noise in fixed blocks keyed by
(seed, stream, block index) makes sample k's value the same however the time axis is cut.
"""

from __future__ import annotations

import numpy as np

BLOCK = 4096


class IndexedNormals:
    """Standard normal values z[k] for k = 0, 1, 2, ... reproducible from a SeedSequence."""

    def __init__(self, seed: np.random.SeedSequence, stream: int) -> None:
        self._entropy = seed.entropy
        self._key = (*seed.spawn_key, stream)
        self._block_index = -1
        self._block = np.empty(0)

    def _load(self, b: int) -> np.ndarray:
        if b != self._block_index:
            ss = np.random.SeedSequence(self._entropy, spawn_key=(*self._key, b))
            self._block = np.random.Generator(np.random.PCG64(ss)).standard_normal(BLOCK)
            self._block_index = b
        return self._block

    def take(self, k0: int, n: int) -> np.ndarray:
        """z[k0 : k0 + n] as a new array."""
        out = np.empty(n)
        pos = 0
        while pos < n:
            k = k0 + pos
            b, off = divmod(k, BLOCK)
            m = min(BLOCK - off, n - pos)
            out[pos : pos + m] = self._load(b)[off : off + m]
            pos += m
        return out
