"""What kind of NI physical channel a config string names, and who claimed it.

A rig config routes ``Dev1/...`` channels to the device ``Dev1``; the full string is the NI
physical channel. Checking its form when the rig is built turns a wiring mistake (a valve on
``Dev1/ao0``, one line used twice) into a one-line error before any task exists.
"""

from __future__ import annotations

import re

from rigctl.errors import DeviceError

_KINDS = {
    "line": re.compile(r"^[^/]+/port\d+/line\d+$", re.IGNORECASE),  # NI names ignore case
    "ao": re.compile(r"^[^/]+/ao\d+$", re.IGNORECASE),
    "ai": re.compile(r"^[^/]+/ai\d+$", re.IGNORECASE),
    "ctr": re.compile(r"^[^/]+/ctr\d+$", re.IGNORECASE),
}
EXAMPLES = {"line": "Dev1/port0/line0", "ao": "Dev1/ao0", "ai": "Dev1/ai0", "ctr": "Dev1/ctr0"}


def kind_of(channel: str) -> str | None:
    """``line``, ``ao``, ``ai`` or None for anything else."""
    for kind, pattern in _KINDS.items():
        if pattern.match(channel):
            return kind
    return None


class ChannelClaims:
    """The channels of one device already in use, so a line cannot serve two roles."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._roles: dict[str, str] = {}

    def claim(self, channel: str, role: str, *kinds: str) -> str:
        """Check ``channel`` is one of ``kinds`` and unused; returns its kind."""
        kind = kind_of(channel)
        if kind not in kinds:
            wanted = " or ".join(f"{k} ({EXAMPLES[k]})" for k in kinds)
            raise DeviceError(
                f"device {self.device!r}: {role} channel {channel!r} must be an NI {wanted}"
            )
        key = channel.lower()
        if key in self._roles:
            raise DeviceError(
                f"device {self.device!r}: channel {channel!r} is used twice "
                f"({self._roles[key]} and {role}); give each its own line"
            )
        self._roles[key] = role
        return kind
