"""``analog_<name>.bin``: the samples of a named analog input (a running wheel, a pressure
sensor), one file per input of the rig config's ``analog_inputs:``.

Each file is a ``signals.bin`` with one channel, named after the input, and its own checksum
file ``analog_<name>.crc``: written by the same :class:`~rigctl.data.signals.SignalWriter`
(append-only, fsynced, per-block CRC-32), read by the same reader, repaired by the same
``rigctl recover``. A separate file per input (rather than more channels in ``signals.bin``)
because each input has its own device, rate and start time: the neural signal at 1 kHz on one
card and a wheel at 200 Hz on another share no sample clock. Sample k is at
``t0_s + k / rate_hz`` on the session clock; ``t0_s`` is the session time of the input's first
sample, from its device. ``session.json`` lists the inputs under ``analog_inputs``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rigctl.data.signals import SampleTimes, SignalsCheck, read_signals

ANALOG_PREFIX = "analog_"
_FILE_RE = re.compile(r"analog_([A-Za-z][A-Za-z0-9_]*)\.bin")


def analog_file(name: str) -> str:
    """The file name of analog input ``name``'s samples in a session folder."""
    return f"{ANALOG_PREFIX}{name}.bin"


def analog_files(folder: Path) -> dict[str, Path]:
    """Every analog input's file in ``folder``, by input name (sorted)."""
    found = {}
    for p in sorted(Path(folder).glob(f"{ANALOG_PREFIX}*.bin")):
        m = _FILE_RE.fullmatch(p.name)
        if m is not None and p.is_file():
            found[m.group(1)] = p
    return found


@dataclass
class AnalogData:
    """One analog input's samples on the session clock: ``samples[k]`` was sampled at ``t[k]``.

    ``t, x = session.analog("wheel")`` unpacks. ``samples`` is a read-only memory map (float32)
    and ``t`` is computed when indexed, so a long recording costs no memory until touched.
    Blocks whose checksum failed read as NaN (listed in ``damaged``).
    """

    name: str
    path: Path
    rate_hz: float
    t0_s: float
    unit: str
    t: SampleTimes
    samples: np.ndarray
    warnings: list[str] = field(default_factory=list)
    damaged: list[tuple[int, int]] = field(default_factory=list)

    def __iter__(self) -> Iterator[object]:
        yield self.t
        yield self.samples

    def __len__(self) -> int:
        return len(self.t)


def read_analog(path: Path, check: SignalsCheck | None | bool = True) -> AnalogData:
    """Read ``analog_<name>.bin`` (see :func:`~rigctl.data.signals.read_signals`)."""
    sig = read_signals(Path(path), mmap=True, check=check)
    name = sig.channels[0]
    return AnalogData(name, sig.path, sig.rate_hz, sig.t0_s, sig.units[name], sig.t,
                      sig.data[name], sig.warnings, sig.damaged)
