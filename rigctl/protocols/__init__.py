"""Task protocols, found by name (``delayed_alternation``) or by a protocol YAML file."""

from __future__ import annotations

from types import MappingProxyType

from rigctl.protocols.base import Protocol
from rigctl.protocols.delayed_alternation import DelayedAlternation

PROTOCOLS = MappingProxyType({cls.name: cls for cls in (DelayedAlternation,)})

__all__ = ["PROTOCOLS", "Protocol"]
