"""Helpers shared by commands: load a rig config and resolve its protocol."""

from __future__ import annotations

from typing import Any

from rigctl.catalog.loading import ProtocolSpec
from rigctl.config.rig import RigConfig


def load(config: str, protocol: str | None,
         overrides: dict[str, Any] | None = None) -> tuple[RigConfig, ProtocolSpec]:
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import load_rig

    cfg = load_rig(config)
    spec = resolve_protocol(protocol, cfg, config, overrides)
    return cfg, spec
