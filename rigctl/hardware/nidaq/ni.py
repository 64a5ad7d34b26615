"""The one place this backend touches ``nidaqmx``: tasks, device lookups and error translation.

``nidaqmx`` is imported here, lazily, when a session opens an NI device, so ``rigctl check`` (which
only validates settings) never needs the NI-DAQmx C driver. Every call goes through the public
nidaqmx API (``nidaqmx.Task``, ``nidaqmx.system``), looked up at call time, which is also the seam
the contract tests replace with a recording fake.

DAQmx errors are multi-line and long; :func:`device_error` turns one into a single line naming the
device, what was being done and the NI error code, which is what a rig operator can act on.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

from rigctl.errors import DeviceError, RigctlError

SIM_HINT = "or run the protocol on the simulated rig: rigctl run hardware_configs/sim.yaml"
TIMEOUT_CODES = frozenset({-200284})  # read timed out: samples not yet available


def _import() -> ModuleType:
    try:
        import nidaqmx
        import nidaqmx.constants
        import nidaqmx.errors
        import nidaqmx.system
        import nidaqmx.types
    except ImportError as exc:
        raise RigctlError(
            f"the nidaq backend needs the Python package nidaqmx ({exc}); "
            f"pip install nidaqmx, {SIM_HINT}"
        ) from None
    return nidaqmx


class Ni:
    """Access to the NI-DAQmx driver for one device (``name`` as in NI MAX)."""

    def __init__(self, device: str, source: str = "<config>") -> None:
        self.device = device
        self.source = source
        self.nidaqmx = _import()
        self.constants = self.nidaqmx.constants
        self.errors = self.nidaqmx.errors
        self._off_tasks = itertools.count(1)  # DAQmx task names must be unique in a process

    # --- device lookups --------------------------------------------------------------------
    def connect(self) -> str:
        """Check the driver is installed and the device is present; returns its product type.

        A missing driver is the common case on a laptop, so it gets its own one-line message that
        names the config and points at the simulated rig instead of a traceback.
        """
        try:
            devices = list(self.nidaqmx.system.System.local().devices)
            names = [d.name for d in devices]
        except nidaqmx_driver_errors() as exc:
            raise RigctlError(
                f"{self.source}: device {self.device!r} (type nidaq) needs the NI-DAQmx driver, "
                f"which is not installed here ({type(exc).__name__}); install NI-DAQmx, "
                f"{SIM_HINT}"
            ) from None
        except self.errors.DaqError as exc:
            raise self.device_error("listing NI devices", exc) from None
        if self.device not in names:
            present = ", ".join(names) or "none"
            raise DeviceError(
                f"{self.source}: NI device {self.device!r} not found (present: {present}); check "
                "its cable and power and its name in NI MAX, or list devices with `rigctl devices`"
            )
        device = devices[names.index(self.device)]
        try:
            return str(device.product_type)
        except self.errors.DaqError:
            return "unknown product"

    def supports(self, channel: str, capability: str) -> bool:
        """Whether a physical channel has a capability (``di_change_detect_supported``,
        ``do_samp_clk_supported``); False when the driver cannot tell."""
        try:
            return bool(getattr(self.nidaqmx.system.PhysicalChannel(channel), capability))
        except self.errors.DaqError:
            return False

    # --- tasks -----------------------------------------------------------------------------
    def task(self, name: str, what: str) -> Any:
        """A new ``nidaqmx.Task``; DeviceError naming ``what`` if DAQmx refuses."""
        try:
            return self.nidaqmx.Task(f"rigctl {self.device} {name}")
        except self.errors.DaqError as exc:
            raise self.device_error(what, exc) from None

    def write_once(self, lines: Sequence[str], value: float | bool, what: str) -> str | None:
        """Write ``value`` to channels through a fresh on-demand task, then close it.

        The last resort of every off path: used when the task that owns a line is broken, so it
        must not raise; returns the error text instead (the caller logs it).
        """
        task = None
        try:
            task = self.nidaqmx.Task(f"rigctl {self.device} off#{next(self._off_tasks)}")
            for ch in lines:
                if isinstance(value, bool):
                    task.do_channels.add_do_chan(
                        ch, line_grouping=self.constants.LineGrouping.CHAN_PER_LINE
                    )
                else:
                    task.ao_channels.add_ao_voltage_chan(ch, min_val=-10.0, max_val=10.0)
            task.write([value] * len(lines) if len(lines) > 1 else value, auto_start=True)
            return None
        except Exception as exc:  # noqa: BLE001 - an off path reports, never raises
            return f"{what}: {one_line(exc)}"
        finally:
            if task is not None:
                with contextlib.suppress(Exception):
                    task.close()

    # --- errors ----------------------------------------------------------------------------
    def is_daq_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self.errors.DaqError)

    def is_timeout(self, exc: BaseException) -> bool:
        return isinstance(exc, self.errors.DaqError) and exc.error_code in TIMEOUT_CODES

    @contextlib.contextmanager
    def translated(self, what: str) -> Iterator[None]:
        """Turn a DaqError raised inside the block into a one-line DeviceError about ``what``."""
        try:
            yield
        except self.errors.DaqError as exc:
            raise self.device_error(what, exc) from None

    def device_error(self, what: str, exc: BaseException) -> DeviceError:
        """One line: ``device 'Dev1': <what>: <first line of the DAQmx message> (NI error N)``."""
        return DeviceError(f"device {self.device!r}: {what}: {one_line(exc)}")


def nidaqmx_driver_errors() -> tuple[type[BaseException], ...]:
    """The nidaqmx exceptions that mean "no usable NI-DAQmx driver on this computer"."""
    try:
        import nidaqmx.errors as e
    except ImportError:
        return ()
    return (e.DaqNotFoundError, e.DaqNotSupportedError, e.DaqFunctionNotSupportedError)


def one_line(exc: BaseException) -> str:
    """The first meaningful line of a (DAQmx) error, with its error code when it has one."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    code = getattr(exc, "error_code", None)
    return f"{text} (NI error {int(code)})" if isinstance(code, int) else text
