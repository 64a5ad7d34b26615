"""``signals.bin``: continuous traces, append-only, crash-tolerant, readable with numpy alone.

Layout (all little-endian; see docs/data-format.md)::

    offset  size  field
    0       8     magic b"RIGCTLSG"
    8       4     uint32 format version of this file (SIGNALS_VERSION)
    12      4     uint32 data_offset: bytes from the start of the file to the first record
    16      ...   header JSON (UTF-8), padded with spaces up to data_offset (a multiple of 16)
    data_offset   records, one per sample: one float32 per channel, in channel order

Sample k of every channel is at ``t0_s + k / rate_hz`` on the session clock. Why this shape:

- One fixed-size record per sample, nothing between records, so the data are a plain
  ``(n_samples, n_channels)`` float32 array (``np.fromfile``/``np.memmap`` with an offset) and a
  torn last record, the only damage an append-only file gets when its process dies, is simply
  the bytes past the last whole record: the reader drops them with a warning.
- The header is written to a temporary file, fsynced and renamed into place, so a
  ``signals.bin`` that exists always has a whole header; it never changes afterwards.
- JSON in the header keeps channel names and units self-describing and lets the header grow
  without a new binary layout.
- Named analog inputs (``analog_inputs:``) are written in this same format, one file each,
  ``analog_<name>.bin`` with one channel ``<name>`` and its own ``analog_<name>.crc``
  (:mod:`rigctl.data.analog`).
- Checksums live beside the data, in ``signals.crc`` (format 3), so ``signals.bin`` stays a
  plain array: a prefix (magic ``RIGCTLCK``, version, samples per block, CRC-32 of the whole
  ``signals.bin`` header up to ``data_offset``), then for every block
  of :data:`CRC_BLOCK` samples the CRC-32 of its bytes and its complement (8 bytes; a damaged
  entry is told from a damaged block because the pair no longer matches). An entry is written
  when its block is full, and one for the last partial block at close, so after a crash only
  the samples since the last full block are unverified. A damaged block reads as NaN and is
  reported; every other sample keeps its time.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from rigctl.data.durable import fsync_dir
from rigctl.data.metadata import NO_SPACE
from rigctl.data.schema import DEFAULT_SIGNAL_UNIT, SIGNAL_CHANNELS
from rigctl.errors import DataError

SIGNALS_FILE = "signals.bin"
SIGNALS_MAGIC = b"RIGCTLSG"
SIGNALS_VERSION = 1
SIGNALS_DTYPE = "<f4"
PREFIX = struct.Struct("<8sII")  # magic, version, data_offset
ALIGN = 16
CRC_FILE = "signals.crc"
CRC_MAGIC = b"RIGCTLCK"
CRC_PREFIX = struct.Struct("<8sIII")  # magic, version, samples per block, crc32 of the header
CRC_ENTRY = struct.Struct("<II")  # crc32 of the block, its complement
CRC_BLOCK = 1024


def crc_path_of(path: Path) -> Path:
    """The checksum file beside a signals-format file: ``signals.bin`` -> ``signals.crc``,
    ``analog_wheel.bin`` -> ``analog_wheel.crc`` (every such file has its own)."""
    path = Path(path)
    return path.with_name(path.stem + ".crc")


def encode_header(channels: Sequence[str], rate_hz: float, t0_s: float,
                  units: dict[str, str] | None = None) -> bytes:
    """The header bytes (prefix + padded JSON); data start right after them. ``units``
    overrides the declared unit of a channel (an analog input's own, e.g. ``V``)."""
    units = units or {}
    meta = {
        "format": "rigctl-signals",
        "version": SIGNALS_VERSION,
        "rate_hz": float(rate_hz),
        "t0_s": float(t0_s),
        "channels": list(channels),
        "units": {c: units.get(c) or (SIGNAL_CHANNELS[c].unit if c in SIGNAL_CHANNELS
                                      else DEFAULT_SIGNAL_UNIT) for c in channels},
        "dtype": SIGNALS_DTYPE,
        "record": "one value per channel, in channel order, for every sample",
    }
    body = json.dumps(meta, ensure_ascii=False).encode("utf-8") + b"\n"
    offset = -(-(PREFIX.size + len(body)) // ALIGN) * ALIGN
    body += b" " * (offset - PREFIX.size - len(body))
    return PREFIX.pack(SIGNALS_MAGIC, SIGNALS_VERSION, offset) + body


class SignalWriter:
    """Appends samples of ``channels`` at ``rate_hz`` to a new ``signals.bin``.

    Called from the control loop: ``append`` only checks, converts and hands bytes to a buffered
    file; ``flush`` (at each trial end) makes everything so far durable. Not thread-safe.
    """

    def __init__(self, path: Path, channels: Sequence[str], rate_hz: float,
                 t0_s: float = 0.0,
                 no_space: Callable[[OSError], str] | None = None,
                 units: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.channels: tuple[str, ...] = tuple(channels)
        self.rate_hz = float(rate_hz)
        self.t0_s = float(t0_s)
        self.n_samples = 0
        self.closed = False
        if not self.channels or len(set(self.channels)) != len(self.channels):
            raise DataError(f"{self.path}: signal channels must be distinct names, got "
                            f"{list(self.channels)}")
        if not all(isinstance(c, str) and c for c in self.channels):
            raise DataError(f"{self.path}: signal channel names must be non-empty text")
        if not (np.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise DataError(f"{self.path}: sample rate must be > 0 Hz, got {rate_hz!r}")
        if self.path.exists():
            raise DataError(f"{self.path}: already exists (signals are never overwritten)")
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            head = encode_header(self.channels, self.rate_hz, self.t0_s, units)
            with open(tmp, "wb") as f:
                f.write(head)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            fsync_dir(self.path.parent)
            self._f = open(self.path, "ab")  # noqa: SIM115 - open until close()
            self.crc_path = crc_path_of(self.path)
            self._crc_f = open(self.crc_path, "wb")  # noqa: SIM115 - open until close()
            self._crc_f.write(CRC_PREFIX.pack(CRC_MAGIC, 1, CRC_BLOCK, zlib.crc32(head)))
            self._crc_f.flush()  # durable with the header: a crash must not leave it empty
            os.fsync(self._crc_f.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise DataError(f"cannot write {self.path}: {exc.strerror}") from None
        self._width = len(self.channels)
        self._crc = 0
        self._in_block = 0  # samples of the current block so far
        self._no_space = no_space
        self._failed = False
        # (samples, running crc, samples in block, checksum entries) at the last good flush:
        # what a failed write rolls back to, so the file ends on whole, checksummed samples.
        self._durable = (0, 0, 0, 0)
        self._entries = 0

    def append(self, first_sample: int, block: np.ndarray) -> None:
        """Append ``block`` (shape (n, n_channels)) whose first row is sample ``first_sample``.

        ``first_sample`` must equal the samples written so far: a gap or an overlap would
        silently shift every later sample in time, so it is refused.
        """
        if self.closed:
            raise DataError(f"{self.path}: append after close")
        arr = np.asarray(block)
        if arr.ndim != 2 or arr.shape[1] != self._width:
            raise DataError(f"{self.path}: block of shape {arr.shape}, expected (n, "
                            f"{self._width}) for channels {', '.join(self.channels)}")
        if first_sample != self.n_samples:
            raise DataError(f"{self.path}: block starts at sample {first_sample} but "
                            f"{self.n_samples} samples are written (gap or overlap)")
        if arr.shape[0] == 0:
            return
        out = np.ascontiguousarray(arr, dtype=SIGNALS_DTYPE)
        try:
            self._f.write(out.data)
            self._checksum(memoryview(out).cast("B"), arr.shape[0])
        except OSError as exc:
            raise self._error(exc) from None
        self.n_samples += arr.shape[0]

    def _checksum(self, data: memoryview, n: int) -> None:
        """Fold ``n`` samples' bytes into the running block CRC; write each full block's entry."""
        if self._in_block + n < CRC_BLOCK:  # the common case: one call per block of samples
            self._crc = zlib.crc32(data, self._crc)
            self._in_block += n
            return
        rec = 4 * self._width
        pos = 0
        while n:
            take = min(n, CRC_BLOCK - self._in_block)
            self._crc = zlib.crc32(data[pos:pos + take * rec], self._crc)
            self._in_block += take
            pos += take * rec
            n -= take
            if self._in_block == CRC_BLOCK:
                self._crc_f.write(CRC_ENTRY.pack(self._crc, self._crc ^ 0xFFFFFFFF))
                self._crc, self._in_block = 0, 0
                self._entries += 1

    def _error(self, exc: OSError) -> DataError:
        """The one-line error for a failed write; from now on only :meth:`close` is useful."""
        self._failed = True
        if self._no_space is not None and exc.errno in NO_SPACE:
            return DataError(self._no_space(exc))
        return DataError(f"cannot write to {self.path}: {exc.strerror} (disk full or "
                         "removed?)")

    def _roll_back(self) -> None:
        """After a failed write the file may end in part of a buffer: cut both files back to
        the last good flush (cutting frees the space the partial-block entry needs)."""
        n, crc, in_block, entries = self._durable
        with contextlib.suppress(OSError):
            self._f.close()
        with contextlib.suppress(OSError):
            self._crc_f.close()
        try:
            with open(self.path, "rb") as f:
                _, _, offset = PREFIX.unpack(f.read(PREFIX.size))
            os.truncate(self.path, offset + n * 4 * self._width)
            with open(self.crc_path, "r+b") as f:
                f.truncate(CRC_PREFIX.size + entries * CRC_ENTRY.size)
                f.seek(0, os.SEEK_END)
                if in_block:
                    f.write(CRC_ENTRY.pack(crc, crc ^ 0xFFFFFFFF))
                f.flush()
                os.fsync(f.fileno())
        except (OSError, struct.error):
            pass  # the reader still finds every whole block; the rest reads as unverified
        self.n_samples = n

    def pad_to(self, sample: int, value: float = float("nan")) -> None:
        """Fill with ``value`` (NaN: missing) up to, not including, ``sample``.

        For a caller that detected a gap in its input and wants the recording to stay on time
        instead of stopping: ``pad_to(chunk.first)`` then ``append(chunk.first, block)``.
        """
        if sample < self.n_samples:
            raise DataError(f"{self.path}: cannot pad back to sample {sample}; "
                            f"{self.n_samples} samples are written")
        step = 1 << 14
        while self.n_samples < sample:
            n = min(step, sample - self.n_samples)
            self.append(self.n_samples, np.full((n, self._width), value, dtype=np.float32))

    def flush(self) -> None:
        """Make every appended sample durable (flush + fsync)."""
        if self.closed:
            return
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._crc_f.flush()
            os.fsync(self._crc_f.fileno())
        except OSError as exc:
            raise self._error(exc) from None
        self._durable = (self.n_samples, self._crc, self._in_block, self._entries)

    def close(self) -> None:
        """Flush and close; safe to call more than once."""
        if self.closed:
            return
        if self._failed:
            self.closed = True
            self._roll_back()
            return
        try:
            if self._in_block:  # the last, partial block
                with contextlib.suppress(OSError):
                    self._crc_f.write(CRC_ENTRY.pack(self._crc, self._crc ^ 0xFFFFFFFF))
            self.flush()
        except DataError:
            self.closed = True
            self._roll_back()
            raise
        finally:
            self.closed = True
            # If the buffer cannot be written (disk full), flush() has already raised the
            # DataError that says so; the records written before stay readable.
            with contextlib.suppress(OSError):
                self._f.close()
            with contextlib.suppress(OSError):
                self._crc_f.close()

    def __enter__(self) -> SignalWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


@dataclass
class SignalsHeader:
    """What the header says, plus what the file size implies."""

    path: Path
    version: int
    data_offset: int
    rate_hz: float
    t0_s: float
    channels: tuple[str, ...]
    units: dict[str, str]
    n_samples: int
    torn_bytes: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def record_size(self) -> int:
        return 4 * len(self.channels)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.rate_hz


def read_header(path: Path) -> SignalsHeader:
    """Parse and check the header; DataError (one line) for anything that is not ours."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            prefix = f.read(PREFIX.size)
            if len(prefix) < PREFIX.size or prefix[:8] != SIGNALS_MAGIC:
                raise DataError(f"{path}: not a rigctl signals file (bad magic)")
            _, version, offset = PREFIX.unpack(prefix)
            if version > SIGNALS_VERSION:
                raise DataError(f"{path}: signals format {version} is newer than this rigctl "
                                f"reads ({SIGNALS_VERSION}); upgrade rigctl")
            if not PREFIX.size < offset <= size:
                raise DataError(f"{path}: corrupt header (data offset {offset}, file size "
                                f"{size})")
            raw = f.read(offset - PREFIX.size)
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc.strerror})") from None
    try:
        meta = json.loads(raw.decode("utf-8"))
        channels = tuple(str(c) for c in meta["channels"])
        rate_hz = float(meta["rate_hz"])
        t0_s = float(meta.get("t0_s", 0.0))
        dtype = meta.get("dtype", SIGNALS_DTYPE)
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: corrupt header ({type(exc).__name__})") from None
    if not channels or not rate_hz > 0 or dtype != SIGNALS_DTYPE:
        raise DataError(f"{path}: unsupported header (channels {list(channels)}, rate "
                        f"{rate_hz}, dtype {dtype})")
    units = {c: str(meta.get("units", {}).get(c, DEFAULT_SIGNAL_UNIT)) for c in channels}
    record = 4 * len(channels)
    n, torn = divmod(size - offset, record)
    return SignalsHeader(path, version, offset, rate_hz, t0_s, channels, units, n, torn, meta)


class SampleTimes:
    """The session-clock time of every sample, ``t0_s + k / rate_hz``, computed when indexed.

    Why not an array: a 10-hour recording at 1 kHz has 36 M samples, and their float64 times
    (288 MB) would cost more memory than the memory-mapped traces they describe. Indexing with
    an int gives a float, with a slice an array of that slice only; ``np.asarray(t)`` builds
    the whole array for a caller that really wants it.
    """

    __slots__ = ("n", "rate_hz", "t0_s")

    def __init__(self, n: int, rate_hz: float, t0_s: float) -> None:
        self.n, self.rate_hz, self.t0_s = int(n), float(rate_hz), float(t0_s)

    def __len__(self) -> int:
        return self.n

    @property
    def size(self) -> int:
        return self.n

    @property
    def shape(self) -> tuple[int]:
        return (self.n,)

    def __getitem__(self, key: int | slice | np.ndarray) -> Any:
        if isinstance(key, slice):
            k = np.arange(*key.indices(self.n), dtype=np.float64)
            return self.t0_s + k / self.rate_hz
        if isinstance(key, (int, np.integer)):
            i = int(key) + (self.n if key < 0 else 0)
            if not 0 <= i < self.n:
                raise IndexError(f"sample {key} of {self.n}")
            return self.t0_s + i / self.rate_hz
        k = np.arange(self.n)[key]  # fancy or boolean indexing: rare, so kept simple
        return self.t0_s + k.astype(np.float64) / self.rate_hz

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        t = self[:]
        return t if dtype is None else t.astype(dtype)

    def __repr__(self) -> str:
        return f"SampleTimes(n={self.n}, rate_hz={self.rate_hz:g}, t0_s={self.t0_s:g})"


#: Samples per piece that :meth:`SignalsData.chunks` reads (1 MiB of one float32 channel).
CHUNK_SAMPLES = 1 << 18


@dataclass
class SignalsData:
    """Continuous traces on the session clock: ``data[name][k]`` was sampled at ``t[k]`` (s).

    From :func:`read_signals` with ``mmap=True`` (what ``SessionData.signals`` gives) the traces
    are views of a memory map and ``t`` is computed on demand, so opening any length of
    recording costs no memory until samples are touched; :meth:`chunks` walks a whole channel
    in bounded memory. ``damaged`` lists the sample ranges whose checksum failed: they read as
    NaN in ``data`` and in :meth:`chunks`.
    """

    path: Path
    rate_hz: float
    t0_s: float
    channels: tuple[str, ...]
    units: dict[str, str]
    t: SampleTimes
    data: dict[str, np.ndarray]
    warnings: list[str] = field(default_factory=list)
    data_offset: int = 0
    damaged: list[tuple[int, int]] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return len(self.t)

    def index(self, t_s: float) -> int:
        """Sample index of session time ``t_s``, clipped to the recording."""
        k = int(round((t_s - self.t0_s) * self.rate_hz))
        return min(max(k, 0), self.n_samples)

    def window(self, start_s: float, stop_s: float) -> slice:
        """The slice of samples from ``start_s`` to ``stop_s`` (session clock)."""
        return slice(self.index(start_s), self.index(stop_s))

    def read(self, name: str, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` of channel ``name`` as a new float32 array, read from the file
        with an ordinary read (not through the memory map), so the pages read do not stay in
        this process's resident memory. Damaged blocks are NaN, as in ``data``."""
        start, stop, _ = slice(start, stop).indices(self.n_samples)
        stop = max(stop, start)
        col = self.channels.index(name)
        width = len(self.channels)
        rec = 4 * width
        try:
            with open(self.path, "rb") as f:
                f.seek(self.data_offset + start * rec)
                raw = f.read((stop - start) * rec)
        except OSError as exc:
            raise DataError(f"{self.path}: unreadable ({exc.strerror})") from None
        if len(raw) < (stop - start) * rec:
            raise DataError(f"{self.path}: shorter than when it was opened")
        piece = np.frombuffer(raw, dtype=SIGNALS_DTYPE).reshape(stop - start, width)[:, col]
        out = np.array(piece, dtype=np.float32)
        for lo, hi in self.damaged:
            if lo < stop and hi > start:
                out[max(lo, start) - start:min(hi, stop) - start] = np.nan
        return out

    def chunks(self, name: str, size: int = CHUNK_SAMPLES) -> Iterator[np.ndarray]:
        """Channel ``name`` in consecutive pieces of at most ``size`` samples (see :meth:`read`):
        an export of a recording of any length holds one piece at a time."""
        for a in range(0, self.n_samples, size):
            yield self.read(name, a, a + size)


@dataclass
class SignalsCheck:
    """What the checksums say: sample ranges (start, stop) whose block is damaged, samples
    without a usable checksum, and problems with the header or ``signals.crc`` (one a line)."""

    damaged: list[tuple[int, int]]
    unverified: int
    problem: str = ""

    def describe(self) -> list[str]:
        out = [f"samples {a}-{b - 1}: checksum mismatch (read as NaN)" for a, b in self.damaged]
        if self.problem:
            out += self.problem.splitlines()
        return out


def check_signals(header: SignalsHeader, raw: bytes | None = None) -> SignalsCheck | None:
    """Check every block of ``header``'s file against ``signals.crc``; None when there is no
    checksum file (sessions before format 3). ``raw`` is the file's bytes if already read;
    otherwise the file is read one block at a time, so checking costs no memory whatever its
    length."""
    crc_path = crc_path_of(header.path)
    if not crc_path.is_file():
        return None
    n = header.n_samples
    try:
        sums = crc_path.read_bytes()  # 8 bytes per 1024 samples: 280 kB for 10 h at 1 kHz
        with contextlib.ExitStack() as stack:
            if raw is None:
                f = stack.enter_context(open(header.path, "rb"))

                def read(lo: int, hi: int) -> bytes:
                    f.seek(lo)
                    return f.read(hi - lo)
            else:
                data = raw

                def read(lo: int, hi: int) -> bytes:
                    return data[lo:hi]
            return _check_blocks(header, sums, read)
    except OSError as exc:
        return SignalsCheck([], n, f"{crc_path.name}: unreadable ({exc.strerror})")


def _check_blocks(header: SignalsHeader, sums: bytes,
                  read: Callable[[int, int], bytes]) -> SignalsCheck:
    n = header.n_samples
    crc_name = crc_path_of(header.path).name
    if len(sums) < CRC_PREFIX.size:  # cut short (sessions of the first format-3 writer)
        return SignalsCheck([], n)
    if sums[:8] != CRC_MAGIC:
        return SignalsCheck([], n, f"{crc_name}: damaged prefix; {n} samples unverified")
    _, _, block, head_crc = CRC_PREFIX.unpack_from(sums)
    if block <= 0:
        return SignalsCheck([], n, f"{crc_name}: damaged prefix; {n} samples unverified")
    # The header (rate, channels, t0) or its checksum is wrong: reported, the samples kept
    # (they are checked block by block below).
    head_problem = (f"{header.path.name}: header checksum mismatch (rate, channels or t0 may be "
                    "wrong)" if zlib.crc32(read(0, header.data_offset)) != head_crc else "")
    rec = header.record_size
    damaged: list[tuple[int, int]] = []
    unverified = 0
    bad_entries = 0
    entries = (len(sums) - CRC_PREFIX.size) // CRC_ENTRY.size
    start = 0
    k = 0
    while start < n:
        stop = min(start + block, n)
        if k < entries:
            crc, inv = CRC_ENTRY.unpack_from(sums, CRC_PREFIX.size + k * CRC_ENTRY.size)
            full = start + block <= n
            if crc ^ inv != 0xFFFFFFFF:
                bad_entries += 1
                unverified += stop - start
            elif not full and k != entries - 1:
                unverified += stop - start  # a partial block whose entry is not the last
            else:
                lo = header.data_offset + start * rec
                if zlib.crc32(read(lo, header.data_offset + stop * rec)) != crc:
                    damaged.append((start, stop))
        else:
            unverified += stop - start
        start, k = stop, k + 1
    problem = (f"{crc_name}: {bad_entries} damaged checksum entr"
               f"{'y' if bad_entries == 1 else 'ies'}" if bad_entries else "")
    return SignalsCheck(damaged, unverified, "\n".join(p for p in (head_problem, problem) if p))


def torn_warning(header: SignalsHeader) -> str:
    return (f"{header.path.name}: dropped a torn last record ({header.torn_bytes} bytes; "
            f"{header.n_samples} whole samples kept)")


def read_signals(path: Path, mmap: bool = False,
                 check: SignalsCheck | None | bool = True) -> SignalsData:
    """Read a ``signals.bin``; a torn last record is dropped with a warning.

    With ``mmap=True`` the arrays are read-only views of a memory map: nothing is read until
    touched, which suits long recordings of which a few windows are plotted. Blocks whose
    checksum fails read as NaN either way (with the map, only their pages are copied).
    ``check``: True to check the checksums here, or the result of :func:`check_signals` when
    the caller has already checked (the loader does, when it loads the session).
    """
    header = read_header(Path(path))
    warnings = [torn_warning(header)] if header.torn_bytes else []
    width, n = len(header.channels), header.n_samples
    found = check_signals(header) if check is True else (check or None)
    damaged = list(found.damaged) if found is not None else []
    if found is not None and (found.damaged or found.problem):
        warnings += [f"{header.path.name}: {d}" for d in found.describe()]
    if mmap and n:
        # Copy-on-write: the NaN written over a damaged block stays in this process (only
        # that block's pages are copied); the file is never changed.
        records = np.memmap(header.path, dtype=SIGNALS_DTYPE, mode="c" if damaged else "r",
                            offset=header.data_offset, shape=(n, width))
        for a, b in damaged:
            records[a:b] = np.nan
        records.flags.writeable = False
        data = {c: records[:, i] for i, c in enumerate(header.channels)}
    else:
        flat = np.fromfile(header.path, dtype=SIGNALS_DTYPE, count=n * width,
                           offset=header.data_offset)
        records = flat.reshape(n, width)
        for a, b in damaged:
            records[a:b] = np.nan
        data = {c: np.ascontiguousarray(records[:, i]) for i, c in enumerate(header.channels)}
    return SignalsData(header.path, header.rate_hz, header.t0_s, header.channels, header.units,
                       SampleTimes(n, header.rate_hz, header.t0_s), data, warnings,
                       header.data_offset, damaged)
