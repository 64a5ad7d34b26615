"""Numbers must be written as numbers: ``true``/``false`` is refused where a number is meant.

pydantic's lax mode (which the configs need: YAML gives ints for floats, lists for tuples, strings
for dates) turns ``true`` into 1, so ``n_trials: true`` runs one trial and ``max_power_mw: true``
sets a 1 mW ceiling. Strict mode would refuse those but also refuse what YAML legitimately gives,
so instead the raw data is walked alongside the model's field types before validation, and a
boolean is refused wherever the field's type is numeric and does not itself admit a boolean.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

_NUMERIC = (int, float)


def _arms(annotation: Any) -> list[Any]:
    """The alternatives of a Union/Optional (``X | None``), or the annotation itself."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Annotated:
        return _arms(typing.get_args(annotation)[0])
    return [annotation]


def _admits_bool(annotation: Any) -> bool:
    for arm in _arms(annotation):
        if arm is bool or arm is Any or arm is object:
            return True
        if typing.get_origin(arm) is typing.Literal and any(
            isinstance(v, bool) for v in typing.get_args(arm)
        ):
            return True
    return False


def _numeric(annotation: Any) -> bool:
    return any(isinstance(a, type) and issubclass(a, _NUMERIC) for a in _arms(annotation))


def bool_problems(annotation: Any, value: Any, loc: str) -> list[str]:
    """``loc: ...`` lines for every boolean in ``value`` where ``annotation`` means a number."""
    if isinstance(value, bool):
        if _numeric(annotation) and not _admits_bool(annotation):
            word = "true" if value else "false"
            return [f"{loc or '<top level>'}: must be a number, not {word}"]
        return []
    out: list[str] = []
    for arm in _arms(annotation):
        origin = typing.get_origin(arm)
        args = typing.get_args(arm)
        if isinstance(arm, type) and issubclass(arm, BaseModel) and isinstance(value, dict):
            for key, item in value.items():
                field = arm.model_fields.get(key) if isinstance(key, str) else None
                if field is not None:
                    out += bool_problems(field.annotation, item, _join(loc, key))
            return out
        if origin in (list, tuple, set, frozenset) and isinstance(value, list):
            if origin is tuple and args and args[-1] is not Ellipsis:
                pairs = list(zip(args, value, strict=False))
            else:
                pairs = [(args[0] if args else Any, v) for v in value]
            for i, (ann, item) in enumerate(pairs):
                out += bool_problems(ann, item, _join(loc, i))
            return out
        if origin is dict and isinstance(value, dict) and len(args) == 2:
            for key, item in value.items():
                out += bool_problems(args[1], item, _join(loc, key))
            return out
    return out


def _join(loc: str, key: object) -> str:
    return f"{loc}.{key}" if loc else str(key)
