"""Signals written to NWB a piece at a time, so an export never holds a whole trace in memory.

Kept apart from :mod:`rigctl.data.nwb` because it subclasses hdmf's iterator at import time,
and hdmf is only installed with the ``nwb`` extra.
"""

from __future__ import annotations

import numpy as np
from hdmf.backends.hdf5.h5_utils import H5DataIO
from hdmf.data_utils import GenericDataChunkIterator

from rigctl.data.signals import SignalsData

#: HDF5 chunk of a trace (256 kB of float32, as the in-memory export wrote) and the piece read
#: from signals.bin per write (4 MB of one channel): the bounded memory an export needs.
CHUNK_SAMPLES = 1 << 16
BUFFER_SAMPLES = 1 << 20
#: Traces shorter than this are written as they are (compression would cost more than it saves).
SMALL = 4096


class SignalChunks(GenericDataChunkIterator):  # type: ignore[misc] - hdmf is untyped
    """One channel of ``signals.bin``, read from the file buffer by buffer as h5py writes it."""

    def __init__(self, signals: SignalsData, name: str) -> None:
        self._signals, self._name = signals, name
        n = signals.n_samples
        chunk = min(n, CHUNK_SAMPLES)
        buffer = min(n, max(chunk, BUFFER_SAMPLES // chunk * chunk))
        super().__init__(chunk_shape=(chunk,), buffer_shape=(buffer,))

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        sl = selection[0]
        return self._signals.read(self._name, sl.start or 0, sl.stop)

    def _get_maxshape(self) -> tuple[int, ...]:
        return (self._signals.n_samples,)

    def _get_dtype(self) -> np.dtype:
        return np.dtype(np.float32)


def signal_data(signals: SignalsData, name: str) -> np.ndarray | H5DataIO:
    """What a TimeSeries of channel ``name`` gets as ``data``: gzip-compressed, shuffled, in
    chunks of :data:`CHUNK_SAMPLES` samples, streamed from the file; a short trace as an array."""
    if signals.n_samples < SMALL:
        return signals.read(name, 0, signals.n_samples)
    return H5DataIO(SignalChunks(signals, name), compression="gzip", compression_opts=4,
                    shuffle=True)
