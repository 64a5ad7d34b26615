"""Backend registry: maps a config's ``backend:`` name to the module that builds its drivers.

Backends are imported lazily, by name, only when a config asks for them. This is the one place
the core reaches ``sim_backend``, so the core runs without the simulator installed and a
missing driver library surfaces as one line naming the config, not an ImportError traceback.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rigctl.config.subject import Subject
from rigctl.errors import RigctlError
from rigctl.hardware.interfaces import BackendRig, Clock

if TYPE_CHECKING:
    from rigctl.config.rig import RigConfig

BACKENDS = MappingProxyType(
    {
        "sim": "sim_backend.rig",
    }
)


@dataclass(frozen=True)
class BuildContext:
    """What a backend may need beyond the config: the clock, the subject, a seed stream."""

    clock: Clock
    subject: Subject
    seed: np.random.SeedSequence
    source: str = "<config>"


class BackendModule(Protocol):
    def validate_settings(self, cfg: RigConfig, source: str) -> None: ...

    def build(self, cfg: RigConfig, ctx: BuildContext) -> BackendRig: ...


def backend_module(name: str, source: str = "<config>") -> BackendModule:
    """Import the module of backend ``name``; RigctlError naming the config if it cannot."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise RigctlError(
            f"{source}: backend: unknown backend {name!r} (available: {', '.join(BACKENDS)})"
        ) from None
    try:
        return importlib.import_module(target)  # type: ignore[return-value]
    except ImportError as exc:
        raise RigctlError(
            f"{source}: backend: {name!r} cannot be loaded ({exc}); install its driver or use "
            "`backend: sim`"
        ) from None


def build_backend(cfg: RigConfig, ctx: BuildContext) -> BackendRig:
    module = backend_module(cfg.backend, ctx.source)
    module.validate_settings(cfg, ctx.source)
    return module.build(cfg, ctx)
