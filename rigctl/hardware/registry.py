"""Backend registry: maps a device's ``type:`` to the module that implements it.

Backends are imported lazily, by name, only when a config lists a device of their type. This is
the one place the core reaches ``sim_backend``, so the core runs without the simulator and a
missing driver library surfaces as one line naming the config, not an ImportError traceback.

A backend module provides ``Settings`` (a pydantic model of its device keys) and
``open(name, settings, ctx) -> Device``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pydantic import BaseModel

from rigctl.config.agent import AgentChoice
from rigctl.config.loading import validate
from rigctl.config.subject import Subject
from rigctl.errors import ConfigError, RigctlError
from rigctl.hardware.interfaces import Clock, Device, EventSink

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


@dataclass(frozen=True)
class BuildContext:
    """What a device may need beyond its settings: the clock, the subject, a seed stream, and
    the sink its input threads deliver events to."""

    clock: Clock
    subject: Subject
    seed: np.random.SeedSequence
    sink: EventSink
    source: str = "<config>"
    shared: dict[str, Any] = field(default_factory=dict)  # per session, e.g. one emulated world
    agent: AgentChoice | None = None  # the simulated subject, for simulated devices


class BackendModule(Protocol):
    Settings: type[BaseModel]

    def open(self, name: str, settings: Any, ctx: BuildContext) -> Device: ...


def backend_module(kind: str, source: str = "<config>") -> BackendModule:
    """Import the module of device type ``kind``; RigctlError naming the config if it cannot."""
    try:
        target = BACKENDS[kind]
    except KeyError:
        raise RigctlError(
            f"{source}: unknown device type {kind!r} (available: {', '.join(BACKENDS)})"
        ) from None
    try:
        return importlib.import_module(target)  # type: ignore[return-value]
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


def open_devices(cfg: RigConfig, ctx: BuildContext) -> dict[str, Device]:
    """Open every device of the config; on failure the ones already open are closed."""
    settings = device_settings(cfg, ctx.source)
    opened: dict[str, Device] = {}
    try:
        for name, dev in cfg.devices.items():
            opened[name] = backend_module(dev.type, ctx.source).open(name, settings[name], ctx)
    except BaseException:
        for device in opened.values():
            device.close()
        raise
    return opened
