"""Task protocols, found by name (``delayed_alternation``) or by a protocol YAML file."""

from __future__ import annotations

from types import MappingProxyType

from rigctl.protocols.base import Protocol
from rigctl.protocols.delayed_alternation import DelayedAlternation
from rigctl.protocols.match_to_sample import DelayedMatchToSample

PROTOCOLS = MappingProxyType(
    {cls.name: cls for cls in (DelayedAlternation, DelayedMatchToSample)}
)

__all__ = ["PROTOCOLS", "Protocol"]
