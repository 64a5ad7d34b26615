"""NI-DAQ backend (``type: nidaq``): valves, lick sensors, cues, laser and neural signal on an NI
card through ``nidaqmx``.

The registry imports this package to validate a config's ``Settings`` (``rigctl check``), which
needs neither ``nidaqmx``'s C driver nor a card; ``open`` is what touches the driver. See
docs/nidaq.md for wiring, the NI features used and their fallbacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rigctl.hardware.nidaq.settings import NiDaqSettings

if TYPE_CHECKING:
    from rigctl.hardware.nidaq.device import NiDaqDevice
    from rigctl.hardware.registry import BuildContext

Settings = NiDaqSettings

__all__ = ["Settings", "open"]


def open(name: str, settings: NiDaqSettings, ctx: BuildContext) -> NiDaqDevice:  # noqa: A001
    """Open the NI device ``name`` (as named in NI MAX); see :class:`NiDaqDevice`."""
    from rigctl.hardware.nidaq.device import NiDaqDevice

    return NiDaqDevice(name, settings, ctx)
