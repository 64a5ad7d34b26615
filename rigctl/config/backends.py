"""Device types and the modules that implement them, by name: the rig file's vocabulary.

A device's ``type:`` names a backend module; the table is here, with the config, because the
config is what names it. The modules are found by their dotted path and imported only when a
config lists a device of their type (a plugin lookup, as entry points are), so validating a rig
file never imports the hardware package at module level and the core runs without the
simulator. A missing driver library is one line naming the config, not an ImportError.

A backend module provides ``Settings`` (a pydantic model of its device keys) and
``open(name, settings, ctx) -> Device`` (see ``rigctl.hardware.registry``).
"""

from __future__ import annotations

import importlib
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING

from pydantic import BaseModel

from rigctl.config.loading import validate
from rigctl.errors import ConfigError, RigctlError

if TYPE_CHECKING:
    from rigctl.config.rig import RigConfig

BACKENDS = MappingProxyType(
    {
        "sim": "sim_backend.device",
        "nidaq": "rigctl.hardware.nidaq",
        "reward_controller": "rigctl.hardware.reward_controller",
        "obis": "rigctl.hardware.obis",
    }
)


def backend_module(kind: str, source: str = "<config>") -> ModuleType:
    """Import the module of device type ``kind``; RigctlError naming the config if it cannot."""
    try:
        target = BACKENDS[kind]
    except KeyError:
        raise RigctlError(
            f"{source}: unknown device type {kind!r} (available: {', '.join(BACKENDS)})"
        ) from None
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        raise RigctlError(
            f"{source}: device type {kind!r} cannot be loaded ({exc}); install its driver "
            "or use the simulated rig (hardware_configs/sim.yaml)"
        ) from None


def device_settings(cfg: RigConfig, source: str) -> dict[str, BaseModel]:
    """Validate every device's backend-specific keys; one ConfigError with all problems."""
    out: dict[str, BaseModel] = {}
    problems: list[str] = []
    for name, dev in cfg.devices.items():
        module = backend_module(dev.type, source)
        try:
            out[name] = validate(module.Settings, dev.settings(), source, prefix=f"devices.{name}")
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(source, problems)
    return out
