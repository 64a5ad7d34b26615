"""Helpers shared by commands: load a rig config and resolve its protocol."""

from __future__ import annotations

from typing import Any

from rigctl.config.rig import RigConfig
from rigctl.protocols.loading import ProtocolSpec


def load(config: str, protocol: str | None,
         overrides: dict[str, Any] | None = None) -> tuple[RigConfig, ProtocolSpec]:
    from rigctl.config import load_rig
    from rigctl.protocols.loading import resolve_protocol

    cfg = load_rig(config)
    spec = resolve_protocol(protocol, cfg, config, overrides)
    return cfg, spec
