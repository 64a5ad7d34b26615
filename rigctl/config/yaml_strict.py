"""Reading YAML so that a file means exactly what a careful reader sees.

Plain YAML loaders keep the last of two equal keys without a word, so a second
``max_power_mw: 100`` under ``laser:`` silently raises the ceiling, and a second ``laser:``
section silently replaces the first. Every YAML file rigctl reads (rig configs, protocol files,
the text a calibration is about to write) goes through :func:`parse_yaml`, which refuses a
repeated key with both line numbers, and refuses files larger than :data:`MAX_YAML_BYTES` (a rig
config is a few kB; a 50 MB "config" is the wrong file, and would land whole in session.json).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode

from rigctl.errors import ConfigError

#: largest YAML file rigctl reads (rig configs and protocol files are a few kB)
MAX_YAML_BYTES = 1_000_000
#: most values a file may hold once its aliases (``*name``) are expanded: a small file of nested
#: aliases can otherwise stand for billions of values and hang validation
MAX_YAML_VALUES = 200_000


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names the same key twice; carries both line numbers (1-based)."""

    def __init__(self, key: Any, line: int, first_line: int) -> None:
        self.key, self.line, self.first_line = key, line, first_line
        super().__init__(f"line {line}: duplicate key {key!r}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key that appears twice in one mapping.

    Keys brought in by a YAML merge (``<<: *defaults``) may be overridden, as YAML intends;
    only keys written twice in the same mapping are refused.
    """

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable key; the base class says so with its line
                    continue
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise DuplicateKeyError(key, line, first)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML ``text`` (from ``source``, for messages); ConfigError on any problem."""
    if len(text.encode("utf-8", errors="replace")) > MAX_YAML_BYTES:
        raise ConfigError(source, [_too_large(len(text.encode("utf-8", errors="replace")))])
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise ConfigError(source, [
            f"line {exc.line}: duplicate key {exc.key!r} (also on line {exc.first_line}); "
            "YAML would silently keep only the last one: remove one of them"
        ]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(source, [f"{where}invalid YAML ({problem})"]) from None
    except RecursionError:
        raise ConfigError(source, ["nested too deeply to be a config"]) from None
    problem = _size_problem(data)
    if problem:
        raise ConfigError(source, [problem])
    return data


def _size_problem(data: Any) -> str | None:
    """Why the loaded value is too big or refers to itself (aliases), or None."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(value: Any) -> int:
        if not isinstance(value, (dict, list)):
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ValueError("cycle")
        open_.add(key)
        items = list(value.values()) if isinstance(value, dict) else value
        total = 1
        for item in items:
            total += size(item)
            if total > MAX_YAML_VALUES:
                break
        open_.discard(key)
        sizes[key] = total
        return total

    try:
        n = size(data)
    except ValueError:
        return "an alias (*name) refers to a value that contains it; a config cannot be infinite"
    except RecursionError:
        return "nested too deeply to be a config"
    if n > MAX_YAML_VALUES:
        return (f"holds more than {MAX_YAML_VALUES:,} values once its aliases (*name) are "
                "expanded; a rig config or protocol file is far smaller")
    return None


def _too_large(size: int) -> str:
    return (f"file is {size / 1e6:.1f} MB; a rig config or protocol file is at most "
            f"{MAX_YAML_BYTES / 1e6:g} MB (is this the right file?)")
