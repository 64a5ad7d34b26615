"""Finding tasks: the built-in ones, tasks installed as packages, and task files.

One function, :func:`find_task`, is used by the CLI, ``rigctl check``, the GUI's protocol
picker, the engine child and cohort simulation, so a task that runs in one runs in all of them.
A task file is loaded as a module of its own; every way it can fail to load (no such file, a
syntax error, a missing import, a declaration that does not hold together) is one line naming
the file and, where there is one, the line.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import inspect
import sys
import traceback
from dataclasses import is_dataclass
from pathlib import Path

from pydantic import BaseModel

from rigctl.errors import ConfigError
from rigctl.protocols.base import Protocol
from rigctl.protocols.spec import TaskFile

ENTRY_POINT_GROUP = "rigctl.protocols"
MAX_TASK_FILE_BYTES = 1_000_000


def builtin_tasks() -> dict[str, type[Protocol]]:
    from rigctl.protocols.delayed_alternation import DelayedAlternation
    from rigctl.protocols.match_to_sample import DelayedMatchToSample

    return {cls.name: cls for cls in (DelayedAlternation, DelayedMatchToSample)}


def installed_tasks() -> dict[str, importlib.metadata.EntryPoint]:
    """Tasks other packages register under the entry-point group ``rigctl.protocols``."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def task_names() -> list[str]:
    """Every task that can be named (built-in first), for help texts and the GUI picker."""
    names = list(builtin_tasks())
    return names + [n for n in sorted(installed_tasks()) if n not in names]


def is_task_file(arg: str) -> bool:
    return arg.endswith(".py")


def is_pycontrol_task(arg: str) -> bool:
    """A task file written for pyControl (it imports pyControl), run by the compat runtime."""
    from rigctl.compat.pycontrol import is_pycontrol_task as imports_pycontrol

    return imports_pycontrol(arg)


def find_task(arg: str, source: str = "--protocol") -> tuple[type[Protocol], TaskFile | None]:
    """The task named ``arg`` (built-in or installed), or defined in the file ``arg`` (.py)."""
    if is_task_file(arg):
        return load_task_file(Path(arg).expanduser())
    builtin = builtin_tasks()
    if arg in builtin:
        return builtin[arg], None
    installed = installed_tasks()
    if arg in installed:
        ep = installed[arg]
        try:
            cls = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is one line, not a traceback
            raise ConfigError(source, [f"task {arg!r} ({ep.value}) cannot be loaded: "
                                       f"{type(exc).__name__}: {exc}"]) from None
        check_task_class(cls, f"{ep.value}")
        return cls, None
    raise ConfigError(source, [f"unknown task {arg!r} (known: {', '.join(task_names())}; or give "
                               "the path of a task file, my_task.py)"])


def load_task_file(path: Path) -> tuple[type[Protocol], TaskFile]:
    """Import the task file at ``path`` and return its one Task subclass."""
    where = str(path)
    if not path.exists():
        raise ConfigError(where, ["task file not found (give the path of a .py task file)"])
    if not path.is_file():
        raise ConfigError(where, ["is not a file"])
    data = path.read_bytes()
    if len(data) > MAX_TASK_FILE_BYTES:
        raise ConfigError(where, [f"is {len(data):,} bytes; a task file is at most "
                                  f"{MAX_TASK_FILE_BYTES:,}"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(where, ["is not a UTF-8 text file (is it a Python task file?)"]) from None
    try:
        code = compile(text, where, "exec")
    except SyntaxError as exc:
        raise ConfigError(f"{where}:{exc.lineno}", [f"syntax error: {exc.msg}"]) from None
    sha = hashlib.sha256(data).hexdigest()
    mod_name = f"rigctl_task_{path.stem}_{sha[:12]}"
    module = sys.modules.get(mod_name)
    if module is None:
        spec = importlib.util.spec_from_loader(mod_name, loader=None, origin=where)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        module.__file__ = where
        sys.modules[mod_name] = module  # dataclasses and pydantic look their module up
        try:
            exec(code, module.__dict__)  # noqa: S102 - running the user's task file is the point
        except Exception as exc:  # noqa: BLE001 - the user's code: one line with its line number
            del sys.modules[mod_name]
            line = _line_in(exc, where)
            what = (f"cannot import {exc.name!r} (is it installed?)"
                    if isinstance(exc, ModuleNotFoundError) else f"{type(exc).__name__}: {exc}")
            raise ConfigError(f"{where}:{line}" if line else where, [what]) from None
    own = [c for _, c in inspect.getmembers(module, inspect.isclass)
           if issubclass(c, Protocol) and c.__module__ == mod_name]
    found = [c for c in own if not any(o is not c and issubclass(o, c) for o in own)]
    if not found:
        raise ConfigError(where, ["defines no task: write a class that subclasses "
                                  "rigctl.task.Task and declares `states`"])
    if len(found) > 1:
        names = ", ".join(c.__name__ for c in found)
        raise ConfigError(where, [f"defines {len(found)} tasks ({names}); keep one per file"])
    cls = found[0]
    check_task_class(cls, where)
    return cls, TaskFile(where, sha, text)


def _line_in(exc: BaseException, filename: str) -> int | None:
    """The line of ``filename`` where ``exc`` was raised (the deepest frame in that file)."""
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    return lines[-1] if lines else None


def _line_of(cls: type, attr: str | None = None) -> str:
    try:
        obj = getattr(cls, attr) if attr and callable(getattr(cls, attr, None)) else cls
        return f":{inspect.getsourcelines(obj)[1]}"
    except (OSError, TypeError):
        return ""


def check_task_class(cls: type, where: str) -> None:
    """The declarations every task needs, each missing or inconsistent one a line."""
    problems: list[str] = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        problems.append(f"{cls.__name__}: set `name = \"my_task\"` (an identifier; it names the "
                        "session folders)")
    params = getattr(cls, "Params", None)
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        problems.append(f"{cls.__name__}: set `Params` to a pydantic model of the task's "
                        "parameters (rigctl.task.TaskParams)")
    states = getattr(cls, "states", ())
    if not isinstance(states, tuple) or not all(isinstance(s, str) for s in states) or not states:
        problems.append(f"{cls.__name__}: `states` must be a tuple of state names")
        states = ()
    dupes = sorted({s for s in states if states.count(s) > 1})
    if dupes:
        problems.append(f"{cls.__name__}: state {dupes[0]!r} is declared twice")
    initial = getattr(cls, "initial_state", None)
    if initial is None:
        problems.append(f"{cls.__name__}: set `initial_state` to one of its states")
    elif initial not in states:
        problems.append(f"{cls.__name__}: initial_state {initial!r} is not one of its states "
                        f"({', '.join(states)})")
    reserved = sorted(set(states) & set(dir(Protocol)))
    if reserved:
        problems.append(f"{cls.__name__}: state {reserved[0]!r} has the name of a Task helper; "
                        "rename the state")
    for state in states:
        if not callable(getattr(cls, state, None)):
            problems.append(f"{cls.__name__}: state {state!r} has no handler: write "
                            f"`def {state}(self, event):`")
    if not is_dataclass(getattr(cls, "Trial", None)):
        problems.append(f"{cls.__name__}: `Trial` must be a dataclass of the trial record's "
                        "columns")
    if problems:
        raise ConfigError(f"{where}{_line_of(cls)}", problems)
