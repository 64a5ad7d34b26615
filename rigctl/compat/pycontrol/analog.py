"""pyControl's ``Analog_input``/``Rotary_encoder`` on a rig's named analog input.

Written from pyControl's hardware documentation: an analog input is sampled at
``sampling_rate``; its ``rising_event`` fires when a sample crosses ``threshold`` going up,
its ``falling_event`` when one crosses it going down. Here "above" is ``sample > threshold``;
the first sample sets the state without an event (no crossing has happened yet). A crossing
is an event at the time of the sample that crossed, in time order with the task's timers and
inputs (it goes through the engine's timers). The samples are also written as pyControl's
analog data files, ``<data file stem>_<name>.time.npy`` (float64, s since the run start) and
``.data.npy`` (the samples in the rig input's unit, float32): streamed to a temporary file
while the task runs (bounded memory) and converted to ``.npy`` at the run end, as pyControl's
GUI does.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

CHUNK = 1 << 18  # samples per piece when converting to .npy


@dataclass
class AnalogPin:
    """One ``Analog_input``/``Rotary_encoder`` of the task."""

    name: str
    sampling_rate: float
    threshold: float | None
    rising: str | None
    falling: str | None
    above: bool | None = None  # None until the first sample
    last: float = 0.0
    n: int = 0  # samples written to the data file so far
    t0: float = 0.0  # run time of the first sample written
    rate_hz: float = 0.0  # the rig input's rate (what the samples are at)
    _tmp: BinaryIO | None = field(default=None, repr=False)
    tmp_path: Path | None = None

    def crossings(self, samples: np.ndarray) -> list[tuple[int, bool]]:
        """(index in ``samples``, rising?) of every threshold crossing, in order."""
        x = np.asarray(samples, dtype=np.float64)
        if x.size:
            self.last = float(x[-1])
        if self.threshold is None or not x.size:
            return []
        above = x > self.threshold
        prev = bool(above[0]) if self.above is None else self.above
        self.above = bool(above[-1])
        changed = np.flatnonzero(above != np.concatenate(([prev], above[:-1])))
        return [(int(i), bool(above[i])) for i in changed]

    # --- pyControl's analog data files ------------------------------------------------------
    def open_data(self, folder: Path, stem: str) -> None:
        self.tmp_path = folder / f"{stem}_{self.name}.data.tmp"
        self._tmp = open(self.tmp_path, "wb")  # noqa: SIM115 - closed in close_data

    def write(self, t_run: float, samples: np.ndarray, rate_hz: float) -> None:
        if self._tmp is None:
            return
        if self.n == 0:
            self.t0, self.rate_hz = t_run, rate_hz
        self._tmp.write(np.ascontiguousarray(samples, dtype="<f4").tobytes())
        self.n += len(samples)

    def close_data(self) -> None:
        """The temporary file to ``.data.npy`` and its ``.time.npy``, piece by piece."""
        if self._tmp is None or self.tmp_path is None:
            return
        tmp, self._tmp = self._tmp, None
        tmp.close()
        stem = str(self.tmp_path)[: -len(".data.tmp")]
        _stream_npy(Path(stem + ".data.npy"), "<f4", self.n, _pieces(self.tmp_path, self.n))
        rate = self.rate_hz or self.sampling_rate
        times = (self.t0 + np.arange(a, min(a + CHUNK, self.n)) / rate
                 for a in range(0, self.n, CHUNK))
        _stream_npy(Path(stem + ".time.npy"), "<f8", self.n, times)
        with contextlib.suppress(OSError):
            self.tmp_path.unlink()


def _pieces(path: Path, n: int):  # type: ignore[no-untyped-def]
    with open(path, "rb") as f:
        for a in range(0, n, CHUNK):
            yield np.frombuffer(f.read(4 * min(CHUNK, n - a)), dtype="<f4")


def _stream_npy(path: Path, dtype: str, n: int, pieces) -> None:  # type: ignore[no-untyped-def]
    """An ``.npy`` of ``n`` values of ``dtype`` written piece by piece (numpy's own header)."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": (n,)})
        for piece in pieces:
            f.write(np.ascontiguousarray(piece, dtype=dtype).tobytes())
