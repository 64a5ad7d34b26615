"""Tasks: the built-in ones, and how any task is found (by name, entry point or file)."""

from __future__ import annotations

from types import MappingProxyType

from rigctl.protocols.base import Protocol
from rigctl.protocols.discovery import builtin_tasks, find_task, task_names

#: The built-in tasks by name (installed and file tasks: :func:`find_task`).
PROTOCOLS = MappingProxyType(builtin_tasks())

__all__ = ["PROTOCOLS", "Protocol", "find_task", "task_names"]
