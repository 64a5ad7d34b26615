"""What a loaded task is: its class, validated parameters and where they came from.

Its own module so that task kinds other than rigctl's own (pyControl files) can build one
without importing the loader that finds every kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from rigctl.protocols.base import Protocol


@dataclass(frozen=True)
class TaskFile:
    """Provenance of a task loaded from a file: recorded whole in session.json."""

    path: str
    sha256: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256, "text": self.text}


@dataclass(frozen=True)
class ProtocolSpec:
    cls: type[Protocol]
    params: BaseModel
    source: str
    sha256: str = ""
    file: TaskFile | None = None

    @property
    def name(self) -> str:
        return self.cls.name

    @property
    def task_file(self) -> dict[str, str] | None:
        return self.file.as_dict() if self.file is not None else None
