"""YAML loading with errors that name the file, the field path and the reason.

pydantic's ValidationError is precise but verbose; a rig operator needs one line per problem,
e.g. ``sim.yaml: reward_ports.left.valve.max_open_s: must be greater than 0 (got -1)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from rigctl.config.numbers import bool_problems
from rigctl.config.yaml_strict import MAX_YAML_BYTES, _too_large, parse_yaml
from rigctl.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

#: longest rendering of a refused value in a message (a 400-digit number stays one short line)
MAX_SHOWN = 60


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN - 15]}... ({len(text)} chars)"


def format_validation_error(exc: ValidationError, prefix: str = "") -> list[str]:
    """Turn a pydantic ValidationError into one line per problem: ``field.path: reason``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(
            str(p) if str(p).isprintable() else repr(p)
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
                msg = f"{msg} (got {_shown(given)})"
        lines.append(f"{loc or '<top level>'}: {msg}")
    return lines


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; every failure is a ConfigError naming the file.

    Repeated keys and files over 1 MB are refused (see :mod:`rigctl.config.yaml_strict`).
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(str(p), ["file not found (give the path to a YAML config)"])
    if p.is_dir():
        raise ConfigError(str(p), ["is a folder, not a YAML file"])
    try:
        size = p.stat().st_size
        if size > MAX_YAML_BYTES:  # refused before reading it all
            raise ConfigError(str(p), [_too_large(size)])
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(p), [f"cannot be read ({exc.__class__.__name__}: {exc})"]) from None
    data = parse_yaml(text, str(p))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(p), ["top level must be a mapping of field: value"])
    return data


def validate(model: type[M], data: Any, source: str, prefix: str = "") -> M:
    """Validate ``data`` against ``model``; problems become one ConfigError naming ``source``.

    Booleans where a number is meant are refused first (:mod:`rigctl.config.numbers`).
    """
    bools = bool_problems(model, data, prefix)
    if bools:
        raise ConfigError(source, bools)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, format_validation_error(exc, prefix)) from None
