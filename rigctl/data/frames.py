"""``frames_<input>.bin``: every edge of a frame clock, 16 bytes a frame, crash-tolerant.

A frame clock (a microscope's frame-out, a camera's exposure line) ticks up to 1 kHz for hours;
one ``events.csv`` row per frame would be ~45 bytes of text, a checksum to format and an event
message to the GUI per frame (benchmarks/bench_sync.py measures both). Instead each rising edge
is one fixed-size record in a file of its own. Layout (little-endian; docs/data-format.md)::

    offset  size  field
    0       8     magic b"RIGCTLFR"
    8       4     uint32 format version of this file (FRAMES_VERSION)
    12      4     uint32 data_offset: bytes from the start of the file to the first record
    16      ...   header JSON (UTF-8: input, channel, columns), padded with spaces to data_offset
    data_offset   records, one per frame: float64 t_s (session clock), float64 device_t_s (the
                  input device's own timestamp of the edge; NaN when it has no clock)

Why this shape (as ``signals.bin``, :mod:`rigctl.data.signals`): the data are a plain
structured array (``np.fromfile(path, FRAME_DTYPE, offset=data_offset)``); the header is written
to a temporary file, fsynced and renamed, so it is always whole; a torn last record (the process
died mid-write) is the bytes past the last whole record. Checksums are streamed beside it in
``frames_<input>.crc``, the format of ``signals.crc``: a prefix (magic ``RIGCTLCK``, version,
records per block, CRC-32 of the header), then the CRC-32 of every block of
:data:`CRC_BLOCK` records and its complement. A frame in a damaged block reads as NaN and keeps
its index, so frame numbers never shift.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rigctl.data.durable import fsync_dir
from rigctl.data.signals import ALIGN, CRC_BLOCK, CRC_ENTRY, CRC_MAGIC, CRC_PREFIX, PREFIX
from rigctl.errors import DataError

FRAMES_MAGIC = b"RIGCTLFR"
FRAMES_VERSION = 1
FRAME_DTYPE = np.dtype([("t_s", "<f8"), ("device_t_s", "<f8")])
RECORD = FRAME_DTYPE.itemsize  # 16 bytes
_BUFFER = 256  # frames held in memory before a write (4 kB)


def frames_file(name: str) -> str:
    """The file of frame-clock input ``name``."""
    return f"frames_{name}.bin"


def crc_file(name: str) -> str:
    return f"frames_{name}.crc"


def encode_header(name: str, channel: str, extra: dict[str, Any] | None = None) -> bytes:
    meta = {"format": "rigctl-frames", "version": FRAMES_VERSION, "input": name,
            "channel": channel, "edge": "rising", "columns": list(FRAME_DTYPE.names or ()),
            "units": {"t_s": "s (session clock)", "device_t_s": "s (input device's clock)"},
            "dtype": "<f8", **(extra or {})}
    body = json.dumps(meta, ensure_ascii=False).encode("utf-8") + b"\n"
    offset = -(-(PREFIX.size + len(body)) // ALIGN) * ALIGN
    body += b" " * (offset - PREFIX.size - len(body))
    return PREFIX.pack(FRAMES_MAGIC, FRAMES_VERSION, offset) + body


class FramesWriter:
    """Appends the frames of one frame-clock input; called from the control loop.

    ``append`` only stores two floats; every :data:`_BUFFER` frames they go to the buffered
    file and into the running checksum; ``flush`` (with every trial) makes them durable.
    """

    def __init__(self, folder: Path, name: str, channel: str,
                 extra: dict[str, Any] | None = None) -> None:
        self.name = name
        self.path = Path(folder) / frames_file(name)
        self.crc_path = Path(folder) / crc_file(name)
        self.n = 0
        self.closed = False
        self._buf = np.empty(_BUFFER, FRAME_DTYPE)
        self._k = 0
        self._crc = 0
        self._in_block = 0
        if self.path.exists():
            raise DataError(f"{self.path}: already exists (frames are never overwritten)")
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            head = encode_header(name, channel, extra)
            with open(tmp, "wb") as f:
                f.write(head)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            fsync_dir(self.path.parent)
            self._f = open(self.path, "ab")  # noqa: SIM115 - open until close()
            self._crc_f = open(self.crc_path, "wb")  # noqa: SIM115 - open until close()
            self._crc_f.write(CRC_PREFIX.pack(CRC_MAGIC, 1, CRC_BLOCK, zlib.crc32(head)))
            self._crc_f.flush()
            os.fsync(self._crc_f.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise DataError(f"cannot write {self.path}: {exc.strerror}") from None

    def append(self, t: float, device_t: float | None = None) -> None:
        """One frame: its rising edge at session time ``t`` (and on the device's clock)."""
        self._buf[self._k] = (t, np.nan if device_t is None else device_t)
        self._k += 1
        self.n += 1
        if self._k == _BUFFER:
            self._write()

    def _write(self) -> None:
        if not self._k:
            return
        block = self._buf[:self._k]
        data = memoryview(block.tobytes())
        self._k = 0
        try:
            self._f.write(data)
        except OSError as exc:
            raise DataError(f"cannot write to {self.path}: {exc.strerror} (disk full or "
                            "removed?)") from None
        n, pos = len(block), 0
        while n:
            take = min(n, CRC_BLOCK - self._in_block)
            self._crc = zlib.crc32(data[pos:pos + take * RECORD], self._crc)
            self._in_block += take
            pos += take * RECORD
            n -= take
            if self._in_block == CRC_BLOCK:
                self._crc_f.write(CRC_ENTRY.pack(self._crc, self._crc ^ 0xFFFFFFFF))
                self._crc, self._in_block = 0, 0

    def flush(self) -> None:
        """Every frame so far on disk (write, flush, fsync)."""
        if self.closed:
            return
        self._write()
        try:
            for f in (self._f, self._crc_f):
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise DataError(f"cannot write to {self.path}: {exc.strerror} (disk full or "
                            "removed?)") from None

    def close(self) -> None:
        """Flush, checksum the last partial block, close; safe to call more than once."""
        if self.closed:
            return
        try:
            self._write()
            if self._in_block:
                self._crc_f.write(CRC_ENTRY.pack(self._crc, self._crc ^ 0xFFFFFFFF))
            self.flush()
        finally:
            self.closed = True
            for f in (self._f, self._crc_f):
                with contextlib.suppress(OSError):
                    f.close()


@dataclass
class FramesData:
    """The frames of one input: ``t[k]`` is frame k's rising edge on the session clock, NaN
    where its checksum block is damaged; ``device_t`` the same edge on the device's clock."""

    path: Path
    name: str
    t: np.ndarray
    device_t: np.ndarray
    meta: dict[str, Any]
    torn_bytes: int = 0
    damaged: list[tuple[int, int]] = field(default_factory=list)
    unverified: int = 0

    @property
    def n(self) -> int:
        return len(self.t)

    def problems(self) -> list[str]:
        """One line per damaged block (what the loader reports as damage)."""
        return [f"frames {a}-{b - 1}: checksum mismatch (read as NaN)" for a, b in self.damaged]


def read_frames(path: Path) -> FramesData:
    """Read a ``frames_<input>.bin`` and check it against its ``.crc``; a torn last record is
    left out (``torn_bytes``), a damaged block reads as NaN. DataError for a file that is not
    a frames file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc.strerror})") from None
    if len(raw) < PREFIX.size or raw[:8] != FRAMES_MAGIC:
        raise DataError(f"{path}: not a rigctl frames file (bad magic)")
    _, version, offset = PREFIX.unpack_from(raw)
    if version > FRAMES_VERSION:
        raise DataError(f"{path}: frames format {version} is newer than this rigctl reads "
                        f"({FRAMES_VERSION}); upgrade rigctl")
    if not PREFIX.size < offset <= len(raw):
        raise DataError(f"{path}: corrupt header (data offset {offset}, size {len(raw)})")
    try:
        meta = json.loads(raw[PREFIX.size:offset].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: corrupt header ({type(exc).__name__})") from None
    n, torn = divmod(len(raw) - offset, RECORD)
    rec = np.frombuffer(raw, FRAME_DTYPE, count=n, offset=offset)
    t, dev = rec["t_s"].copy(), rec["device_t_s"].copy()
    damaged, unverified = _check(path, raw, offset, n)
    for a, b in damaged:
        t[a:b] = np.nan
        dev[a:b] = np.nan
    name = str(meta.get("input", path.stem.removeprefix("frames_")))
    return FramesData(path, name, t, dev, meta, torn, damaged, unverified)


def _check(path: Path, raw: bytes, offset: int, n: int) -> tuple[list[tuple[int, int]], int]:
    """(damaged record ranges, records without a checksum) from the ``.crc`` beside ``path``."""
    crc_path = path.with_suffix(".crc")
    try:
        sums = crc_path.read_bytes()
    except OSError:
        return [], n
    if len(sums) < CRC_PREFIX.size or sums[:8] != CRC_MAGIC:
        return [], n
    _, _, block, _head = CRC_PREFIX.unpack_from(sums)
    if block <= 0:
        return [], n
    entries = (len(sums) - CRC_PREFIX.size) // CRC_ENTRY.size
    damaged: list[tuple[int, int]] = []
    unverified = 0
    for k, start in enumerate(range(0, n, block)):
        stop = min(start + block, n)
        if k >= entries:
            unverified += stop - start
            continue
        crc, inv = CRC_ENTRY.unpack_from(sums, CRC_PREFIX.size + k * CRC_ENTRY.size)
        if crc ^ inv != 0xFFFFFFFF or (stop - start < block and k != entries - 1):
            unverified += stop - start
        elif zlib.crc32(raw[offset + start * RECORD:offset + stop * RECORD]) != crc:
            damaged.append((start, stop))
    return damaged, unverified


def frame_inputs(folder: Path) -> list[str]:
    """Names of the frame-clock inputs recorded in ``folder`` (from the file names)."""
    return sorted(p.name[len("frames_"):-len(".bin")] for p in Path(folder).glob("frames_*.bin"))
