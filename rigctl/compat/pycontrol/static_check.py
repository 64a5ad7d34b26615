"""Find what a pyControl file uses that rigctl cannot run, before anything runs.

Read from the syntax tree (nothing is executed): MicroPython-only modules (``pyb``,
``machine``...), ``pyControl.utility`` names rigctl does not implement, pyControl device classes
it does not provide, and bare names defined nowhere (a star import of an API that is missing
here). Each problem is one line ``file:line: what, and what to do``.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

from rigctl.compat.pycontrol.devices import (
    BOARDS,
    DEVICE_CLASSES,
    PYB_NAMES,
    UNSUPPORTED_DEVICES,
)
from rigctl.compat.pycontrol.utility import API
from rigctl.protocols.static_check import parse

MICROPYTHON_ONLY = frozenset({
    "pyb", "machine", "micropython", "utime", "uos", "ustruct", "ujson", "uarray", "ucollections",
    "uasyncio", "utimeq", "uselect", "usocket", "network", "framebuf", "stm", "uctypes",
})
DEVICE_MODULES = frozenset({"devices", "pyControl.hardware"})  # the 1.x name of devices
SHIMS = frozenset({"pyControl", "pyControl.utility", "hardware_definition"}) | DEVICE_MODULES
DEVICE_NAMES = frozenset(c.__name__ for c in (*DEVICE_CLASSES, *BOARDS)) | {"off"}
_BUILTINS = frozenset(dir(builtins)) | {"__file__", "__name__"}


def check_source(path: Path, source: str) -> tuple[list[str], bool]:
    """Problems of one file, and whether it imports ``hardware_definition``."""
    name = path.name
    try:
        tree = parse(source, filename=str(path))
    except SyntaxError as exc:
        return [f"{name}:{exc.lineno}: syntax error: {exc.msg}"], False
    problems: list[str] = []
    util_aliases: set[str] = set()
    dev_aliases: set[str] = set()
    pyb_aliases: set[str] = set()
    star_util = star_dev = uses_hw = star_other = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                root = a.name.split(".")[0]
                if a.name == "pyb":
                    pyb_aliases.add(a.asname or "pyb")
                elif root in MICROPYTHON_ONLY:
                    problems.append(_micropython(name, node.lineno, a.name))
                elif a.name == "pyControl.utility" and a.asname:
                    util_aliases.add(a.asname)
                elif a.name in DEVICE_MODULES:
                    dev_aliases.add(a.asname or a.name)
                elif a.name == "hardware_definition":
                    uses_hw = True
                elif root == "pyControl" and a.name not in SHIMS:
                    problems.append(f"{name}:{node.lineno}: module {a.name!r} is not provided by "
                                    "rigctl's pyControl runtime (only pyControl.utility)")
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            if node.module == "pyb":
                for a in node.names:
                    if a.name not in PYB_NAMES:
                        problems.append(_micropython(name, node.lineno, f"pyb.{a.name}"))
            elif root in MICROPYTHON_ONLY:
                problems.append(_micropython(name, node.lineno, node.module))
            elif node.module == "pyControl.utility":
                for a in node.names:
                    if a.name == "*":
                        star_util = True
                    elif a.name not in API:
                        problems.append(_not_api(name, node.lineno, a.name))
            elif node.module in DEVICE_MODULES:
                for a in node.names:
                    if a.name == "*":
                        star_dev = True
                    elif a.name not in DEVICE_NAMES:
                        problems.append(_not_device(name, node.lineno, a.name))
            elif any(a.name == "*" for a in node.names):
                star_other = True  # names from elsewhere: the undefined-name check is off
                uses_hw = uses_hw or node.module == "hardware_definition"
            elif node.module == "pyControl":
                for a in node.names:
                    if a.name == "utility":
                        util_aliases.add(a.asname or "utility")
                    else:
                        problems.append(f"{name}:{node.lineno}: pyControl.{a.name} is not "
                                        "provided by rigctl's pyControl runtime")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in util_aliases and node.attr not in API:
                problems.append(_not_api(name, node.lineno, node.attr))
            elif node.value.id in dev_aliases and node.attr not in DEVICE_NAMES:
                problems.append(_not_device(name, node.lineno, node.attr))
            elif node.value.id in pyb_aliases and node.attr not in PYB_NAMES:
                problems.append(_micropython(name, node.lineno, f"pyb.{node.attr}"))
    defined = _defined_names(tree)
    known = set(_BUILTINS) | defined
    if star_util:
        known |= API
    if star_dev:
        known |= DEVICE_NAMES
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in known:
            if star_other and node.id not in UNSUPPORTED_DEVICES:
                continue
            if node.id in UNSUPPORTED_DEVICES:
                problems.append(_not_device(name, node.lineno, node.id))
            else:
                problems.append(f"{name}:{node.lineno}: name {node.id!r} is not defined and is "
                                "not part of the pyControl API rigctl implements")
            known.add(node.id)  # one line per name
    return _unique(problems), uses_hw


def check_task(path: Path, hardware_definition: Path | None) -> list[str]:
    """Problems of a task file and of the hardware definition it imports (if it does)."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read the task file ({exc})"]
    problems, uses_hw = check_source(path, source)
    if uses_hw:
        hw = hardware_definition or path.with_name("hardware_definition.py")
        if not hw.is_file():
            line = _import_line(source, "hardware_definition")
            problems.append(f"{path.name}:{line}: imports hardware_definition but {hw} does not "
                            "exist; put it beside the task or set pycontrol.hardware_definition "
                            "in the rig config")
        else:
            hw_problems, _ = check_source(hw, hw.read_text(encoding="utf-8"))
            problems += hw_problems
    return problems


def _defined_names(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if a.name != "*":
                    out.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            out.update(node.names)
    return out


def _import_line(source: str, module: str) -> int:
    for i, line in enumerate(source.splitlines(), start=1):
        if module in line and "import" in line:
            return i
    return 1


def _micropython(name: str, line: int, module: str) -> str:
    what = "name" if module.startswith("pyb.") else "module"
    return (f"{name}:{line}: {module!r} is a MicroPython-only {what}; rigctl runs pyControl "
            "tasks on the PC (of pyb only LED is provided): drive hardware through pyControl "
            "devices bound in the rig config")


def _not_api(name: str, line: int, attr: str) -> str:
    return (f"{name}:{line}: pyControl.utility.{attr} is not implemented by rigctl's pyControl "
            "runtime (see docs/pycontrol.md for the supported API)")


def _not_device(name: str, line: int, cls: str) -> str:
    return (f"{name}:{line}: device class {cls!r} is not supported by rigctl's pyControl runtime "
            "(supported: " + ", ".join(sorted(DEVICE_NAMES - {"off"})) + ")")


def _unique(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(lines))
