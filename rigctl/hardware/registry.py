"""Backend registry: opens the devices of a rig config through the modules that implement them.

The table of device types (``BACKENDS``) and the validation of each device's keys are in
``rigctl.config.backends`` (the config names the types; validating it needs no hardware code);
this module opens the devices. Backends are imported lazily, by name, only when a config lists a
device of their type: the one way the core reaches ``sim_backend``, so the core runs without the
simulator and a missing driver library is one line naming the config, not a traceback.

A backend module provides ``Settings`` (a pydantic model of its device keys) and
``open(name, settings, ctx) -> Device``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pydantic import BaseModel

from rigctl.config.agent import AgentChoice
from rigctl.config.backends import BACKENDS as BACKENDS
from rigctl.config.backends import backend_module
from rigctl.config.backends import device_settings as device_settings
from rigctl.config.subject import Subject
from rigctl.hardware.interfaces import Clock, Device, EventSink

if TYPE_CHECKING:
    from rigctl.config.rig import RigConfig

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
