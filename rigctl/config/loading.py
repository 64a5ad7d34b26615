"""YAML loading with errors that name the file, the field path and the reason.

pydantic's ValidationError is precise but verbose; a rig operator needs one line per problem,
e.g. ``sim.yaml: reward_ports.left.valve.max_open_s: must be greater than 0 (got -1)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rigctl.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def format_validation_error(exc: ValidationError, prefix: str = "") -> list[str]:
    """Turn a pydantic ValidationError into one line per problem: ``field.path: reason``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(
            str(p) if str(p).isprintable() and ":" not in str(p) else repr(p)
            for p in err["loc"] if not str(p).startswith("function-")
        )
        loc = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see `rigctl check --help` for the schema)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif "input" in err and err["type"] not in ("model_type", "dict_type"):
            given = err["input"]
            if not isinstance(given, (dict, list)):
                msg = f"{msg} (got {given!r})"
        lines.append(f"{loc or '<top level>'}: {msg}")
    return lines


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; every failure is a ConfigError naming the file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(str(p), ["file not found (give the path to a YAML config)"])
    if p.is_dir():
        raise ConfigError(str(p), ["is a folder, not a YAML file"])
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(p), [f"cannot be read ({exc.__class__.__name__}: {exc})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(str(p), [f"{where}invalid YAML ({problem})"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(p), ["top level must be a mapping of field: value"])
    return data


def validate(model: type[M], data: Any, source: str, prefix: str = "") -> M:
    """Validate ``data`` against ``model``; problems become one ConfigError naming ``source``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, format_validation_error(exc, prefix)) from None
