"""``rigctl devices``: list the serial ports and NI-DAQ devices this computer can see.

Why: a rig config names ports (``/dev/ttyACM0``, ``COM3``) and NI devices (``Dev1``); when a
session says a port is missing, this is where the operator finds the right name. Serial ports
show USB VID:PID and serial number, which stay the same when the port name changes (on Linux,
``/dev/serial/by-id/...`` names are stable too and can be used as ``port:``).
"""

from __future__ import annotations

import argparse
from types import MappingProxyType

NAME = "devices"
HELP = "list serial ports and NI-DAQ devices"

KNOWN_VIDS = MappingProxyType({
    0x2341: "Arduino", 0x2A03: "Arduino", 0x1B4F: "SparkFun", 0x239A: "Adafruit",
    0x16C0: "Teensy (PJRC)", 0x0403: "FTDI", 0x10C4: "Silicon Labs CP210x",
    0x1A86: "WCH CH340", 0x2E8A: "Raspberry Pi RP2040", 0x0483: "STMicroelectronics",
})


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true",
                   help="also list serial ports without a USB device behind them")


def serial_lines(show_all: bool) -> list[str]:
    """One line per serial port; never raises (a broken listing is reported as a line)."""
    try:
        from serial.tools import list_ports

        ports = sorted(list_ports.comports(), key=lambda p: p.device)
    except Exception as exc:  # noqa: BLE001 - a listing failure must not hide the NI part
        return [f"  cannot list serial ports ({type(exc).__name__}: {exc})"]
    lines = []
    for port in ports:
        if port.vid is None and not show_all:
            continue
        parts = [f"  {port.device:<16}"]
        if port.vid is not None:
            parts.append(f"VID:PID {port.vid:04X}:{port.pid or 0:04X}")
        if port.serial_number:
            parts.append(f"serial {port.serial_number}")
        maker = port.manufacturer or KNOWN_VIDS.get(port.vid or -1)
        label = " ".join(x for x in (maker, port.product or port.description) if x and x != "n/a")
        if label:
            parts.append(f"({label})")
        lines.append("  ".join(parts).rstrip())
    hidden = sum(1 for p in ports if p.vid is None) if not show_all else 0
    if not lines:
        lines.append("  none found (is the device plugged in? on Linux: `dmesg | tail`)")
    if hidden:
        lines.append(f"  ({hidden} port(s) without a USB device not shown; --all lists them)")
    return lines


def ni_lines() -> list[str]:
    """One line per NI-DAQmx device, or why there are none; never raises."""
    try:
        import nidaqmx.system

        devices = list(nidaqmx.system.System.local().devices)
        lines = []
        for dev in devices:
            try:
                detail = f"{dev.product_type}  serial {dev.dev_serial_num:X}"
            except Exception:  # noqa: BLE001 - simulated devices lack some properties
                detail = ""
            lines.append(f"  {dev.name:<16}{detail}".rstrip())
        return lines or ["  none found (NI MAX lists the devices the driver sees)"]
    except Exception:  # noqa: BLE001 - any failure of the driver library means "no driver"
        return ["  NI-DAQmx driver not found"]


def run(args: argparse.Namespace) -> int:
    print("Serial ports:")
    for line in serial_lines(args.all):
        print(line)
    print("NI-DAQmx devices:")
    for line in ni_lines():
        print(line)
    print("Use a port in a rig config as `port: /dev/ttyACM0` (or `port: emulated` to try the "
          "emulated devices: hardware_configs/serial_sim.yaml).")
    return 0
