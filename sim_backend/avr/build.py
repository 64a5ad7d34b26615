"""Build the reference firmware for AVR boards and the simavr harness that runs it.

Why here and not in the tests: ``rigctl run`` on ``hardware_configs/serial_firmware_sim.yaml``
runs the same firmware as the conformance tests, so both need the same build. Everything comes
from Debian packages (``gcc-avr avr-libc arduino-core-avr arduino-mk simavr libsimavr-dev``);
``missing_tools()`` names what is absent so callers can skip or refuse with one line.

Artefacts go to a cache outside the repository (``$RIGCTL_AVR_CACHE``, default
``~/.cache/rigctl/avr``), one directory per hash of the sources and board, so an unchanged
firmware is built once per machine and a changed one is never stale.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

ROOT = Path(__file__).resolve().parents[2]
SKETCH = ROOT / "docs" / "firmware" / "reward_controller" / "reward_controller.ino"
HARNESS_C = Path(__file__).with_name("harness.c")
ARDUINO_DIR = Path("/usr/share/arduino")
SIMAVR_HEADER = Path("/usr/include/simavr/sim_avr.h")
APT_PACKAGES = "gcc-avr avr-libc arduino-core-avr arduino-mk simavr libsimavr-dev"


@dataclass(frozen=True)
class Board:
    """An Arduino board: its MCU, clock, arduino-mk names and the AVR port pin of each
    Arduino pin number the firmware uses."""

    name: str
    mcu: str
    f_cpu: int
    board_tag: str
    board_sub: str | None
    pins: MappingProxyType


BOARDS = MappingProxyType({
    "uno": Board("uno", "atmega328p", 16_000_000, "uno", None, MappingProxyType({
        2: "D2", 3: "D3", 7: "D7", 8: "B0", 9: "B1", 10: "B2", 11: "B3", 12: "B4", 13: "B5"})),
    "mega": Board("mega", "atmega2560", 16_000_000, "mega", "atmega2560", MappingProxyType({
        2: "E4", 3: "E5", 7: "H4", 8: "H5", 9: "H6", 10: "B4", 11: "B5", 12: "B6", 13: "B7"})),
})


def missing_tools() -> str | None:
    """None when the firmware can be built and run here, else one line saying what to install."""
    missing = [tool for tool in ("avr-g++", "make", "cc") if shutil.which(tool) is None]
    if not (ARDUINO_DIR / "Arduino.mk").exists():
        missing.append("arduino-mk")
    if not (ARDUINO_DIR / "hardware" / "arduino" / "avr" / "cores").exists():
        missing.append("arduino-core-avr")
    if not SIMAVR_HEADER.exists():
        missing.append("libsimavr-dev")
    if not missing:
        return None
    return (f"AVR toolchain or simavr missing ({', '.join(missing)}): "
            f"apt-get install {APT_PACKAGES}")


def cache_dir() -> Path:
    return Path(os.environ.get("RIGCTL_AVR_CACHE", Path.home() / ".cache" / "rigctl" / "avr"))


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise RuntimeError(f"building {what} failed ({' '.join(cmd)}):\n" + "\n".join(tail))


def _publish(tmp: Path, built: Path, out: Path) -> Path:
    """Move a finished artefact into place atomically (parallel builders may race)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(built, out)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def firmware_elf(board: str = "uno", sketch: Path = SKETCH, *, probe_pin: int | None = None,
                 ) -> Path:
    """The firmware compiled for ``board`` (built once per source hash). ``probe_pin``: a
    benchmark build that toggles that pin every loop pass (LOOP_PROBE_PIN)."""
    b = BOARDS[board]
    source = sketch.read_bytes()
    key = _digest(source, repr(b).encode(), str(probe_pin).encode())
    out = cache_dir() / f"fw-{board}-{key}" / "firmware.elf"
    if out.exists():
        return out
    cache_dir().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="fw-", dir=cache_dir()))
    (tmp / "reward_controller.ino").write_bytes(source)
    lines = [
        f"ARDUINO_DIR = {ARDUINO_DIR}", f"ARDMK_DIR = {ARDUINO_DIR}", "AVR_TOOLS_DIR = /usr",
        f"BOARD_TAG = {b.board_tag}", "TARGET = firmware", "OBJDIR = build",
        # gcc-avr 5.4's <float.h> lacks DECIMAL_DIG for C++, which Debian's Arduino core needs
        "CXXFLAGS += -DDECIMAL_DIG=__DECIMAL_DIG__",
    ]
    if probe_pin is not None:
        lines.append(f"CXXFLAGS += -DLOOP_PROBE_PIN={probe_pin}")
    if b.board_sub:
        lines.append(f"BOARD_SUB = {b.board_sub}")
    lines.append(f"include {ARDUINO_DIR}/Arduino.mk")
    (tmp / "Makefile").write_text("\n".join(lines) + "\n")
    _run(["make", "-s"], tmp, f"the firmware for {board}")
    return _publish(tmp, tmp / "build" / "firmware.elf", out)


def harness_binary() -> Path:
    """The simavr harness (sim_backend/avr/harness.c), compiled against libsimavr."""
    source = HARNESS_C.read_bytes()
    out = cache_dir() / f"harness-{_digest(source)}" / "avr_harness"
    if out.exists():
        return out
    cache_dir().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="harness-", dir=cache_dir()))
    _run(["cc", "-O2", "-o", str(tmp / "avr_harness"), str(HARNESS_C), "-lsimavr", "-lutil"],
         tmp, "the simavr harness")
    return _publish(tmp, tmp / "avr_harness", out)


def sketch_pins(sketch: Path = SKETCH) -> dict[str, tuple[int, ...]]:
    """The Arduino pins of each channel kind, read from the sketch itself (one source of truth):
    ``{"valve": (8, 9), "in": (2, 3), "out": (10, 11, 12, 13)}``."""
    text = sketch.read_text()
    found = {}
    for kind, array in (("valve", "VALVE_PINS"), ("in", "INPUT_PINS"), ("out", "OUTPUT_PINS")):
        m = re.search(array + r"\[\]\s*=\s*\{([^}]*)\}", text)
        if m is None:
            raise RuntimeError(f"{sketch}: no {array} array")
        found[kind] = tuple(int(x) for x in m.group(1).split(","))
    return found
