"""The public task API: everything a task file needs, in one import.

    from rigctl.task import ENTRY, EXIT, Requires, Task, col

A task is a :class:`Task` subclass (see ``docs/writing-tasks.md``); rigctl's own tasks are
written with exactly these names. Building blocks for two-choice working-memory tasks (the
trial scheduler, delay stimulation, scoring) are here too, for tasks that vary the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from rigctl.config.agent import WorkingMemoryMapping
from rigctl.protocols.base import Protocol as Task
from rigctl.protocols.base import Requires
from rigctl.protocols.params import TrialTaskParams
from rigctl.protocols.scheduler import CONTROL, LASER, TrialScheduler
from rigctl.protocols.stimulation import DelayStimulation
from rigctl.protocols.task import TwoChoiceTask
from rigctl.protocols.trial import TrialRecord, col
from rigctl.runtime.machine import ENTRY, EXIT
from rigctl.runtime.signals import CROSSING


class TaskParams(BaseModel):
    """Base for a task's parameters: unknown keys and NaN are refused, as in rig configs."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


__all__ = [
    "CONTROL", "CROSSING", "ENTRY", "EXIT", "LASER", "DelayStimulation", "Field", "Requires",
    "Task", "TaskParams", "TrialRecord", "TrialScheduler", "TrialTaskParams", "TwoChoiceTask",
    "WorkingMemoryMapping", "col", "dataclass",
]
